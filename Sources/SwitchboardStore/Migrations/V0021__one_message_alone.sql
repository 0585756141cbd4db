-- A batch of one message stored by plain statements, one row at a time, instead of the set-based
-- statement of a batch.
--
-- At light load the ingest lane sends each message as soon as it comes, so nearly every batch is
-- one message, and what a call costs whatever its size is most of what it costs. Most of that is
-- starting the batch's plan: a statement that writes five tables through common table
-- expressions, aggregates its answers and probes each hint opens some forty plan nodes on every
-- call (`perf record` of the ingest backend at a tenth of the hub's maximum: ExecutorStart a
-- quarter of its CPU). A message alone needs none of that. Timed with `pgbench` on a copy of the
-- bench's per-call database (10,000 customers, every message naming one; a guide, not part of this
-- repository), a call of one message took 1.04-1.34 ms against 1.45-2.18 ms, and 0.64-0.78 ms
-- against 0.92-1.48 ms without waiting for the commit's flush, in three alternating pairs.
--
-- Everything it writes and answers is what swb_ingest_round (0018) does for a round of one message
-- (the hub chooses this function only then; the integration test `aloneAsInABatch` compares every
-- row both leave): the same probes, the same customer (the least of the hints' customers, else a
-- new one, anonymous unless a phone, e-mail or external id names it), a name that fills an empty
-- display name and a newly linked strong identity that ends anonymity, an identity for each hint
-- that no customer had, and the interaction, its delivery and its (gateway, message id) key, with
-- ids drawn in the same order. A key already stored is refused by its unique index, as in a first
-- round: the writes are undone with their subtransaction, and the message is answered as the
-- duplicate or the conflict of what the key holds. The customer's context is read after the
-- writes when p_context asks and the message was stored, as swb_ingest_rounds_with_contexts does.
--
-- The arguments are the batch's arrays, of which only the first element is read, so that the hub
-- sends the same parameters either way.
CREATE FUNCTION swb_ingest_alone(
    p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[], p_fingerprint text[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz, p_context boolean,
    OUT o_position integer, OUT o_outcome text, OUT o_interaction_id bigint, OUT o_customer_id bigint, OUT o_queue text,
    OUT o_delivery_id bigint, OUT o_context json)
LANGUAGE plpgsql
-- As for swb_ingest_round: each probe an index scan whatever the tables' size when the plan was
-- made, and the plan made once per connection. The identity probes name the kind with the C
-- collation so that only the hash index on value can serve them (0016).
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_phone bigint;
    v_email bigint;
    v_external bigint;
    v_device bigint;
    v_new_strong boolean;
    v_key record;
BEGIN
    o_position := 1;
    IF p_phone[1] IS NOT NULL THEN
        SELECT c.customer_id INTO v_phone FROM customer_identities c WHERE c.value = p_phone[1] AND c.kind COLLATE "C" = 'phone' LIMIT 1;
    END IF;
    IF p_email[1] IS NOT NULL THEN
        SELECT c.customer_id INTO v_email FROM customer_identities c WHERE c.value = p_email[1] AND c.kind COLLATE "C" = 'email' LIMIT 1;
    END IF;
    IF p_external[1] IS NOT NULL THEN
        SELECT c.customer_id INTO v_external FROM customer_identities c
         WHERE c.value = p_external[1] AND c.kind COLLATE "C" = 'external' LIMIT 1;
    END IF;
    IF p_device[1] IS NOT NULL THEN
        SELECT c.customer_id INTO v_device FROM customer_identities c WHERE c.value = p_device[1] AND c.kind COLLATE "C" = 'device' LIMIT 1;
    END IF;
    v_new_strong := (p_phone[1] IS NOT NULL AND v_phone IS NULL) OR (p_email[1] IS NOT NULL AND v_email IS NULL)
                    OR (p_external[1] IS NOT NULL AND v_external IS NULL);
    BEGIN
        o_customer_id := least(v_phone, v_email, v_external, v_device);
        IF o_customer_id IS NULL THEN
            o_customer_id := nextval('customers_id_seq');
        END IF;
        o_interaction_id := nextval('interactions_id_seq');
        o_delivery_id := nextval('deliveries_id_seq');
        IF coalesce(v_phone, v_email, v_external, v_device) IS NULL THEN
            INSERT INTO customers (id, display_name, anonymous) OVERRIDING SYSTEM VALUE
            VALUES (o_customer_id, p_name[1], NOT (p_phone[1] IS NOT NULL OR p_email[1] IS NOT NULL OR p_external[1] IS NOT NULL));
        ELSIF p_name[1] IS NOT NULL OR v_new_strong THEN
            UPDATE customers c
               SET display_name = coalesce(c.display_name, p_name[1]), anonymous = c.anonymous AND NOT v_new_strong, updated_at = now()
             WHERE c.id = o_customer_id
               AND CASE WHEN c.display_name IS NULL AND p_name[1] IS NOT NULL THEN true WHEN c.anonymous AND v_new_strong THEN true ELSE false END;
        END IF;
        IF p_phone[1] IS NOT NULL AND v_phone IS NULL THEN
            INSERT INTO customer_identities (kind, value, customer_id) VALUES ('phone', p_phone[1], o_customer_id) ON CONFLICT (kind, value) DO NOTHING;
        END IF;
        IF p_email[1] IS NOT NULL AND v_email IS NULL THEN
            INSERT INTO customer_identities (kind, value, customer_id) VALUES ('email', p_email[1], o_customer_id) ON CONFLICT (kind, value) DO NOTHING;
        END IF;
        IF p_external[1] IS NOT NULL AND v_external IS NULL THEN
            INSERT INTO customer_identities (kind, value, customer_id)
            VALUES ('external', p_external[1], o_customer_id) ON CONFLICT (kind, value) DO NOTHING;
        END IF;
        IF p_device[1] IS NOT NULL AND v_device IS NULL THEN
            INSERT INTO customer_identities (kind, value, customer_id) VALUES ('device', p_device[1], o_customer_id) ON CONFLICT (kind, value) DO NOTHING;
        END IF;
        INSERT INTO interactions (id, received_at, customer_id, gateway, message_id, channel, occurred_at, intent, process,
                                  language, priority, content_type, body_text, body_bytes, attributes, routing_version)
        VALUES (o_interaction_id, p_received_at, o_customer_id, p_gateway[1], p_message_id[1], p_channel[1],
                to_timestamp(p_occurred_at[1]::float8 / 1000), p_intent[1], p_queue[1], p_language[1], p_priority[1], p_content_type[1],
                p_body_text[1], p_body_bytes[1], coalesce(p_attributes[1], '{}'), p_routing_version[1]);
        INSERT INTO deliveries (id, interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason,
                                routing_version) OVERRIDING SYSTEM VALUE
        VALUES (o_delivery_id, o_interaction_id, p_received_at, o_customer_id, p_queue[1], p_priority[1],
                to_timestamp(p_deadline[1]::float8 / 1000), p_route_reason[1], p_routing_version[1]);
        INSERT INTO ingest_keys (gateway, message_id, interaction_id, customer_id, queue, fingerprint, received_at)
        VALUES (p_gateway[1], p_message_id[1], o_interaction_id, o_customer_id, p_queue[1], p_fingerprint[1], p_received_at);
        o_outcome := 'stored';
        o_queue := p_queue[1];
    EXCEPTION WHEN unique_violation THEN
        -- Only the key's index can refuse a row here; any other refusal is raised as it was.
        SELECT k.interaction_id, k.customer_id, k.queue, k.fingerprint INTO v_key
          FROM ingest_keys k WHERE k.gateway = p_gateway[1] AND k.message_id = p_message_id[1];
        IF NOT FOUND THEN
            RAISE;
        END IF;
        o_outcome := CASE WHEN v_key.fingerprint = p_fingerprint[1] THEN 'duplicate' ELSE 'conflict' END;
        o_interaction_id := v_key.interaction_id;
        o_customer_id := v_key.customer_id;
        o_queue := v_key.queue;
        o_delivery_id := NULL;
    END;
    IF p_context AND o_outcome = 'stored' THEN
        SELECT c.o_context INTO o_context FROM swb_task_contexts(ARRAY[o_customer_id]) c;
    END IF;
END $$;
