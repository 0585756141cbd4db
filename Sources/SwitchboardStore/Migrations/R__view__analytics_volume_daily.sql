-- Contacts per day, channel and process.
CREATE VIEW analytics_volume_daily AS
SELECT date_trunc('day', received_at) AS day, channel, process, direction, count(*) AS interactions,
       count(DISTINCT customer_id) AS customers
  FROM interactions
 GROUP BY 1, 2, 3, 4;
