-- The hub's hot functions plan their statements once per connection, not once per call.
--
-- PL/pgSQL caches each statement's plan, but by default (plan_cache_mode = auto) a statement
-- with parameters is planned again for every call as long as the plan made for the call's values
-- looks cheaper than the generic one. For these functions it always does when a batch is small:
-- the planner counts the rows of the call's arrays, and fewer rows make a cheaper plan. So a
-- batch of a few messages, contexts or transitions (nearly every batch at light load) paid for
-- planning the ingest statement's nine parts, or the context read, on every call. Batches of a few
-- dozen and more already ran the generic plan, which auto picks once it looks cheaper.
--
-- The plan is the same either way: each function turns off sequential scans, hash joins and merge
-- joins (0010-0012), so every join is a nested loop into an index, whatever the sizes. In two
-- alternating pairs of `switchboard bench --quick --sections ceilings` (the hub's statement timed
-- one call at a time on the idle machine), a call of 1 message took p50 0.70 ms before and 0.33 ms
-- after, of 8 messages 0.86 and 0.48 ms; calls of 32 and 512 messages took the same before and after.
ALTER FUNCTION swb_ingest_rounds SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION swb_ingest_round SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION swb_apply_batch SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION swb_task_contexts SET plan_cache_mode = force_generic_plan;
