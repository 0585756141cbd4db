-- A TASK's customer context is read for its own interaction, not for its customer alone.
--
-- `recent` listed the customer's five latest interactions as they were when the context was read,
-- so a task offered from a backlog, after five newer contacts of its customer, did not find its
-- own interaction there, although worker.md says it does. It now lists the five latest up to and
-- including the task's own (by received_at, then id), newest first: the task's interaction is
-- always the first. Timestamps in it are Unix milliseconds, like every other time in a TASK, and
-- members without a value are left out rather than written as null (worker.md §3).
--
-- The context is keyed by interaction; swb_ingest_rounds_with_contexts passes the stored
-- interactions of its batch. The planner settings are 0020's.
DROP FUNCTION swb_task_contexts(bigint[]);

CREATE FUNCTION swb_task_contexts(p_interactions bigint[], p_received_at timestamptz[], p_customers bigint[])
RETURNS TABLE (o_interaction_id bigint, o_context json)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT t.interaction_id,
           json_strip_nulls(json_build_object(
               'id', c.id, 'kind', c.kind, 'display_name', c.display_name, 'segment', c.segment,
               'value_tier', c.value_tier, 'anonymous', c.anonymous,
               'identities', coalesce(ids.list, '[]'::json), 'recent', coalesce(rec.list, '[]'::json)))
      FROM unnest(p_interactions, p_received_at, p_customers) AS t (interaction_id, received_at, customer_id)
      JOIN customers c ON c.id = t.customer_id
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('kind', ci.kind, 'value', ci.value) ORDER BY ci.kind, ci.value) AS list
            FROM customer_identities ci WHERE ci.customer_id = c.id) ids
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('interaction_id', h.id, 'channel', h.channel, 'process', h.process,
                                            'intent', h.intent, 'received_at', (extract(epoch FROM h.received_at) * 1000)::bigint)
                          ORDER BY h.received_at DESC, h.id DESC) AS list
            FROM (SELECT i.id, i.channel, i.process, i.intent, i.received_at FROM interactions i
                   WHERE i.customer_id = c.id
                     AND (i.received_at, i.id) <= (t.received_at, t.interaction_id)
                     -- A stable bound, so the partitions before it are pruned at the statement's start.
                     AND i.received_at >= coalesce(
                             now() - make_interval(days => nullif(current_setting('switchboard.context_recent_days', true), '')::integer),
                             '-infinity')
                   ORDER BY i.received_at DESC, i.id DESC LIMIT 5) h) rec;
END $$;

CREATE OR REPLACE FUNCTION swb_ingest_rounds_with_contexts(
    p_context boolean[],
    p_round_ends integer[], p_gateway text[], p_message_id text[], p_channel text[], p_occurred_at bigint[], p_name text[], p_intent text[],
    p_queue text[], p_language text[], p_priority smallint[], p_content_type text[], p_body_text text[], p_body_bytes bytea[],
    p_attributes jsonb[], p_deadline bigint[], p_route_reason text[], p_routing_version integer[], p_fingerprint text[],
    p_phone text[], p_email text[], p_external text[], p_device text[], p_received_at timestamptz)
RETURNS TABLE (o_position integer, o_outcome text, o_interaction_id bigint, o_customer_id bigint, o_queue text, o_delivery_id bigint,
               o_context json)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v record;
BEGIN
    v := swb_ingest_rounds_arrays(p_round_ends, p_gateway, p_message_id, p_channel, p_occurred_at, p_name, p_intent, p_queue,
                                  p_language, p_priority, p_content_type, p_body_text, p_body_bytes, p_attributes, p_deadline,
                                  p_route_reason, p_routing_version, p_fingerprint, p_phone, p_email, p_external, p_device,
                                  p_received_at);
    RETURN QUERY
    WITH answers AS MATERIALIZED (
        SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id,
               a.outcome = 'stored' AND coalesce(p_context[a.position], false) AS wanted
          FROM unnest(v.o_position, v.o_outcome, v.o_interaction_id, v.o_customer_id, v.o_queue, v.o_delivery_id)
               AS a (position, outcome, interaction_id, customer_id, queue, delivery_id)
    ), contexts AS MATERIALIZED (
        SELECT c.o_interaction_id, c.o_context
          FROM swb_task_contexts(ARRAY(SELECT w.interaction_id FROM answers w WHERE w.wanted ORDER BY w.position),
                                 ARRAY(SELECT p_received_at FROM answers w WHERE w.wanted ORDER BY w.position),
                                 ARRAY(SELECT w.customer_id FROM answers w WHERE w.wanted ORDER BY w.position)) c
    )
    SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id, c.o_context
      FROM answers a LEFT JOIN contexts c ON a.wanted AND c.o_interaction_id = a.interaction_id;
END $$;
