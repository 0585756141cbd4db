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
        return Report(fromMs: fromMs, toMs: toMs, sections: sections)
    }
}
