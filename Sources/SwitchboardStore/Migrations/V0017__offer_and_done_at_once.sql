-- A delivery's offer and its DONE written as one update when they are in the same batch.
--
-- The hub writes an offer after the TASK has gone out, and since transitions wait up to
-- transition_wait_ms (10 ms by default) to share a commit, a worker that answers within that time
-- has its DONE in the same batch as its offer: at light and moderate load, nearly every delivery.
-- swb_apply_batch (0010) ran the two as two rounds, two updates of the row: each a new row version
-- with its index entries (the offer's also one in deliveries_in_flight), the first dead as soon as
-- the batch commits, for autovacuum to clear. The hub now sends such a pair as one write, op
-- 'offer_done', which leaves the row as the two did: done, by the offer's worker and hub, with
-- its attempt, outcome and notes, offered and completed at the write (as each of the two was), no
-- lease and no not_before. It applies if the offer would (the delivery pending, or offered
-- already); the DONE's own guard (offered to that worker) then holds by construction. The other
-- ops, their guards and the answer (the indexes that applied) are 0010's, and the plan is made once
-- per connection as 0014 set it.
CREATE OR REPLACE FUNCTION swb_apply_batch(p_round integer[], p_op text[], p_id bigint[], p_worker text[], p_attempt integer[],
                                           p_lease_until bigint[], p_owner text[], p_outcome text[], p_notes text[],
                                           p_not_before bigint[], p_error text[])
RETURNS TABLE (o_index integer)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_rounds integer := coalesce((SELECT max(r) FROM unnest(p_round) AS r), 0);
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_op) AS o (op)
                WHERE o.op IS NULL OR o.op NOT IN ('offer', 'offer_done', 'done', 'retry', 'requeue', 'reject', 'dead')) THEN
        RAISE EXCEPTION 'swb_apply_batch: unknown op in %', p_op;
    END IF;
    FOR v_round IN 1..v_rounds LOOP
        RETURN QUERY
        WITH t AS MATERIALIZED (
            SELECT (b.ordinality - 1)::integer AS idx, b.op, b.id, b.worker, b.attempt, b.lease_until, b.owner, b.outcome, b.notes,
                   b.not_before, b.error
              FROM unnest(p_round, p_op, p_id, p_worker, p_attempt, p_lease_until, p_owner, p_outcome, p_notes, p_not_before, p_error)
                   WITH ORDINALITY AS b (round, op, id, worker, attempt, lease_until, owner, outcome, notes, not_before, error, ordinality)
             WHERE b.round = v_round
        ), changed AS (
            UPDATE deliveries d
               SET state = CASE t.op WHEN 'offer' THEN 'offered' WHEN 'done' THEN 'done' WHEN 'offer_done' THEN 'done' WHEN 'reject' THEN 'failed'
                                     WHEN 'dead' THEN 'dead' ELSE 'pending' END,
                   worker = CASE WHEN t.op IN ('offer', 'offer_done') THEN t.worker WHEN t.op IN ('retry', 'requeue', 'dead') THEN NULL
                                 ELSE d.worker END,
                   owner = CASE WHEN t.op IN ('offer', 'offer_done') THEN t.owner WHEN t.op IN ('retry', 'requeue', 'dead') THEN NULL
                                ELSE d.owner END,
                   attempts = CASE WHEN t.op IN ('offer', 'offer_done') THEN t.attempt ELSE d.attempts END,
                   lease_until = CASE WHEN t.op = 'offer' THEN to_timestamp(t.lease_until::float8 / 1000) END,
                   offered_at = CASE WHEN t.op IN ('offer', 'offer_done') THEN now() ELSE d.offered_at END,
                   not_before = CASE WHEN t.op IN ('offer', 'offer_done') THEN NULL
                                     WHEN t.op IN ('retry', 'requeue') THEN to_timestamp(t.not_before::float8 / 1000)
                                     ELSE d.not_before END,
                   outcome = CASE t.op WHEN 'done' THEN t.outcome WHEN 'offer_done' THEN t.outcome WHEN 'reject' THEN 'rejected'
                                  ELSE d.outcome END,
                   notes = CASE t.op WHEN 'done' THEN t.notes WHEN 'offer_done' THEN t.notes WHEN 'reject' THEN t.error ELSE d.notes END,
                   completed_at = CASE WHEN t.op IN ('done', 'offer_done', 'reject', 'dead') THEN now() ELSE d.completed_at END,
                   last_error = CASE WHEN t.op IN ('retry', 'requeue', 'reject', 'dead') THEN t.error ELSE d.last_error END
              FROM t
             WHERE d.id = t.id
               AND CASE t.op
                       WHEN 'offer' THEN d.state IN ('pending', 'offered')
                       WHEN 'offer_done' THEN d.state IN ('pending', 'offered')
                       WHEN 'done' THEN d.state IN ('offered', 'in_progress') AND d.worker = t.worker
                       WHEN 'reject' THEN d.state IN ('offered', 'in_progress')
                       WHEN 'dead' THEN d.state IN ('pending', 'offered', 'in_progress')
                       ELSE d.state IN ('offered', 'in_progress', 'pending')
                   END
            RETURNING t.idx
        )
        SELECT c.idx FROM changed c;
    END LOOP;
END $$;
