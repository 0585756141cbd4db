-- Server-side functions of the hub's store: one round trip per batch.

-- Creates the monthly partition of interactions holding p_at (UTC months), if missing.
CREATE FUNCTION swb_ensure_interaction_partition(p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_start timestamp := date_trunc('month', p_at AT TIME ZONE 'UTC');
    v_name  text := format('interactions_%s', to_char(v_start, 'YYYY_MM'));
BEGIN
    IF to_regclass(v_name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF interactions FOR VALUES FROM (%L) TO (%L)',
                       v_name, v_start AT TIME ZONE 'UTC', (v_start + interval '1 month') AT TIME ZONE 'UTC');
    END IF;
END $$;

-- What a worker needs to know of a customer: profile, identities, the five latest contacts.
CREATE FUNCTION swb_customer_context(p_customer bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'kind', c.kind, 'display_name', c.display_name, 'segment', c.segment,
        'value_tier', c.value_tier, 'anonymous', c.anonymous,
        'identities', coalesce((SELECT jsonb_agg(jsonb_build_object('kind', ci.kind, 'value', ci.value) ORDER BY ci.kind, ci.value)
                                  FROM customer_identities ci WHERE ci.customer_id = c.id), '[]'::jsonb),
        'recent', coalesce((SELECT jsonb_agg(jsonb_build_object('interaction_id', r.id, 'channel', r.channel, 'process', r.process,
                                                                 'intent', r.intent, 'received_at', r.received_at) ORDER BY r.received_at DESC)
                              FROM (SELECT i.id, i.channel, i.process, i.intent, i.received_at FROM interactions i
                                     WHERE i.customer_id = c.id ORDER BY i.received_at DESC LIMIT 5) r), '[]'::jsonb))
      FROM customers c WHERE c.id = p_customer
$$;

-- Stores a batch of routed messages in the caller's transaction. Each element of p_batch:
-- {gateway, message_id, channel, occurred_at (Unix ms), hints: [[kind, value], …], name, intent,
--  queue, language, priority, content_type, body_text | body_hex, attributes, deadline (Unix ms),
--  route_reason, routing_version}.
-- Answers one row per element: outcome 'stored', 'duplicate' (same gateway and message id, same
-- content: the original ids) or 'conflict' (same ids, different content).
CREATE FUNCTION swb_ingest(p_batch jsonb, p_received_at timestamptz)
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

-- Applies a batch of dispatch transitions in the caller's transaction. Each element of p_batch:
-- {op: offer|done|retry|requeue|reject|dead, id, worker?, attempt?, lease_until? (Unix ms),
--  not_before? (Unix ms), outcome?, notes?, error?}.
-- Answers, per element in order, whether the transition applied (a settled delivery stays settled).
CREATE FUNCTION swb_apply(p_batch jsonb)
RETURNS TABLE (o_index integer, o_applied boolean)
LANGUAGE plpgsql AS $$
DECLARE
    m jsonb;
    i integer := 0;
    v_count integer;
BEGIN
    FOR m IN SELECT value FROM jsonb_array_elements(p_batch) LOOP
        CASE m->>'op'
        WHEN 'offer' THEN
            UPDATE deliveries SET state = 'offered', worker = m->>'worker', attempts = (m->>'attempt')::integer,
                   lease_until = to_timestamp((m->>'lease_until')::bigint / 1000.0), owner = m->>'owner',
                   offered_at = now(), not_before = NULL
             WHERE id = (m->>'id')::bigint AND state IN ('pending', 'offered');
        WHEN 'done' THEN
            UPDATE deliveries SET state = 'done', outcome = m->>'outcome', notes = m->>'notes', completed_at = now(),
                   lease_until = NULL
             WHERE id = (m->>'id')::bigint AND state IN ('offered', 'in_progress') AND worker = m->>'worker';
        WHEN 'retry', 'requeue' THEN
            UPDATE deliveries SET state = 'pending', worker = NULL, lease_until = NULL, owner = NULL,
                   not_before = to_timestamp((m->>'not_before')::bigint / 1000.0), last_error = m->>'error'
             WHERE id = (m->>'id')::bigint AND state IN ('offered', 'in_progress', 'pending');
        WHEN 'reject' THEN
            UPDATE deliveries SET state = 'failed', outcome = 'rejected', notes = m->>'error', last_error = m->>'error',
                   completed_at = now(), lease_until = NULL
             WHERE id = (m->>'id')::bigint AND state IN ('offered', 'in_progress');
        WHEN 'dead' THEN
            UPDATE deliveries SET state = 'dead', last_error = m->>'error', completed_at = now(), lease_until = NULL,
                   worker = NULL, owner = NULL
             WHERE id = (m->>'id')::bigint AND state IN ('pending', 'offered', 'in_progress');
        ELSE
            RAISE EXCEPTION 'swb_apply: unknown op %', m->>'op';
        END CASE;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        o_index := i;
        o_applied := v_count > 0;
        RETURN NEXT;
        i := i + 1;
    END LOOP;
END $$;
