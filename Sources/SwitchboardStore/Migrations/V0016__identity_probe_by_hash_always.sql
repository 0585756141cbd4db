-- Identity probes by the hash index whatever the statistics when the plan was made.
--
-- Each stored message looks its hints up in customer_identities (swb_ingest_round, 0012), and
-- 0013 added a hash index on the identity's value for those probes. But the plan is made once per
-- connection (0014), with the statistics of that moment. A hub that connected while the table was
-- empty or not yet analyzed, as on a new database, planned the probes on the primary key
-- (kind, value) instead: with two equality conditions on a unique B-tree, that looked cheaper than
-- the hash index and a check of the kind. It kept that plan for as long as it stayed connected,
-- however large the table grew, and a B-tree probe descends a level more for every few hundred
-- times more identities. After `switchboard bench --quick --sections ingest`, pg_stat_user_indexes
-- showed it: the hub that began on an empty database had made every probe on the primary key,
-- the hubs that began on seeded ones every probe on the hash index.
--
-- Each probe now compares the kind in the C collation. For text equality that is the same test
-- (equal bytes), but an index serves a condition only in the collation it was built with, so the
-- primary key cannot serve this one: the probe is the hash index on value, the kind checked on
-- the row, whatever the statistics. The primary key stays, for uniqueness and ON CONFLICT. With
-- the bench's 10,000 customers the two could not be told apart (three alternating pairs of
-- `switchboard bench --quick --sections ingest --messages 100000`: the statement alone at 0.46,
-- 0.53 and 0.54 of the ceiling against 0.49, 0.50 and 0.51). The rest of the round is 0012's.

-- One round: the messages at positions p_lo to p_hi of the ordered batch, with their
-- (gateway, message id) keys looked up first if p_probe, else left to the unique index of
-- ingest_keys; answers as arrays, by position.
CREATE OR REPLACE FUNCTION swb_ingest_round(
    p_lo integer, p_hi integer, p_probe boolean, p_customers regclass, p_deliveries regclass,
    p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[], p_fingerprint text[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz,
    OUT o_position integer[], OUT o_outcome text[], OUT o_interaction_id bigint[], OUT o_customer_id bigint[], OUT o_queue text[],
    OUT o_delivery_id bigint[])
LANGUAGE plpgsql
-- As for swb_ingest_batch (0010): every join is a nested loop into an index, whatever the
-- tables' size when the plan was cached.
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
-- As 0014 set it: the plan is made once per connection.
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    WITH batch AS MATERIALIZED (
        -- The round's messages once each, with everything the writes below need, and which of
        -- their hints no customer has yet (as in swb_ingest_batch).
        SELECT (p_lo - 1 + b.ordinality)::integer AS position, b.gateway, b.message_id, b.channel, b.occurred_at, b.name, b.intent, b.queue,
               b.language, b.priority, b.content_type, b.body_text, b.body_bytes, coalesce(b.attributes, '{}') AS attributes,
               b.deadline, b.route_reason, b.routing_version, b.fingerprint,
               b.phone, b.email, b.external, b.device,
               ph.customer_id IS NULL AS new_phone, em.customer_id IS NULL AS new_email,
               ex.customer_id IS NULL AS new_external, dv.customer_id IS NULL AS new_device,
               k.interaction_id IS NULL AS fresh,
               CASE WHEN k.interaction_id IS NULL THEN 'stored' WHEN k.fingerprint = b.fingerprint THEN 'duplicate' ELSE 'conflict' END AS outcome,
               CASE WHEN k.interaction_id IS NULL
                    THEN coalesce(least(ph.customer_id, em.customer_id, ex.customer_id, dv.customer_id), nextval(p_customers))
                    ELSE k.customer_id END AS customer_id,
               k.interaction_id IS NULL AND coalesce(ph.customer_id, em.customer_id, ex.customer_id, dv.customer_id) IS NULL AS new_customer,
               (b.phone IS NOT NULL OR b.email IS NOT NULL OR b.external IS NOT NULL) AS strong,
               ((b.phone IS NOT NULL AND ph.customer_id IS NULL) OR (b.email IS NOT NULL AND em.customer_id IS NULL)
                 OR (b.external IS NOT NULL AND ex.customer_id IS NULL)) AS new_strong,
               coalesce(k.queue, b.queue) AS answer_queue,
               coalesce(k.interaction_id, nextval('interactions_id_seq')) AS interaction_id,
               CASE WHEN k.interaction_id IS NULL THEN nextval(p_deliveries) END AS delivery_id
          FROM unnest(p_gateway[p_lo:p_hi], p_message_id[p_lo:p_hi], p_channel[p_lo:p_hi], p_occurred_at[p_lo:p_hi], p_name[p_lo:p_hi],
                      p_intent[p_lo:p_hi], p_queue[p_lo:p_hi], p_language[p_lo:p_hi], p_priority[p_lo:p_hi], p_content_type[p_lo:p_hi],
                      p_body_text[p_lo:p_hi], p_body_bytes[p_lo:p_hi], p_attributes[p_lo:p_hi], p_deadline[p_lo:p_hi],
                      p_route_reason[p_lo:p_hi], p_routing_version[p_lo:p_hi], p_fingerprint[p_lo:p_hi],
                      p_phone[p_lo:p_hi], p_email[p_lo:p_hi], p_external[p_lo:p_hi], p_device[p_lo:p_hi])
               WITH ORDINALITY AS b (gateway, message_id, channel, occurred_at, name, intent, queue, language, priority,
                      content_type, body_text, body_bytes, attributes, deadline, route_reason, routing_version, fingerprint,
                      phone, email, external, device, ordinality)
          LEFT JOIN LATERAL (SELECT * FROM ingest_keys k WHERE p_probe AND k.gateway = b.gateway AND k.message_id = b.message_id LIMIT 1) k ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c
                              WHERE b.phone IS NOT NULL AND k.interaction_id IS NULL AND c.value = b.phone AND c.kind COLLATE "C" = 'phone' LIMIT 1) ph ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c
                              WHERE b.email IS NOT NULL AND k.interaction_id IS NULL AND c.value = b.email AND c.kind COLLATE "C" = 'email' LIMIT 1) em ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c
                              WHERE b.external IS NOT NULL AND k.interaction_id IS NULL AND c.value = b.external AND c.kind COLLATE "C" = 'external' LIMIT 1) ex ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c
                              WHERE b.device IS NOT NULL AND k.interaction_id IS NULL AND c.value = b.device AND c.kind COLLATE "C" = 'device' LIMIT 1) dv ON true
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
        SELECT 'phone', s.phone, s.customer_id FROM batch s WHERE s.fresh AND s.phone IS NOT NULL AND s.new_phone
        UNION ALL SELECT 'email', s.email, s.customer_id FROM batch s WHERE s.fresh AND s.email IS NOT NULL AND s.new_email
        UNION ALL SELECT 'external', s.external, s.customer_id FROM batch s WHERE s.fresh AND s.external IS NOT NULL AND s.new_external
        UNION ALL SELECT 'device', s.device, s.customer_id FROM batch s WHERE s.fresh AND s.device IS NOT NULL AND s.new_device
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
    SELECT array_agg(s.position), array_agg(s.outcome), array_agg(s.interaction_id), array_agg(s.customer_id),
           array_agg(s.answer_queue), array_agg(s.delivery_id)
      INTO o_position, o_outcome, o_interaction_id, o_customer_id, o_queue, o_delivery_id
      FROM batch s;
END $$;
