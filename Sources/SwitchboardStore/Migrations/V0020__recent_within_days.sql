-- A context's `recent` list can be bounded in time, so that a context read skips the monthly
-- partitions of older history.
--
-- Each context lists its customer's five latest interactions, and finds them by probing the
-- history index of every monthly partition of `interactions`: the default partition keeps
-- PostgreSQL from scanning the months newest first and stopping at five. The hub creates a partition
-- a month and drops none, so a context read costs more every month (with 23 more partitions, a read
-- of 64 contexts took about a third longer: docs/performance.md). An operator who sets
-- `context_recent_days` has the hub's connections set `switchboard.context_recent_days`, and the
-- list then holds the five latest interactions of those days: the partitions wholly before them are
-- pruned when the statement starts. Unset (the default, and for anyone reading contexts with SQL),
-- the list is what it was, from all of the history.
--
-- Everything else is 0011's, with the planner settings of 0011 and 0014.
CREATE OR REPLACE FUNCTION swb_task_contexts(p_customers bigint[])
RETURNS TABLE (o_customer_id bigint, o_context json)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT c.id,
           json_build_object(
               'id', c.id, 'kind', c.kind, 'display_name', c.display_name, 'segment', c.segment,
               'value_tier', c.value_tier, 'anonymous', c.anonymous,
               'identities', coalesce(ids.list, '[]'::json), 'recent', coalesce(rec.list, '[]'::json))
      FROM customers c
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('kind', ci.kind, 'value', ci.value) ORDER BY ci.kind, ci.value) AS list
            FROM customer_identities ci WHERE ci.customer_id = c.id) ids
      CROSS JOIN LATERAL (
          SELECT json_agg(json_build_object('interaction_id', h.id, 'channel', h.channel, 'process', h.process,
                                            'intent', h.intent, 'received_at', h.received_at) ORDER BY h.received_at DESC) AS list
            FROM (SELECT i.id, i.channel, i.process, i.intent, i.received_at FROM interactions i
                   WHERE i.customer_id = c.id
                     -- A stable bound, so the partitions before it are pruned at the statement's start.
                     AND i.received_at >= coalesce(
                             now() - make_interval(days => nullif(current_setting('switchboard.context_recent_days', true), '')::integer),
                             '-infinity')
                   ORDER BY i.received_at DESC LIMIT 5) h) rec
     WHERE c.id = ANY (p_customers);
END $$;
