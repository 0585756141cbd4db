-- RFM value tiers. Over the customers (not erased) with contacts received in the p_window_days
-- before p_now: recency (days since the last contact), frequency (contacts), monetary (the sum of
-- the interactions' attribute p_monetary_key, plus the customer's own attribute of that name, as
-- an import sets it; values that are not numbers count nothing). Each is scored 1 to 5 by the
-- customer's place among the others (1 + floor(5 × percent_rank), ties alike; the most recent
-- scores 5), the three are summed (3 to 15), and the first tier of p_tiers ([{"name", "min_score"}],
-- highest first) whose minimum the sum reaches is the customer's value_tier. Customers outside
-- the window keep theirs. Written to customer_value (the whole table replaced) and customers.
-- Returns the number of customers scored per tier.
CREATE FUNCTION swb_compute_value_tiers(p_now timestamp with time zone, p_window_days integer, p_monetary_key text, p_tiers jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_counts jsonb;
BEGIN
    DELETE FROM customer_value;
    WITH contacts AS (
        SELECT i.customer_id, i.received_at,
               CASE WHEN i.attributes ->> p_monetary_key ~ '^-?[0-9]+(\.[0-9]+)?$' THEN (i.attributes ->> p_monetary_key)::numeric ELSE 0 END AS amount,
               lag(i.received_at) OVER (PARTITION BY i.customer_id ORDER BY i.received_at) AS previous_at
          FROM interactions i
         WHERE i.received_at > p_now - make_interval(days => p_window_days) AND i.received_at <= p_now AND i.direction = 'inbound'
    ), per_customer AS (
        SELECT c.id AS customer_id,
               floor(extract(epoch FROM p_now - max(k.received_at)) / 86400)::integer AS recency_days,
               count(*)::integer AS frequency,
               sum(k.amount) + CASE WHEN c.attributes ->> p_monetary_key ~ '^-?[0-9]+(\.[0-9]+)?$'
                                    THEN (c.attributes ->> p_monetary_key)::numeric ELSE 0 END AS monetary,
               count(*) FILTER (WHERE k.previous_at > k.received_at - interval '7 days')::integer AS repeat_contacts
          FROM contacts k JOIN customers c ON c.id = k.customer_id
         WHERE c.erased_at IS NULL
         GROUP BY c.id
    ), scored AS (
        SELECT p.*,
               least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY p.recency_days DESC)))::smallint AS r,
               least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY p.frequency)))::smallint AS f,
               least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY p.monetary)))::smallint AS m
          FROM per_customer p
    ), tiered AS (
        SELECT s.*, (s.r + s.f + s.m)::smallint AS score,
               coalesce((SELECT t ->> 'name' FROM jsonb_array_elements(p_tiers) WITH ORDINALITY AS x (t, n)
                          WHERE (s.r + s.f + s.m) >= (t ->> 'min_score')::integer ORDER BY x.n LIMIT 1), 'standard') AS tier
          FROM scored s
    ), saved AS (
        INSERT INTO customer_value (customer_id, recency_days, frequency, monetary, recency_score, frequency_score, monetary_score,
                                    score, tier, repeat_contacts, computed_at)
        SELECT t.customer_id, t.recency_days, t.frequency, t.monetary, t.r, t.f, t.m, t.score, t.tier, t.repeat_contacts, p_now
          FROM tiered t
        RETURNING customer_id, tier
    ), updated AS (
        UPDATE customers c SET value_tier = s.tier, updated_at = now()
          FROM saved s WHERE c.id = s.customer_id AND c.value_tier IS DISTINCT FROM s.tier
        RETURNING c.id
    )
    SELECT coalesce(jsonb_object_agg(tier, n), '{}') INTO v_counts
      FROM (SELECT s.tier, count(*) AS n FROM saved s GROUP BY s.tier) x;
    RETURN v_counts;
END $$;
