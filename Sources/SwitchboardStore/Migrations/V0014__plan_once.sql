-- The hub's hot functions plan their statements once per connection, not once per call.
--
-- PL/pgSQL caches each statement's plan, but by default (plan_cache_mode = auto) a statement
-- with parameters is planned again for every call as long as the plan made for the call's values
-- looks cheaper than the generic one. For these functions it always does when a batch is small:
-- the planner counts the rows of the call's arrays, and fewer rows make a cheaper plan. So a
-- batch of a few messages, contexts or transitions - every batch at light and moderate load - paid
-- for planning the ingest statement's nine parts, or the context read, on every call. Batches of a
-- few dozen and more already ran the generic plan, which auto picks once it looks cheaper.
--
-- The plan is the same either way: each function turns off sequential scans, hash joins and merge
-- joins (0010-0012), so every join is a nested loop into an index, whatever the sizes. Measured
-- with pgbench, one call at a time on an idle database: swb_ingest_rounds with 1 message 0.85 ms
-- before and 0.44 ms after, with 8 messages 1.2 and 0.8 ms, with 32 and 128 the same before and
-- after; swb_task_contexts of 1 customer 0.19 and 0.08 ms, of 8 customers 0.27 and 0.15 ms, of 32
-- the same.
ALTER FUNCTION swb_ingest_rounds SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION swb_ingest_round SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION swb_apply_batch SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION swb_task_contexts SET plan_cache_mode = force_generic_plan;
