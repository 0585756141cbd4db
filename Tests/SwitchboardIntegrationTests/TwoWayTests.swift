import Foundation
import SwitchboardClient
import SwitchboardConfig
import SwitchboardProtocol
import SwitchboardStore
import Testing
import ZeroMQ

/// Replies through the channel, conversations and "where is my request?", over real sockets and PostgreSQL.
@Suite("Two-way: replies, conversations, status")
struct TwoWayTests {
    static func config(_ database: TestDatabase) -> HubConfig {
        var config = RunningHub.config(database)
        // Long enough that a worker idle while the test runs is not taken for gone.
        config.dispatch.heartbeatMs = 200
        config.dispatch.heartbeatTimeoutMs = 60_000
        config.outbound.deliverTimeoutMs = 400
        config.outbound.retryBaseMs = 50
        config.outbound.retryMaxMs = 200
        return config
    }

    /// Every DELIVER a gateway receives within `timeoutMs`, answering none.
    static func delivers(_ gateway: GatewayClient, timeoutMs: Int, until enough: ([Deliver]) -> Bool = { _ in false }) throws -> [Deliver] {
        var received: [Deliver] = []
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while Date() < deadline && !enough(received) {
            if case .deliver(let deliver) = try gateway.receive(timeoutMs: 50) { received.append(deliver) }
        }
        return received
    }

