-- Delivery transitions (offers, acceptances, outcomes, retries) written in one statement, in
-- rounds: a delivery's second write in the batch goes in the round after its first, so each round
-- updates a delivery at most once and its transitions keep their order. Each write applies only
-- if its guard holds (DONE: offered to that worker; an offer: pending or offered); the answer is
-- the indexes of the writes that applied (o_index), then, with p_events, the events they
-- appended (o_index NULL), which the hub publishes once the batch is committed. 'offer_done' is an offer and its worker's DONE in one
-- update: one row version instead of two for a quick worker.
--
-- Every write that applies appends its event to delivery_events in the same statement (an
-- 'offer_done' two: offered, then done), stamped with the time the hub decided it (p_at,
-- p_done_at: Unix ms), which is also what offered_at, accepted_at and completed_at take.
--
-- 'transfer' closes a delivery its worker holds as 'transferred' and inserts the next leg (p_leg:
-- queue, priority, deadline, language, skills) for the same interaction and customer, pending,
-- linked both ways (transferred_to, transferred_from) with the worker's reason. 'escalate' changes
-- a pending delivery's queue and priority as an escalation step did (p_leg), drops its language
-- and required skills when the step relaxed them, and counts the step.
--
-- A DONE's report (p_leg of 'done' and 'offer_done', absent on most) is written with it: its
-- feedback (a complaint opens one, resolved at once when the DONE has a resolution), its
-- resolution (closing the open complaints of the task's interaction, and the one it names if it
-- is the same customer's), and its customer updates (name, segment, consent, attributes, each
-- sourced to the worker in customer_attribute_sources).
CREATE FUNCTION swb_apply_batch(
    p_round integer[], p_op text[], p_id bigint[], p_worker text[], p_attempt integer[], p_lease_until bigint[],
    p_owner text[], p_outcome text[], p_notes text[], p_not_before bigint[], p_error text[], p_event text[],
    p_at bigint[], p_done_at bigint[], p_leg jsonb[], p_hub text, p_events boolean)
RETURNS TABLE(o_index integer, o_event_id bigint, o_delivery_id bigint, o_interaction_id bigint, o_kind text, o_queue text,
              o_worker text, o_attempt integer, o_detail text, o_at bigint)
