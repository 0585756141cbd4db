-- A batch's rounds answered as arrays, one function call fewer a batch, and the id sequences
-- named in the function instead of looked up in the catalog on every call.
--
-- At light and moderate load a batch holds a few messages, so what a call costs whatever its size
-- is most of what it costs: the ingest lane is busiest there (docs/performance.md). Two parts of
-- that cost go:
-- - swb_ingest_rounds looked up the sequences of customers.id and deliveries.id with
--   pg_get_serial_sequence on every call, a search of pg_depend each. They are named here, as
--   interactions_id_seq was already in swb_ingest_round, after a check that they are these
--   columns' sequences (below).
-- - swb_ingest_rounds_with_contexts (0015) read swb_ingest_rounds's rows into arrays, which that
--   function had itself unnested from each round's arrays. Both now take the arrays from
--   swb_ingest_rounds_arrays, and the hub unnests them in its own statement.
--
-- In ten alternating pairs of `switchboard bench --quick --sections ceilings`, a call of one message
-- took p50 0.365 ms (median) against 0.380 before, lower in seven; calls of 8, 32 and 512 messages
-- could not be told apart.
--
-- Each round is still swb_ingest_round (0018), in the same order, in the same subtransaction when
-- it is a first round, with the same answers: this changes how the answers are passed, not what
-- is written. swb_ingest_rounds stays, for hubs of earlier versions and for anyone calling it with
-- SQL, as a wrapper of the new function.

-- The sequences must be the columns' own: an identity sequence has the name PostgreSQL gave it in
-- 0001, and a database where it was renamed would have the function draw ids elsewhere.
DO $$
BEGIN
    IF pg_get_serial_sequence('customers', 'id')::regclass IS DISTINCT FROM 'customers_id_seq'::regclass
       OR pg_get_serial_sequence('deliveries', 'id')::regclass IS DISTINCT FROM 'deliveries_id_seq'::regclass THEN
        RAISE EXCEPTION 'the sequences of customers.id and deliveries.id are not customers_id_seq and deliveries_id_seq';
    END IF;
END $$;

-- Every round of the ordered batch (p_round_ends: where each ends), its answers as arrays by
-- position: the messages of round after round, each round seeing what the ones before it wrote.
CREATE FUNCTION swb_ingest_rounds_arrays(
    p_round_ends integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[], p_fingerprint text[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz,
    OUT o_position integer[], OUT o_outcome text[], OUT o_interaction_id bigint[], OUT o_customer_id bigint[], OUT o_queue text[],
    OUT o_delivery_id bigint[])
LANGUAGE plpgsql
-- As 0014 set it for swb_ingest_rounds: the plan is made once per connection.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_lo integer := 1;
    v_hi integer;
    v_probe boolean;
    v_round record;
BEGIN
    FOR v_index IN 1..coalesce(cardinality(p_round_ends), 0) LOOP
        v_hi := p_round_ends[v_index];
        -- As in swb_ingest_rounds (0012): a first round goes without looking its (gateway, message
        -- id) keys up, and runs again with the lookups if the unique index of ingest_keys refuses
        -- one; the later rounds, a batch's repeats, look them up at once.
        v_probe := v_index > 1;
        IF NOT v_probe THEN
            BEGIN
                SELECT * INTO v_round
                  FROM swb_ingest_round(v_lo, v_hi, false, 'customers_id_seq'::regclass, 'deliveries_id_seq'::regclass,
                                        p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language,
                                        p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason,
                                        p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device, p_received_at);
            EXCEPTION WHEN unique_violation THEN
                v_probe := true;
            END;
        END IF;
        IF v_probe THEN
            SELECT * INTO v_round
              FROM swb_ingest_round(v_lo, v_hi, true, 'customers_id_seq'::regclass, 'deliveries_id_seq'::regclass,
                                    p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language,
                                    p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason,
                                    p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device, p_received_at);
        END IF;
        -- Nearly every batch is one round: its arrays are the answer as they are.
        IF v_index = 1 THEN
            o_position := v_round.o_position;
            o_outcome := v_round.o_outcome;
            o_interaction_id := v_round.o_interaction_id;
            o_customer_id := v_round.o_customer_id;
            o_queue := v_round.o_queue;
            o_delivery_id := v_round.o_delivery_id;
        ELSE
            o_position := o_position || v_round.o_position;
            o_outcome := o_outcome || v_round.o_outcome;
            o_interaction_id := o_interaction_id || v_round.o_interaction_id;
            o_customer_id := o_customer_id || v_round.o_customer_id;
            o_queue := o_queue || v_round.o_queue;
            o_delivery_id := o_delivery_id || v_round.o_delivery_id;
        END IF;
        v_lo := v_hi + 1;
    END LOOP;
END $$;

-- 0012's entry point, now a wrapper: the same rows, one per message.
CREATE OR REPLACE FUNCTION swb_ingest_rounds(
    p_round_ends integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[], p_fingerprint text[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v record;
BEGIN
    v := swb_ingest_rounds_arrays(p_round_ends, p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue,
                                  p_language, p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline,
                                  p_route_reason, p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device,
                                  p_received_at);
    RETURN QUERY SELECT * FROM unnest(v.o_position, v.o_outcome, v.o_interaction_id, v.o_customer_id, v.o_queue, v.o_delivery_id);
END $$;

-- 0015's function, its rounds' answers taken as arrays; the contexts are read as before, in a
-- statement of its own that sees what the rounds wrote.
CREATE OR REPLACE FUNCTION swb_ingest_rounds_with_contexts(
    p_context boolean[],
    p_round_ends integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[], p_fingerprint text[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint,
               o_context json)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v record;
BEGIN
    v := swb_ingest_rounds_arrays(p_round_ends, p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue,
                                  p_language, p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline,
                                  p_route_reason, p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device,
                                  p_received_at);
    RETURN QUERY
    WITH answers AS MATERIALIZED (
        SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id,
               a.outcome = 'stored' AND coalesce(p_context[a.position], false) AS wanted
          FROM unnest(v.o_position, v.o_outcome, v.o_interaction_id, v.o_customer_id, v.o_queue, v.o_delivery_id)
               AS a (position, outcome, interaction_id, customer_id, queue, delivery_id)
    ), contexts AS MATERIALIZED (
        SELECT c.o_customer_id, c.o_context
          FROM swb_task_contexts(ARRAY(SELECT DISTINCT w.customer_id FROM answers w WHERE w.wanted)) c
    )
    SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id, c.o_context
      FROM answers a LEFT JOIN contexts c ON a.wanted AND c.o_customer_id = a.customer_id;
END $$;
