-- One round of an ingest batch: the messages at positions p_lo to p_hi, none of which shares a
-- (gateway, message id) or an identity with another of the round, written with set-based
-- statements (customers, identities, interactions, deliveries, ingest keys) and answered as
-- arrays by position. p_probe looks the keys up first (a later round, or a re-sent message); a
-- first round leaves duplicates to ingest_keys' unique index, in a subtransaction.
--
-- Identity resolution: a message's hints are looked up by normalized value
-- (customer_identities_by_value); a message whose hints name several customers goes to the
-- customer swb_identity_winner names (the lowest id), and each other customer they name is
-- paired with that one in customer_merge_candidates, which the hub's merge pass decides; a
-- message with no known hint makes a new anonymous customer (a partner when the message says so).
--
-- Rows are read from the batch's arrays by subscript (an array parameter of PL/pgSQL is held
-- expanded, so reaching element i costs nothing), and a hint's customer is probed only when the
-- message has that hint. Sequential scans, hash and merge joins are off so that every join is a
-- nested loop into an index whatever the batch's size, and the plan is made once per connection.
CREATE FUNCTION swb_ingest_round(
    p_lo integer, p_hi integer, p_probe boolean, p_customers regclass, p_deliveries regclass, p_gateway text[],
    p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[], p_queue text[],
    p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[],
    p_fingerprint text[], p_phone text[], p_email text[], p_external text[], p_device text[],
    p_task_language text[], p_required_skills text[], p_optional_skills text[], p_rule_id text[], p_alternatives jsonb[],
    p_fax text[], p_chat text[], p_social text[], p_unverified jsonb[], p_customer_kind text[], p_extra jsonb[],
    p_received_at timestamp with time zone, OUT o_position integer[], OUT o_outcome text[],
    OUT o_interaction_id bigint[], OUT o_customer_id bigint[], OUT o_queue text[], OUT o_delivery_id bigint[],
    OUT o_alternative integer[], OUT o_conversation_id bigint[], OUT o_owner text[])
