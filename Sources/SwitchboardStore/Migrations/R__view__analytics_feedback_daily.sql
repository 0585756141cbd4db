-- Explicit feedback per day, process (of the contact it rates), channel and type: responses, the
-- mean score, the satisfied and the dissatisfied (csat and survey 4-5 and 1-2; nps 9-10
-- promoters and 0-6 detractors), and for NPS the net promoter score (promoters minus detractors,
-- in percent of the responses). Returns and complaints count as responses without a score.
CREATE VIEW analytics_feedback_daily AS
SELECT date_trunc('day', f.received_at) AS day, f.process, f.channel, f.type,
       count(*) AS responses,
       round(avg(f.score), 2) AS mean_score,
       count(*) FILTER (WHERE (f.type = 'nps' AND f.score >= 9) OR (f.type <> 'nps' AND f.score >= 4)) AS satisfied,
       count(*) FILTER (WHERE (f.type = 'nps' AND f.score <= 6) OR (f.type <> 'nps' AND f.score <= 2)) AS dissatisfied,
       CASE WHEN f.type = 'nps'
            THEN round(100.0 * (count(*) FILTER (WHERE f.score >= 9) - count(*) FILTER (WHERE f.score <= 6)) / count(*), 1) END AS nps
  FROM feedback f
 GROUP BY 1, 2, 3, 4;
