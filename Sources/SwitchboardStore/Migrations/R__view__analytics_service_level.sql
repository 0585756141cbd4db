-- Service level per day (of arrival), queue, channel, customer kind and value tier, from each
-- delivery's events (analytics_delivery_timeline): resolution within target, speed of answer,
-- first response and handle time.
CREATE VIEW analytics_service_level AS
SELECT date_trunc('day', t.created_at) AS day, t.queue, t.channel, t.customer_kind, t.value_tier,
       count(*) AS deliveries,
       count(*) FILTER (WHERE t.state = 'done') AS done,
       count(*) FILTER (WHERE t.state = 'dead') AS dead,
       count(*) FILTER (WHERE t.state = 'failed') AS rejected,
       count(*) FILTER (WHERE t.state = 'transferred') AS transferred,
       count(*) FILTER (WHERE t.state IN ('pending', 'offered', 'in_progress')) AS open,
       count(*) FILTER (WHERE t.resolved_within_target) AS done_within_target,
       round(100.0 * count(*) FILTER (WHERE t.resolved_within_target) / nullif(count(*) FILTER (WHERE t.state = 'done'), 0), 2)
           AS attainment_percent,
       count(*) FILTER (WHERE t.answered_within_target) AS answered_within_target,
       round(100.0 * count(*) FILTER (WHERE t.answered_within_target)
             / nullif(count(*) FILTER (WHERE t.answered_within_target IS NOT NULL), 0), 2) AS answer_attainment_percent,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.speed_of_answer_seconds) AS median_speed_of_answer_seconds,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY t.speed_of_answer_seconds) AS p90_speed_of_answer_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.first_response_seconds) AS median_first_response_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.handle_seconds) AS median_handle_seconds
  FROM analytics_delivery_timeline t
 GROUP BY 1, 2, 3, 4, 5;
