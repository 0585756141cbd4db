-- What gateways answered to DELIVERs (and what became of DELIVERs that got no answer), by
-- message: sent (SENT: whoever's lease it is, it went out, so it is never sent again), retry
-- (UNDELIVERABLE with retry_after_ms, no answer within the lease, no gateway for its channel:
-- pending again after p_retry_ms, or after a backoff doubling from p_backoff_base_ms up to
-- p_backoff_max_ms; dead once out of attempts), undeliverable (UNDELIVERABLE for good: dead).
-- A retry or undeliverable applies only while p_owner still holds the lease. Answers each
-- message's state after it.
CREATE FUNCTION swb_outbound_results(
    p_owner text, p_ids bigint[], p_outcomes text[], p_gateways text[], p_errors text[], p_retry_ms bigint[], p_references text[],
    p_max_attempts integer, p_backoff_base_ms integer, p_backoff_max_ms integer)
RETURNS TABLE (o_id bigint, o_state text)
LANGUAGE sql
AS $$
    WITH answers AS (
        SELECT * FROM unnest(p_ids, p_outcomes, p_gateways, p_errors, p_retry_ms, p_references)
               AS a (id, outcome, gateway, error, retry_ms, reference)
    )
    UPDATE outbound_messages m
       SET state = CASE WHEN a.outcome = 'sent' THEN 'sent'
                        WHEN a.outcome = 'undeliverable' OR m.attempts >= p_max_attempts THEN 'dead'
                        ELSE 'pending' END,
           sent_at = CASE WHEN a.outcome = 'sent' THEN now() ELSE m.sent_at END,
           gateway = coalesce(a.gateway, m.gateway),
           gateway_reference = CASE WHEN a.outcome = 'sent' THEN a.reference ELSE m.gateway_reference END,
           dead_at = CASE WHEN a.outcome <> 'sent' AND (a.outcome = 'undeliverable' OR m.attempts >= p_max_attempts) THEN now() END,
           not_before = CASE WHEN a.outcome = 'retry'
                             THEN now() + coalesce(a.retry_ms,
                                                   least(p_backoff_max_ms::bigint, p_backoff_base_ms::bigint * (2 ^ least(m.attempts - 1, 20))::bigint))
                                          * interval '1 millisecond' END,
           last_error = CASE WHEN a.outcome = 'sent' THEN m.last_error ELSE a.error END,
           owner = NULL, lease_until = NULL
      FROM answers a
     WHERE m.id = a.id
       AND (CASE WHEN a.outcome = 'sent' THEN m.state IN ('pending', 'sending') ELSE m.state = 'sending' AND m.owner = p_owner END)
    RETURNING m.id, m.state
$$;
