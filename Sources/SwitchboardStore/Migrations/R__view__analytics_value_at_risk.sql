-- Value against experience, per customer with both computed: what the customer is worth to us
-- (customer_value: tier, RFM score, money) beside what we are worth to the customer
-- (customer_experience: satisfaction, complaints, repeat contacts, silence, experience score,
-- churn risk), and whether a churn_risk signal is raised now. The valuable customers we are
-- losing: WHERE at_risk ORDER BY value_score DESC.
CREATE VIEW analytics_value_at_risk AS
SELECT c.id AS customer_id, c.kind, c.segment, v.tier AS value_tier, v.score AS value_score, v.monetary,
       e.experience_score, e.satisfaction, e.ratings, e.complaints, e.open_complaints, e.repeat_contacts, e.days_since_contact,
       e.churn_risk,
       EXISTS (SELECT 1 FROM customer_signals s WHERE s.signal = 'churn_risk' AND s.key = c.id AND s.cleared_at IS NULL) AS at_risk,
       e.computed_at AS experience_computed_at
  FROM customers c
  JOIN customer_value v ON v.customer_id = c.id
  JOIN customer_experience e ON e.customer_id = c.id
 WHERE c.erased_at IS NULL;
