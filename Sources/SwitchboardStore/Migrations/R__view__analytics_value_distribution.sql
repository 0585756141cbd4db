-- How customers spread over value tiers, per kind (partners apart): customers, their share of all
-- customers, and from the last value computation (customer_value) the mean score, the money and
-- the mean repeat contacts (the effort the tier spends on us). Erased customers count, anonymized;
-- a customer merged into another counts in its survivor.
CREATE VIEW analytics_value_distribution AS
SELECT c.value_tier, c.kind, count(*) AS customers,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_percent,
       round(avg(v.score), 2) AS mean_score,
       coalesce(sum(v.monetary), 0) AS monetary,
       round(avg(v.repeat_contacts), 2) AS mean_repeat_contacts
  FROM customers c
  LEFT JOIN customer_value v ON v.customer_id = c.id
 WHERE c.merged_into IS NULL
 GROUP BY c.value_tier, c.kind;
