import Foundation
import Testing

@Suite("make run's demo shows the contact center: languages, skills, ACCEPT, REJECT and transfers")
struct DemoTests {
    @Test("the demo's workers get only tasks in their languages, support accepts and transfers to field service, nothing is lost")
    func demoUsesRouting() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let demo = try runProgram(
            binary,
            ["demo", "--gateway-endpoint", hub.endpoints.gateway, "--worker-endpoint", hub.endpoints.worker, "--rate", "150", "--seconds", "4"])
        #expect(demo.status == 0, "\(demo.output)")
        #expect(demo.output.contains("transferred"))
        // Every queue's two workers read en+fa and en+ru: a Russian task never went to the first, nor a Persian one to the second.
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE language = 'ru' AND worker LIKE 'demo-%-1'") == 0)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE language = 'fa' AND worker LIKE 'demo-%-2'") == 0)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE language IN ('ru', 'fa') AND state = 'done'") > 0)
        // SMS and fax come without a language: detected from the letters.
        #expect(
            try database.count(
                """
                SELECT count(*) FROM deliveries d JOIN interactions i ON i.id = d.interaction_id
                 WHERE i.channel IN ('sms', 'fax') AND i.language IS NULL AND d.language IS NOT NULL
                """) > 0)
        #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'accepted' AND worker LIKE 'demo-support-%'") > 0)
        #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'rejected' AND worker LIKE 'demo-marketing-%'") > 0)
        let transferred = try database.count(
            """
            SELECT count(*) FROM deliveries a JOIN deliveries b ON b.id = a.transferred_to
             WHERE a.state = 'transferred' AND a.queue = 'support' AND b.queue = 'field_service' AND b.transferred_from = a.id
            """)
        #expect(transferred > 0)
        // Every stored message has its delivery, none lost: each is done, transferred, or still on its way.
        #expect(
            try database.count(
                "SELECT count(*) FROM interactions i WHERE i.direction = 'inbound' AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.interaction_id = i.id)"
            ) == 0)
        // A third of the handled contacts got a reply, which the demo gateways sent back.
        #expect(try database.count("SELECT count(*) FROM interactions WHERE direction = 'outbound' AND intent = 'reply'") > 0)
        #expect(try eventually { try database.count("SELECT count(*) FROM outbound_messages WHERE state = 'sent'") > 0 })
        // Partners and order values, so that value tiers and the report have something to show.
        #expect(try database.count("SELECT count(*) FROM customers WHERE kind = 'partner'") > 0)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE attributes ? 'order_value'") > 0)
        // Feedback of every kind through the channels, complaints resolved by the workers and some left open.
        #expect(try database.count("SELECT count(DISTINCT type) FROM feedback WHERE source = 'message'") == 5)
        #expect(try database.count("SELECT count(*) FROM complaints WHERE status = 'resolved' AND resolved_by LIKE 'demo-support-%'") > 0)
        #expect(try database.count("SELECT count(*) FROM feedback WHERE source = 'worker'") > 0)
    }
}
