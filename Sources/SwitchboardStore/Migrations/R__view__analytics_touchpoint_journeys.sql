-- Touchpoint journeys: one row per interaction, with the channels the same customer used in the
-- 30 days before it, oldest first, and how its handling ended (the outcome of its last delivery
-- done). A sale is an interaction of process sales done with the outcome the sales workers use
-- (e.g. sold); a complaint one with the intent complaint.
CREATE VIEW analytics_touchpoint_journeys AS
SELECT i.id AS interaction_id, i.customer_id, i.received_at, i.channel, i.process, i.intent,
       (SELECT d.outcome FROM deliveries d WHERE d.interaction_id = i.id AND d.state = 'done' ORDER BY d.completed_at DESC, d.id DESC LIMIT 1)
           AS outcome,
       coalesce((SELECT array_agg(p.channel ORDER BY p.received_at, p.id) FROM interactions p
                  WHERE p.customer_id = i.customer_id AND p.received_at < i.received_at
                    AND p.received_at >= i.received_at - interval '30 days'), '{}') AS journey,
       (SELECT count(*) FROM interactions p
         WHERE p.customer_id = i.customer_id AND p.received_at < i.received_at AND p.received_at >= i.received_at - interval '30 days')
           AS touchpoints
  FROM interactions i;
