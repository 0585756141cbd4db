import Foundation
import Postgres
import SwitchboardConfig
import SwitchboardCore
import SwitchboardStore
import Testing

@Suite("Implicit feedback: repeat contacts, silence after a complaint, experience and churn risk, and the views over feedback")
struct SignalTests {
    static let day: Int64 = 86_400_000
    /// 2026-06-15T00:00Z.
    static let now: Int64 = 1_781_481_600_000

    /// A known fixture, worked out by hand below.
    struct Fixture {
        let database: TestDatabase
        let connection: Connection
        var a: Int64 = 0, b: Int64 = 0, c: Int64 = 0, d: Int64 = 0
        var repeated: Int64 = 0, complaintA: Int64 = 0, complaintB: Int64 = 0

        init() throws {
            database = try TestDatabase()
            connection = try database.connect()
        }

        func customer(_ name: String, erased: Bool = false) throws -> Int64 {
            try id(
                "INSERT INTO customers (display_name, erased_at) VALUES ($1, CASE WHEN $2::boolean THEN now() END) RETURNING id",
                [.init(name), .init(erased)])
        }

        func id(_ sql: String, _ parameters: [PostgresValue]) throws -> Int64 {
            try #require(Int64(try connection.query(sql, parameters).rows.first?.first.flatMap { $0 } ?? ""))
        }

        func contact(_ customer: Int64, daysAgo: Double, process: String, intent: String?) throws -> Int64 {
            let at = SignalTests.now - Int64(daysAgo * Double(SignalTests.day))
            _ = try connection.query("SELECT swb_ensure_interaction_partition(to_timestamp($1::bigint / 1000.0))", [.init(at)])
            return try id(
                """
                INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, intent, process, priority, content_type)
                VALUES (to_timestamp($1::bigint / 1000.0), $2::bigint, 'gw', gen_random_uuid()::text, 'phone', to_timestamp($1::bigint / 1000.0), $3,
                        $4, 0, 'text/plain')
                RETURNING id
                """, [.init(at), .init(customer), .init(intent), .init(process)])
        }

        func feedback(_ customer: Int64, _ interaction: Int64, daysAgo: Double, type: String, score: Int?, process: String) throws -> Int64 {
            try id(
                """
                INSERT INTO feedback (customer_id, source, type, score, interaction_id, process, channel, received_at)
                VALUES ($1::bigint, 'message', $2, $3::smallint, $4::bigint, $5, 'phone', to_timestamp($6::bigint / 1000.0)) RETURNING id
                """,
                [
                    .init(customer), .init(type), .init(score.map(String.init)), .init(interaction), .init(process),
                    .init(SignalTests.now - Int64(daysAgo * Double(SignalTests.day))),
                ])
        }

        func complaint(_ customer: Int64, _ interaction: Int64, daysAgo: Double, resolvedAfterHours: Double?) throws -> Int64 {
            let feedback = try feedback(customer, interaction, daysAgo: daysAgo, type: "complaint", score: nil, process: "support")
            let opened = SignalTests.now - Int64(daysAgo * Double(SignalTests.day))
            return try id(
                """
                INSERT INTO complaints (customer_id, feedback_id, interaction_id, process, category, status, opened_at, resolved_at, resolution)
                VALUES ($1::bigint, $2::bigint, $3::bigint, 'support', 'billing', CASE WHEN $5::bigint IS NULL THEN 'open' ELSE 'resolved' END,
                        to_timestamp($4::bigint / 1000.0), to_timestamp(($4::bigint + $5::bigint) / 1000.0),
                        CASE WHEN $5::bigint IS NOT NULL THEN 'refunded' END)
                RETURNING id
                """,
                [
                    .init(customer), .init(feedback), .init(interaction), .init(opened),
                    .init(resolvedAfterHours.map { String(Int64($0 * 3_600_000)) }),
                ])
        }

        /// A: a repeat technical contact, a CSAT of 1 and an open complaint (churn risk 0.85).
        /// B: a complaint 80 days ago and silence since (churn risk 0.45). C: happy (CSAT 5, NPS 10).
        /// D: erased, with a repeat contact that is not counted.
        static func make() throws -> Fixture {
            var f = try Fixture()
            f.a = try f.customer("A")
            _ = try f.contact(f.a, daysAgo: 10, process: "support", intent: "technical")
            f.repeated = try f.contact(f.a, daysAgo: 8, process: "support", intent: "technical")
            _ = try f.feedback(f.a, f.repeated, daysAgo: 8, type: "csat", score: 1, process: "support")
            f.complaintA = try f.complaint(f.a, f.repeated, daysAgo: 8, resolvedAfterHours: nil)
            _ = try f.contact(f.a, daysAgo: 1, process: "sales", intent: "order")
            f.b = try f.customer("B")
            _ = try f.contact(f.b, daysAgo: 100, process: "sales", intent: "order")
            _ = try f.contact(f.b, daysAgo: 90, process: "marketing", intent: nil)
            let complained = try f.contact(f.b, daysAgo: 80, process: "support", intent: "complaint")
            f.complaintB = try f.complaint(f.b, complained, daysAgo: 80, resolvedAfterHours: 24)
            f.c = try f.customer("C")
            let bought = try f.contact(f.c, daysAgo: 5, process: "sales", intent: "order")
            _ = try f.feedback(f.c, bought, daysAgo: 5, type: "csat", score: 5, process: "sales")
            let rated = try f.contact(f.c, daysAgo: 4, process: "marketing", intent: "nps")
            _ = try f.feedback(f.c, rated, daysAgo: 4, type: "nps", score: 10, process: "sales")
            f.d = try f.customer("D", erased: true)
            _ = try f.contact(f.d, daysAgo: 3, process: "support", intent: "technical")
            _ = try f.contact(f.d, daysAgo: 2, process: "support", intent: "technical")
            return f
        }
    }

