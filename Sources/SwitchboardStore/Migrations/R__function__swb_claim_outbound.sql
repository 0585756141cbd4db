-- The outbound messages this hub sends next, for the channels its connected gateways serve:
-- pending ones due now, and ones another DELIVER of which went unanswered past its lease (a hub
-- that died, a gateway that vanished). Each is leased to p_owner for p_lease_ms and its attempt
-- counted. First, everything past its expiry becomes dead (expired), whatever its channel; a
-- campaign message to a customer who has opted out or must not be contacted since it was queued
-- is cancelled; a message out of attempts is dead. `to` is every identity of the customer (of
-- the survivor, after a merge), for the gateway to address it.
CREATE FUNCTION swb_claim_outbound(p_owner text, p_channels text[], p_limit integer, p_lease_ms integer, p_max_attempts integer)
RETURNS TABLE (o_id bigint, o_key uuid, o_customer_id bigint, o_conversation_id bigint, o_channel text, o_preferred_gateway text,
               o_in_reply_to text, o_thread text, o_language text, o_content_type text, o_body_text text, o_body_hex text,
               o_attempts integer, o_expires_at bigint, o_campaign_id bigint, o_to jsonb)
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE outbound_messages
       SET state = 'dead', dead_at = now(), owner = NULL, lease_until = NULL,
           last_error = coalesce(last_error || '; ', '') || 'expired before it was sent'
     WHERE state IN ('pending', 'sending') AND expires_at <= now() AND (state = 'pending' OR lease_until < now());
    IF cardinality(p_channels) IS NULL OR cardinality(p_channels) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH due AS MATERIALIZED (
        SELECT m.id FROM outbound_messages m
         WHERE m.state = 'pending' AND m.channel = ANY (p_channels) AND (m.not_before IS NULL OR m.not_before <= now())
         ORDER BY m.priority DESC, m.id
         LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), stale AS MATERIALIZED (
        SELECT m.id FROM outbound_messages m
         WHERE m.state = 'sending' AND m.lease_until < now() AND m.channel = ANY (p_channels)
         ORDER BY m.lease_until
         LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), candidates AS MATERIALIZED (
        SELECT id FROM due UNION ALL SELECT id FROM stale
    ), judged AS MATERIALIZED (
        SELECT m.id,
               CASE WHEN m.campaign_id IS NOT NULL AND (c.consent ->> 'marketing' = 'false' OR c.consent ->> 'do_not_contact' = 'true'
                                                        OR c.consent ->> m.channel = 'false' OR c.erased_at IS NOT NULL)
                    THEN 'cancelled'
                    WHEN m.attempts >= p_max_attempts THEN 'dead'
                    ELSE 'sending' END AS verdict
          FROM candidates k JOIN outbound_messages m ON m.id = k.id JOIN customers c ON c.id = m.customer_id
    ), settled AS (
        UPDATE outbound_messages m
           SET state = j.verdict, owner = NULL, lease_until = NULL,
               dead_at = CASE WHEN j.verdict = 'dead' THEN now() END,
               last_error = CASE WHEN j.verdict = 'dead' THEN coalesce(m.last_error || '; ', '') || format('gave up after %s attempts', m.attempts)
                                 ELSE 'the customer opted out of marketing contact' END
          FROM judged j
         WHERE m.id = j.id AND j.verdict <> 'sending'
    ), leased AS (
        UPDATE outbound_messages m
           SET state = 'sending', owner = p_owner, lease_until = now() + p_lease_ms * interval '1 millisecond', attempts = m.attempts + 1
          FROM judged j
         WHERE m.id = j.id AND j.verdict = 'sending'
        RETURNING m.*
    )
    SELECT l.id, l.idempotency_key, l.customer_id, l.conversation_id, l.channel, l.preferred_gateway, l.in_reply_to, l.thread, l.language,
           l.content_type, l.body_text, encode(l.body_bytes, 'hex'), l.attempts, (extract(epoch FROM l.expires_at) * 1000)::bigint,
           l.campaign_id,
           coalesce((SELECT jsonb_object_agg(ci.kind, ci.value ORDER BY ci.first_seen_at)
                       FROM customer_identities ci
                      WHERE ci.customer_id = coalesce((SELECT c.merged_into FROM customers c WHERE c.id = l.customer_id), l.customer_id)),
                    '{}')
      FROM leased l
     ORDER BY l.priority DESC, l.id;
END $$;
