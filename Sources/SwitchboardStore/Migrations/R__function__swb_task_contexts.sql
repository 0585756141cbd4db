-- The customer context a TASK carries, one per task (worker.md §3): profile, identities, and the
-- five latest interactions up to and including the task's own by (received_at, id), newest
-- first, times as Unix milliseconds, members without a value left out. With
-- switchboard.context_recent_days set, only those days' interactions, so that the monthly
-- partitions before them are pruned when the statement starts.
CREATE FUNCTION swb_task_contexts(
    p_interactions bigint[], p_received_at timestamp with time zone[], p_customers bigint[])
RETURNS TABLE(o_interaction_id bigint, o_context json)
LANGUAGE plpgsql
STABLE
SET enable_seqscan TO 'off'
SET enable_hashjoin TO 'off'
SET enable_mergejoin TO 'off'
SET plan_cache_mode TO 'force_generic_plan'
-- No JIT: the planner's costs (inflated by the disabled plan kinds) pass jit_above_cost, and
-- compiling the plan took some 170 ms on every call, longer than the statement itself.
SET jit TO 'off'
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
