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
-- With these, `switchboard bench` measures several times the ingest rate of 0007's swb_ingest
-- (docs/performance.md). swb_ingest, swb_ingest_each and swb_apply stay for hubs of earlier
-- versions running against this database during an upgrade; this version does not call them.
--
-- The foreign keys from interactions and deliveries to routing_versions go: checked row by row,
-- they took about a third of the statement's time in EXPLAIN ANALYZE (two trigger calls per
-- message, for a value the hub takes from routing_versions when it starts). The column keeps its meaning; analysts join on it
-- as before.
ALTER TABLE interactions DROP CONSTRAINT IF EXISTS interactions_routing_version_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_routing_version_fkey;

-- Elements of p_batch are as for swb_ingest (0002). Answers one row per element, with its position:
-- 'stored' with the new ids, or 'duplicate' / 'conflict' with the ids stored before.
CREATE FUNCTION swb_ingest_set(p_batch jsonb, p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE plpgsql
-- Every join below is a nested loop into an index, by construction: lookups into the large tables
-- are LATERAL ... LIMIT 1, and each message is one materialized row that the writes read, never
-- joined with another part. These settings keep the cached plan that way whatever the tables'
-- size when it was made: a plan made while ingest_keys was small scanned all of it for every
-- batch once it had grown (seen in `switchboard bench`: a hash join over a sequential scan), and
-- a nested loop between two parts cost 60 ms per batch.
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    -- Looked up once per call, not once per row.
    v_customers regclass := pg_get_serial_sequence('customers', 'id')::regclass;
    v_deliveries regclass := pg_get_serial_sequence('deliveries', 'id')::regclass;
BEGIN
    RETURN QUERY
    WITH batch AS MATERIALIZED (
        -- Each message once, with everything the writes below need: what ingest_keys holds of its
        -- (gateway, message id) if it was stored before; else its customer (the oldest any hint
        -- names, or a new one), the hints no customer has yet, and its new ids.
        SELECT b.ordinality::integer AS position, b.gateway, b.message_id, b.channel, b.occurred_at, b.name, b.intent, b.queue,
               b.language, b.priority, b.content_type, b.body_text, b.body_hex, coalesce(b.attributes, '{}') AS attributes,
               b.deadline, b.route_reason, b.routing_version, f.fingerprint,
               k.interaction_id IS NULL AS fresh,
               CASE WHEN k.interaction_id IS NULL THEN 'stored' WHEN k.fingerprint = f.fingerprint THEN 'duplicate' ELSE 'conflict' END AS outcome,
               CASE WHEN k.interaction_id IS NULL THEN coalesce(r.customer_id, nextval(v_customers)) ELSE k.customer_id END AS customer_id,
               k.interaction_id IS NULL AND r.customer_id IS NULL AS new_customer,
               coalesce(r.strong, false) AS strong, coalesce(r.new_strong, false) AS new_strong, r.new_kinds, r.new_values,
               coalesce(k.queue, b.queue) AS answer_queue,
               coalesce(k.interaction_id, nextval('interactions_id_seq')) AS interaction_id,
               CASE WHEN k.interaction_id IS NULL THEN nextval(v_deliveries) END AS delivery_id
          FROM ROWS FROM (jsonb_to_recordset(p_batch) AS (gateway text, message_id text, channel text, occurred_at bigint,
               hints jsonb, name text, intent text, queue text, language text, priority smallint, content_type text,
               body_text text, body_hex text, attributes jsonb, deadline bigint, route_reason text, routing_version integer))
               WITH ORDINALITY AS b
         CROSS JOIN LATERAL (SELECT md5(concat_ws(chr(31), b.channel, b.content_type, b.body_text, b.body_hex)) AS fingerprint) f
          LEFT JOIN LATERAL (SELECT * FROM ingest_keys k WHERE k.gateway = b.gateway AND k.message_id = b.message_id LIMIT 1) k ON true
         CROSS JOIN LATERAL (
             SELECT min(ci.customer_id) AS customer_id,
                    bool_or(h->>0 IN ('phone', 'email', 'external')) AS strong,
                    bool_or(h->>0 IN ('phone', 'email', 'external') AND ci.customer_id IS NULL) AS new_strong,
                    array_agg(h->>0) FILTER (WHERE ci.customer_id IS NULL) AS new_kinds,
                    array_agg(h->>1) FILTER (WHERE ci.customer_id IS NULL) AS new_values
               FROM jsonb_array_elements(coalesce(b.hints, '[]')) h
               LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE c.kind = h->>0 AND c.value = h->>1 LIMIT 1) ci ON true
              WHERE k.interaction_id IS NULL
         ) r
    ), new_customers AS (
        INSERT INTO customers (id, display_name, anonymous) OVERRIDING SYSTEM VALUE
        SELECT s.customer_id, s.name, NOT s.strong FROM batch s WHERE s.new_customer
    ), known_customers AS (
        -- A name fills an empty display name (the round's first); a phone, e-mail or external id
        -- newly linked to the customer ends its anonymity. (One the customer already has did so
        -- when it was linked: no need to read the customer for it.)
        UPDATE customers c
           SET display_name = coalesce(c.display_name, u.name), anonymous = c.anonymous AND NOT u.new_strong, updated_at = now()
          FROM (SELECT s.customer_id, (array_agg(s.name ORDER BY s.position) FILTER (WHERE s.name IS NOT NULL))[1] AS name,
                       bool_or(s.new_strong) AS new_strong
                  FROM batch s WHERE s.fresh AND NOT s.new_customer AND (s.name IS NOT NULL OR s.new_strong) GROUP BY s.customer_id) u
         WHERE c.id = u.customer_id AND ((c.display_name IS NULL AND u.name IS NOT NULL) OR (c.anonymous AND u.new_strong))
    ), new_identities AS (
        INSERT INTO customer_identities (kind, value, customer_id)
        SELECT h.kind, h.value, s.customer_id FROM batch s CROSS JOIN LATERAL unnest(s.new_kinds, s.new_values) AS h (kind, value)
         WHERE s.fresh
        ON CONFLICT (kind, value) DO NOTHING
    ), new_interactions AS (
        INSERT INTO interactions (id, received_at, customer_id, gateway, message_id, channel, occurred_at, intent, process,
                                  language, priority, content_type, body_text, body_bytes, attributes, routing_version)
        SELECT s.interaction_id, p_received_at, s.customer_id, s.gateway, s.message_id, s.channel, to_timestamp(s.occurred_at::float8 / 1000),
               s.intent, s.queue, s.language, s.priority, s.content_type, s.body_text, decode(s.body_hex, 'hex'), s.attributes,
               s.routing_version
          FROM batch s WHERE s.fresh
    ), new_deliveries AS (
        INSERT INTO deliveries (id, interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason,
                                routing_version) OVERRIDING SYSTEM VALUE
        SELECT s.delivery_id, s.interaction_id, p_received_at, s.customer_id, s.queue, s.priority, to_timestamp(s.deadline::float8 / 1000),
               s.route_reason, s.routing_version
          FROM batch s WHERE s.fresh
    ), new_keys AS (
        INSERT INTO ingest_keys (gateway, message_id, interaction_id, customer_id, queue, fingerprint, received_at)
        SELECT s.gateway, s.message_id, s.interaction_id, s.customer_id, s.queue, s.fingerprint, p_received_at FROM batch s WHERE s.fresh
    )
    -- Every answer from the one materialized row of its message: no join, no sort (the hub places
    -- answers by position).
    SELECT s.position, s.outcome, s.interaction_id, s.customer_id, s.answer_queue, s.delivery_id FROM batch s;
END $$;

-- The customer context of many customers at once (the same object as swb_customer_context), for
-- the tasks the hub is about to offer. PL/pgSQL so that its plan is cached, with the same settings
-- as swb_ingest_set so that the cached plan stays one index probe per customer.
CREATE FUNCTION swb_customer_contexts(p_customers bigint[])
RETURNS TABLE (o_customer_id bigint, o_context jsonb)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
    RETURN QUERY
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
     WHERE c.id = ANY (p_customers);
END $$;

-- One live definition of the context object from here on: the one-customer form (still called by
-- swb_ingest_each for hubs of earlier versions) asks the set form.
CREATE OR REPLACE FUNCTION swb_customer_context(p_customer bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT o_context FROM swb_customer_contexts(ARRAY[p_customer])
$$;

-- Dispatch transitions of a round, set-based: one UPDATE for the lot instead of one per
-- transition. Precondition: no delivery twice in one round (the hub puts a delivery's second
-- transition of a batch in the next round). Same effect and guards as swb_apply (0002), which
-- stays for hubs of earlier versions. Answers the positions (from 0) of the transitions applied;
-- a transition whose guard failed (settled before, or held by another worker) is not among them.
CREATE FUNCTION swb_apply_set(p_batch jsonb)
RETURNS TABLE (o_index integer)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_batch) e
                WHERE e->>'op' IS NULL OR e->>'op' NOT IN ('offer', 'done', 'retry', 'requeue', 'reject', 'dead')) THEN
        RAISE EXCEPTION 'swb_apply_set: unknown op in %', p_batch;
    END IF;
    RETURN QUERY
    WITH t AS MATERIALIZED (
        SELECT (b.ordinality - 1)::integer AS idx, b.op, b.id, b.worker, b.attempt, b.lease_until, b.owner, b.outcome, b.notes,
               b.not_before, b.error
          FROM ROWS FROM (jsonb_to_recordset(p_batch) AS (op text, id bigint, worker text, attempt integer, lease_until bigint,
               owner text, outcome text, notes text, not_before bigint, error text)) WITH ORDINALITY AS b
    ), changed AS (
        UPDATE deliveries d
           SET state = CASE t.op WHEN 'offer' THEN 'offered' WHEN 'done' THEN 'done' WHEN 'reject' THEN 'failed' WHEN 'dead' THEN 'dead'
                                 ELSE 'pending' END,
               worker = CASE WHEN t.op = 'offer' THEN t.worker WHEN t.op IN ('retry', 'requeue', 'dead') THEN NULL ELSE d.worker END,
               owner = CASE WHEN t.op = 'offer' THEN t.owner WHEN t.op IN ('retry', 'requeue', 'dead') THEN NULL ELSE d.owner END,
               attempts = CASE WHEN t.op = 'offer' THEN t.attempt ELSE d.attempts END,
               lease_until = CASE WHEN t.op = 'offer' THEN to_timestamp(t.lease_until::float8 / 1000) END,
               offered_at = CASE WHEN t.op = 'offer' THEN now() ELSE d.offered_at END,
               not_before = CASE WHEN t.op = 'offer' THEN NULL WHEN t.op IN ('retry', 'requeue') THEN to_timestamp(t.not_before::float8 / 1000)
                                 ELSE d.not_before END,
               outcome = CASE t.op WHEN 'done' THEN t.outcome WHEN 'reject' THEN 'rejected' ELSE d.outcome END,
               notes = CASE t.op WHEN 'done' THEN t.notes WHEN 'reject' THEN t.error ELSE d.notes END,
               completed_at = CASE WHEN t.op IN ('done', 'reject', 'dead') THEN now() ELSE d.completed_at END,
               last_error = CASE WHEN t.op IN ('retry', 'requeue', 'reject', 'dead') THEN t.error ELSE d.last_error END
          FROM t
         WHERE d.id = t.id
           AND CASE t.op
                   WHEN 'offer' THEN d.state IN ('pending', 'offered')
                   WHEN 'done' THEN d.state IN ('offered', 'in_progress') AND d.worker = t.worker
                   WHEN 'reject' THEN d.state IN ('offered', 'in_progress')
                   WHEN 'dead' THEN d.state IN ('pending', 'offered', 'in_progress')
                   ELSE d.state IN ('offered', 'in_progress', 'pending')
               END
        RETURNING t.idx
    )
    SELECT c.idx FROM changed c;
END $$;