    @Test(
        "signals and experience match the figures worked out by hand; a second pass adds nothing; a resolved complaint and a good score clear the risk"
    )
    func signalsByHand() throws {
        let fixture = try Fixture.make()
        let store = try Store(conninfo: fixture.database.conninfo, owner: "test")
        let found = try store.computeSignals(SignalSettings(), nowMs: Self.now)
        #expect(found == ["repeat_contact": 1, "silent_after_complaint": 1, "churn_risk": 1, "churn_risk_cleared": 0, "customers": 3])
        #expect(
            try fixture.database.value(
                "SELECT string_agg(concat_ws(' ', customer_id, signal, key, process, score), ', ' ORDER BY signal, customer_id) FROM customer_signals"
            )
                == "\(fixture.a) churn_risk \(fixture.a) 0.85, \(fixture.a) repeat_contact \(fixture.repeated) support, "
                + "\(fixture.b) silent_after_complaint \(fixture.complaintB) support")
        func experience(_ id: Int64) throws -> String? {
            try fixture.database.value(
                """
                SELECT concat_ws(' ', contacts, ratings, coalesce(satisfaction::text, '-'), complaints, open_complaints, repeat_contacts,
                                 days_since_contact, experience_score, churn_risk)
                  FROM customer_experience WHERE customer_id = $1
                """, [.init(id)])
        }
        #expect(try experience(fixture.a) == "3 1 0.0 1 1 1 1 1 0.85")
        #expect(try experience(fixture.b) == "3 0 - 1 0 0 80 3 0.45")
        #expect(try experience(fixture.c) == "2 2 100.0 0 0 0 4 5 0.00")
        #expect(try experience(fixture.d) == nil)

        let again = try store.computeSignals(SignalSettings(), nowMs: Self.now + 3_600_000)
        #expect(again == ["repeat_contact": 0, "silent_after_complaint": 0, "churn_risk": 1, "churn_risk_cleared": 0, "customers": 3])
        #expect(try fixture.database.count("SELECT count(*) FROM customer_signals") == 3)

        #expect(try store.resolveComplaint(id: fixture.complaintA, resolution: "refunded", actor: "cli:test"))
        #expect(try !store.resolveComplaint(id: fixture.complaintA, resolution: "twice", actor: "cli:test"))
        let late = try fixture.contact(fixture.a, daysAgo: 0.5, process: "sales", intent: "csat")
        _ = try fixture.feedback(fixture.a, late, daysAgo: 0.5, type: "csat", score: 5, process: "sales")
        let cleared = try store.computeSignals(SignalSettings(), nowMs: Self.now + 7_200_000)
        #expect(cleared["churn_risk_cleared"] == 1)
        // Satisfaction (0 + 100) / 2 = 50 is no longer low: 0.15 (a complaint this year) + 0.10 (a repeat contact).
        #expect(try experience(fixture.a) == "4 2 50.0 1 0 1 0 2 0.25")
        #expect(try fixture.database.value("SELECT (cleared_at IS NOT NULL)::text FROM customer_signals WHERE signal = 'churn_risk'") == "true")
    }

    @Test("the feedback views count the fixture as worked out by hand: dissatisfaction by process, trends, value at risk")
    func viewsByHand() throws {
        let fixture = try Fixture.make()
        let store = try Store(conninfo: fixture.database.conninfo, owner: "test")
        try store.computeSignals(SignalSettings(), nowMs: Self.now)
        #expect(
            try fixture.database.value(
                """
                SELECT string_agg(concat_ws(' ', process, contacts, ratings, low_ratings, coalesce(satisfaction::text, '-'), complaints,
                                            open_complaints, repeat_contacts, dissatisfied_per_100_contacts, rank), ', ' ORDER BY rank, process)
                  FROM analytics_dissatisfaction_by_process
                """) == "support 5 1 1 0.0 2 1 1 80.00 1, marketing 2 0 0 - 0 0 0 0.00 2, sales 3 2 0 100.0 0 0 0 0.00 2")
        #expect(
            try fixture.database.value(
                """
                SELECT string_agg(concat_ws(' ', process, type, responses, coalesce(mean_score::text, '-'), satisfied, dissatisfied,
                                            coalesce(nps::text, '-')), ', ' ORDER BY process, type, day)
                  FROM analytics_feedback_daily
                """)
                == "sales csat 1 5.00 1 0 -, sales nps 1 10.00 1 0 100.0, support complaint 1 - 0 0 -, support complaint 1 - 0 0 -, support csat 1 1.00 0 1 -"
        )
        #expect(
            try fixture.database.value(
                """
                SELECT string_agg(concat_ws(' ', process, category, opened, resolved, still_open, coalesce(median_hours_to_resolve::text, '-')), ', '
                                  ORDER BY day)
                  FROM analytics_complaint_trends
                """) == "support billing 1 1 0 24.00, support billing 1 0 1 -")
        try store.computeValueTiers(ValueTierSettings().plan, nowMs: Self.now)
        #expect(
            try fixture.database.value(
                "SELECT string_agg(concat_ws(' ', customer_id, experience_score, churn_risk, at_risk::text), ', ' ORDER BY customer_id) FROM analytics_value_at_risk"
            ) == "\(fixture.a) 1 0.85 true, \(fixture.b) 3 0.45 false, \(fixture.c) 5 0.00 false")
    }
}
