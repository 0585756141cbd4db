-- The ids of a queue's p_limit most urgent pending deliveries, in dispatch order (DESIGN §1.4):
-- a refill's page. It walks deliveries_dispatch_order and stops at the limit; sequential scans,
-- bitmap scans and sorts are off so that no statistics, however stale, make it read every pending
-- delivery to sort them.
CREATE FUNCTION swb_pending_ids(p_queue text, p_limit integer)
RETURNS SETOF bigint
LANGUAGE sql STABLE
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
    SELECT d.id FROM deliveries d
     WHERE d.state = 'pending' AND d.queue = p_queue
     ORDER BY d.deadline, d.priority DESC, d.id
     LIMIT p_limit
$$;
