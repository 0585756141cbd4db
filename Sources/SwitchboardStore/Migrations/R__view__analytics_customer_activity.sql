-- Recency, frequency and channel mix per customer (the base of RFM segmentation). Erased
-- customers stay, anonymized (erased true), so that totals over the view do not change; a
-- customer merged into another is counted in its survivor.
CREATE VIEW analytics_customer_activity AS
SELECT c.id AS customer_id, c.kind, c.segment, c.value_tier, c.anonymous, c.erased_at IS NOT NULL AS erased,
       count(i.id) AS contacts,
       max(i.received_at) AS last_contact_at,
       count(DISTINCT i.channel) AS channels_used,
       count(*) FILTER (WHERE i.process = 'support') AS support_contacts,
       count(*) FILTER (WHERE i.process = 'sales') AS sales_contacts
  FROM customers c
  LEFT JOIN interactions i ON i.customer_id = c.id
 WHERE c.merged_into IS NULL
 GROUP BY c.id;
