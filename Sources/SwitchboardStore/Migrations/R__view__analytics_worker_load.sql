-- Load per worker: tasks completed and held now, and retries caused.
CREATE VIEW analytics_worker_load AS
SELECT d.worker, d.queue,
       count(*) FILTER (WHERE d.state = 'done') AS completed,
       count(*) FILTER (WHERE d.state IN ('offered', 'in_progress')) AS holding,
       count(*) FILTER (WHERE d.state = 'failed') AS rejected,
       avg(extract(epoch FROM d.completed_at - d.offered_at)) FILTER (WHERE d.state = 'done') AS mean_handle_seconds
  FROM deliveries d
 WHERE d.worker IS NOT NULL
 GROUP BY 1, 2;
