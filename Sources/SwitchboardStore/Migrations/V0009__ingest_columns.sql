-- Ingest (and dispatch transitions, at the end) from columns: a round's messages as one binary
-- array per field instead of one JSON document.
--
-- swb_ingest_set (0008) made PostgreSQL parse a JSON text of some 450 bytes per message into jsonb
-- and then take it apart again (jsonb_to_recordset), and the hub escape every string into it. Arrays
-- sent in PostgreSQL's binary format (Postgres/PostgresArray.swift) are copied, not parsed: the
-- hub writes each value's bytes once, the server reads them with array_recv and unnest.
--
-- The identity hints come as four columns, one per kind (phone, email, external id, device id): a
-- message has at most one of each (the protocol's four hint fields), so each is a single index
-- probe instead of an aggregate over a JSON array of pairs.
--
-- Same precondition, outcome and answers as swb_ingest_set, which stays for hubs of earlier
-- versions during an upgrade: no two messages of one round share a (gateway, message id) or an
-- identity. The body comes as text (text/* content types) or as bytes, the other one NULL; a NULL
-- attributes element means none.
CREATE FUNCTION swb_ingest_columns(
    p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE plpgsql
-- As for swb_ingest_set: every join is a nested loop into an index, whatever the tables' size when
-- the plan was cached.
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    v_customers regclass := pg_get_serial_sequence('customers', 'id')::regclass;
    v_deliveries regclass := pg_get_serial_sequence('deliveries', 'id')::regclass;
BEGIN
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
          FROM unnest(p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language, p_priority,
                      p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason, p_routing_version,
                      p_phone, p_email, p_external, p_device)
               WITH ORDINALITY AS b (gateway, message_id, channel, occurred_at, name, intent, queue, language, priority,
                      content_type, body_text, body_bytes, attributes, deadline, route_reason, routing_version,
                      phone, email, external, device, position)
         CROSS JOIN LATERAL (SELECT md5(concat_ws(chr(31), b.channel, b.content_type, b.body_text, encode(b.body_bytes, 'hex'))) AS fingerprint) f
          LEFT JOIN LATERAL (SELECT * FROM ingest_keys k WHERE k.gateway = b.gateway AND k.message_id = b.message_id LIMIT 1) k ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE k.interaction_id IS NULL AND c.kind = 'phone' AND c.value = b.phone LIMIT 1) ph ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE k.interaction_id IS NULL AND c.kind = 'email' AND c.value = b.email LIMIT 1) em ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE k.interaction_id IS NULL AND c.kind = 'external' AND c.value = b.external LIMIT 1) ex ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c WHERE k.interaction_id IS NULL AND c.kind = 'device' AND c.value = b.device LIMIT 1) dv ON true
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
END $$;

-- Dispatch transitions of a round from columns, as swb_apply_set (0008) does from JSON: same
-- precondition (no delivery twice in a round), effect, guards and answer; swb_apply_set stays for
-- hubs of earlier versions. Fields a transition does not have are NULL.
CREATE FUNCTION swb_apply_columns(p_op text[], p_id bigint[], p_worker text[], p_attempt integer[], p_lease_until bigint[],
                                  p_owner text[], p_outcome text[], p_notes text[], p_not_before bigint[], p_error text[])
RETURNS TABLE (o_index integer)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_op) AS o (op) WHERE o.op IS NULL OR o.op NOT IN ('offer', 'done', 'retry', 'requeue', 'reject', 'dead')) THEN
        RAISE EXCEPTION 'swb_apply_columns: unknown op in %', p_op;
    END IF;
    RETURN QUERY
    WITH t AS MATERIALIZED (
        SELECT (b.ordinality - 1)::integer AS idx, b.op, b.id, b.worker, b.attempt, b.lease_until, b.owner, b.outcome, b.notes,
               b.not_before, b.error
          FROM unnest(p_op, p_id, p_worker, p_attempt, p_lease_until, p_owner, p_outcome, p_notes, p_not_before, p_error)
               WITH ORDINALITY AS b (op, id, worker, attempt, lease_until, owner, outcome, notes, not_before, error, ordinality)
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
