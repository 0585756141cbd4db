-- The ids of a queue's p_limit most urgent pending deliveries that hub p_hub may offer, in
-- dispatch order (DESIGN §1.4): a refill's page. Those are the hub's own and those no hub owns
-- (written by a tool: a replay, an import), which it claims here; those of other hubs are passed
-- over (their hubs hold them, or will be adopted). A delivery two hubs claim at once goes to one:
-- the second update waits for the first and then finds the owner set. The claim finds its rows by
-- primary key: its state test is written `IS TRUE` so that it does not match the predicate of the
-- index of pending deliveries, which a planner with stale statistics would read instead.
--
-- It walks deliveries_dispatch_order and stops at the limit; sequential scans, bitmap scans and
-- sorts are off so that no statistics, however stale, make it read every pending delivery to sort
-- them.
CREATE FUNCTION swb_pending_ids(p_queue text, p_limit integer, p_hub text)
RETURNS SETOF bigint
LANGUAGE sql VOLATILE
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
    WITH page AS MATERIALIZED (
        SELECT d.id, d.owner FROM deliveries d
         WHERE d.state = 'pending' AND d.queue = p_queue AND (d.owner = p_hub OR d.owner IS NULL)
         ORDER BY d.deadline, d.priority DESC, d.id
         LIMIT p_limit
    ), claimed AS (
        UPDATE deliveries d SET owner = p_hub
         WHERE d.id = ANY (ARRAY(SELECT p.id FROM page p WHERE p.owner IS NULL)) AND d.owner IS NULL AND (d.state = 'pending') IS TRUE
        RETURNING d.id
    )
    SELECT p.id FROM page p WHERE p.owner = p_hub
    UNION ALL
    SELECT c.id FROM claimed c
$$;
