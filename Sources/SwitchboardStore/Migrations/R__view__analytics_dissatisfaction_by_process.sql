-- Which process makes customers unhappy most: per process, its inbound contacts, the ratings of
-- them, the low ratings (csat and survey 1-2, nps 0-6), complaints, repeat contacts (the matter
-- was not settled the first time: customer_signals), and the dissatisfied contacts (low ratings,
-- complaints and repeat contacts) per 100 contacts, ranked (1: the worst).
CREATE VIEW analytics_dissatisfaction_by_process AS
WITH contacts AS (
    SELECT i.process, count(*) AS contacts FROM interactions i WHERE i.direction = 'inbound' GROUP BY i.process
), ratings AS (
    SELECT f.process, count(*) FILTER (WHERE f.score IS NOT NULL) AS ratings,
           count(*) FILTER (WHERE (f.type = 'nps' AND f.score <= 6) OR (f.type <> 'nps' AND f.score <= 2)) AS low_ratings,
           round(avg(CASE WHEN f.type = 'nps' THEN f.score * 10.0 ELSE (f.score - 1) * 25.0 END), 1) AS satisfaction
      FROM feedback f GROUP BY f.process
), complained AS (
    SELECT k.process, count(*) AS complaints, count(*) FILTER (WHERE k.status = 'open') AS open_complaints
      FROM complaints k GROUP BY k.process
), repeated AS (
    SELECT s.process, count(*) AS repeat_contacts FROM customer_signals s WHERE s.signal = 'repeat_contact' GROUP BY s.process
), joined AS (
    SELECT c.process, c.contacts, coalesce(r.ratings, 0) AS ratings, coalesce(r.low_ratings, 0) AS low_ratings, r.satisfaction,
           coalesce(k.complaints, 0) AS complaints, coalesce(k.open_complaints, 0) AS open_complaints,
           coalesce(p.repeat_contacts, 0) AS repeat_contacts
      FROM contacts c
      LEFT JOIN ratings r ON r.process = c.process
      LEFT JOIN complained k ON k.process = c.process
      LEFT JOIN repeated p ON p.process = c.process
)
SELECT j.*,
       round(100.0 * (j.low_ratings + j.complaints + j.repeat_contacts) / j.contacts, 2) AS dissatisfied_per_100_contacts,
       rank() OVER (ORDER BY (j.low_ratings + j.complaints + j.repeat_contacts)::numeric / j.contacts DESC) AS rank
  FROM joined j;
