-- Service level per queue and day: handled within the deadline, waiting and handling times.
CREATE VIEW analytics_service_level AS
SELECT date_trunc('day', d.created_at) AS day, d.queue,
       count(*) AS deliveries,
       count(*) FILTER (WHERE d.state = 'done') AS done,
       count(*) FILTER (WHERE d.state = 'dead') AS dead,
       count(*) FILTER (WHERE d.state = 'failed') AS rejected,
       count(*) FILTER (WHERE d.state IN ('pending', 'offered', 'in_progress')) AS open,
       count(*) FILTER (WHERE d.state = 'done' AND d.completed_at <= d.deadline) AS done_within_target,
       round(100.0 * count(*) FILTER (WHERE d.state = 'done' AND d.completed_at <= d.deadline)
             / nullif(count(*) FILTER (WHERE d.state = 'done'), 0), 2) AS attainment_percent,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.offered_at - d.created_at))
           FILTER (WHERE d.offered_at IS NOT NULL) AS median_wait_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.completed_at - d.offered_at))
           FILTER (WHERE d.state = 'done') AS median_handle_seconds
  FROM deliveries d
 GROUP BY 1, 2;
