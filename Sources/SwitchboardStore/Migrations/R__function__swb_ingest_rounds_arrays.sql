-- The hub's ingest statement: every round of the ordered batch (p_round_ends: where each ends),
-- each seeing what the ones before it wrote, answered as arrays by position (the hub unnests them).
-- The id sequences are named, not looked up in the catalog on every call, after a check that
-- they are the columns' own.
CREATE FUNCTION swb_ingest_rounds_arrays(
    p_round_ends integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[],
    p_name text[], p_intent text[], p_queue text[], p_language text[], p_priority smallint[], p_content_type text[],
    p_body_text text[], p_body_bytes bytea[], p_attributes jsonb[], p_deadline bigint[], p_route_reason text[],
    p_routing_version integer[], p_fingerprint text[], p_phone text[], p_email text[], p_external text[],
    p_device text[], p_task_language text[], p_required_skills text[], p_optional_skills text[], p_rule_id text[],
    p_alternatives jsonb[], p_fax text[], p_chat text[], p_social text[], p_unverified jsonb[], p_customer_kind text[], p_extra jsonb[],
    p_received_at timestamp with time zone, OUT o_position integer[], OUT o_outcome text[],
    OUT o_interaction_id bigint[], OUT o_customer_id bigint[], OUT o_queue text[], OUT o_delivery_id bigint[],
    OUT o_alternative integer[], OUT o_conversation_id bigint[], OUT o_owner text[])
RETURNS record
LANGUAGE plpgsql
SET plan_cache_mode TO 'force_generic_plan'
AS $$
DECLARE
    v_lo integer := 1;
    v_hi integer;
    v_probe boolean;
    v_round record;
BEGIN
    -- Hubs sharing the database store the same customers at once: each batch first takes a lock
    -- per bucket of the identities it names (256 buckets), in bucket order, so that two batches
    -- naming one customer take turns instead of deadlocking on its rows; batches naming none in
    -- common run side by side. One hub alone never waits on them.
    PERFORM pg_advisory_xact_lock(2024, b.bucket)
       FROM (SELECT DISTINCT (hashtext(k) & 255) AS bucket
               FROM unnest(p_phone || p_email || p_external || p_device || p_fax || p_chat || p_social) AS k
              WHERE k IS NOT NULL) b
      ORDER BY b.bucket;
    FOR v_index IN 1..coalesce(cardinality(p_round_ends), 0) LOOP
        v_hi := p_round_ends[v_index];
        -- A first round goes without looking its (gateway, message
        -- id) keys up, and runs again with the lookups if the unique index of ingest_keys refuses
        -- one; the later rounds, a batch's repeats, look them up at once.
        v_probe := v_index > 1;
        IF NOT v_probe THEN
            BEGIN
                SELECT * INTO v_round
                  FROM swb_ingest_round(v_lo, v_hi, false, 'customers_id_seq'::regclass, 'deliveries_id_seq'::regclass,
                                        p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language,
                                        p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason,
                                        p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device, p_task_language,
                                        p_required_skills, p_optional_skills, p_rule_id, p_alternatives, p_fax, p_chat, p_social, p_unverified,
                                    p_customer_kind, p_extra, p_received_at);
            EXCEPTION WHEN unique_violation THEN
                v_probe := true;
            END;
        END IF;
        IF v_probe THEN
            SELECT * INTO v_round
              FROM swb_ingest_round(v_lo, v_hi, true, 'customers_id_seq'::regclass, 'deliveries_id_seq'::regclass,
                                    p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language,
                                    p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason,
                                    p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device, p_task_language,
                                        p_required_skills, p_optional_skills, p_rule_id, p_alternatives, p_fax, p_chat, p_social, p_unverified,
                                    p_customer_kind, p_extra, p_received_at);
        END IF;
        -- Nearly every batch is one round: its arrays are the answer as they are.
        IF v_index = 1 THEN
            o_position := v_round.o_position;
            o_outcome := v_round.o_outcome;
            o_interaction_id := v_round.o_interaction_id;
            o_customer_id := v_round.o_customer_id;
            o_queue := v_round.o_queue;
            o_delivery_id := v_round.o_delivery_id;
            o_alternative := v_round.o_alternative;
            o_conversation_id := v_round.o_conversation_id;
            o_owner := v_round.o_owner;
        ELSE
            o_position := o_position || v_round.o_position;
            o_outcome := o_outcome || v_round.o_outcome;
            o_interaction_id := o_interaction_id || v_round.o_interaction_id;
            o_customer_id := o_customer_id || v_round.o_customer_id;
            o_queue := o_queue || v_round.o_queue;
            o_delivery_id := o_delivery_id || v_round.o_delivery_id;
            o_alternative := o_alternative || v_round.o_alternative;
            o_conversation_id := o_conversation_id || v_round.o_conversation_id;
            o_owner := o_owner || v_round.o_owner;
        END IF;
        v_lo := v_hi + 1;
    END LOOP;
END $$;
