import Foundation
import Postgres
import SwitchboardClient
import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import Testing

@Suite("Erasure and retention: a person's data removed, every report's totals unchanged")
struct ErasureTests {
    /// The totals an analyst reads from each view, as one line.
    static func totals(_ database: TestDatabase) throws -> String? {
        try database.value(
            """
            SELECT concat_ws(' ', (SELECT sum(interactions) FROM analytics_volume_daily), (SELECT sum(customers) FROM analytics_volume_daily),
                             (SELECT sum(deliveries) FROM analytics_service_level), (SELECT count(*) FROM analytics_delivery_timeline),
                             (SELECT count(*) FROM analytics_customer_activity), (SELECT sum(contacts) FROM analytics_customer_activity),
                             (SELECT sum(offered) FROM analytics_worker_load), (SELECT sum(responses) FROM analytics_feedback_daily),
                             (SELECT sum(opened) FROM analytics_complaint_trends), (SELECT sum(contacts) FROM analytics_dissatisfaction_by_process),
                             (SELECT sum(complaints) FROM analytics_dissatisfaction_by_process))
            """)
    }

    @Test(
        "customer erase by identity removes the person's data and identities, ends its open work, keeps every view's totals, and no later message links to it"
    )
    func eraseByIdentity() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        var hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail", endpoint: hub.endpoints.gateway)
        let sara = IdentityHints(phone: "+98 912 345 6789", email: "sara@example.com", name: "Sara Ahmadi")
        let first = try gateway.publish(Messages.publish("a-1", "My router at Vali-Asr St. 12 is broken", hints: sara, process: .support))
        let open = try gateway.publish(Messages.publish("a-2", "Please call me back on my mobile", hints: sara, process: .sales))
        _ = try gateway.publish(Messages.publish("a-3", "typo in number", hints: IdentityHints(phone: "0912 call", email: "sara@example.com")))
        let other = try gateway.publish(Messages.publish("b-1", "Hello", hints: IdentityHints(email: "omid@example.com"), process: .support))
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        // What Sara said is hers too: a survey's answers and a complaint's resolution go with her.
        let feedback = [
            Feedback(kind: .survey, score: 2, answers: ["comment": .string("Sara says the technician was rude")]),
            Feedback(kind: .complaint, category: "rude_staff"), nil,
        ]
        for said in feedback {
            guard let task = try worker.nextTask(timeoutMs: 2000) else { break }
            // A reply waiting for a gateway (none said HELLO) is hers too.
            try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r", body: Array("Dear customer, about your router".utf8)))
            try worker.done(
                Done(
                    deliveryID: task.deliveryID, outcome: "resolved", notes: "called Sara at home",
                    resolution: said?.kind == .complaint ? "Apologized to Sara at home" : nil, feedback: said))
        }
        #expect(try eventually { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 3 })
        worker.close()
        let before = try Self.totals(database)

