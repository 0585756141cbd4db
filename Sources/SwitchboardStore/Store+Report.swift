import Postgres

/// The key figures of a period, as `switchboard report` prints and draws them: one table a
/// section, and which of its columns label and measure the section's chart.
public struct Report: Sendable {
    public struct Section: Sendable {
        public var title: String
        public var columns: [String]
        public var rows: [[String]]
        /// The columns the chart draws: those that label a bar, and its number.
        public var chartLabels: [Int]
        public var chartValue: Int
    }

    public var fromMs: Int64
    public var toMs: Int64
    public var sections: [Section]
}

extension Store {
    /// The report of interactions received from `fromMs` (inclusive) to `toMs` (exclusive).
    public func report(fromMs: Int64, toMs: Int64) throws -> Report {
        let range: [PostgresValue] = [.init(fromMs), .init(toMs)]
        func section(_ title: String, _ columns: [String], labels: [Int], value: Int, _ sql: String, _ parameters: [PostgresValue]) throws
            -> Report.Section
        {
            let rows = try connection.query(sql, parameters).rows.map { $0.map { $0 ?? "" } }
            return Report.Section(title: title, columns: columns, rows: rows, chartLabels: labels, chartValue: value)
        }
        var sections: [Report.Section] = []
        sections.append(
            try section(
                "Contacts per day", ["day", "contacts", "customers"], labels: [0], value: 1,
                """
                SELECT to_char(date_trunc('day', received_at), 'YYYY-MM-DD'), count(*), count(DISTINCT customer_id)
                  FROM interactions WHERE received_at >= to_timestamp($1::bigint / 1000.0) AND received_at < to_timestamp($2::bigint / 1000.0)
                 GROUP BY 1 ORDER BY 1
                """, range))
        sections.append(
            try section(
                "Contacts per channel and process", ["channel", "process", "contacts"], labels: [0, 1], value: 2,
                """
                SELECT channel, process, count(*)
                  FROM interactions WHERE received_at >= to_timestamp($1::bigint / 1000.0) AND received_at < to_timestamp($2::bigint / 1000.0)
                 GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
                """, range))
        sections.append(
            try section(
                "Service level per queue",
                ["queue", "deliveries", "done", "within target %", "answered in target %", "median first response s", "open"], labels: [0], value: 3,
                """
                SELECT queue, count(*), count(*) FILTER (WHERE state = 'done'),
                       coalesce(round(100.0 * count(*) FILTER (WHERE resolved_within_target)
                                      / nullif(count(*) FILTER (WHERE state = 'done'), 0), 1)::text, '-'),
                       coalesce(round(100.0 * count(*) FILTER (WHERE answered_within_target)
                                      / nullif(count(*) FILTER (WHERE answered_within_target IS NOT NULL), 0), 1)::text, '-'),
                       coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_seconds))::numeric, 1)::text, '-'),
                       count(*) FILTER (WHERE state IN ('pending', 'offered', 'in_progress'))
                  FROM analytics_delivery_timeline
                 WHERE created_at >= to_timestamp($1::bigint / 1000.0) AND created_at < to_timestamp($2::bigint / 1000.0)
                 GROUP BY 1 ORDER BY 1
                """, range))
        sections.append(
            try section(
                "Work per worker", ["worker", "queue", "done", "within target %", "median handle s"], labels: [0, 1], value: 2,
                """
                SELECT worker, queue, count(*),
                       round(100.0 * count(*) FILTER (WHERE resolved_within_target) / count(*), 1),
                       coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY handle_seconds))::numeric, 1)::text, '-')
                  FROM analytics_delivery_timeline
                 WHERE state = 'done' AND worker IS NOT NULL
                   AND created_at >= to_timestamp($1::bigint / 1000.0) AND created_at < to_timestamp($2::bigint / 1000.0)
                 GROUP BY 1, 2 ORDER BY 3 DESC, 1
                """, range))
        sections.append(
            try section(
                "Customers by value tier", ["tier", "kind", "customers", "share %", "mean score"], labels: [0, 1], value: 2,
                """
                SELECT value_tier, kind, customers, share_percent, coalesce(mean_score::text, '-')
                  FROM analytics_value_distribution ORDER BY customers DESC, value_tier, kind
                """, []))
        sections.append(
            try section(
                "Journeys before a sale", ["channels before", "sales"], labels: [0], value: 1,
                """
                SELECT CASE WHEN touchpoints = 0 THEN '(first contact)' ELSE array_to_string(journey, ' > ') END, count(*)
                  FROM analytics_touchpoint_journeys
                 WHERE process = 'sales' AND outcome = 'sold'
                   AND received_at >= to_timestamp($1::bigint / 1000.0) AND received_at < to_timestamp($2::bigint / 1000.0)
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10
                """, range))
        sections.append(
            try section(
                "Feedback per process", ["process", "ratings", "mean CSAT", "NPS", "dissatisfied %", "returns"], labels: [0], value: 4,
                """
                SELECT process, count(*) FILTER (WHERE score IS NOT NULL),
                       coalesce(round(avg(score) FILTER (WHERE type = 'csat'), 2)::text, '-'),
                       coalesce(round(100.0 * (count(*) FILTER (WHERE type = 'nps' AND score >= 9) - count(*) FILTER (WHERE type = 'nps' AND score <= 6))
                                      / nullif(count(*) FILTER (WHERE type = 'nps'), 0), 1)::text, '-'),
                       coalesce(round(100.0 * count(*) FILTER (WHERE (type = 'nps' AND score <= 6) OR (type <> 'nps' AND score <= 2))
                                      / nullif(count(*) FILTER (WHERE score IS NOT NULL), 0), 1)::text, '0'),
                       count(*) FILTER (WHERE type = 'return')
                  FROM feedback WHERE received_at >= to_timestamp($1::bigint / 1000.0) AND received_at < to_timestamp($2::bigint / 1000.0)
                 GROUP BY 1 ORDER BY 1
                """, range))
        sections.append(
            try section(
                "Complaints per process and category", ["process", "category", "opened", "resolved", "open", "median hours to resolve"],
                labels: [0, 1], value: 2,
                """
                SELECT process, category, count(*), count(*) FILTER (WHERE status = 'resolved'), count(*) FILTER (WHERE status = 'open'),
                       coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at) / 3600))::numeric, 1)::text,
                                '-')
                  FROM complaints WHERE opened_at >= to_timestamp($1::bigint / 1000.0) AND opened_at < to_timestamp($2::bigint / 1000.0)
                 GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
                """, range))
        sections.append(
            try section(
                "Dissatisfaction by process", ["process", "contacts", "low ratings", "complaints", "repeat contacts", "per 100 contacts"],
                labels: [0], value: 5,
                """
                WITH contacts AS (
                    SELECT process, count(*) AS n FROM interactions
                     WHERE direction = 'inbound' AND received_at >= to_timestamp($1::bigint / 1000.0) AND received_at < to_timestamp($2::bigint / 1000.0)
                     GROUP BY 1
                ), low AS (
                    SELECT process, count(*) AS n FROM feedback
                     WHERE ((type = 'nps' AND score <= 6) OR (type <> 'nps' AND score <= 2))
                       AND received_at >= to_timestamp($1::bigint / 1000.0) AND received_at < to_timestamp($2::bigint / 1000.0)
                     GROUP BY 1
                ), complained AS (
                    SELECT process, count(*) AS n FROM complaints
                     WHERE opened_at >= to_timestamp($1::bigint / 1000.0) AND opened_at < to_timestamp($2::bigint / 1000.0) GROUP BY 1
                ), repeated AS (
                    SELECT s.process, count(*) AS n FROM customer_signals s JOIN interactions i ON i.id = s.key
                     WHERE s.signal = 'repeat_contact'
                       AND i.received_at >= to_timestamp($1::bigint / 1000.0) AND i.received_at < to_timestamp($2::bigint / 1000.0)
                     GROUP BY 1
                )
                SELECT c.process, c.n, coalesce(l.n, 0), coalesce(k.n, 0), coalesce(r.n, 0),
                       round(100.0 * (coalesce(l.n, 0) + coalesce(k.n, 0) + coalesce(r.n, 0)) / c.n, 1)
                  FROM contacts c
                  LEFT JOIN low l ON l.process = c.process
                  LEFT JOIN complained k ON k.process = c.process
                  LEFT JOIN repeated r ON r.process = c.process
                 ORDER BY 6 DESC, 1
                """, range))
        sections.append(
            try section(
                "Journeys before a complaint", ["channels before", "complaints"], labels: [0], value: 1,
                """
                SELECT CASE WHEN touchpoints = 0 THEN '(first contact)' ELSE array_to_string(journey, ' > ') END, count(*)
                  FROM analytics_touchpoint_journeys
                 WHERE intent = 'complaint'
                   AND received_at >= to_timestamp($1::bigint / 1000.0) AND received_at < to_timestamp($2::bigint / 1000.0)
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10
                """, range))
        sections.append(
            try section(
                "Value at risk (as last computed)", ["tier", "customers", "at risk", "mean experience", "mean churn risk", "money at risk"],
                labels: [0], value: 2,
                """
                SELECT value_tier, count(*), count(*) FILTER (WHERE at_risk), round(avg(experience_score), 2), round(avg(churn_risk), 2),
                       coalesce(sum(monetary) FILTER (WHERE at_risk), 0)
                  FROM analytics_value_at_risk
                 GROUP BY 1 ORDER BY min(value_score) DESC, 1
                """, []))
        return Report(fromMs: fromMs, toMs: toMs, sections: sections)
    }
}
