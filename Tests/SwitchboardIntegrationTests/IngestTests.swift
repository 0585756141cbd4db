import Foundation
import Postgres
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Testing

@Suite("Durable ingest, end to end")
struct IngestTests {
    @Test("a message is committed before its ACK, routed, offered with customer context, and its DONE is stored")
    func publishAckTaskDone() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "ivr-1", endpoint: hub.endpoints.gateway)
        let ack = try gateway.publish(
            Messages.publish("m-1", "کولر خراب است، تکنسین بفرستید", channel: "phone", hints: IdentityHints(phone: "۰۹۱۲ ۳۴۵ ۶۷۸۹", name: "Sara")))
        #expect(ack.queue == "field_service")
        #expect(!ack.duplicate)
        // ACK means committed: the rows are visible to any other connection now.
        #expect(
            try database.count(
                "SELECT count(*) FROM interactions WHERE id = $1 AND gateway = 'ivr-1' AND message_id = 'm-1'", [.init(ack.interactionID)]) == 1)
        #expect(try database.value("SELECT value FROM customer_identities WHERE customer_id = $1", [.init(ack.customerID)]) == "+989123456789")
        #expect(try database.value("SELECT state FROM deliveries WHERE interaction_id = $1", [.init(ack.interactionID)]) == "pending")

        let worker = try WorkerClient(registration: Ready(workerID: "fs-1", queues: ["field_service"], capacity: 2), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        #expect(task.queue == "field_service")
        #expect(task.attempt == 1)
        #expect(task.interaction["id"] == .integer(ack.interactionID))
        #expect(task.customer["id"] == .integer(ack.customerID))
        #expect(task.customer["display_name"] == "Sara")
        #expect(task.customer["identities"] == [["kind": "phone", "value": "+989123456789"]])
        #expect(String(decoding: task.body, as: UTF8.self) == "کولر خراب است، تکنسین بفرستید")

        try worker.done(task.deliveryID, outcome: "technician_booked", notes: "Friday 10:00")
        #expect(try worker.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done")))
        let row = try database.connect().query(
            "SELECT state, outcome, notes, worker, attempts FROM deliveries WHERE id = $1", [.init(task.deliveryID)]
        ).rows[0]
        #expect(row == ["done", "technician_booked", "Friday 10:00", "fs-1", "1"])
    }

    @Test("a task's context lists its own interaction first and the contacts before it, not those stored after, though read at the offer")
    func contextAsOfTheOffer() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail-1", endpoint: hub.endpoints.gateway)
        let first = try gateway.publish(Messages.publish("c-1", process: .support))
        let second = try gateway.publish(Messages.publish("c-2", "A second note about the same problem", process: .support))
        #expect(first.customerID == second.customerID)
        let worker = try WorkerClient(registration: Ready(workerID: "sup-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        #expect(task.interaction["id"] == .integer(first.interactionID))
        #expect(Self.recentIDs(task.customer) == [first.interactionID])
        try worker.done(task.deliveryID, outcome: "handled")
        let next = try #require(try worker.nextTask())
        #expect(Self.recentOrder(next.customer) == [second.interactionID, first.interactionID])
    }

    @Test("a task offered after five newer contacts of its customer still lists its own interaction first; times are Unix ms; no member is null")
    func ownInteractionInRecent() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail-1", endpoint: hub.endpoints.gateway)
        let acks = try (0..<7).map { try gateway.publish(Messages.publish("backlog-\($0)", "message \($0)", process: .support)) }
        let worker = try WorkerClient(registration: Ready(workerID: "sup-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        for (index, ack) in acks.enumerated() {
            let task = try #require(try worker.nextTask())
            #expect(task.interaction["id"] == .integer(ack.interactionID))
            let recent = Self.recentOrder(task.customer)
            #expect(recent.first == ack.interactionID, "task \(index): its own interaction is not first in \(recent)")
            #expect(recent == Array(acks[...index].reversed().prefix(5).map(\.interactionID)))
            guard case .array(let entries)? = task.customer["recent"] else { continue }
            for entry in entries {
                guard case .integer(let receivedAt)? = entry["received_at"] else {
                    Issue.record("recent[].received_at is not Unix milliseconds: \(entry)")
                    continue
                }
                #expect(receivedAt > 1_700_000_000_000)
            }
            #expect(!Self.containsNull(task.customer), "\(task.customer)")
            #expect(!Self.containsNull(task.interaction), "\(task.interaction)")
            try worker.done(task.deliveryID, outcome: "handled")
        }
    }

    static func containsNull(_ value: JSONValue) -> Bool {
        switch value {
        case .null: true
        case .array(let items): items.contains(where: containsNull)
        case .object(let members): members.contains { containsNull($0.value) }
        default: false
        }
    }

    @Test("a worker free as the message arrives gets a TASK whose context was read in the message's own transaction")
    func contextReadWithTheBatch() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        let worker = try WorkerClient(registration: Ready(workerID: "sup-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let gateway = try GatewayClient(name: "mail-1", endpoint: hub.endpoints.gateway)
        let first = try gateway.publish(Messages.publish("f-1", hints: IdentityHints(email: "Lena@Example.com", name: "Lena"), process: .support))
        let task = try #require(try worker.nextTask())
        #expect(task.interaction["id"] == .integer(first.interactionID))
        #expect(task.customer["id"] == .integer(first.customerID))
        #expect(task.customer["display_name"] == "Lena")
        #expect(task.customer["identities"] == [["kind": "email", "value": "lena@example.com"]])
        #expect(Self.recentIDs(task.customer) == [first.interactionID])
        // The worker is full now: the next two wait, and their contexts are read when each is
        // offered (the context lane), so they list every contact stored before that.
        let second = try gateway.publish(Messages.publish("f-2", "Still waiting", hints: IdentityHints(email: "lena@example.com"), process: .support))
        let third = try gateway.publish(Messages.publish("f-3", "Any news?", hints: IdentityHints(email: "lena@example.com"), process: .support))
        var held = task
        var before = [first.interactionID]
        for expected in [second, third] {
            try worker.done(held.deliveryID, outcome: "handled")
            held = try #require(try worker.nextTask())
            #expect(held.interaction["id"] == .integer(expected.interactionID))
            #expect(held.customer["display_name"] == "Lena")
            before.insert(expected.interactionID, at: 0)
            #expect(Self.recentOrder(held.customer) == before)
        }
        try worker.done(held.deliveryID, outcome: "handled")
        #expect(eventually { httpGet(http, "/metrics")?.body.contains("switchboard_completed_total 3") ?? false })
        // Two reads on the context lane, one for each task that waited: none for the first.
        let metrics = try #require(httpGet(http, "/metrics")).body
        #expect(metrics.contains("switchboard_store_requests_total{lane=\"context\"} 2"), "\(metrics)")
    }

    /// The interaction ids of `recent`, in the order the TASK lists them.
    static func recentOrder(_ customer: JSONValue) -> [Int64] {
        guard case .array(let recent)? = customer["recent"] else { return [] }
        return recent.compactMap { entry -> Int64? in if case .integer(let id)? = entry["interaction_id"] { id } else { nil } }
    }

    static func recentIDs(_ customer: JSONValue) -> Set<Int64> {
        guard case .array(let recent)? = customer["recent"] else { return [] }
        return Set(recent.compactMap { entry -> Int64? in if case .integer(let id)? = entry["interaction_id"] { id } else { nil } })
    }

    @Test("re-publishing the same (gateway, message id) returns the original ACK and stores nothing new")
    func idempotentRepublish() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail-1", endpoint: hub.endpoints.gateway)
        let message = Messages.publish("dup-1")
        let first = try gateway.publish(message)
        let second = try gateway.publish(message)
        #expect(second.duplicate)
        #expect(second.interactionID == first.interactionID)
        #expect(second.customerID == first.customerID)
        #expect(second.queue == first.queue)
        // A different gateway may use the same message id: it is another message.
        let other = try GatewayClient(name: "mail-2", endpoint: hub.endpoints.gateway).publish(message)
        #expect(other.interactionID != first.interactionID)
        #expect(try database.count("SELECT count(*) FROM interactions") == 2)
        #expect(try database.count("SELECT count(*) FROM deliveries") == 2)
    }

    @Test("the same message id with other content is refused as message_id_reused and quarantined")
    func reusedMessageID() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms-1", endpoint: hub.endpoints.gateway)
        _ = try gateway.publish(Messages.publish("r-1", "first text", channel: "sms"))
        #expect(throws: ClientError.self) { try gateway.publish(Messages.publish("r-1", "another text", channel: "sms")) }
        do {
            _ = try gateway.publish(Messages.publish("r-1", "another text", channel: "sms"))
        } catch ClientError.refused(let nack) {
            #expect(nack.code == .invalid)
            #expect(nack.detail == "message_id_reused")
        }
        #expect(try database.count("SELECT count(*) FROM interactions") == 1)
        #expect(try eventually { try database.count("SELECT count(*) FROM quarantine WHERE code = 'message_id_reused'") >= 1 })
    }

    @Test("identities in different digit scripts resolve to one customer; new hints are linked to it")
    func identityResolution() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "ivr-2", endpoint: hub.endpoints.gateway)
        let persian = try gateway.publish(Messages.publish("i-1", channel: "phone", hints: IdentityHints(phone: "۰۹۱۲ ۳۴۵ ۶۷۸۹")))
        let arabic = try gateway.publish(
            Messages.publish("i-2", channel: "phone", hints: IdentityHints(phone: "٠٠٩٨٩١٢٣٤٥٦٧٨٩", email: "Sara@Example.com")))
        let email = try gateway.publish(Messages.publish("i-3", hints: IdentityHints(email: " sara@example.COM")))
        let stranger = try gateway.publish(Messages.publish("i-4", channel: "web", hints: IdentityHints()))
        #expect(arabic.customerID == persian.customerID)
        #expect(email.customerID == persian.customerID)
        #expect(stranger.customerID != persian.customerID)
        #expect(try database.value("SELECT anonymous FROM customers WHERE id = $1", [.init(stranger.customerID)]) == "t")
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE customer_id = $1", [.init(persian.customerID)]) == 2)
    }

    @Test("many messages from several gateways are stored in shared transactions and all ACKed")
    func groupCommit() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "web-1", endpoint: hub.endpoints.gateway)
        for index in 0..<300 { try gateway.send(Messages.publish("g-\(index)", "buy \(index)", channel: "web")) }
        var acked = Set<String>()
        while acked.count < 300, let answer = try gateway.receive(timeoutMs: 5000) {
            guard case .ack(let ack) = answer else { Issue.record("unexpected \(answer)"); break }
            acked.insert(ack.messageID)
        }
        #expect(acked.count == 300)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'web-1'") == 300)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE queue = 'sales'") == 300)
    }

    @Test("batches queued behind one another each see what the one before committed: a customer new in one is found by the next")
    func queuedBatchesInOrder() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        // Small batches, so that many queue up behind the one PostgreSQL is running.
        config.batchMax = 4
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateways = try (0..<3).map { try GatewayClient(name: "chat-\($0)", endpoint: hub.endpoints.gateway) }
        for index in 0..<240 {
            let address = "visitor-\(index % 10)@example.com"
            try gateways[index % 3].send(Messages.publish("q-\(index)", "hello \(index)", channel: "web", hints: IdentityHints(email: address)))
        }
        var acked = 0
        for gateway in gateways {
            var answered = 0
            while answered < 80, let answer = try gateway.receive(timeoutMs: 5000) {
                answered += 1
                if case .ack = answer { acked += 1 } else { Issue.record("unexpected \(answer)") }
            }
        }
        #expect(acked == 240)
        #expect(try database.count("SELECT count(*) FROM interactions") == 240)
        #expect(try database.count("SELECT count(*) FROM customers") == 10)
        #expect(try database.count("SELECT count(DISTINCT customer_id) FROM interactions") == 10)
        #expect(try database.count("SELECT count(*) FROM customer_identities") == 10)
    }

    /// A batch is one statement: a row PostgreSQL refuses fails all of it. The hub then stores the
    /// batch's messages one by one, so only the refused one is lost to its gateway (and kept in
    /// quarantine), never its neighbours.
    @Test("a message PostgreSQL refuses fails alone: the rest of its batch is stored and ACKed, it is refused as store_rejected and quarantined")
    func refusedRowFailsAlone() throws {
        let database = try TestDatabase()
        // A rule the hub does not know, as an operator's constraint or trigger would be.
        try database.connect().execute(script: "ALTER TABLE interactions ADD CONSTRAINT no_poison CHECK (message_id <> 'poison')")
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail-1", endpoint: hub.endpoints.gateway)

        // While a first batch waits for a lock, the next twenty messages gather into one batch.
        let blocker = try database.connect()
        try blocker.execute(script: "BEGIN; LOCK TABLE ingest_keys IN SHARE MODE")
        try gateway.send(Messages.publish("first", "first of all"))
        #expect(
            try eventually {
                try database.count(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%swb_ingest_rounds%'"
                ) == 1
            })
        let ids = (0..<20).map { $0 == 10 ? "poison" : "n-\($0)" }
        for (index, id) in ids.enumerated() { try gateway.send(Messages.publish(id, "message \(index)")) }
        usleep(200_000)
        try blocker.execute(script: "ROLLBACK")

        var acked = Set<String>()
        var refused: [Nack] = []
        while acked.count + refused.count < 21, let answer = try gateway.receive(timeoutMs: 5000) {
            switch answer {
            case .ack(let ack): acked.insert(ack.messageID)
            case .nack(let nack): refused.append(nack)
            default: Issue.record("unexpected \(answer)")
            }
        }
        #expect(acked == Set(["first"] + ids.filter { $0 != "poison" }))
        #expect(refused.map(\.messageID) == ["poison"])
        #expect(refused.first?.code == .invalid)
        #expect(refused.first?.detail == "store_rejected")
        // What PostgreSQL said, without the hub's own statement.
        let reason = refused.first?.reason ?? ""
        #expect(reason.hasPrefix("PostgreSQL refused it [23514]: new row for relation"))
        #expect(reason.hasSuffix(#"violates check constraint "no_poison""#))
        #expect(try database.count("SELECT count(*) FROM interactions") == 20)
        #expect(try database.count("SELECT count(*) FROM deliveries") == 20)
        #expect(try database.count("SELECT count(*) FROM ingest_keys WHERE message_id = 'poison'") == 0)
        #expect(
            try eventually {
                try database.count("SELECT count(*) FROM quarantine WHERE message_id = 'poison' AND code = 'store_rejected'") == 1
            })
    }
}

