-- Rounds as contiguous slices of the batch, and the content fingerprint computed by the hub.
--
-- swb_ingest_batch (0010) took each message's round as a column and, for every round, unnested
-- all twenty-odd arrays of the whole batch to keep the round's rows: under load nearly every batch
-- has a second round of a few messages (a customer writing twice within a batch), and that round
-- cost as much unnesting as the first. It also ran four identity probes per message whatever its
-- hints, and computed the md5 fingerprint of each body in the statement, on the one backend
-- whose time bounds ingest.
--
-- swb_ingest_rounds takes the batch ordered by round (the hub sorts it, stably) with the end
-- position of each round, so each round unnests its own slice; skips the probe of an absent hint;
-- inserts identities per kind without a row per kind and message; and takes each message's
-- fingerprint as a column, as md5 over the same text as before (channel, content type and body,
-- joined by U+001F; a binary body as lower-case hex), so that a message stored by an earlier hub
-- and sent again is still answered duplicate. It also stops looking up the (gateway, message id)
-- of every message before inserting its key: the first round, which holds nearly all of a batch,
-- runs without the lookups, and only if the key's unique index refuses one (a re-sent message) is
-- it undone and run again with them. Each round is one call of swb_ingest_round. Preconditions
-- per round, effects and answers are those of swb_ingest_batch; positions are those of the
-- ordered batch.
--
-- swb_ingest_batch stays for hubs of earlier versions during an upgrade, now as a wrapper that
-- orders its input by round and computes the fingerprints: one definition of the write is left.
-- One round: the messages at positions p_lo to p_hi of the ordered batch, with their
-- (gateway, message id) keys looked up first if p_probe, else left to the unique index of
-- ingest_keys; answers as arrays, by position.
CREATE FUNCTION swb_ingest_round(
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
                              WHERE b.phone IS NOT NULL AND k.interaction_id IS NULL AND c.kind = 'phone' AND c.value = b.phone LIMIT 1) ph ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c
                              WHERE b.email IS NOT NULL AND k.interaction_id IS NULL AND c.kind = 'email' AND c.value = b.email LIMIT 1) em ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c
                              WHERE b.external IS NOT NULL AND k.interaction_id IS NULL AND c.kind = 'external' AND c.value = b.external LIMIT 1) ex ON true
          LEFT JOIN LATERAL (SELECT c.customer_id FROM customer_identities c
                              WHERE b.device IS NOT NULL AND k.interaction_id IS NULL AND c.kind = 'device' AND c.value = b.device LIMIT 1) dv ON true
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

