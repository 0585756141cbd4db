-- Service level per day (of arrival), worker and queue, over the deliveries each worker
-- completed: how many, how many within target, attainment, median handle and first response.
CREATE VIEW analytics_service_level_by_worker AS
SELECT date_trunc('day', t.created_at) AS day, t.worker, t.queue,
       count(*) AS done,
       count(*) FILTER (WHERE t.resolved_within_target) AS done_within_target,
       round(100.0 * count(*) FILTER (WHERE t.resolved_within_target) / count(*), 2) AS attainment_percent,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.handle_seconds) AS median_handle_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.first_response_seconds) AS median_first_response_seconds
  FROM analytics_delivery_timeline t
 WHERE t.state = 'done' AND t.worker IS NOT NULL
 GROUP BY 1, 2, 3;
