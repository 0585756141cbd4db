-- Delivery transitions (offers, outcomes, retries) written in one statement, in rounds: a
-- delivery's second write in the batch goes in the round after its first, so each round updates
-- a delivery at most once and its transitions keep their order. Each write applies only if its
-- guard holds (DONE: offered to that worker; an offer: pending or offered); the answer is the
-- indexes of the writes that applied. 'offer_done' is an offer and its worker's DONE in one
-- update: one row version instead of two for a quick worker.
CREATE FUNCTION swb_apply_batch(
    p_round integer[], p_op text[], p_id bigint[], p_worker text[], p_attempt integer[], p_lease_until bigint[],
    p_owner text[], p_outcome text[], p_notes text[], p_not_before bigint[], p_error text[])
RETURNS TABLE(o_index integer)
LANGUAGE plpgsql
SET enable_seqscan TO 'off'
SET enable_hashjoin TO 'off'
SET enable_mergejoin TO 'off'
SET plan_cache_mode TO 'force_generic_plan'
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