@Suite("Bodies and attributes survive storage")
struct BodyTests {
    @Test("a binary body (a fax page) reaches the worker byte for byte, also when loaded back after a restart")
    func binaryBodyRoundTrip() throws {
        let database = try TestDatabase()
        var hub = try RunningHub(RunningHub.config(database))
        let gateway = try GatewayClient(name: "fax-1", endpoint: hub.endpoints.gateway)
        let page: [UInt8] = [0x49, 0x49, 0x2A, 0x00] + (0...255).map { UInt8($0) } + [0x00, 0xFF]
        var fax = Messages.publish("fax-0001", channel: "fax", hints: IdentityHints(phone: "+7 (912) 345-67-89"))
        fax.contentType = "image/tiff"
        fax.body = page
        fax.attributes = ["pages": "1", "caller": "+79123456789", "note": "ответ до пятницы"]
        fax.intent = "repair"
        let ack = try gateway.publish(fax)
        #expect(ack.queue == "field_service")
        #expect(try database.value("SELECT length(body_bytes) FROM interactions WHERE id = $1", [.init(ack.interactionID)]) == String(page.count))
        hub.shutdown()
        hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let worker = try WorkerClient(registration: Ready(workerID: "fs", queues: ["field_service"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        #expect(task.body == page)
        #expect(task.interaction["content_type"] == "image/tiff")
        #expect(task.interaction["attributes"] == ["pages": "1", "caller": "+79123456789", "note": "ответ до пятницы"])
        #expect(task.interaction["route_reason"] == "intent 'repair'")
    }
}
