-- One row per delivery: its channel and the customer's kind (partners apart) and value tier, and from its events the times
-- a contact center measures. Speed of answer: received until first offered. First response:
-- received until the first ACCEPT, or the DONE of a worker that does not send ACCEPT. Handle
-- time: from the handling attempt's ACCEPT (else its offer) until DONE. Resolution within target:
-- done by the service-level deadline. Answer target: the queue's answer_ms for the channel (else
-- its default) in the rule set the delivery was routed by, its customer's value tier's when that
-- tier has one (registered as answer_targets with the rules). The other service-level views are
-- built on this one.
CREATE VIEW analytics_delivery_timeline AS
SELECT d.id AS delivery_id, d.queue, i.channel, coalesce(c.kind, 'consumer') AS customer_kind,
       coalesce(c.value_tier, 'standard') AS value_tier, d.language, d.state,
       d.created_at, d.deadline, e.first_offered_at, e.first_accepted_at, e.done_at,
       e.offers, e.rejections, e.timeouts, e.transfers, e.escalations, e.done_by AS worker,
       extract(epoch FROM e.first_offered_at - d.created_at) AS speed_of_answer_seconds,
       extract(epoch FROM coalesce(e.first_accepted_at, e.done_at) - d.created_at) AS first_response_seconds,
       extract(epoch FROM e.done_at - coalesce(e.last_accepted_at, e.last_offered_at)) AS handle_seconds,
       e.done_at IS NOT NULL AND e.done_at <= d.deadline AS resolved_within_target,
       a.ms / 1000.0 AS answer_target_seconds,
       CASE WHEN a.ms IS NULL THEN NULL
            ELSE e.first_offered_at IS NOT NULL AND e.first_offered_at - d.created_at <= a.ms * interval '1 millisecond' END
           AS answered_within_target
  FROM deliveries d
  JOIN interactions i ON i.id = d.interaction_id AND i.received_at = d.interaction_received_at
  LEFT JOIN customers c ON c.id = d.customer_id
  LEFT JOIN routing_versions r ON r.id = d.routing_version
  LEFT JOIN LATERAL (
      SELECT coalesce(t.targets -> 'tiers' -> coalesce(c.value_tier, 'standard') ->> i.channel,
                      t.targets -> 'tiers' -> coalesce(c.value_tier, 'standard') ->> 'default',
                      t.targets -> 'answer_ms' ->> i.channel, t.targets -> 'answer_ms' ->> 'default')::bigint AS ms
        FROM (SELECT r.rules -> 'answer_targets' -> d.queue AS targets) t
  ) a ON true
  LEFT JOIN LATERAL (
      SELECT min(v.at) FILTER (WHERE v.kind = 'offered') AS first_offered_at,
             max(v.at) FILTER (WHERE v.kind = 'offered') AS last_offered_at,
             min(v.at) FILTER (WHERE v.kind = 'accepted') AS first_accepted_at,
             max(v.at) FILTER (WHERE v.kind = 'accepted') AS last_accepted_at,
             max(v.at) FILTER (WHERE v.kind = 'done') AS done_at,
             (array_agg(v.worker ORDER BY v.id DESC) FILTER (WHERE v.kind = 'done'))[1] AS done_by,
             count(*) FILTER (WHERE v.kind = 'offered') AS offers,
             count(*) FILTER (WHERE v.kind = 'rejected') AS rejections,
             count(*) FILTER (WHERE v.kind = 'timed_out') AS timeouts,
             count(*) FILTER (WHERE v.kind = 'transferred') AS transfers,
             count(*) FILTER (WHERE v.kind = 'escalated') AS escalations
        FROM delivery_events v
       WHERE v.delivery_id = d.id
  ) e ON true;