    @Test("a REPLY is stored as an outbound interaction of the conversation, DELIVERed to the customer's gateway, and SENT recorded")
    func replyReachesGateway() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(Self.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail-gw", endpoint: hub.endpoints.gateway)
        #expect(try gateway.hello(channels: ["email"]) == 200)
        var message = Messages.publish("m-1", "Where is my parcel?", hints: IdentityHints(email: "Sara@Example.com"))
        message.thread = "<root-1@example.com>"
        let ack = try gateway.publish(message)
        let worker = try WorkerClient(registration: Ready(workerID: "agent-7", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        guard case .object(let interaction) = task.interaction, case .integer(let conversationID)? = interaction["conversation_id"] else {
            Issue.record("the TASK's interaction names no conversation: \(task.interaction)")
            return
        }
        try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r1", body: Array("It left the depot this morning.".utf8)))
        guard case .replied(let replied)? = try worker.nextAnswer() else {
            Issue.record("no REPLIED")
            return
        }
        #expect(replied.conversationID == conversationID)
        #expect(!replied.repeated)
        let delivered = try Self.delivers(gateway, timeoutMs: 5000) { !$0.isEmpty }
        let deliver = try #require(delivered.first)
        #expect(deliver.outboundID == replied.outboundID)
        #expect(deliver.channel == "email")
        #expect(deliver.to["email"] == "sara@example.com")
        #expect(deliver.inReplyTo == "m-1")
        #expect(deliver.thread == "<root-1@example.com>")
        #expect(deliver.conversationID == conversationID)
        #expect(deliver.attempt == 1)
        #expect(String(decoding: deliver.body, as: UTF8.self) == "It left the depot this morning.")
        try gateway.sent(deliver.outboundID, reference: "smtp-250-abc")
        #expect(
            try eventually {
                try database.value(
                    "SELECT state || '/' || gateway || '/' || gateway_reference FROM outbound_messages WHERE id = $1", [.init(deliver.outboundID)])
                    == "sent/mail-gw/smtp-250-abc"
            })
        let http = try #require(hub.endpoints.http)
        #expect(
            eventually {
                let body = httpGet(http, "/metrics")?.body ?? ""
                return body.contains("switchboard_replies_total 1") && body.contains("switchboard_outbound_sent_total 1")
                    && body.contains("switchboard_gateways_sending 1")
            })
        // The same REPLY again (a worker re-sending after a restart): stored once, answered as a repeat.
        try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r1", body: Array("It left the depot this morning.".utf8)))
        guard case .replied(let again)? = try worker.nextAnswer() else {
            Issue.record("no REPLIED for the repeat")
            return
        }
        #expect(again.repeated && again.outboundID == replied.outboundID)
        #expect(try Self.delivers(gateway, timeoutMs: 600).isEmpty, "a message SENT was delivered again")
        // Both directions in one conversation, the reply as an outbound interaction of the customer.
        #expect(
            try database.value(
                "SELECT string_agg(direction || ':' || coalesce(intent, '-'), ',' ORDER BY id) FROM interactions WHERE conversation_id = $1",
                [.init(conversationID)]) == "inbound:-,outbound:reply")
        #expect(
            try database.count(
                "SELECT count(*) FROM interactions WHERE direction = 'outbound' AND customer_id = $1 AND body_text = 'It left the depot this morning.'",
                [.init(ack.customerID)]) == 1)
        #expect(try database.value("SELECT owner_worker || '/' || state FROM conversations WHERE id = $1", [.init(conversationID)]) == "agent-7/open")
        // A follow-up in the same thread joins the conversation and goes to its owner first.
        try worker.done(task.deliveryID, outcome: "answered")
        let other = try WorkerClient(registration: Ready(workerID: "agent-2", queues: ["support"], capacity: 5), endpoint: hub.endpoints.worker)
        try other.ready()
        var followUp = Messages.publish("m-2", "And when will it arrive?", hints: IdentityHints(email: "sara@example.com"))
        followUp.thread = "<root-1@example.com>"
        _ = try gateway.publish(followUp)
        let next = try #require(try worker.nextTask(), "the follow-up did not go to the conversation's owner")
        guard case .object(let nextInteraction) = next.interaction else { return }
        #expect(nextInteraction["conversation_id"] == .integer(conversationID))
        // A resolution closes it; a new message in the thread then opens another.
        try worker.done(Done(deliveryID: next.deliveryID, outcome: "answered", resolution: "delivery date given"))
        #expect(
            try eventually {
                try database.value("SELECT state || '/' || closed_reason FROM conversations WHERE id = $1", [.init(conversationID)])
                    == "closed/resolved"
            })
        var third = Messages.publish("m-3", "Thanks!", hints: IdentityHints(email: "sara@example.com"))
        third.thread = "<root-1@example.com>"
        _ = try gateway.publish(third)
        #expect(
            try eventually {
                try database.count(
                    "SELECT count(*) FROM conversations WHERE thread = '<root-1@example.com>' AND state = 'open' AND id <> $1",
                    [.init(conversationID)])
                    == 1
            })
    }

    @Test("with its gateway gone a reply is retried with backoff and delivered once a gateway of the channel says HELLO")
    func gatewayDownThenBack() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(Self.config(database))
        defer { hub.shutdown() }
        let context = Context()
        let gateway = try GatewayClient(name: "sms-gw", endpoint: hub.endpoints.gateway, context: context)
        try gateway.hello(channels: ["sms"])
        _ = try gateway.publish(Messages.publish("s-1", "Is my line fixed?", channel: "sms", hints: IdentityHints(phone: "09121234567")))
        let worker = try WorkerClient(registration: Ready(workerID: "agent-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        // The gateway takes DELIVERs and never answers: each times out and is tried again.
        try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r1", body: Array("Yes, since noon.".utf8)))
        let unanswered = try Self.delivers(gateway, timeoutMs: 5000) { $0.count >= 2 }
        try #require(unanswered.count >= 2, "the unanswered DELIVER was not tried again")
        #expect(Set(unanswered.map(\.idempotencyKey)).count == 1, "one message, one idempotency key")
        #expect(unanswered.map(\.attempt) == Array(1...unanswered.count))
        gateway.close()
        // Gone: nothing is delivered; the message waits, pending, and its attempts show the retries.
        usleep(800_000)
        let outboundID = try #require(unanswered.first?.outboundID)
        #expect(try database.value("SELECT state FROM outbound_messages WHERE id = $1", [.init(outboundID)]) != "sent")
        // Back under another name on the same channel: it is delivered there.
        let back = try GatewayClient(name: "sms-gw-2", endpoint: hub.endpoints.gateway, context: context)
        try back.hello(channels: ["sms"])
        let delivered = try Self.delivers(back, timeoutMs: 5000) { !$0.isEmpty }
        let deliver = try #require(delivered.first)
        #expect(deliver.outboundID == outboundID && deliver.to["phone"] == "+989121234567")
        #expect(deliver.idempotencyKey == unanswered[0].idempotencyKey)
        try back.sent(deliver.outboundID)
        #expect(
            try eventually {
                try database.value("SELECT state || '/' || gateway FROM outbound_messages WHERE id = $1", [.init(outboundID)]) == "sent/sms-gw-2"
            })
        #expect(try Self.delivers(back, timeoutMs: 700).isEmpty, "delivered again after SENT")
        // UNDELIVERABLE for good dead-letters a message: not sent again.
        try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r2", body: Array("Anything else?".utf8)))
        let second = try #require(try Self.delivers(back, timeoutMs: 5000) { !$0.isEmpty }.first)
        try back.undeliverable(second.outboundID, reason: "number no longer in service")
        #expect(
            try eventually {
                try database.value("SELECT state || '/' || last_error FROM outbound_messages WHERE id = $1", [.init(second.outboundID)])
                    == "dead/sms-gw-2: number no longer in service"
            })
        // An answer for a message this gateway was not given is refused, typed.
        try back.undeliverable(second.outboundID, reason: "again")
        guard case .nack(let nack)? = try back.receive(timeoutMs: 2000) else {
            Issue.record("no NACK for an UNDELIVERABLE of a message not being delivered")
            return
        }
        #expect(nack.code == .invalid && nack.detail == "not_delivering")
    }

    @Test("STATUS answers each open contact's place in the dispatch order, and a worker is then offered them in that order")
    func statusPositionIsFollowed() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(Self.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "ivr", endpoint: hub.endpoints.gateway)
        // Six callers; the fifth is urgent (priority 9 shortens no deadline here, but ranks it first among equal deadlines).
        var customerOf: [String: Int64] = [:]
        for index in 0..<6 {
            let message = Messages.publish(
                "c-\(index)", "my internet is down", channel: "phone", hints: IdentityHints(phone: "0912000000\(index)"),
                priority: index == 4 ? 9 : 0,
                process: .support)
            customerOf["c-\(index)"] = try gateway.publish(message).customerID
        }
        let answer = try gateway.status(StatusQuery(queryID: "q1", identityKind: "phone", identityValue: "+98 912 000 0003"))
        #expect(answer.customerID == customerOf["c-3"])
        let contact = try #require(answer.contacts.first)
        guard case .object(let fields) = contact, case .integer(let position)? = fields["position"],
            case .integer(let deliveryID)? = fields["delivery_id"]
        else {
            Issue.record("unexpected contact \(contact)")
            return
        }
        #expect(fields["state"] == .string("waiting"))
        #expect(fields["queue"] == .string("support"))
        // No DONE in the last 15 minutes: no rate, so no estimate.
        #expect(fields["estimated_wait_ms"] == .null)
        // Unknown customers are not found; a malformed identity neither.
        #expect(try !gateway.status(StatusQuery(queryID: "q2", identityKind: "phone", identityValue: "+98 912 999 9999")).found)
        #expect(try !gateway.status(StatusQuery(queryID: "q3", identityKind: "email", identityValue: "not an address")).found)
        // One worker taking one task at a time is offered them in dispatch order.
        let worker = try WorkerClient(registration: Ready(workerID: "agent-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        var order: [Int64] = []
        for _ in 0..<6 {
            let task = try #require(try worker.nextTask())
            order.append(task.deliveryID)
            try worker.done(task.deliveryID, outcome: "fixed")
        }
        #expect(
            order.firstIndex(of: deliveryID).map { $0 + 1 } == Int(position),
            "STATUS said \(position), the worker got it as #\(order.firstIndex(of: deliveryID).map { $0 + 1 } ?? -1)")
        // With DONEs in the last minutes the next caller's wait is estimated from them (once they are written).
        #expect(try eventually { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 6 })
        _ = try gateway.publish(
            Messages.publish("c-9", "down again", channel: "phone", hints: IdentityHints(phone: "09120000009"), process: .support))
        worker.close()
        let later = try gateway.status(StatusQuery(queryID: "q4", identityKind: "phone", identityValue: "09120000009"))
        guard case .object(let laterFields)? = later.contacts.first, case .integer(let wait)? = laterFields["estimated_wait_ms"] else {
            Issue.record("no estimate with a service rate: \(later)")
            return
        }
        // 6 DONEs in 15 minutes: 0.4 a minute, so 1 contact ahead of none waits 2.5 minutes.
        #expect(wait == 150_000)
    }

    @Test("a hub killed between REPLY and DELIVER delivers after its restart, once; one killed before SENT delivers again under the same key")
    func killedHubDeliversOnce() throws {
        let database = try TestDatabase()
        let gatewayEndpoint = try freeEndpoint()
        let workerEndpoint = try freeEndpoint()
        let yaml = """
            heartbeat_ms: 200
            heartbeat_timeout_ms: 2000
            outbound:
              deliver_timeout_ms: 60000
              retry_base_ms: 50
              retry_max_ms: 200

            """
        var hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: yaml)
        defer { hub.terminate() }
        let gateway = try GatewayClient(name: "sms-gw", endpoint: gatewayEndpoint)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not start: \(hub.output)")
        _ = try gateway.publish(Messages.publish("k-1", "Is my line fixed?", channel: "sms", hints: IdentityHints(phone: "09121234567")))
        let worker = try WorkerClient(
            registration: Ready(workerID: "agent-1", queues: ["support"], capacity: 1), endpoint: workerEndpoint)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        // No gateway has said HELLO: the reply is stored and waits.
        try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r1", body: Array("Yes, since noon.".utf8)))
        guard case .replied(let first)? = try worker.nextAnswer() else {
            Issue.record("no REPLIED")
            return
        }
        hub.kill9()
        hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: yaml)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not restart: \(hub.output)")
        try gateway.hello(channels: ["sms"])
        let afterRestart = try Self.delivers(gateway, timeoutMs: 5000) { !$0.isEmpty }
        let deliver = try #require(afterRestart.first, "the stored reply was not delivered after the restart")
        #expect(deliver.outboundID == first.outboundID && deliver.attempt == 1)
        try gateway.sent(deliver.outboundID)
        #expect(try Self.delivers(gateway, timeoutMs: 1500).isEmpty, "the reply was delivered twice")
        #expect(
            try eventually {
                try database.value("SELECT state || '/' || attempts FROM outbound_messages WHERE id = $1", [.init(first.outboundID)]) == "sent/1"
            })

        // Killed after the DELIVER went out and before the gateway's SENT came back: the next hub
        // delivers it again under the same idempotency key, which the gateway sends once.
        _ = try worker.nextTask(timeoutMs: 3000)  // the worker's connection survived; its task is its own again
        try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r2", body: Array("Anything else?".utf8)))
        let before = try #require(try Self.delivers(gateway, timeoutMs: 5000) { !$0.isEmpty }.first, "the second reply was not delivered")
        hub.kill9()
        hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: yaml)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not restart: \(hub.output)")
        try gateway.hello(channels: ["sms"])
        let again = try #require(try Self.delivers(gateway, timeoutMs: 5000) { !$0.isEmpty }.first, "not delivered again after the restart")
        #expect(again.outboundID == before.outboundID && again.idempotencyKey == before.idempotencyKey && again.attempt == 2)
        try gateway.sent(again.outboundID)
        #expect(try Self.delivers(gateway, timeoutMs: 1500).isEmpty)
        #expect(
            try eventually {
                try database.value("SELECT state FROM outbound_messages WHERE id = $1", [.init(before.outboundID)]) == "sent"
            })
        #expect(try database.count("SELECT count(*) FROM outbound_messages") == 2)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE direction = 'outbound'") == 2)
    }

    @Test("a reply no gateway takes in time is dead, listed and replayed by the CLI, then delivered; idle conversations close")
    func expiredThenReplayed() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        var config = Self.config(database)
        config.outbound.expireAfterMs = 1000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "chat-gw", endpoint: hub.endpoints.gateway)
        var message = Messages.publish("c-1", "hello?", channel: "chat", hints: IdentityHints(chat: "visitor-9"))
        message.thread = "session-9"
        _ = try gateway.publish(message)
        let worker = try WorkerClient(registration: Ready(workerID: "agent-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r1", body: Array("Hi! How can I help?".utf8)))
        guard case .replied(let replied)? = try worker.nextAnswer() else {
            Issue.record("no REPLIED")
            return
        }
        try worker.done(task.deliveryID, outcome: "answered")
        // No gateway sends chat: past its expiry the reply is dead, with the reason.
        #expect(
            try eventually(timeoutMs: 12_000) {
                try database.value("SELECT state || '/' || last_error FROM outbound_messages WHERE id = $1", [.init(replied.outboundID)])
                    == "dead/expired before it was sent"
            })
        func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try runProgram(binary, arguments + ["--database", database.conninfo])
        }
        let listed = try run(["outbound", "list", "--state", "dead"])
        #expect(listed.status == 0 && listed.output.contains("\(replied.outboundID)\t"), "\(listed.output)")
        #expect(listed.output.contains("expired before it was sent"), "\(listed.output)")
        let replayed = try run(["outbound", "replay", "\(replied.outboundID)"])
        #expect(replayed.status == 0 && replayed.output.contains("1 outbound messages queued again"), "\(replayed.output)")
        #expect(try database.value("SELECT state FROM outbound_messages WHERE id = $1", [.init(replied.outboundID)]) == "pending")
        // The replay's fresh expiry is the configured one: the gateway must say HELLO within it.
        try gateway.hello(channels: ["chat"])
        let deliver = try #require(try Self.delivers(gateway, timeoutMs: 5000) { !$0.isEmpty }.first, "the replayed reply was not delivered")
        #expect(deliver.outboundID == replied.outboundID && deliver.to["chat"] == "visitor-9" && deliver.thread == "session-9")
        try gateway.sent(deliver.outboundID)
        #expect(try eventually { try database.value("SELECT state FROM outbound_messages WHERE id = $1", [.init(replied.outboundID)]) == "sent" })
        // A conversation idle past conversation_idle_minutes closes (the campaign pass closes them).
        let store = try Store(conninfo: database.conninfo, owner: "test")
        #expect(try store.closeIdleConversations(minutes: 1) == 0)
        try database.connect().query("UPDATE conversations SET last_activity_at = now() - interval '2 minutes'")
        #expect(try store.closeIdleConversations(minutes: 1) == 1)
        #expect(try database.value("SELECT state || '/' || closed_reason FROM conversations WHERE thread = 'session-9'") == "closed/inactive")
    }
}
