-- Each campaign's reach and what came of it ("evaluate responses"): customers contacted and
-- skipped, contacts delivered (a message SENT by a gateway, a task DONE) and not (dead, expired,
-- cancelled by an opt-out), responses, conversions and opt-outs within the response window, and
-- the rates over those contacted.
CREATE VIEW analytics_campaign_responses AS
SELECT c.id AS campaign_id, c.name AS campaign, c.state, c.mode, c.channel, c.queue,
       count(*) FILTER (WHERE t.state = 'contacted') AS reached,
       count(*) FILTER (WHERE t.state = 'skipped') AS skipped,
       count(*) FILTER (WHERE t.state = 'contacted' AND (m.state = 'sent' OR d.state = 'done')) AS delivered,
       count(*) FILTER (WHERE m.state IN ('dead', 'cancelled') OR d.state = 'dead') AS undelivered,
       count(t.responded_at) AS responded,
       count(t.converted_at) AS converted,
       count(t.opted_out_at) AS opted_out,
       round(100.0 * count(t.responded_at) / nullif(count(*) FILTER (WHERE t.state = 'contacted'), 0), 1) AS response_rate_pct,
       round(100.0 * count(t.converted_at) / nullif(count(*) FILTER (WHERE t.state = 'contacted'), 0), 1) AS conversion_rate_pct,
       min(t.contacted_at) FILTER (WHERE t.state = 'contacted') AS first_contact_at,
       max(t.contacted_at) FILTER (WHERE t.state = 'contacted') AS last_contact_at
  FROM campaigns c
  LEFT JOIN campaign_targets t ON t.campaign_id = c.id
  LEFT JOIN outbound_messages m ON m.id = t.outbound_id
  LEFT JOIN deliveries d ON d.id = t.delivery_id
 GROUP BY c.id, c.name, c.state, c.mode, c.channel, c.queue;
