-- "Where is my request?": a customer's open contacts (by id, or by a normalized identity; an
-- absorbed customer's are its survivor's), each with its state, its place in its queue's
-- dispatch order (earliest deadline, then highest priority, then oldest, among the deliveries
-- due now: the order the hub offers them in; 0 once a worker has it) and an estimated wait from
-- the queue's service rate over the last 15 minutes (DONEs per minute; none without a DONE).
CREATE FUNCTION swb_contact_status(p_customer bigint, p_kind text, p_value text)
RETURNS json
LANGUAGE sql STABLE
AS $$
    WITH who AS (
        SELECT coalesce(c.merged_into, c.id) AS id
          FROM customers c
         WHERE c.id = coalesce(p_customer, (SELECT ci.customer_id FROM customer_identities ci WHERE ci.kind = p_kind AND ci.value = p_value))
           AND c.erased_at IS NULL
    ), open AS (
        SELECT d.id, d.queue, d.state, d.priority, d.deadline, d.not_before, d.created_at, d.interaction_id, i.channel, i.conversation_id,
               i.received_at
          FROM deliveries d
          JOIN interactions i ON i.id = d.interaction_id AND i.received_at = d.interaction_received_at
         WHERE d.customer_id IN (SELECT id FROM who UNION SELECT c.id FROM customers c WHERE c.merged_into IN (SELECT id FROM who))
           AND d.state IN ('pending', 'offered', 'in_progress')
    ), placed AS (
        SELECT o.*,
               CASE WHEN o.state = 'pending'
                    THEN 1 + (SELECT count(*) FROM deliveries a
                               WHERE a.state = 'pending' AND a.queue = o.queue AND (a.not_before IS NULL OR a.not_before <= now())
                                 AND (a.deadline, -a.priority, a.id) < (o.deadline, -o.priority, o.id))
                    ELSE 0 END AS position,
               (SELECT count(*) FROM delivery_events e
                 WHERE e.kind = 'done' AND e.queue = o.queue AND e.at > now() - interval '15 minutes') / 15.0 AS per_minute
          FROM open o
    )
    SELECT json_build_object(
               'customer_id', (SELECT id FROM who),
               'contacts', coalesce(json_agg(json_build_object(
                   'delivery_id', p.id, 'interaction_id', p.interaction_id, 'conversation_id', p.conversation_id, 'queue', p.queue,
                   'channel', p.channel,
                   'state', CASE WHEN p.state = 'pending' AND p.not_before > now() THEN 'scheduled'
                                 WHEN p.state = 'pending' THEN 'waiting' ELSE 'with_agent' END,
                   'position', p.position,
                   'received_at', (extract(epoch FROM p.received_at) * 1000)::bigint,
                   'deadline', (extract(epoch FROM p.deadline) * 1000)::bigint,
                   'served_per_minute', round(p.per_minute, 2),
                   'estimated_wait_ms', CASE WHEN p.position = 0 THEN 0
                                             WHEN p.per_minute > 0 THEN round(p.position / p.per_minute * 60000)::bigint END)
                   ORDER BY p.received_at), '[]'))
      FROM placed p
     WHERE EXISTS (SELECT 1 FROM who)
$$;
