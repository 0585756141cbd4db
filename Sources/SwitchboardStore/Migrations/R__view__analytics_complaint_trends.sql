-- Complaints per day opened, process and category: opened, resolved so far, still open, and the
-- median and 90th percentile of the hours from opening to resolution (of those resolved).
CREATE VIEW analytics_complaint_trends AS
SELECT date_trunc('day', k.opened_at) AS day, k.process, k.category,
       count(*) AS opened,
       count(*) FILTER (WHERE k.status = 'resolved') AS resolved,
       count(*) FILTER (WHERE k.status = 'open') AS still_open,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM k.resolved_at - k.opened_at) / 3600))::numeric, 2)
           AS median_hours_to_resolve,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM k.resolved_at - k.opened_at) / 3600))::numeric, 2)
           AS p90_hours_to_resolve
  FROM complaints k
 GROUP BY 1, 2, 3;
