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
-- The foreign keys from interactions and deliveries to routing_versions go: checked row by row,
-- they were a third of the statement's time (two trigger calls per message for a value the hub
-- takes from routing_versions when it starts). The column keeps its meaning; analysts join on it
-- as before.
ALTER TABLE interactions DROP CONSTRAINT IF EXISTS interactions_routing_version_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_routing_version_fkey;

-- Elements of p_batch are as for swb_ingest (0002). Answers one row per element, by position:
-- 'stored' with the new ids, or 'duplicate' / 'conflict' with the ids stored before.
CREATE FUNCTION swb_ingest_set(p_batch jsonb, p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE plpgsql
-- Every join below is a nested loop into an index, by construction: lookups into the large tables
-- are LATERAL ... LIMIT 1 and the parts are never joined with each other. These settings keep the
-- cached plan that way whatever the tables' size when it was made: a plan made while ingest_keys
-- was small scanned all of it for every batch once it had grown (seen in `switchboard bench`: a
-- hash join over a sequential scan), and a nested loop over two of the parts cost 60 ms per batch.
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
    RETURN QUERY
    WITH input AS MATERIALIZED (
        -- Each message, with what ingest_keys holds of its (gateway, message id) if it was stored before.
        SELECT b.ordinality::integer AS position, b.gateway, b.message_id, b.channel, b.occurred_at, coalesce(b.hints, '[]') AS hints,
               b.name, b.intent, b.queue, b.language, b.priority, b.content_type, b.body_text, b.body_hex,
               coalesce(b.attributes, '{}') AS attributes, b.deadline, b.route_reason, b.routing_version,
               md5(concat_ws(chr(31), b.channel, b.content_type, b.body_text, b.body_hex)) AS fingerprint,
               k.fingerprint AS stored_fingerprint, k.interaction_id AS stored_interaction, k.customer_id AS stored_customer,
               k.queue AS stored_queue
          FROM ROWS FROM (jsonb_to_recordset(p_batch) AS (gateway text, message_id text, channel text, occurred_at bigint,
               hints jsonb, name text, intent text, queue text, language text, priority smallint, content_type text,
               body_text text, body_hex text, attributes jsonb, deadline bigint, route_reason text, routing_version integer))
               WITH ORDINALITY AS b
          LEFT JOIN LATERAL (SELECT * FROM ingest_keys k WHERE k.gateway = b.gateway AND k.message_id = b.message_id LIMIT 1) k ON true
    ), stored AS MATERIALIZED (
        -- New messages: the oldest customer any hint names, or a new one; `strong` when a hint is
        -- more than a device; the hints no customer has yet; every id drawn here, in batch order.
        SELECT i.*, coalesce(r.customer_id, nextval(pg_get_serial_sequence('customers', 'id'))) AS customer_id,
               r.customer_id IS NULL AS new_customer, coalesce(r.strong, false) AS strong, r.new_kinds, r.new_values,
               nextval('interactions_id_seq') AS interaction_id, nextval(pg_get_serial_sequence('deliveries', 'id')) AS delivery_id
          FROM input i
         CROSS JOIN LATERAL (
             SELECT min(ci.customer_id) AS customer_id, bool_or(h->>0 IN ('phone', 'email', 'external')) AS strong,
                    array_agg(h->>0) FILTER (WHERE ci.customer_id IS NULL) AS new_kinds,
                    array_agg(h->>1) FILTER (WHERE ci.customer_id IS NULL) AS new_values
               FROM jsonb_array_elements(i.hints) h
               LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE c.kind = h->>0 AND c.value = h->>1 LIMIT 1) ci ON true
         ) r
         WHERE i.stored_interaction IS NULL
         ORDER BY i.position
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
        SELECT h.kind, h.value, s.customer_id FROM stored s CROSS JOIN LATERAL unnest(s.new_kinds, s.new_values) AS h (kind, value)
        ON CONFLICT (kind, value) DO NOTHING
    ), new_interactions AS (
        INSERT INTO interactions (id, received_at, customer_id, gateway, message_id, channel, occurred_at, intent, process,
                                  language, priority, content_type, body_text, body_bytes, attributes, routing_version)
        SELECT s.interaction_id, p_received_at, s.customer_id, s.gateway, s.message_id, s.channel, to_timestamp(s.occurred_at / 1000.0),
               s.intent, s.queue, s.language, s.priority, s.content_type, s.body_text, decode(s.body_hex, 'hex'), s.attributes,
               s.routing_version
          FROM stored s
    ), new_deliveries AS (
        INSERT INTO deliveries (id, interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason,
                                routing_version) OVERRIDING SYSTEM VALUE
        SELECT s.delivery_id, s.interaction_id, p_received_at, s.customer_id, s.queue, s.priority, to_timestamp(s.deadline / 1000.0),
               s.route_reason, s.routing_version
          FROM stored s
    ), new_keys AS (
        INSERT INTO ingest_keys (gateway, message_id, interaction_id, customer_id, queue, fingerprint, received_at)
        SELECT s.gateway, s.message_id, s.interaction_id, s.customer_id, s.queue, s.fingerprint, p_received_at FROM stored s
    )
    -- No join between the parts: each answer comes from one of them.
    SELECT s.position, 'stored'::text, s.interaction_id, s.customer_id, s.queue, s.delivery_id FROM stored s
    UNION ALL
    SELECT i.position, CASE WHEN i.stored_fingerprint = i.fingerprint THEN 'duplicate' ELSE 'conflict' END,
           i.stored_interaction, i.stored_customer, i.stored_queue, NULL::bigint
      FROM input i WHERE i.stored_interaction IS NOT NULL
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
