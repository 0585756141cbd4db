import Foundation
import Postgres
import SwitchboardConfig
import SwitchboardHub
import SwitchboardStore
import Testing

@Suite("RFM value tiers: recency, frequency and money scored among the customers, tiers that routing reads")
struct ValueTierTests {
    static let day: Int64 = 86_400_000
    /// 2026-06-15T00:00Z.
    static let now: Int64 = 1_781_481_600_000

    /// A customer with contacts so many days before `now`, each with an order value if given.
    func customer(
        _ database: TestDatabase, _ name: String, contacts: [(daysAgo: Int64, orderValue: Int?)], attributes: String = "{}", erased: Bool = false
    )
        throws -> Int64
    {
        let connection = try database.connect()
        let id = try #require(
            try connection.query(
                "INSERT INTO customers (display_name, attributes, erased_at) VALUES ($1, $2::jsonb, CASE WHEN $3::boolean THEN now() END) RETURNING id",
                [.init(name), .init(attributes), .init(erased)]
            ).rows.first?.first ?? nil)
        for (index, contact) in contacts.enumerated() {
            let at = Self.now - contact.daysAgo * Self.day
            _ = try connection.query("SELECT swb_ensure_interaction_partition(to_timestamp($1::bigint / 1000.0))", [.init(at)])
            _ = try connection.query(
                """
                INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, process, priority, content_type, attributes)
                VALUES (to_timestamp($1::bigint / 1000.0), $2::bigint, 'shop', $3, 'web', to_timestamp($1::bigint / 1000.0), 'sales', 0, 'text/plain',
                        CASE WHEN $4::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('order_value', $4::text) END)
                """, [.init(at), .init(id), .init("\(name)-\(index)"), .init(contact.orderValue.map(String.init))])
        }
        return Int64(id)!
    }

    @Test("a generated set of customers gets the tiers worked out by hand; those outside the window or erased keep theirs; it runs once a period")
    func tiersByHand() throws {
        let database = try TestDatabase()
        let a = try customer(database, "A", contacts: [(60, 100), (40, 100), (20, 200), (3, 200), (2, 200), (1, 200)])
        let b = try customer(database, "B", contacts: [(50, 100), (12, 100), (10, 100)])
        let c = try customer(database, "C", contacts: [(100, nil)])
        let d = try customer(database, "D", contacts: [(31, nil), (30, nil)], attributes: #"{"order_value": "5000"}"#)
        let e = try customer(database, "E", contacts: [(200, 50)])
        let f = try customer(database, "F", contacts: [(400, 900)])
        let g = try customer(database, "G", contacts: [(5, 900)], erased: true)
        let store = try Store(conninfo: database.conninfo, owner: "test")
        let plan = ValueTierSettings().plan
        let counts = try store.computeValueTiers(plan, nowMs: Self.now)
        #expect(counts == ["platinum": 1, "gold": 2, "bronze": 2])
        // By hand: recency scores E1 C2 D3 B4 A5; frequency C1 E1 (tied) D3 B4 A5; money C1 E2 B3 A4 D5.
        func row(_ id: Int64) throws -> String? {
            try database.value(
                """
                SELECT concat_ws(' ', v.recency_days, v.frequency, v.monetary, v.recency_score, v.frequency_score, v.monetary_score, v.score, v.tier,
                                 v.repeat_contacts, c.value_tier)
                  FROM customer_value v JOIN customers c ON c.id = v.customer_id WHERE v.customer_id = $1
                """, [.init(id)])
        }
        #expect(try row(a) == "1 6 1000 5 5 4 14 platinum 2 platinum")
        #expect(try row(b) == "10 3 300 4 4 3 11 gold 1 gold")
        #expect(try row(c) == "100 1 0 2 1 1 4 bronze 0 bronze")
        #expect(try row(d) == "30 2 5000 3 3 5 11 gold 1 gold")
        #expect(try row(e) == "200 1 50 1 1 2 4 bronze 0 bronze")
        #expect(try row(f) == nil)
        #expect(try row(g) == nil)
        #expect(
            try database.value("SELECT string_agg(value_tier, ',' ORDER BY id) FROM customers WHERE id IN ($1, $2)", [.init(f), .init(g)])
                == "standard,standard")
        // Hubs compute once a period: not again within every_hours, again after it.
        #expect(try store.computeValueTiers(plan, nowMs: Self.now + 3_600_000, onlyIfDue: true) == nil)
        #expect(try store.computeValueTiers(plan, nowMs: Self.now + 25 * 3_600_000, onlyIfDue: true) != nil)
    }

    @Test("value_tiers is read from the configuration, its tiers highest first")
    func settings() throws {
        let config = try HubConfig.parse(
            yaml:
                "value_tiers:\n  window_days: 180\n  monetary_attribute: basket\n  tiers: [{name: vip, min_score: 12}, {name: regular, min_score: 3}]\n"
        )
        #expect(config.valueTiers?.windowDays == 180)
        #expect(config.valueTiers?.monetaryAttribute == "basket")
        #expect(config.valueTiers?.tiers.map(\.name) == ["vip", "regular"])
        #expect(config.valueTiers?.everyHours == 24)
        #expect {
            try HubConfig.parse(yaml: "value_tiers:\n  tiers: [{name: a, min_score: 3}, {name: b, min_score: 9}]\n")
        } throws: { error in
            "\(error)".contains("tiers must be listed highest min_score first")
        }
    }
}