RETURNS record
LANGUAGE plpgsql
SET enable_seqscan TO 'off'
SET enable_hashjoin TO 'off'
SET enable_mergejoin TO 'off'
SET plan_cache_mode TO 'force_generic_plan'
-- No JIT: the planner's costs (inflated by the disabled plan kinds) pass jit_above_cost, and
-- compiling the plan took some 170 ms on every call, longer than the statement itself.
SET jit TO 'off'
AS $$
BEGIN
    WITH batch AS MATERIALIZED (
        -- Each message with its open conversation: of its thread hint (on its channel), else its
        -- customer's on the channel (a new customer has none); one probe, by index, at most.
        SELECT x.*, coalesce(th.id, cu.id) AS conversation_id, coalesce(th.owner_worker, cu.owner_worker) AS owner
          FROM (
            -- The round's messages once each, with everything the writes below need, and which of
            -- their hints no customer has yet.
            SELECT b.position, b.gateway, b.message_id, b.channel, b.occurred_at, b.name, b.intent,
                   b.language, b.content_type, b.body_text, b.body_bytes, coalesce(b.attributes, '{}') AS attributes,
                   b.routing_version, b.fingerprint, b.phone, b.email, b.external, b.device, b.fax, b.chat, b.social,
                   b.unverified, b.customer_kind, b.extra -> 'feedback' AS feedback, b.extra ->> 'thread' AS thread,
                   coalesce((b.extra ->> 'opt_out')::boolean, false) AS opt_out, b.task_language, b.pick,
                   -- The route: the hub's, or the alternative the customer meets.
                   CASE WHEN b.pick IS NULL THEN b.queue ELSE b.alternatives -> b.pick ->> 'queue' END AS queue,
                   CASE WHEN b.pick IS NULL THEN b.priority ELSE (b.alternatives -> b.pick ->> 'priority')::smallint END AS priority,
                   CASE WHEN b.pick IS NULL THEN b.deadline ELSE (b.alternatives -> b.pick ->> 'deadline')::bigint END AS deadline,
                   CASE WHEN b.pick IS NULL THEN b.route_reason ELSE b.alternatives -> b.pick ->> 'reason' END AS route_reason,
                   CASE WHEN b.pick IS NULL THEN b.rule_id ELSE b.alternatives -> b.pick ->> 'rule' END AS rule_id,
                   CASE WHEN b.pick IS NULL THEN b.required_skills ELSE (b.alternatives -> b.pick ->> 'skills')::text[] END AS required_skills,
                   CASE WHEN b.pick IS NULL THEN b.optional_skills ELSE (b.alternatives -> b.pick ->> 'optional_skills')::text[] END AS optional_skills,
                   b.phone_customer IS NULL AS new_phone, b.email_customer IS NULL AS new_email,
                   b.external_customer IS NULL AS new_external, b.device_customer IS NULL AS new_device,
                   b.fax_customer IS NULL AS new_fax, b.chat_customer IS NULL AS new_chat, b.social_customer IS NULL AS new_social,
                   -- Hints naming more than one customer link them (greatest and least skip NULLs).
                   CASE WHEN greatest(b.phone_customer, b.email_customer, b.external_customer, b.device_customer, b.fax_customer,
                                      b.chat_customer, b.social_customer)
                             <> least(b.phone_customer, b.email_customer, b.external_customer, b.device_customer, b.fax_customer,
                                      b.chat_customer, b.social_customer)
                        THEN ARRAY[b.phone_customer, b.email_customer, b.external_customer, b.device_customer, b.fax_customer,
                                   b.chat_customer, b.social_customer] END AS linked,
                   k.interaction_id IS NULL AS fresh,
                   CASE WHEN k.interaction_id IS NULL THEN 'stored' WHEN k.fingerprint = b.fingerprint THEN 'duplicate' ELSE 'conflict' END AS outcome,
                   CASE WHEN k.interaction_id IS NULL
                        THEN coalesce(swb_identity_winner(b.phone_customer, b.email_customer, b.external_customer, b.device_customer,
                                                          b.fax_customer, b.chat_customer, b.social_customer), nextval(p_customers))
                        ELSE k.customer_id END AS customer_id,
                   k.interaction_id IS NULL AND coalesce(b.phone_customer, b.email_customer, b.external_customer, b.device_customer,
                                                         b.fax_customer, b.chat_customer, b.social_customer) IS NULL AS new_customer,
                   -- A device or chat handle leaves a customer anonymous; the other kinds name a person.
                   (b.phone IS NOT NULL OR b.email IS NOT NULL OR b.external IS NOT NULL OR b.fax IS NOT NULL OR b.social IS NOT NULL) AS strong,
                   ((b.phone IS NOT NULL AND b.phone_customer IS NULL) OR (b.email IS NOT NULL AND b.email_customer IS NULL)
                     OR (b.external IS NOT NULL AND b.external_customer IS NULL) OR (b.fax IS NOT NULL AND b.fax_customer IS NULL)
                     OR (b.social IS NOT NULL AND b.social_customer IS NULL)) AS new_strong,
                   coalesce(k.queue, CASE WHEN b.pick IS NULL THEN b.queue ELSE b.alternatives -> b.pick ->> 'queue' END) AS answer_queue,
                   coalesce(k.interaction_id, nextval('interactions_id_seq')) AS interaction_id,
                   CASE WHEN k.interaction_id IS NULL THEN nextval(p_deliveries) END AS delivery_id
              FROM (
              -- Which alternative route, if any, the message's customer meets: the customer the
              -- hints resolve to, as below (a new customer is a consumer of tier standard).
              SELECT b0.*, CASE WHEN b0.alternatives IS NOT NULL
                                THEN swb_route_pick(swb_identity_winner(b0.phone_customer, b0.email_customer, b0.external_customer,
                                                                        b0.device_customer, b0.fax_customer, b0.chat_customer,
                                                                        b0.social_customer), b0.alternatives, b0.customer_kind) END AS pick
                FROM (
                  -- Each message's columns by subscript and its hints' customers, once each (OFFSET 0
                  -- keeps the planner from copying a probe into every expression that reads it).
                  SELECT i AS position, p_gateway[i] AS gateway, p_message_id[i] AS message_id, p_channel[i] AS channel,
                         p_occurred_at[i] AS occurred_at, p_name[i] AS name, p_intent[i] AS intent, p_queue[i] AS queue,
                         p_language[i] AS language, p_priority[i] AS priority, p_content_type[i] AS content_type,
                         p_body_text[i] AS body_text, p_body_bytes[i] AS body_bytes, p_attributes[i] AS attributes,
                         p_deadline[i] AS deadline, p_route_reason[i] AS route_reason, p_routing_version[i] AS routing_version,
                         p_fingerprint[i] AS fingerprint, p_phone[i] AS phone, p_email[i] AS email, p_external[i] AS external,
                         p_device[i] AS device, p_task_language[i] AS task_language,
                         p_required_skills[i]::text[] AS required_skills, p_optional_skills[i]::text[] AS optional_skills,
                         p_rule_id[i] AS rule_id, p_alternatives[i] AS alternatives, p_fax[i] AS fax, p_chat[i] AS chat,
                         p_social[i] AS social, p_unverified[i] AS unverified, p_customer_kind[i] AS customer_kind,
                         p_extra[i] AS extra,
                         CASE WHEN p_phone[i] IS NOT NULL THEN (SELECT c.customer_id FROM customer_identities c
                                                                  WHERE c.value = p_phone[i] AND c.kind COLLATE "C" = 'phone' LIMIT 1) END AS phone_customer,
                         CASE WHEN p_email[i] IS NOT NULL THEN (SELECT c.customer_id FROM customer_identities c
                                                                  WHERE c.value = p_email[i] AND c.kind COLLATE "C" = 'email' LIMIT 1) END AS email_customer,
                         CASE WHEN p_external[i] IS NOT NULL THEN (SELECT c.customer_id FROM customer_identities c
                                                                     WHERE c.value = p_external[i] AND c.kind COLLATE "C" = 'external' LIMIT 1)
                              END AS external_customer,
                         CASE WHEN p_device[i] IS NOT NULL THEN (SELECT c.customer_id FROM customer_identities c
                                                                   WHERE c.value = p_device[i] AND c.kind COLLATE "C" = 'device' LIMIT 1) END AS device_customer,
                         CASE WHEN p_fax[i] IS NOT NULL THEN (SELECT c.customer_id FROM customer_identities c
                                                                WHERE c.value = p_fax[i] AND c.kind COLLATE "C" = 'fax' LIMIT 1) END AS fax_customer,
                         CASE WHEN p_chat[i] IS NOT NULL THEN (SELECT c.customer_id FROM customer_identities c
                                                                 WHERE c.value = p_chat[i] AND c.kind COLLATE "C" = 'chat' LIMIT 1) END AS chat_customer,
                         CASE WHEN p_social[i] IS NOT NULL THEN (SELECT c.customer_id FROM customer_identities c
                                                                   WHERE c.value = p_social[i] AND c.kind COLLATE "C" = 'social' LIMIT 1) END AS social_customer
                    FROM generate_series(p_lo, p_hi) AS i
                  OFFSET 0) b0) b
              LEFT JOIN LATERAL (SELECT * FROM ingest_keys k WHERE p_probe AND k.gateway = b.gateway AND k.message_id = b.message_id LIMIT 1) k ON true
          OFFSET 0) x
          LEFT JOIN LATERAL (SELECT c.id, c.owner_worker FROM conversations c
                              WHERE x.fresh AND x.thread IS NOT NULL AND c.channel = x.channel AND c.thread = x.thread AND c.state = 'open'
                              LIMIT 1) th ON true
          LEFT JOIN LATERAL (SELECT c.id, c.owner_worker FROM conversations c
                              WHERE x.fresh AND x.thread IS NULL AND NOT x.new_customer
                                AND c.customer_id = x.customer_id AND c.channel = x.channel AND c.state = 'open'
                              ORDER BY c.last_activity_at DESC LIMIT 1) cu ON true
    ), opened_threads AS MATERIALIZED (
        -- A thread no open conversation has opens one, once however many of the round's messages
        -- carry it (few rows: only such messages).
        SELECT s.channel, s.thread, nextval('conversations_id_seq') AS id, (array_agg(s.customer_id ORDER BY s.position))[1] AS customer_id,
               (array_agg(s.gateway ORDER BY s.position))[1] AS gateway, (array_agg(s.interaction_id ORDER BY s.position))[1] AS interaction_id
          FROM batch s WHERE s.fresh AND s.thread IS NOT NULL AND s.conversation_id IS NULL
         GROUP BY s.channel, s.thread
    ), new_conversations AS (
        INSERT INTO conversations (id, customer_id, channel, thread, gateway, first_interaction_id, opened_at, last_activity_at)
        OVERRIDING SYSTEM VALUE
        SELECT t.id, t.customer_id, t.channel, t.thread, t.gateway, t.interaction_id, p_received_at, p_received_at FROM opened_threads t
    ), active_conversations AS (
        UPDATE conversations c SET last_activity_at = p_received_at
         WHERE c.id IN (SELECT s.conversation_id FROM batch s WHERE s.conversation_id IS NOT NULL)
    ), opt_outs AS (
        -- An inbound STOP (or unsubscribe) withdraws marketing consent at once, whatever its channel.
        UPDATE customers c SET consent = c.consent || '{"marketing": false}', updated_at = now()
         WHERE c.id IN (SELECT s.customer_id FROM batch s WHERE s.fresh AND s.opt_out)
    ), opt_out_records AS (
        INSERT INTO consent_changes (customer_id, purpose, granted, source, channel, interaction_id, changed_at)
        SELECT s.customer_id, 'marketing', false, 'message', s.channel, s.interaction_id, p_received_at
          FROM batch s WHERE s.fresh AND s.opt_out
    ), new_customers AS (
        INSERT INTO customers (id, display_name, anonymous, kind) OVERRIDING SYSTEM VALUE
        SELECT s.customer_id, s.name, NOT s.strong, coalesce(s.customer_kind, 'consumer') FROM batch s WHERE s.new_customer
    ), known_customers AS (
        -- A name fills an empty display name; a phone, e-mail or external id newly linked ends
        -- the customer's anonymity; a message from a partner makes the customer one (never back).
        UPDATE customers c
           SET display_name = coalesce(c.display_name, u.name), anonymous = c.anonymous AND NOT u.new_strong,
               kind = CASE WHEN u.partner THEN 'partner' ELSE c.kind END, updated_at = now()
          FROM (SELECT s.customer_id, (array_agg(s.name ORDER BY s.position) FILTER (WHERE s.name IS NOT NULL))[1] AS name,
                       bool_or(s.new_strong) AS new_strong, coalesce(bool_or(s.customer_kind = 'partner'), false) AS partner
                  FROM batch s
                 WHERE s.fresh AND NOT s.new_customer AND (s.name IS NOT NULL OR s.new_strong OR s.customer_kind = 'partner')
                 GROUP BY s.customer_id) u
         -- The test is a CASE, not an OR of two arms that each test the customer: from such an OR
         -- the planner draws a condition on customers alone, and where the statistics say that
         -- hardly a customer lacks a name or is anonymous, it would read the whole table for it
         -- instead of the batch's customers by key.
         WHERE c.id = u.customer_id
           AND CASE WHEN c.display_name IS NULL AND u.name IS NOT NULL THEN true WHEN c.anonymous AND u.new_strong THEN true
                    WHEN u.partner AND c.kind <> 'partner' THEN true ELSE false END
    ), new_identities AS (
        -- Each message's hints no customer had, in one pass over the batch.
        INSERT INTO customer_identities (kind, value, customer_id)
        SELECT h.kind, h.value, s.customer_id
          FROM batch s
         CROSS JOIN LATERAL (VALUES ('phone', s.phone, s.new_phone), ('email', s.email, s.new_email),
                                    ('external', s.external, s.new_external), ('device', s.device, s.new_device),
                                    ('fax', s.fax, s.new_fax), ('chat', s.chat, s.new_chat), ('social', s.social, s.new_social))
               AS h (kind, value, new)
         WHERE s.fresh AND h.value IS NOT NULL AND h.new
        ON CONFLICT (kind, value) DO NOTHING
    ), new_links AS (
        -- Customers one message named together, each paired with the one it was stored under.
        INSERT INTO customer_merge_candidates (customer_a, customer_b, interaction_id, gateway, detected_at)
        SELECT DISTINCT s.customer_id, o.other, s.interaction_id, s.gateway, p_received_at
          FROM batch s CROSS JOIN LATERAL unnest(s.linked) AS o (other)
         WHERE s.fresh AND s.linked IS NOT NULL AND o.other IS NOT NULL AND o.other <> s.customer_id
        ON CONFLICT (customer_a, customer_b) WHERE status IN ('new', 'review') DO NOTHING
    ), new_unverified AS (
        -- Hints kept as given (customer_unverified_identities): never looked up, so never linking.
        INSERT INTO customer_unverified_identities (customer_id, kind, value, interaction_id, seen_at)
        SELECT s.customer_id, u.key, u.value, s.interaction_id, p_received_at
          FROM batch s CROSS JOIN LATERAL jsonb_each_text(s.unverified) u
         WHERE s.fresh AND s.unverified IS NOT NULL
    ), new_feedback AS (
        -- Explicit feedback the message carries, charged to the process of the contact it rates
        -- (the one it names, else itself); a complaint opens a complaint.
        INSERT INTO feedback (customer_id, source, type, score, category, answers, interaction_id, about_interaction_id, process, channel,
                              received_at)
        SELECT s.customer_id, 'message', s.feedback ->> 'type', (s.feedback ->> 'score')::smallint, s.feedback ->> 'category',
               s.feedback -> 'answers', s.interaction_id, (s.feedback ->> 'about')::bigint,
               coalesce((SELECT a.process FROM interactions a WHERE a.id = (s.feedback ->> 'about')::bigint LIMIT 1),
                        split_part(s.queue, '.', 1)),
               s.channel, p_received_at
          FROM batch s
         WHERE s.fresh AND s.feedback IS NOT NULL
        RETURNING id, customer_id, type, category, interaction_id, process
    ), new_complaints AS (
        INSERT INTO complaints (customer_id, feedback_id, interaction_id, process, category, opened_at)
        SELECT f.customer_id, f.id, f.interaction_id, f.process, f.category, p_received_at FROM new_feedback f WHERE f.type = 'complaint'
    ), new_interactions AS (
        INSERT INTO interactions (id, received_at, customer_id, gateway, message_id, channel, occurred_at, intent, process,
                                  language, priority, content_type, body_text, body_bytes, attributes, routing_version, conversation_id)
        SELECT s.interaction_id, p_received_at, s.customer_id, s.gateway, s.message_id, s.channel, to_timestamp(s.occurred_at::float8 / 1000),
               s.intent, split_part(s.queue, '.', 1), s.language, s.priority, s.content_type, s.body_text, s.body_bytes, s.attributes,
               s.routing_version,
               CASE WHEN s.conversation_id IS NOT NULL THEN s.conversation_id
                    WHEN s.thread IS NOT NULL THEN (SELECT t.id FROM opened_threads t WHERE t.channel = s.channel AND t.thread = s.thread) END
          FROM batch s WHERE s.fresh
    ), new_deliveries AS (
        INSERT INTO deliveries (id, interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason,
                                routing_version, language, required_skills, optional_skills, rule_id) OVERRIDING SYSTEM VALUE
        SELECT s.delivery_id, s.interaction_id, p_received_at, s.customer_id, s.queue, s.priority, to_timestamp(s.deadline::float8 / 1000),
               s.route_reason, s.routing_version, s.task_language, s.required_skills, s.optional_skills, s.rule_id
          FROM batch s WHERE s.fresh
    ), new_keys AS (
        INSERT INTO ingest_keys (gateway, message_id, interaction_id, customer_id, queue, fingerprint, received_at)
        SELECT s.gateway, s.message_id, s.interaction_id, s.customer_id, s.queue, s.fingerprint, p_received_at FROM batch s WHERE s.fresh
    )
    -- Every answer from the one materialized row of its message, placed by position by the hub.
    SELECT array_agg(s.position), array_agg(s.outcome), array_agg(s.interaction_id), array_agg(s.customer_id),
           array_agg(s.answer_queue), array_agg(s.delivery_id), array_agg(s.pick),
           array_agg(CASE WHEN s.conversation_id IS NOT NULL THEN s.conversation_id
                          WHEN s.fresh AND s.thread IS NOT NULL
                          THEN (SELECT t.id FROM opened_threads t WHERE t.channel = s.channel AND t.thread = s.thread) END),
           array_agg(s.owner)
      INTO o_position, o_outcome, o_interaction_id, o_customer_id, o_queue, o_delivery_id, o_alternative, o_conversation_id, o_owner
      FROM batch s;
END $$;