        let run = try runProgram(binary, ["customer", "erase", "--database", database.conninfo, "--actor", "dpo", "email:Sara@Example.COM"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("customer \(first.customerID) erased"), "\(run.output)")
        #expect(try database.count("SELECT count(*) FROM outbound_messages WHERE customer_id = $1", [.init(first.customerID)]) == 2)
        #expect(
            try database.count(
                "SELECT count(*) FROM outbound_messages WHERE customer_id = $1 AND (state <> 'cancelled' OR body_text IS NOT NULL)",
                [.init(first.customerID)]) == 0, "an erased customer's reply kept its body or would still be sent")
        #expect(
            try database.count("SELECT count(*) FROM outbound_messages WHERE customer_id = $1 AND state = 'pending'", [.init(other.customerID)]) == 1)
        #expect(run.output.contains(#""identities": 2"#) && run.output.contains(#""open_deliveries_closed": 1"#), "\(run.output)")

        let id = PostgresValue(first.customerID)
        #expect(
            try database.value(
                "SELECT concat_ws('|', coalesce(display_name, '-'), erased_at IS NOT NULL, anonymous, kind, value_tier) FROM customers WHERE id = $1",
                [id])
                == "-|t|t|consumer|standard")
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE customer_id = $1", [id]) == 0)
        #expect(try database.count("SELECT count(*) FROM customer_unverified_identities WHERE customer_id = $1", [id]) == 0)
        #expect(
            try database.count("SELECT count(*) FROM interactions WHERE customer_id = $1 AND (body_text IS NOT NULL OR body_bytes IS NOT NULL)", [id])
                == 0)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE customer_id = $1", [id]) == 5)  // three messages, two replies
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE customer_id = $1 AND notes IS NOT NULL", [id]) == 0)
        #expect(try database.count("SELECT count(*) FROM feedback WHERE customer_id = $1", [id]) == 2)
        #expect(try database.count("SELECT count(*) FROM feedback WHERE customer_id = $1 AND answers IS NOT NULL", [id]) == 0)
        #expect(try database.count("SELECT count(*) FROM complaints WHERE customer_id = $1 AND resolution IS NOT NULL", [id]) == 0)
        #expect(
            try database.value(
                "SELECT d.state || '/' || d.outcome FROM deliveries d JOIN interactions i ON i.id = d.interaction_id WHERE i.message_id = 'a-2'")
                == "failed/erased")
        #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'failed' AND detail = 'customer erased'") == 1)
        #expect(try database.value("SELECT actor || ':' || action FROM customer_audit WHERE customer_id = $1", [id]) == "dpo:erased")
        // The other customer is untouched.
        #expect(
            try database.count("SELECT count(*) FROM deliveries WHERE customer_id = $1 AND notes = 'called Sara at home'", [.init(other.customerID)])
                == 1)
        // Every view counts what it counted.
        #expect(try Self.totals(database) == before)

        // A hub that held the open task in memory may offer it once more, but its write is refused:
        // the delivery stays failed, and no hub reading the database offers it again.
        let seller = try WorkerClient(registration: Ready(workerID: "seller", queues: ["sales"], capacity: 1), endpoint: hub.endpoints.worker)
        try seller.ready()
        _ = try seller.nextTask(timeoutMs: 1000)
        usleep(300_000)
        #expect(try database.value("SELECT state FROM deliveries WHERE interaction_id = $1", [.init(open.interactionID)]) == "failed")
        seller.close()
        hub.shutdown()
        hub = try RunningHub(RunningHub.config(database))
        let sellerAgain = try WorkerClient(registration: Ready(workerID: "seller", queues: ["sales"], capacity: 1), endpoint: hub.endpoints.worker)
        try sellerAgain.ready()
        #expect(try sellerAgain.nextTask(timeoutMs: 1500) == nil)
        let gatewayAgain = try GatewayClient(name: "mail", endpoint: hub.endpoints.gateway)

        // She writes again: a new customer, and nothing links to the erased one.
        let again = try gatewayAgain.publish(Messages.publish("a-4", "Hello again", hints: sara))
        #expect(again.customerID != first.customerID)
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE customer_id = $1", [id]) == 0)

        let twice = try runProgram(binary, ["customer", "erase", "--database", database.conninfo, "\(first.customerID)"])
        #expect(twice.output.contains("already_erased"), "\(twice.output)")
        let unknown = try runProgram(binary, ["customer", "erase", "--database", database.conninfo, "email:nobody@example.com"])
        #expect(unknown.status != 0)
        #expect(unknown.output.contains("no customer has email nobody@example.com"), "\(unknown.output)")
    }

    @Test("retention removes old bodies and drops the partitions of months past it, and is read from the configuration")
    func retention() throws {
        let database = try TestDatabase()
        let store = try Store(conninfo: database.conninfo, owner: "test")
        let version = try store.registerRouting(["rules": "retention"])
        let day: Int64 = 86_400_000
        // 2026-06-15T00:00Z, and a message on the 10th of this month and each of the four before it.
        let now: Int64 = 1_781_481_600_000
        let months: [(String, Int64)] = [
            ("2026_02", now - 125 * day), ("2026_03", now - 97 * day), ("2026_04", now - 66 * day), ("2026_05", now - 36 * day),
            ("2026_06", now - 5 * day),
        ]
        for (index, (_, at)) in months.enumerated() {
            try store.ensurePartitions(nowMs: at)
            let publish = Messages.publish("r-\(index)", "message \(index)", hints: IdentityHints(email: "r\(index)@example.com"))
            _ = try store.ingest(
                [
                    IngestRecord(
                        gateway: "gw", publish: publish, identities: [NormalizedIdentity(kind: .email, value: "r\(index)@example.com")],
                        route: StoreIngestTests.route, routingVersion: version)
                ], receivedAtMs: at)
        }
        let result = try store.applyRetention(Retention(bodyDays: 45, months: 2), nowMs: now)
        #expect(result.partitionsDropped == ["interactions_2026_02", "interactions_2026_03"])
        #expect(result.bodiesRemoved == 1)
        #expect(
            try database.value(
                "SELECT string_agg(to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM') || '=' || coalesce(body_text, '-'), ' ' ORDER BY received_at) FROM interactions"
            ) == "2026-04=- 2026-05=message 3 2026-06=message 4")
        // A second pass finds nothing more to do.
        #expect(try store.applyRetention(Retention(bodyDays: 45, months: 2), nowMs: now) == RetentionResult(bodiesRemoved: 0, partitionsDropped: []))
        #expect(try store.applyRetention(Retention(), nowMs: now) == RetentionResult(bodiesRemoved: 0, partitionsDropped: []))

        let config = try HubConfig.parse(yaml: "retention_body_days: 730\nretention_months: 36\n")
        #expect(config.retentionBodyDays == 730 && config.retentionMonths == 36)
        #expect(throws: ConfigError.self) { try HubConfig.parse(yaml: "retention_months: 0\n") }
    }
}
