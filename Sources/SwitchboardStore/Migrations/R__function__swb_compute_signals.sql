-- Implicit feedback, drawn from the contacts as of p_now (each maintenance pass; idempotent):
--
-- * repeat_contact: an inbound contact received in the last 2 × p_repeat_days whose customer
--   contacted us on the same process and intent in the p_repeat_days before it: the first did not
--   settle the matter. Scores, surveys and NPS answers are not contacts on a matter.
-- * silent_after_complaint: a complaint opened at least p_silence_days ago after which its
--   customer never contacted us again.
-- * customer_experience (replaced whole): over each customer's contacts of the last
--   p_window_days, satisfaction (the mean score, csat and survey 1-5 and nps 0-10 all put on
--   0-100), complaints (opened in the window, open now), repeat contacts, days since the last
--   contact; from them the experience score and the churn risk:
--     experience = 1 + round(satisfaction / 25) when rated, else 4; minus 1 per complaint in the
--                  window (at most 2), minus 1 with two repeat contacts or more; within 1..5.
--     churn risk = 0.35 with a complaint open, + 0.15 with one in the window, + 0.25 when
--                  satisfaction is under 50, + 0.10 per repeat contact (at most 0.20), + 0.30 when
--                  silent: no contact for p_silence_days and for twice the customer's mean gap
--                  between contacts (two contacts or more); at most 1.
-- * churn_risk: raised for a customer whose risk reaches p_churn_threshold (detected_at the
--   time it last rose), cleared (cleared_at) when it falls below.
-- Erased customers are left out. Returns what it found: {"repeat_contact": new signals, ...}; when
-- another hub sharing the database is computing them at the time, nothing ({"skipped": true}).
CREATE FUNCTION swb_compute_signals(
    p_now timestamp with time zone, p_repeat_days integer, p_silence_days integer, p_churn_threshold numeric, p_window_days integer)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_repeats bigint;
    v_silences bigint;
    v_raised bigint;
    v_cleared bigint;
    v_customers bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('swb_compute_signals')) THEN
        RETURN jsonb_build_object('skipped', true);
    END IF;
    INSERT INTO customer_signals (customer_id, signal, key, process, detail, detected_at)
    SELECT i.customer_id, 'repeat_contact', i.id, i.process,
           jsonb_build_object('repeats', p.id, 'intent', i.intent, 'hours_after',
                              round((extract(epoch FROM i.received_at - p.received_at) / 3600)::numeric, 1)),
           p_now
      FROM interactions i
      JOIN customers c ON c.id = i.customer_id AND c.erased_at IS NULL
     CROSS JOIN LATERAL (
         SELECT j.id, j.received_at FROM interactions j
          WHERE j.customer_id = i.customer_id AND j.received_at < i.received_at
            AND j.received_at >= i.received_at - make_interval(days => p_repeat_days)
            AND j.process = i.process AND j.intent IS NOT DISTINCT FROM i.intent AND j.direction = 'inbound'
          ORDER BY j.received_at DESC LIMIT 1
     ) p
     WHERE i.received_at > p_now - make_interval(days => 2 * p_repeat_days) AND i.received_at <= p_now AND i.direction = 'inbound'
       AND coalesce(i.intent, '') NOT IN ('csat', 'nps', 'survey')
    ON CONFLICT (signal, key) DO NOTHING;
    GET DIAGNOSTICS v_repeats = ROW_COUNT;

    INSERT INTO customer_signals (customer_id, signal, key, process, detail, detected_at)
    SELECT k.customer_id, 'silent_after_complaint', k.id, k.process,
           jsonb_build_object('category', k.category, 'status', k.status, 'opened_at', k.opened_at), p_now
      FROM complaints k
      JOIN customers c ON c.id = k.customer_id AND c.erased_at IS NULL
     WHERE k.opened_at <= p_now - make_interval(days => p_silence_days)
       AND NOT EXISTS (SELECT 1 FROM interactions i
                        WHERE i.customer_id = k.customer_id AND i.received_at > k.opened_at AND i.direction = 'inbound'
                          AND i.id <> k.interaction_id)
    ON CONFLICT (signal, key) DO NOTHING;
    GET DIAGNOSTICS v_silences = ROW_COUNT;

    DELETE FROM customer_experience;
    WITH contacts AS (
        SELECT i.customer_id, i.received_at,
               lag(i.received_at) OVER (PARTITION BY i.customer_id ORDER BY i.received_at) AS previous_at
          FROM interactions i
         WHERE i.received_at > p_now - make_interval(days => p_window_days) AND i.received_at <= p_now AND i.direction = 'inbound'
    ), per_customer AS (
        SELECT k.customer_id, count(*)::integer AS contacts,
               floor(extract(epoch FROM p_now - max(k.received_at)) / 86400)::integer AS days_since_contact,
               avg(extract(epoch FROM k.received_at - k.previous_at) / 86400) AS mean_gap_days
          FROM contacts k JOIN customers c ON c.id = k.customer_id
         WHERE c.erased_at IS NULL
         GROUP BY k.customer_id
    ), measured AS (
        SELECT p.*,
               (SELECT count(*) FROM feedback f WHERE f.customer_id = p.customer_id AND f.score IS NOT NULL
                   AND f.received_at > p_now - make_interval(days => p_window_days))::integer AS ratings,
               (SELECT round(avg(CASE WHEN f.type = 'nps' THEN f.score * 10.0 ELSE (f.score - 1) * 25.0 END), 1) FROM feedback f
                 WHERE f.customer_id = p.customer_id AND f.score IS NOT NULL
                   AND f.received_at > p_now - make_interval(days => p_window_days)) AS satisfaction,
               (SELECT count(*) FROM complaints k WHERE k.customer_id = p.customer_id
                   AND k.opened_at > p_now - make_interval(days => p_window_days))::integer AS complaints,
               (SELECT count(*) FROM complaints k WHERE k.customer_id = p.customer_id AND k.status = 'open')::integer AS open_complaints,
               (SELECT count(*) FROM customer_signals s WHERE s.customer_id = p.customer_id AND s.signal = 'repeat_contact'
                   AND s.detected_at > p_now - make_interval(days => p_window_days))::integer AS repeat_contacts
          FROM per_customer p
    ), judged AS (
        SELECT m.*,
               greatest(1, least(5, CASE WHEN m.ratings > 0 THEN 1 + round(m.satisfaction / 25) ELSE 4 END
                                     - least(m.complaints, 2) - CASE WHEN m.repeat_contacts >= 2 THEN 1 ELSE 0 END))::smallint
                   AS experience_score,
               least(1.0, CASE WHEN m.open_complaints > 0 THEN 0.35 ELSE 0 END
                          + CASE WHEN m.complaints > 0 THEN 0.15 ELSE 0 END
                          + CASE WHEN m.satisfaction < 50 THEN 0.25 ELSE 0 END
                          + least(m.repeat_contacts, 2) * 0.10
                          + CASE WHEN m.contacts >= 2 AND m.days_since_contact >= p_silence_days
                                      AND m.days_since_contact >= 2 * m.mean_gap_days THEN 0.30 ELSE 0 END)::numeric(3, 2) AS churn_risk
          FROM measured m
    )
    INSERT INTO customer_experience (customer_id, contacts, ratings, satisfaction, complaints, open_complaints, repeat_contacts,
                                     days_since_contact, experience_score, churn_risk, computed_at)
    SELECT j.customer_id, j.contacts, j.ratings, j.satisfaction, j.complaints, j.open_complaints, j.repeat_contacts,
           j.days_since_contact, j.experience_score, j.churn_risk, p_now
      FROM judged j;
    GET DIAGNOSTICS v_customers = ROW_COUNT;

    WITH raised AS (
        INSERT INTO customer_signals (customer_id, signal, key, score, detail, detected_at)
        SELECT e.customer_id, 'churn_risk', e.customer_id, e.churn_risk,
               jsonb_build_object('open_complaints', e.open_complaints, 'complaints', e.complaints, 'satisfaction', e.satisfaction,
                                  'repeat_contacts', e.repeat_contacts, 'days_since_contact', e.days_since_contact),
               p_now
          FROM customer_experience e
         WHERE e.churn_risk >= p_churn_threshold
        ON CONFLICT (signal, key) DO UPDATE
           SET score = excluded.score, detail = excluded.detail, cleared_at = NULL,
               detected_at = CASE WHEN customer_signals.cleared_at IS NULL THEN customer_signals.detected_at ELSE excluded.detected_at END
        RETURNING 1
    )
    SELECT count(*) INTO v_raised FROM raised;
    UPDATE customer_signals s SET cleared_at = p_now
     WHERE s.signal = 'churn_risk' AND s.cleared_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM customer_experience e WHERE e.customer_id = s.customer_id AND e.churn_risk >= p_churn_threshold);
    GET DIAGNOSTICS v_cleared = ROW_COUNT;
    RETURN jsonb_build_object('repeat_contact', v_repeats, 'silent_after_complaint', v_silences, 'churn_risk', v_raised,
                              'churn_risk_cleared', v_cleared, 'customers', v_customers);
END $$;
