-- Views for analysts: volume, service levels, worker load and customer value, over the raw tables.

-- Contacts per day, channel and process.
CREATE VIEW analytics_volume_daily AS
SELECT date_trunc('day', received_at) AS day, channel, process, direction, count(*) AS interactions,
       count(DISTINCT customer_id) AS customers
  FROM interactions
 GROUP BY 1, 2, 3, 4;

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

-- Recency, frequency and channel mix per customer (the base of RFM segmentation).
CREATE VIEW analytics_customer_activity AS
SELECT c.id AS customer_id, c.kind, c.segment, c.value_tier, c.anonymous,
       count(i.id) AS contacts,
       max(i.received_at) AS last_contact_at,
       count(DISTINCT i.channel) AS channels_used,
       count(*) FILTER (WHERE i.process = 'support') AS support_contacts,
       count(*) FILTER (WHERE i.process = 'sales') AS sales_contacts
  FROM customers c
  LEFT JOIN interactions i ON i.customer_id = c.id
 WHERE c.erased_at IS NULL
 GROUP BY c.id;