LANGUAGE plpgsql
SET enable_seqscan TO 'off'
SET enable_hashjoin TO 'off'
SET enable_mergejoin TO 'off'
SET plan_cache_mode TO 'force_generic_plan'
-- No JIT: the planner's costs (inflated by the disabled plan kinds) pass jit_above_cost, and
-- compiling the plan took some 170 ms on every call, longer than the statement itself.
SET jit TO 'off'
AS $$
DECLARE
    v_rounds integer := coalesce((SELECT max(r) FROM unnest(p_round) AS r), 0);
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_op) AS o (op)
                WHERE o.op IS NULL OR o.op NOT IN ('offer', 'offer_done', 'accept', 'done', 'retry', 'requeue', 'reject', 'dead', 'transfer',
                                                 'escalate')) THEN
        RAISE EXCEPTION 'swb_apply_batch: unknown op in %', p_op;
    END IF;
    FOR v_round IN 1..v_rounds LOOP
        RETURN QUERY
        WITH t AS MATERIALIZED (
            SELECT (b.ordinality - 1)::integer AS idx, b.op, b.id, b.worker, b.attempt, b.lease_until, b.owner, b.outcome, b.notes,
                   b.not_before, b.error, b.event, to_timestamp(b.at::float8 / 1000) AS at,
                   to_timestamp(coalesce(b.done_at, b.at)::float8 / 1000) AS done_at, b.leg,
                   CASE WHEN b.op = 'transfer' THEN nextval('deliveries_id_seq') END AS leg_id
              FROM unnest(p_round, p_op, p_id, p_worker, p_attempt, p_lease_until, p_owner, p_outcome, p_notes, p_not_before, p_error,
                          p_event, p_at, p_done_at, p_leg)
                   WITH ORDINALITY AS b (round, op, id, worker, attempt, lease_until, owner, outcome, notes, not_before, error, event, at,
                                         done_at, leg, ordinality)
             WHERE b.round = v_round
        ), changed AS (
            UPDATE deliveries d
               SET state = CASE t.op WHEN 'offer' THEN 'offered' WHEN 'accept' THEN 'in_progress' WHEN 'done' THEN 'done'
                                     WHEN 'offer_done' THEN 'done' WHEN 'reject' THEN 'failed' WHEN 'dead' THEN 'dead'
                                     WHEN 'transfer' THEN 'transferred' WHEN 'escalate' THEN d.state ELSE 'pending' END,
                   queue = CASE WHEN t.op = 'escalate' THEN t.leg ->> 'queue' ELSE d.queue END,
                   priority = CASE WHEN t.op = 'escalate' THEN (t.leg ->> 'priority')::smallint ELSE d.priority END,
                   language = CASE WHEN t.op = 'escalate' AND (t.leg ->> 'relaxed')::boolean THEN NULL ELSE d.language END,
                   required_skills = CASE WHEN t.op = 'escalate' AND (t.leg ->> 'relaxed')::boolean THEN NULL ELSE d.required_skills END,
                   escalations = CASE WHEN t.op = 'escalate' THEN (t.leg ->> 'escalations')::smallint ELSE d.escalations END,
                   worker = CASE WHEN t.op IN ('offer', 'offer_done') THEN t.worker WHEN t.op IN ('retry', 'requeue', 'dead') THEN NULL
                                 ELSE d.worker END,
                   -- A delivery back in the queue stays with the hub that wrote it: that hub holds it in memory again.
                   owner = CASE WHEN t.op IN ('offer', 'offer_done') THEN t.owner WHEN t.op IN ('retry', 'requeue') THEN p_hub
                                WHEN t.op = 'dead' THEN NULL ELSE d.owner END,
                   attempts = CASE WHEN t.op IN ('offer', 'offer_done') THEN t.attempt ELSE d.attempts END,
                   lease_until = CASE WHEN t.op = 'offer' THEN to_timestamp(t.lease_until::float8 / 1000)
                                      WHEN t.op = 'accept' THEN d.lease_until END,
                   offered_at = CASE WHEN t.op IN ('offer', 'offer_done') THEN t.at ELSE d.offered_at END,
                   accepted_at = CASE WHEN t.op IN ('offer', 'offer_done') THEN NULL WHEN t.op = 'accept' THEN t.at ELSE d.accepted_at END,
                   not_before = CASE WHEN t.op IN ('offer', 'offer_done') THEN NULL
                                     WHEN t.op IN ('retry', 'requeue') THEN to_timestamp(t.not_before::float8 / 1000)
                                     ELSE d.not_before END,
                   outcome = CASE t.op WHEN 'done' THEN t.outcome WHEN 'offer_done' THEN t.outcome WHEN 'reject' THEN 'rejected'
                                  ELSE d.outcome END,
                   notes = CASE t.op WHEN 'done' THEN t.notes WHEN 'offer_done' THEN t.notes WHEN 'reject' THEN t.error ELSE d.notes END,
                   completed_at = CASE WHEN t.op IN ('done', 'offer_done', 'reject', 'dead', 'transfer') THEN t.done_at
                                       ELSE d.completed_at END,
                   last_error = CASE WHEN t.op IN ('retry', 'requeue', 'reject', 'dead') THEN t.error ELSE d.last_error END,
                   transferred_to = CASE WHEN t.op = 'transfer' THEN t.leg_id ELSE d.transferred_to END,
                   transfer_reason = CASE WHEN t.op = 'transfer' THEN t.error ELSE d.transfer_reason END
              FROM t
             WHERE d.id = t.id
               -- What only the hub holding a delivery decides applies only while it holds it: a hub
               -- whose work another adopted (it was cut off past its lease) writes nothing of it.
               AND (t.op IN ('accept', 'done', 'reject', 'transfer') OR d.owner IS NULL OR d.owner = p_hub)
               AND CASE t.op
                       WHEN 'offer' THEN d.state IN ('pending', 'offered')
                       WHEN 'offer_done' THEN d.state IN ('pending', 'offered')
                       WHEN 'accept' THEN d.state = 'offered' AND d.worker = t.worker
                       WHEN 'done' THEN d.state IN ('offered', 'in_progress') AND d.worker = t.worker
                       WHEN 'reject' THEN d.state IN ('offered', 'in_progress')
                       WHEN 'transfer' THEN d.state IN ('offered', 'in_progress') AND d.worker = t.worker
                       WHEN 'escalate' THEN d.state = 'pending'
                       WHEN 'dead' THEN d.state IN ('pending', 'offered', 'in_progress')
                       ELSE d.state IN ('offered', 'in_progress', 'pending')
                   END
            RETURNING t.idx, d.id, d.queue, d.attempts, t.op, t.worker, t.outcome, t.error, t.event, t.at, t.done_at, t.leg, t.leg_id,
                      d.interaction_id, d.interaction_received_at, d.customer_id, d.routing_version
        ), legs AS (
            INSERT INTO deliveries (id, interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason,
                                    routing_version, language, required_skills, optional_skills, transferred_from, transfer_reason,
                                    created_at)
            OVERRIDING SYSTEM VALUE
            SELECT c.leg_id, c.interaction_id, c.interaction_received_at, c.customer_id, c.leg ->> 'queue', (c.leg ->> 'priority')::smallint,
                   to_timestamp((c.leg ->> 'deadline')::float8 / 1000),
                   format('transferred from %s by worker %L: %s', c.queue, c.worker, c.error), c.routing_version, c.leg ->> 'language',
                   nullif(ARRAY(SELECT jsonb_array_elements_text(c.leg -> 'skills')), '{}'),
                   nullif(ARRAY(SELECT jsonb_array_elements_text(c.leg -> 'optional_skills')), '{}'), c.id, c.error, c.at
              FROM changed c
             WHERE c.op = 'transfer'
        ), reported AS (
            SELECT c.id, c.customer_id, c.interaction_id, c.interaction_received_at, c.worker, c.done_at, c.queue, c.leg AS report
              FROM changed c
             WHERE c.op IN ('done', 'offer_done') AND c.leg IS NOT NULL
        ), worker_feedback AS (
            INSERT INTO feedback (customer_id, source, type, score, category, answers, interaction_id, about_interaction_id, delivery_id,
                                  worker, process, channel, received_at)
            SELECT r.customer_id, 'worker', r.report -> 'feedback' ->> 'type', (r.report -> 'feedback' ->> 'score')::smallint,
                   r.report -> 'feedback' ->> 'category', r.report -> 'feedback' -> 'answers', r.interaction_id,
                   coalesce((r.report -> 'feedback' ->> 'about')::bigint, r.interaction_id), r.id, r.worker, split_part(r.queue, '.', 1),
                   coalesce((SELECT i.channel FROM interactions i WHERE i.id = r.interaction_id AND i.received_at = r.interaction_received_at),
                            'unknown'),
                   r.done_at
              FROM reported r
             WHERE r.report ? 'feedback'
            RETURNING id, customer_id, type, category, interaction_id, process, delivery_id, received_at
        ), worker_complaints AS (
            INSERT INTO complaints (customer_id, feedback_id, interaction_id, process, category, status, opened_at, resolved_at, resolution,
                                    resolved_by, resolved_by_delivery)
            SELECT f.customer_id, f.id, f.interaction_id, f.process, f.category,
                   CASE WHEN r.report ? 'resolution' THEN 'resolved' ELSE 'open' END, f.received_at,
                   CASE WHEN r.report ? 'resolution' THEN f.received_at END, r.report ->> 'resolution',
                   CASE WHEN r.report ? 'resolution' THEN r.worker END, CASE WHEN r.report ? 'resolution' THEN r.id END
              FROM worker_feedback f JOIN reported r ON r.id = f.delivery_id
             WHERE f.type = 'complaint'
        ), resolved AS (
            UPDATE complaints k
               SET status = 'resolved', resolved_at = r.done_at, resolution = r.report ->> 'resolution', resolved_by = r.worker,
                   resolved_by_delivery = r.id
              FROM reported r
             WHERE r.report ? 'resolution' AND k.status = 'open' AND k.customer_id = r.customer_id
               AND k.id IN (SELECT o.id FROM complaints o WHERE o.interaction_id = r.interaction_id AND o.status = 'open'
                            UNION ALL
                            SELECT (r.report ->> 'complaint_id')::bigint)
        ), closed_conversations AS (
            -- A resolution (or close_conversation) closes the conversation of the task's interaction.
            UPDATE conversations v SET state = 'closed', closed_at = r.done_at, closed_reason = 'resolved'
              FROM reported r
             WHERE (r.report ? 'resolution' OR coalesce((r.report ->> 'close_conversation')::boolean, false)) AND v.state = 'open'
               AND v.id = (SELECT i.conversation_id FROM interactions i WHERE i.id = r.interaction_id AND i.received_at = r.interaction_received_at)
        ), customer_updates AS (
            UPDATE customers u
               SET display_name = coalesce(r.report -> 'customer' ->> 'name', u.display_name),
                   segment = coalesce(r.report -> 'customer' ->> 'segment', u.segment),
                   consent = u.consent || coalesce(r.report -> 'customer' -> 'consent', '{}'),
                   attributes = u.attributes || coalesce(r.report -> 'customer' -> 'attributes', '{}'),
                   updated_at = now()
              FROM reported r
             WHERE u.id = r.customer_id AND r.report ? 'customer' AND u.erased_at IS NULL
        ), consent_records AS (
            -- Consent a worker recorded is a consent change like an inbound STOP (campaign opt-outs count it).
            INSERT INTO consent_changes (customer_id, purpose, granted, source, interaction_id, changed_at)
            SELECT r.customer_id, c.key, c.value::boolean, 'worker:' || r.worker, r.interaction_id, r.done_at
              FROM reported r CROSS JOIN LATERAL jsonb_each_text(r.report -> 'customer' -> 'consent') c
             WHERE r.report -> 'customer' ? 'consent'
               AND EXISTS (SELECT 1 FROM customers u WHERE u.id = r.customer_id AND u.erased_at IS NULL)
        ), update_sources AS (
            -- One row per customer and key, the batch's last: ON CONFLICT may touch a row once.
            INSERT INTO customer_attribute_sources (customer_id, key, value, source, imported_at)
            SELECT DISTINCT ON (r.customer_id, x.key) r.customer_id, x.key, x.value, 'worker:' || r.worker, r.done_at
              FROM reported r
             CROSS JOIN LATERAL (
                 SELECT 'name' AS key, r.report -> 'customer' ->> 'name' AS value WHERE r.report -> 'customer' ? 'name'
                 UNION ALL
                 SELECT 'segment', r.report -> 'customer' ->> 'segment' WHERE r.report -> 'customer' ? 'segment'
                 UNION ALL
                 SELECT 'consent.' || e.key, e.value::text FROM jsonb_each(coalesce(r.report -> 'customer' -> 'consent', '{}')) e
                 UNION ALL
                 SELECT a.key, a.value FROM jsonb_each_text(coalesce(r.report -> 'customer' -> 'attributes', '{}')) a
             ) x
             WHERE r.report ? 'customer'
               AND NOT EXISTS (SELECT 1 FROM customers e WHERE e.id = r.customer_id AND e.erased_at IS NOT NULL)
             ORDER BY r.customer_id, x.key, r.done_at DESC
            ON CONFLICT (customer_id, key) DO UPDATE
               SET value = excluded.value, source = excluded.source, import_id = NULL, imported_at = excluded.imported_at
        ), events AS (
            INSERT INTO delivery_events (delivery_id, interaction_id, queue, kind, worker, hub, attempt, detail, at)
            SELECT c.id, c.interaction_id, c.queue, e.kind, c.worker, p_hub, c.attempts, e.detail, e.at
              FROM changed c
             CROSS JOIN LATERAL (
                 SELECT 'offered' AS kind, NULL::text AS detail, c.at AS at, 1 AS step WHERE c.op = 'offer_done'
                 UNION ALL
                 SELECT CASE WHEN c.op = 'offer_done' THEN 'done' ELSE c.event END,
                        CASE WHEN c.op IN ('done', 'offer_done') THEN c.outcome
                             WHEN c.op = 'transfer' THEN format('to %s as delivery %s: %s', c.leg ->> 'queue', c.leg_id, c.error)
                             ELSE c.error END,
                        CASE WHEN c.op = 'offer_done' THEN c.done_at ELSE c.at END, 2
             ) e
             ORDER BY c.idx, e.step
            RETURNING id, delivery_id, interaction_id, kind, queue, worker, attempt, detail, at
        )
        SELECT c.idx, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::integer, NULL::text,
               NULL::bigint
          FROM changed c
        UNION ALL
        SELECT NULL, v.id, v.delivery_id, v.interaction_id, v.kind, v.queue, v.worker, v.attempt, v.detail,
               (extract(epoch FROM v.at) * 1000)::bigint
          FROM events v
         WHERE p_events;
    END LOOP;
END $$;
