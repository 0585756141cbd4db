-- Per worker and queue, from the history of every attempt: offers made to it and what became of
-- them, what it holds now, and its handle time.
CREATE VIEW analytics_worker_load AS
SELECT v.worker, v.queue,
       count(*) FILTER (WHERE v.kind = 'offered') AS offered,
       count(*) FILTER (WHERE v.kind = 'accepted') AS accepted,
       count(*) FILTER (WHERE v.kind = 'rejected') AS rejected_offers,
       count(*) FILTER (WHERE v.kind = 'timed_out') AS timed_out,
       count(*) FILTER (WHERE v.kind = 'done') AS completed,
       count(*) FILTER (WHERE v.kind = 'failed') AS failed,
       count(*) FILTER (WHERE v.kind = 'transferred') AS transferred,
       (SELECT count(*) FROM deliveries d WHERE d.worker = v.worker AND d.queue = v.queue AND d.state IN ('offered', 'in_progress'))
           AS holding,
       (SELECT avg(t.handle_seconds) FROM analytics_delivery_timeline t WHERE t.worker = v.worker AND t.queue = v.queue)
           AS mean_handle_seconds
  FROM delivery_events v
 WHERE v.worker IS NOT NULL
 GROUP BY 1, 2;
