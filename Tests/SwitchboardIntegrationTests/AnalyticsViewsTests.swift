import Foundation
import SwitchboardClient
import SwitchboardProtocol
import SwitchboardStore
import Testing

@Suite("Views an analyst finds with \\dv: journeys, contact history, service level per worker, value distribution")
struct AnalyticsViewsTests {
    @Test("on a small known fixture each view gives the figures worked out by hand")
    func fixture() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "omni", endpoint: hub.endpoints.gateway)
        let sara = IdentityHints(email: "sara@example.com")
        // Sara looks on the web, asks in chat, then buys on the phone; Omid complains once.
        _ = try gateway.publish(Messages.publish("j-1", "Which plan is best?", channel: "web", hints: sara, process: .sales))
        _ = try gateway.publish(Messages.publish("j-2", "Is the price with tax?", channel: "chat", hints: sara, process: .sales))
        let sale = try gateway.publish(Messages.publish("j-3", "I take the family plan", channel: "phone", hints: sara, process: .sales))
        _ = try gateway.publish(
            Messages.publish("j-4", "Nobody came", channel: "email", hints: IdentityHints(email: "omid@example.com"), process: .support))
        let seller = try WorkerClient(registration: Ready(workerID: "seller", queues: ["sales"], capacity: 1), endpoint: hub.endpoints.worker)
        let agent = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try seller.ready()
        try agent.ready()
        for _ in 0..<3 {
            let task = try #require(try seller.nextTask())
            try seller.done(task.deliveryID, outcome: task.interaction["message_id"] == "j-3" ? "sold" : "answered")
        }
        let complaint = try #require(try agent.nextTask())
        try agent.done(complaint.deliveryID, outcome: "apologised")
        #expect(try eventually { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 4 })

        #expect(
            try database.value(
                "SELECT concat_ws(' ', channel, outcome, array_to_string(journey, '>'), touchpoints) FROM analytics_touchpoint_journeys WHERE interaction_id = $1",
                [.init(sale.interactionID)]) == "phone sold web>chat 2")
        #expect(
            try database.value(
                "SELECT string_agg(channel || ':' || outcome, ' ' ORDER BY received_at) FROM analytics_contact_history WHERE customer_id = $1",
                [.init(sale.customerID)]) == "web:answered chat:answered phone:sold")
        #expect(
            try database.value(
                "SELECT string_agg(worker || '/' || queue || '=' || done || '@' || attainment_percent, ' ' ORDER BY worker) FROM analytics_service_level_by_worker"
            )
                == "agent/support=1@100.00 seller/sales=3@100.00")
        let store = try Store(conninfo: database.conninfo, owner: "test")
        try store.computeValueTiers(
            ValueTierPlan(windowDays: 30, monetaryAttribute: "order_value", tiers: [("loyal", 7), ("occasional", 3)], everyHours: 24),
            nowMs: Int64(Date().timeIntervalSince1970 * 1000) + 1000)
        // Both wrote today (recency tied, 1 each) and spent nothing (1 each); Sara's three contacts score 5: 7, loyal; Omid 3, occasional.
        #expect(
            try database.value(
                "SELECT string_agg(value_tier || ':' || customers || ':' || share_percent || ':' || mean_score, ' ' ORDER BY value_tier) FROM analytics_value_distribution"
            )
                == "loyal:1:50.00:7.00 occasional:1:50.00:3.00")
    }

    @Test("every column of every analytics view is named in the view's section of docs/analytics.md")
    func everyColumnDocumented() throws {
        let database = try TestDatabase()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let page = try String(contentsOf: root.appendingPathComponent("docs/analytics.md"), encoding: .utf8)
        let rows = try database.connect().query(
            """
            SELECT table_name, string_agg(column_name, ' ' ORDER BY ordinal_position) FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name LIKE 'analytics\\_%' GROUP BY table_name ORDER BY table_name
            """
        ).rows
        #expect(rows.count >= 13)
        for row in rows {
            let view = row[0] ?? ""
            // The view's section: from its heading to the next heading.
            guard let heading = page.range(of: "### `\(view)`") else {
                Issue.record("\(view) has no section in docs/analytics.md")
                continue
            }
            let rest = page[heading.upperBound...]
            let section = rest[..<(rest.range(of: "\n#")?.lowerBound ?? rest.endIndex)]
            for column in (row[1] ?? "").split(separator: " ") where !section.contains("`\(column)`") {
                Issue.record("\(view).\(column) is not documented in its section of docs/analytics.md")
            }
        }
    }
}
