-- Ingest in rounds: one statement per round, no temporary table, no customer context.
--
-- swb_ingest_set stores a round of messages in one SQL statement (data-modifying CTEs). Its
-- precondition makes that possible: no two elements of one round share a (gateway, message id)
-- or an identity hint. The hub splits each batch into rounds (a message goes one round after the
-- last earlier message it shares a key or a hint with), so inside a round every message is
-- independent of the others and the result is the same as storing the batch message by message:
-- a repeated message id is found in ingest_keys by the later round, and a new customer created
-- for a new address in one round is found through customer_identities by the next.
--
-- The customer context (profile, identities, five latest contacts) is no longer built at ingest:
-- the hub asks swb_customer_contexts for it when it offers the task, so a worker sees the
-- customer as of the hand-over and the ingest transaction does only what durability needs.
--
-- `switchboard bench` measured, per batch of 512 in PostgreSQL, ~110 ms for 0007's swb_ingest
-- with its contexts and ~30 ms for this. swb_ingest and swb_ingest_each stay for hubs of earlier
-- versions running against this database during an upgrade; this version does not call them.
--
-- Elements of p_batch are as for swb_ingest (0002). Answers one row per element, by position:
-- 'stored' with the new ids, or 'duplicate' / 'conflict' with the ids stored before.
CREATE FUNCTION swb_ingest_set(p_batch jsonb, p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
    -- One statement, so its plan is cached by PL/pgSQL across calls.
    RETURN QUERY
    WITH input AS MATERIALIZED (
        SELECT b.ordinality::integer AS position, b.gateway, b.message_id, b.channel, b.occurred_at, coalesce(b.hints, '[]') AS hints,
               b.name, b.intent, b.queue, b.language, b.priority, b.content_type, b.body_text, b.body_hex,
               coalesce(b.attributes, '{}') AS attributes, b.deadline, b.route_reason, b.routing_version,
               md5(concat_ws(chr(31), b.channel, b.content_type, b.body_text, b.body_hex)) AS fingerprint
          FROM ROWS FROM (jsonb_to_recordset(p_batch) AS (gateway text, message_id text, channel text, occurred_at bigint,
               hints jsonb, name text, intent text, queue text, language text, priority smallint, content_type text,
               body_text text, body_hex text, attributes jsonb, deadline bigint, route_reason text, routing_version integer))
               WITH ORDINALITY AS b
    ), seen AS MATERIALIZED (
        -- Stored before: answered with the stored ids.
        SELECT i.position, CASE WHEN k.fingerprint = i.fingerprint THEN 'duplicate' ELSE 'conflict' END AS outcome,
               k.interaction_id, k.customer_id, k.queue
          FROM input i JOIN ingest_keys k ON k.gateway = i.gateway AND k.message_id = i.message_id
    ), fresh AS MATERIALIZED (
        SELECT i.* FROM input i WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.position = i.position)
    ), hints AS MATERIALIZED (
        -- Each hint of each new message, with the customer it already names, if any.
        SELECT f.position, h->>0 AS kind, h->>1 AS value, ci.customer_id
          FROM fresh f CROSS JOIN LATERAL jsonb_array_elements(f.hints) h
          LEFT JOIN customer_identities ci ON ci.kind = h->>0 AND ci.value = h->>1
    ), stored AS MATERIALIZED (
        -- The oldest customer any hint names, or a new one; `strong` when a hint is more than a device.
        SELECT f.*, coalesce(r.customer_id, nextval(pg_get_serial_sequence('customers', 'id'))) AS customer_id,
               r.customer_id IS NULL AS new_customer, coalesce(r.strong, false) AS strong,
               nextval('interactions_id_seq') AS interaction_id
          FROM fresh f
          LEFT JOIN (SELECT h.position, min(h.customer_id) AS customer_id, bool_or(h.kind IN ('phone', 'email', 'external')) AS strong
                       FROM hints h GROUP BY h.position) r ON r.position = f.position
         ORDER BY f.position
    ), new_customers AS (
        INSERT INTO customers (id, display_name, anonymous) OVERRIDING SYSTEM VALUE
        SELECT s.customer_id, s.name, NOT s.strong FROM stored s WHERE s.new_customer
    ), known_customers AS (
        -- A name fills an empty display name (the round's first); a phone, e-mail or external id ends anonymity.
        UPDATE customers c
           SET display_name = coalesce(c.display_name, u.name), anonymous = c.anonymous AND NOT u.strong, updated_at = now()
          FROM (SELECT s.customer_id, (array_agg(s.name ORDER BY s.position) FILTER (WHERE s.name IS NOT NULL))[1] AS name,
                       bool_or(s.strong) AS strong
                  FROM stored s WHERE NOT s.new_customer GROUP BY s.customer_id) u
         WHERE c.id = u.customer_id AND ((c.display_name IS NULL AND u.name IS NOT NULL) OR (c.anonymous AND u.strong))
    ), new_identities AS (
        INSERT INTO customer_identities (kind, value, customer_id)
        SELECT h.kind, h.value, s.customer_id FROM hints h JOIN stored s ON s.position = h.position WHERE h.customer_id IS NULL
        ON CONFLICT (kind, value) DO NOTHING
    ), new_interactions AS (
        INSERT INTO interactions (id, received_at, customer_id, gateway, message_id, channel, occurred_at, intent, process,
                                  language, priority, content_type, body_text, body_bytes, attributes, routing_version)
        SELECT s.interaction_id, p_received_at, s.customer_id, s.gateway, s.message_id, s.channel, to_timestamp(s.occurred_at / 1000.0),
               s.intent, s.queue, s.language, s.priority, s.content_type, s.body_text, decode(s.body_hex, 'hex'), s.attributes,
               s.routing_version
          FROM stored s
    ), new_deliveries AS (
        INSERT INTO deliveries (interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason, routing_version)
        SELECT s.interaction_id, p_received_at, s.customer_id, s.queue, s.priority, to_timestamp(s.deadline / 1000.0), s.route_reason,
               s.routing_version
          FROM stored s ORDER BY s.position
        RETURNING id, interaction_id
    ), new_keys AS (
        INSERT INTO ingest_keys (gateway, message_id, interaction_id, customer_id, queue, fingerprint, received_at)
        SELECT s.gateway, s.message_id, s.interaction_id, s.customer_id, s.queue, s.fingerprint, p_received_at FROM stored s
    )
    SELECT s.position, 'stored'::text, s.interaction_id, s.customer_id, s.queue, d.id
      FROM stored s JOIN new_deliveries d ON d.interaction_id = s.interaction_id
    UNION ALL
    SELECT x.position, x.outcome, x.interaction_id, x.customer_id, x.queue, NULL::bigint FROM seen x
    ORDER BY 1;
END $$;

-- The customer context of many customers at once (the same object as swb_customer_context), for
-- the tasks the hub is about to offer.
CREATE FUNCTION swb_customer_contexts(p_customers bigint[])
RETURNS TABLE (o_customer_id bigint, o_context jsonb)
LANGUAGE sql STABLE AS $$
    SELECT c.id,
           jsonb_build_object(
               'id', c.id, 'kind', c.kind, 'display_name', c.display_name, 'segment', c.segment,
               'value_tier', c.value_tier, 'anonymous', c.anonymous,
               'identities', coalesce(ids.list, '[]'::jsonb), 'recent', coalesce(rec.list, '[]'::jsonb))
      FROM customers c
      CROSS JOIN LATERAL (
          SELECT jsonb_agg(jsonb_build_object('kind', ci.kind, 'value', ci.value) ORDER BY ci.kind, ci.value) AS list
            FROM customer_identities ci WHERE ci.customer_id = c.id) ids
      CROSS JOIN LATERAL (
          SELECT jsonb_agg(jsonb_build_object('interaction_id', h.id, 'channel', h.channel, 'process', h.process,
                                              'intent', h.intent, 'received_at', h.received_at) ORDER BY h.received_at DESC) AS list
            FROM (SELECT i.id, i.channel, i.process, i.intent, i.received_at FROM interactions i
                   WHERE i.customer_id = c.id ORDER BY i.received_at DESC LIMIT 5) h) rec
     WHERE c.id = ANY (p_customers)
$$;
