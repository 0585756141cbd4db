-- Contact history per customer: one row per delivery of each interaction, newest first when
-- ordered by received_at: channel, process, queue, what became of it, who handled it, and how
-- fast (from analytics_delivery_timeline).
CREATE VIEW analytics_contact_history AS
SELECT i.customer_id, i.id AS interaction_id, i.received_at, i.channel, i.process, i.intent, i.language,
       t.delivery_id, t.queue, t.state, t.worker, d.outcome, t.first_response_seconds, t.handle_seconds, t.resolved_within_target
  FROM interactions i
  JOIN deliveries d ON d.interaction_id = i.id AND d.interaction_received_at = i.received_at
  JOIN analytics_delivery_timeline t ON t.delivery_id = d.id;
