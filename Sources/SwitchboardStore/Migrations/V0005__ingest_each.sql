-- swb_ingest_each: the message-by-message form of swb_ingest (as in 0002), same contract.
-- Small batches (light load, where latency matters) cost less this way: the set-based form pays
-- a fixed price per call for its temporary table that only large batches amortize.

-- Stores a batch of routed messages in the caller's transaction. Each element of p_batch:
-- {gateway, message_id, channel, occurred_at (Unix ms), hints: [[kind, value], …], name, intent,
--  queue, language, priority, content_type, body_text | body_hex, attributes, deadline (Unix ms),
--  route_reason, routing_version}.
-- Answers one row per element: outcome 'stored', 'duplicate' (same gateway and message id, same
-- content: the original ids) or 'conflict' (same ids, different content).
CREATE FUNCTION swb_ingest_each(p_batch jsonb, p_received_at timestamptz)
RETURNS TABLE (o_message_id text, o_outcome text, o_interaction_id bigint, o_customer_id bigint,
               o_queue text, o_delivery_id bigint, o_context jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    m           jsonb;
    v_key       ingest_keys%ROWTYPE;
    v_customer  bigint;
    v_print     text;
BEGIN
    FOR m IN SELECT value FROM jsonb_array_elements(p_batch) LOOP
        o_message_id := m->>'message_id';
        v_print := md5(concat_ws(chr(31), m->>'channel', m->>'content_type', m->>'body_text', m->>'body_hex'));
        SELECT * INTO v_key FROM ingest_keys k WHERE k.gateway = m->>'gateway' AND k.message_id = m->>'message_id';
        IF FOUND THEN
            o_outcome := CASE WHEN v_key.fingerprint = v_print THEN 'duplicate' ELSE 'conflict' END;
            o_interaction_id := v_key.interaction_id;
            o_customer_id := v_key.customer_id;
            o_queue := v_key.queue;
            o_delivery_id := NULL;
            o_context := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;

        SELECT min(ci.customer_id) INTO v_customer
          FROM jsonb_array_elements(m->'hints') h
          JOIN customer_identities ci ON ci.kind = h->>0 AND ci.value = h->>1;
        IF v_customer IS NULL THEN
            INSERT INTO customers (display_name) VALUES (m->>'name') RETURNING id INTO v_customer;
        ELSIF m->>'name' IS NOT NULL THEN
            UPDATE customers SET display_name = m->>'name', updated_at = now()
             WHERE id = v_customer AND display_name IS NULL;
        END IF;
        INSERT INTO customer_identities (kind, value, customer_id)
             SELECT h->>0, h->>1, v_customer FROM jsonb_array_elements(m->'hints') h
        ON CONFLICT (kind, value) DO NOTHING;
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(m->'hints') h WHERE h->>0 IN ('phone', 'email', 'external')) THEN
            UPDATE customers SET anonymous = false, updated_at = now() WHERE id = v_customer AND anonymous;
        END IF;

        INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, intent, process,
                                  language, priority, content_type, body_text, body_bytes, attributes, routing_version)
        VALUES (p_received_at, v_customer, m->>'gateway', m->>'message_id', m->>'channel',
                to_timestamp((m->>'occurred_at')::bigint / 1000.0), m->>'intent', m->>'queue', m->>'language',
                (m->>'priority')::smallint, m->>'content_type', m->>'body_text', decode(m->>'body_hex', 'hex'),
                coalesce(m->'attributes', '{}'::jsonb), (m->>'routing_version')::integer)
        RETURNING id INTO o_interaction_id;

        INSERT INTO deliveries (interaction_id, interaction_received_at, customer_id, queue, priority, deadline,
                                route_reason, routing_version)
        VALUES (o_interaction_id, p_received_at, v_customer, m->>'queue', (m->>'priority')::smallint,
                to_timestamp((m->>'deadline')::bigint / 1000.0), m->>'route_reason', (m->>'routing_version')::integer)
        RETURNING id INTO o_delivery_id;

        INSERT INTO ingest_keys (gateway, message_id, interaction_id, customer_id, queue, fingerprint, received_at)
        VALUES (m->>'gateway', m->>'message_id', o_interaction_id, v_customer, m->>'queue', v_print, p_received_at);

        o_outcome := 'stored';
        o_customer_id := v_customer;
        o_queue := m->>'queue';
        o_context := swb_customer_context(v_customer);
        RETURN NEXT;
    END LOOP;
END $$;
