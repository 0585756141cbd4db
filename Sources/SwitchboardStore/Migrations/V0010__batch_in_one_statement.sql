-- A batch in one statement, whatever its rounds; the functions of 0008 and 0009 become wrappers.
--
-- No two messages of one round may share a (gateway, message id) or an identity, nor two
-- transitions a delivery (0008). The hub sent each round as a statement of its own, inside
-- BEGIN ... COMMIT when there were several. Several are the rule under load, not the exception: a
-- customer writing twice within a batch (a chat, a retry) is enough, and `switchboard bench`'s
-- 512 messages from 10,000 addresses share one in nearly every batch. That cost four round trips
-- and two executions instead of one of each, with the database's backend waiting for a busy hub
-- between them.
--
-- swb_ingest_batch and swb_apply_batch take the whole batch with each element's round (from 1)
-- and run the rounds in order inside one call. Each round is one statement of the function, so
-- it sees what the rounds before it wrote, as the separate statements did. Positions and indexes
-- in the answers are those of the whole batch.
--
-- swb_ingest_columns, swb_apply_columns (0009), swb_ingest_set and swb_apply_set (0008) stay for
-- hubs of earlier versions during an upgrade, now as wrappers that run their input as one round
-- (their callers split batches into rounds themselves): one definition of each write is left.