CREATE FUNCTION swb_ingest_rounds(
    p_round_ends integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[], p_fingerprint text[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_customers regclass := pg_get_serial_sequence('customers', 'id')::regclass;
    v_deliveries regclass := pg_get_serial_sequence('deliveries', 'id')::regclass;
    v_lo integer := 1;
    v_hi integer;
    v_probe boolean;
    v_round record;
BEGIN
    -- Round after round, each statement seeing what the ones before it wrote.
    FOR v_index IN 1..coalesce(cardinality(p_round_ends), 0) LOOP
        v_hi := p_round_ends[v_index];
        -- The first round goes without looking the (gateway, message id) keys up: a key stored
        -- before makes the unique index of ingest_keys refuse the insert, which is the same index
        -- descent the insert makes anyway, so a round of new messages (nearly every first round)
        -- costs one descent per key instead of two. If it is refused, the round's writes are undone
        -- and it runs again with the lookups, to answer duplicates and conflicts. The later rounds
        -- hold the batch's repeats, a few messages each: their keys are looked up at once, outside
        -- a subtransaction, so a batch opens one subtransaction at most.
        v_probe := v_index > 1;
        IF NOT v_probe THEN
            BEGIN
                SELECT * INTO v_round
                  FROM swb_ingest_round(v_lo, v_hi, false, v_customers, v_deliveries,
                                        p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language,
                                        p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason,
                                        p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device, p_received_at);
            EXCEPTION WHEN unique_violation THEN
                v_probe := true;
            END;
        END IF;
        IF v_probe THEN
            SELECT * INTO v_round
              FROM swb_ingest_round(v_lo, v_hi, true, v_customers, v_deliveries,
                                    p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language,
                                    p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason,
                                    p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device, p_received_at);
        END IF;
        RETURN QUERY SELECT * FROM unnest(v_round.o_position, v_round.o_outcome, v_round.o_interaction_id, v_round.o_customer_id,
                                          v_round.o_queue, v_round.o_delivery_id);
        v_lo := v_hi + 1;
    END LOOP;
END $$;

-- 0010's entry point: the batch ordered by round (stably), its fingerprints computed here, and the
-- answers' positions mapped back to the caller's order.
CREATE OR REPLACE FUNCTION swb_ingest_batch(
    p_round integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint)
LANGUAGE sql AS $$
    WITH b AS (
        SELECT * FROM unnest(p_round, p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue, p_language, p_priority,
                             p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline, p_route_reason, p_routing_version,
                             p_phone, p_email, p_external, p_device)
               WITH ORDINALITY AS b (round, gateway, message_id, channel, occurred_at, name, intent, queue, language, priority,
                      content_type, body_text, body_bytes, attributes, deadline, route_reason, routing_version,
                      phone, email, external, device, position)
    ), ordered AS (
        SELECT (SELECT array_agg(e.last::integer ORDER BY e.round)
                  FROM (SELECT r.round, max(r.rank) AS last
                          FROM (SELECT b.round, row_number() OVER (ORDER BY b.round, b.position) AS rank FROM b) r GROUP BY r.round) e) AS ends,
               array_agg(b.position::integer ORDER BY b.round, b.position) AS original,
               array_agg(b.gateway ORDER BY b.round, b.position) AS gateway, array_agg(b.message_id ORDER BY b.round, b.position) AS message_id,
               array_agg(b.channel ORDER BY b.round, b.position) AS channel, array_agg(b.occurred_at ORDER BY b.round, b.position) AS occurred_at,
               array_agg(b.name ORDER BY b.round, b.position) AS name, array_agg(b.intent ORDER BY b.round, b.position) AS intent,
               array_agg(b.queue ORDER BY b.round, b.position) AS queue, array_agg(b.language ORDER BY b.round, b.position) AS language,
               array_agg(b.priority ORDER BY b.round, b.position) AS priority,
               array_agg(b.content_type ORDER BY b.round, b.position) AS content_type,
               array_agg(b.body_text ORDER BY b.round, b.position) AS body_text, array_agg(b.body_bytes ORDER BY b.round, b.position) AS body_bytes,
               array_agg(b.attributes ORDER BY b.round, b.position) AS attributes, array_agg(b.deadline ORDER BY b.round, b.position) AS deadline,
               array_agg(b.route_reason ORDER BY b.round, b.position) AS route_reason,
               array_agg(b.routing_version ORDER BY b.round, b.position) AS routing_version,
               array_agg(md5(concat_ws(chr(31), b.channel, b.content_type, b.body_text, encode(b.body_bytes, 'hex'))) ORDER BY b.round, b.position)
                   AS fingerprint,
               array_agg(b.phone ORDER BY b.round, b.position) AS phone, array_agg(b.email ORDER BY b.round, b.position) AS email,
               array_agg(b.external ORDER BY b.round, b.position) AS external, array_agg(b.device ORDER BY b.round, b.position) AS device
          FROM b
    )
    SELECT a.original[o.o_position], o.o_outcome, o.o_interaction_id, o.o_customer_id, o.o_queue, o.o_delivery_id
      FROM ordered a
     CROSS JOIN LATERAL swb_ingest_rounds(a.ends, a.gateway, a.message_id, a.channel, a.occurred_at, a.name, a.intent, a.queue, a.language,
                                          a.priority, a.content_type, a.body_text, a.body_bytes, a.attributes, a.deadline, a.route_reason,
                                          a.routing_version, a.fingerprint, a.phone, a.email, a.external, a.device, p_received_at) o
     WHERE a.original IS NOT NULL
$$;