-- A batch of messages, each with its round: same preconditions per round, effects and answers as
-- 0009's swb_ingest_columns. The body comes as text (text/* content types) or as bytes, the other
-- one NULL; a NULL attributes element means none; hints are one column per kind.
CREATE FUNCTION swb_ingest_batch(
    p_round integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE plpgsql
-- As for swb_ingest_set (0008): every join is a nested loop into an index, whatever the tables'
-- size when the plan was cached.
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    v_customers regclass := pg_get_serial_sequence('customers', 'id')::regclass;
    v_deliveries regclass := pg_get_serial_sequence('deliveries', 'id')::regclass;
    v_rounds integer := coalesce((SELECT max(r) FROM unnest(p_round) AS r), 0);
BEGIN
    -- Round after round, each statement seeing what the ones before it wrote.
    FOR v_round IN 1..v_rounds LOOP
        RETURN QUERY
        WITH batch AS MATERIALIZED (
            -- Each message once, with everything the writes below need (as in swb_ingest_set), and
            -- which of its hints no customer has yet.
            SELECT b.position::integer AS position, b.gateway, b.message_id, b.channel, b.occurred_at, b.name, b.intent, b.queue,
                   b.language, b.priority, b.content_type, b.body_text, b.body_bytes, coalesce(b.attributes, '{}') AS attributes,
                   b.deadline, b.route_reason, b.routing_version, f.fingerprint,
                   b.phone, b.email, b.external, b.device,
                   ph.customer_id IS NULL AS new_phone, em.customer_id IS NULL AS new_email,
                   ex.customer_id IS NULL AS new_external, dv.customer_id IS NULL AS new_device,
                   k.interaction_id IS NULL AS fresh,
                   CASE WHEN k.interaction_id IS NULL THEN 'stored' WHEN k.fingerprint = f.fingerprint THEN 'duplicate' ELSE 'conflict' END AS outcome,
                   CASE WHEN k.interaction_id IS NULL
                        THEN coalesce(least(ph.customer_id, em.customer_id, ex.customer_id, dv.customer_id), nextval(v_customers))
                        ELSE k.customer_id END AS customer_id,
                   k.interaction_id IS NULL AND coalesce(ph.customer_id, em.customer_id, ex.customer_id, dv.customer_id) IS NULL AS new_customer,
                   (b.phone IS NOT NULL OR b.email IS NOT NULL OR b.external IS NOT NULL) AS strong,
                   ((b.phone IS NOT NULL AND ph.customer_id IS NULL) OR (b.email IS NOT NULL AND em.customer_id IS NULL)
                     OR (b.external IS NOT NULL AND ex.customer_id IS NULL)) AS new_strong,
                   coalesce(k.queue, b.queue) AS answer_queue,
                   coalesce(k.interaction_id, nextval('interactions_id_seq')) AS interaction_id,
                   CASE WHEN k.interaction_id IS NULL THEN nextval(v_deliveries) END AS delivery_id
              FROM unnest(p_round, p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language, p_priority,
                          p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason, p_routing_version,
                          p_phone, p_email, p_external, p_device)
                   WITH ORDINALITY AS b (round, gateway, message_id, channel, occurred_at, name, intent, queue, language, priority,
                          content_type, body_text, body_bytes, attributes, deadline, route_reason, routing_version,
                          phone, email, external, device, position)
             CROSS JOIN LATERAL (SELECT md5(concat_ws(chr(31), b.channel, b.content_type, b.body_text, encode(b.body_bytes, 'hex'))) AS fingerprint) f
              LEFT JOIN LATERAL (SELECT * FROM ingest_keys k WHERE k.gateway = b.gateway AND k.message_id = b.message_id LIMIT 1) k ON true
              LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE k.interaction_id IS NULL AND c.kind = 'phone' AND c.value = b.phone LIMIT 1) ph ON true
              LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE k.interaction_id IS NULL AND c.kind = 'email' AND c.value = b.email LIMIT 1) em ON true
              LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE k.interaction_id IS NULL AND c.kind = 'external' AND c.value = b.external LIMIT 1) ex ON true
              LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE k.interaction_id IS NULL AND c.kind = 'device' AND c.value = b.device LIMIT 1) dv ON true
             WHERE b.round = v_round
        ), new_customers AS (
            INSERT INTO customers (id, display_name, anonymous) OVERRIDING SYSTEM VALUE
            SELECT s.customer_id, s.name, NOT s.strong FROM batch s WHERE s.new_customer
        ), known_customers AS (
            -- A name fills an empty display name; a phone, e-mail or external id newly linked ends
            -- the customer's anonymity (as in swb_ingest_set).
            UPDATE customers c
               SET display_name = coalesce(c.display_name, u.name), anonymous = c.anonymous AND NOT u.new_strong, updated_at = now()
              FROM (SELECT s.customer_id, (array_agg(s.name ORDER BY s.position) FILTER (WHERE s.name IS NOT NULL))[1] AS name,
                           bool_or(s.new_strong) AS new_strong
                      FROM batch s WHERE s.fresh AND NOT s.new_customer AND (s.name IS NOT NULL OR s.new_strong) GROUP BY s.customer_id) u
             WHERE c.id = u.customer_id AND ((c.display_name IS NULL AND u.name IS NOT NULL) OR (c.anonymous AND u.new_strong))
        ), new_identities AS (
            INSERT INTO customer_identities (kind, value, customer_id)
            SELECT h.kind, h.value, s.customer_id
              FROM batch s
             CROSS JOIN LATERAL (VALUES ('phone', s.phone, s.new_phone), ('email', s.email, s.new_email),
                                        ('external', s.external, s.new_external), ('device', s.device, s.new_device)) AS h (kind, value, new)
             WHERE s.fresh AND h.value IS NOT NULL AND h.new
            ON CONFLICT (kind, value) DO NOTHING
        ), new_interactions AS (
            INSERT INTO interactions (id, received_at, customer_id, gateway, message_id, channel, occurred_at, intent, process,
                                      language, priority, content_type, body_text, body_bytes, attributes, routing_version)
            SELECT s.interaction_id, p_received_at, s.customer_id, s.gateway, s.message_id, s.channel, to_timestamp(s.occurred_at::float8 / 1000),
                   s.intent, s.queue, s.language, s.priority, s.content_type, s.body_text, s.body_bytes, s.attributes,
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
        -- Every answer from the one materialized row of its message, placed by position by the hub.
        SELECT s.position, s.outcome, s.interaction_id, s.customer_id, s.answer_queue, s.delivery_id FROM batch s;
    END LOOP;
END $$;

-- A batch of dispatch transitions, each with its round: same precondition per round (no delivery
-- twice), effect, guards and answer (indexes from 0, of the whole batch) as 0009's
-- swb_apply_columns. Fields a transition does not have are NULL.
CREATE FUNCTION swb_apply_batch(p_round integer[], p_op text[], p_id bigint[], p_worker text[], p_attempt integer[], p_lease_until bigint[],
                                p_owner text[], p_outcome text[], p_notes text[], p_not_before bigint[], p_error text[])
RETURNS TABLE (o_index integer)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    v_rounds integer := coalesce((SELECT max(r) FROM unnest(p_round) AS r), 0);
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_op) AS o (op) WHERE o.op IS NULL OR o.op NOT IN ('offer', 'done', 'retry', 'requeue', 'reject', 'dead')) THEN
        RAISE EXCEPTION 'swb_apply_batch: unknown op in %', p_op;
    END IF;
    FOR v_round IN 1..v_rounds LOOP
        RETURN QUERY
        WITH t AS MATERIALIZED (
            SELECT (b.ordinality - 1)::integer AS idx, b.op, b.id, b.worker, b.attempt, b.lease_until, b.owner, b.outcome, b.notes,
                   b.not_before, b.error
              FROM unnest(p_round, p_op, p_id, p_worker, p_attempt, p_lease_until, p_owner, p_outcome, p_notes, p_not_before, p_error)
                   WITH ORDINALITY AS b (round, op, id, worker, attempt, lease_until, owner, outcome, notes, not_before, error, ordinality)
             WHERE b.round = v_round
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
    END LOOP;
END $$;

-- The earlier entry points, as one round of the functions above.
CREATE OR REPLACE FUNCTION swb_ingest_columns(
    p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE sql AS $$
    SELECT * FROM swb_ingest_batch(array_fill(1, ARRAY[coalesce(cardinality(p_gateway), 0)]), p_gateway, p_message_id, p_channel,
                                   p_occurred_at, p_name, p_intent, p_queue, p_language, p_priority, p_content_type, p_body_text,
                                   p_body_bytes, p_attributes, p_deadline, p_route_reason, p_routing_version, p_phone, p_email,
                                   p_external, p_device, p_received_at)
$$;

-- 0002's JSON elements as columns: hints are [kind, value] pairs, at most one of each kind (the
-- protocol's four hint fields); the body is text or hex.
CREATE OR REPLACE FUNCTION swb_ingest_set(p_batch jsonb, p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE sql AS $$
    SELECT o.*
      FROM (SELECT array_agg(1 ORDER BY b.ordinality) AS round, array_agg(b.gateway ORDER BY b.ordinality) AS gateway,
                   array_agg(b.message_id ORDER BY b.ordinality) AS message_id, array_agg(b.channel ORDER BY b.ordinality) AS channel,
                   array_agg(b.occurred_at ORDER BY b.ordinality) AS occurred_at, array_agg(b.name ORDER BY b.ordinality) AS name,
                   array_agg(b.intent ORDER BY b.ordinality) AS intent, array_agg(b.queue ORDER BY b.ordinality) AS queue,
                   array_agg(b.language ORDER BY b.ordinality) AS language, array_agg(b.priority ORDER BY b.ordinality) AS priority,
                   array_agg(b.content_type ORDER BY b.ordinality) AS content_type,
                   array_agg(b.body_text ORDER BY b.ordinality) AS body_text,
                   array_agg(decode(b.body_hex, 'hex') ORDER BY b.ordinality) AS body_bytes,
                   array_agg(b.attributes ORDER BY b.ordinality) AS attributes, array_agg(b.deadline ORDER BY b.ordinality) AS deadline,
                   array_agg(b.route_reason ORDER BY b.ordinality) AS route_reason,
                   array_agg(b.routing_version ORDER BY b.ordinality) AS routing_version,
                   array_agg(h.phone ORDER BY b.ordinality) AS phone, array_agg(h.email ORDER BY b.ordinality) AS email,
                   array_agg(h.external ORDER BY b.ordinality) AS external, array_agg(h.device ORDER BY b.ordinality) AS device
              FROM ROWS FROM (jsonb_to_recordset(p_batch) AS (gateway text, message_id text, channel text, occurred_at bigint,
                   hints jsonb, name text, intent text, queue text, language text, priority smallint, content_type text,
                   body_text text, body_hex text, attributes jsonb, deadline bigint, route_reason text, routing_version integer))
                   WITH ORDINALITY AS b
             CROSS JOIN LATERAL (
                 SELECT max(e->>1) FILTER (WHERE e->>0 = 'phone') AS phone, max(e->>1) FILTER (WHERE e->>0 = 'email') AS email,
                        max(e->>1) FILTER (WHERE e->>0 = 'external') AS external, max(e->>1) FILTER (WHERE e->>0 = 'device') AS device
                   FROM jsonb_array_elements(coalesce(b.hints, '[]')) e) h) a
     CROSS JOIN LATERAL swb_ingest_batch(a.round, a.gateway, a.message_id, a.channel, a.occurred_at, a.name, a.intent, a.queue,
                                         a.language, a.priority, a.content_type, a.body_text, a.body_bytes, a.attributes, a.deadline,
                                         a.route_reason, a.routing_version, a.phone, a.email, a.external, a.device, p_received_at) o
$$;

CREATE OR REPLACE FUNCTION swb_apply_columns(p_op text[], p_id bigint[], p_worker text[], p_attempt integer[], p_lease_until bigint[],
                                             p_owner text[], p_outcome text[], p_notes text[], p_not_before bigint[], p_error text[])
RETURNS TABLE (o_index integer)
LANGUAGE sql AS $$
    SELECT * FROM swb_apply_batch(array_fill(1, ARRAY[coalesce(cardinality(p_op), 0)]), p_op, p_id, p_worker, p_attempt,
                                  p_lease_until, p_owner, p_outcome, p_notes, p_not_before, p_error)
$$;

CREATE OR REPLACE FUNCTION swb_apply_set(p_batch jsonb)
RETURNS TABLE (o_index integer)
LANGUAGE sql AS $$
    SELECT o.*
      FROM (SELECT array_agg(1 ORDER BY b.ordinality) AS round, array_agg(b.op ORDER BY b.ordinality) AS op,
                   array_agg(b.id ORDER BY b.ordinality) AS id, array_agg(b.worker ORDER BY b.ordinality) AS worker,
                   array_agg(b.attempt ORDER BY b.ordinality) AS attempt, array_agg(b.lease_until ORDER BY b.ordinality) AS lease_until,
                   array_agg(b.owner ORDER BY b.ordinality) AS owner, array_agg(b.outcome ORDER BY b.ordinality) AS outcome,
                   array_agg(b.notes ORDER BY b.ordinality) AS notes, array_agg(b.not_before ORDER BY b.ordinality) AS not_before,
                   array_agg(b.error ORDER BY b.ordinality) AS error
              FROM ROWS FROM (jsonb_to_recordset(p_batch) AS (op text, id bigint, worker text, attempt integer, lease_until bigint,
                   owner text, outcome text, notes text, not_before bigint, error text)) WITH ORDINALITY AS b) a
     CROSS JOIN LATERAL swb_apply_batch(a.round, a.op, a.id, a.worker, a.attempt, a.lease_until, a.owner, a.outcome, a.notes,
                                        a.not_before, a.error) o
$$;
