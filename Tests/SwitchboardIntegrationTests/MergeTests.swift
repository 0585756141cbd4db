import Foundation
import Postgres
import SwitchboardClient
import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import Testing
import ZeroMQ

@Suite("Merges that are safe: anonymous into known at once, ambiguous pairs reviewed, every merge undone exactly")
struct MergeTests {
    /// Every row that belongs to either customer, in a fixed order, as text: what an exact undo must give back.
    static func dump(_ database: TestDatabase, _ a: Int64, _ b: Int64) throws -> String {
        let ids: [PostgresValue] = [.text("{\(a),\(b)}")]
        var parts: [String] = []
        for sql in [
            "SELECT string_agg(to_jsonb(c)::text, E'\\n' ORDER BY id) FROM customers c WHERE id = ANY($1::bigint[])",
            "SELECT string_agg(concat_ws(' ', customer_id, kind, value, verified, first_seen_at), E'\\n' ORDER BY kind, value) FROM customer_identities WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(concat_ws(' ', id, customer_id, kind, value), E'\\n' ORDER BY id) FROM customer_unverified_identities WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(concat_ws(' ', id, customer_id, received_at, message_id), E'\\n' ORDER BY id) FROM interactions WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(concat_ws(' ', id, customer_id, state, outcome), E'\\n' ORDER BY id) FROM deliveries WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(concat_ws(' ', gateway, message_id, customer_id), E'\\n' ORDER BY gateway, message_id) FROM ingest_keys WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(f)::text, E'\\n' ORDER BY id) FROM feedback f WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(k)::text, E'\\n' ORDER BY id) FROM complaints k WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(s)::text, E'\\n' ORDER BY id) FROM customer_signals s WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(x)::text, E'\\n' ORDER BY customer_id, key) FROM customer_attribute_sources x WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(v)::text, E'\\n' ORDER BY customer_id) FROM customer_value v WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(e)::text, E'\\n' ORDER BY customer_id) FROM customer_experience e WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(v)::text, E'\\n' ORDER BY id) FROM conversations v WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(o)::text, E'\\n' ORDER BY id) FROM outbound_messages o WHERE customer_id = ANY($1::bigint[])",
            "SELECT string_agg(to_jsonb(x)::text, E'\\n' ORDER BY id) FROM consent_changes x WHERE customer_id = ANY($1::bigint[])",
        ] {
            parts.append(try database.value(sql, ids) ?? "-")
        }
        return parts.joined(separator: "\n--\n")
    }

    @Test("a live message naming an anonymous visitor and a known customer merges them at once, and a subscriber hears customer.merged")
    func anonymousIntoKnown() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let context = Context()
        let subscriber = try context.socket(.sub)
        try subscriber.setReceiveTimeout(100)
        try subscriber.subscribe(Array("customer.".utf8))
        try subscriber.connect(try #require(hub.endpoints.events))
        usleep(300_000)

        let gateway = try GatewayClient(name: "web", endpoint: hub.endpoints.gateway)
        let visitor = try gateway.publish(Messages.publish("v-1", "Just looking", channel: "chat", hints: IdentityHints(chat: "livechat:v-77")))
        let again = try gateway.publish(Messages.publish("v-2", "Prices?", channel: "chat", hints: IdentityHints(chat: "livechat:v-77")))
        let known = try gateway.publish(Messages.publish("k-1", "My order", hints: IdentityHints(email: "sara@example.com", name: "Sara")))
        #expect(visitor.customerID < known.customerID && again.customerID == visitor.customerID)
        // She signs in on the chat: the message names both.
        let linking = try gateway.publish(
            Messages.publish("v-3", "I am Sara", channel: "chat", hints: IdentityHints(email: "sara@example.com", chat: "livechat:v-77")))
        #expect(linking.customerID == visitor.customerID)

        #expect(
            try eventually {
                try database.value("SELECT merged_into FROM customers WHERE id = $1", [.init(visitor.customerID)]) == "\(known.customerID)"
            })
        #expect(try database.count("SELECT count(*) FROM interactions WHERE customer_id = $1", [.init(known.customerID)]) == 4)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE customer_id = $1", [.init(visitor.customerID)]) == 0)
        #expect(
            try database.value(
                "SELECT string_agg(kind || ':' || value, ' ' ORDER BY kind) FROM customer_identities WHERE customer_id = $1",
                [.init(known.customerID)])
                == "chat:livechat:v-77 email:sara@example.com")
        #expect(try database.value("SELECT concat_ws(' ', status, reason, decided_by) FROM customer_merge_candidates") == "merged one_anonymous hub")
        #expect(try database.count("SELECT count(*) FROM customer_audit WHERE action = 'merged'") == 2)
        // A later chat message from the visitor's handle is the known customer's.
        let later = try gateway.publish(Messages.publish("v-4", "Thanks", channel: "chat", hints: IdentityHints(chat: "livechat:v-77")))
        #expect(later.customerID == known.customerID)

        var event: JSONValue?
        let deadline = Date().addingTimeInterval(5)
        while event == nil, Date() < deadline {
            guard let message = try subscriber.receive() else { continue }
            #expect(String(decoding: message.frames[0], as: UTF8.self) == "customer.merged")
            event = try JSONParser.parse(message.frames[1])
        }
        #expect(event?["survivor_id"] == .integer(known.customerID))
        #expect(event?["absorbed_id"] == .integer(visitor.customerID))
        #expect(event?["reason"] == "one_anonymous")
        // The same event read back from the database, for a subscriber that was away.
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let missed = try runProgram(binary, ["events", "--database", database.conninfo, "--merges-since", "0"])
        #expect(missed.status == 0, "\(missed.output)")
        let line = try #require(missed.output.split(separator: "\n").first { $0.contains("customer.merged") })
        let stored = try JSONParser.parse(Array(line.utf8))
        #expect(stored["merge_id"] == event?["merge_id"] && stored["absorbed_id"] == event?["absorbed_id"] && stored["actor"] == "hub")

        // Erasing the person reaches the absorbed row and the merge's copy of it; the absorbed id alone is not the person.
        let absorbed = try runProgram(binary, ["customer", "erase", "--database", database.conninfo, "\(visitor.customerID)"])
        #expect(
            absorbed.status != 0 && absorbed.output.contains("was merged into customer \(known.customerID); erase that one"), "\(absorbed.output)")
        let erased = try runProgram(binary, ["customer", "erase", "--database", database.conninfo, "\(known.customerID)"])
        #expect(erased.status == 0, "\(erased.output)")
        #expect(
            try database.count(
                "SELECT count(*) FROM customers WHERE erased_at IS NOT NULL AND display_name IS NULL AND id = ANY($1::bigint[])",
                [.text("{\(visitor.customerID),\(known.customerID)}")]) == 2)
        #expect(try database.value("SELECT before::text FROM customer_merges") == #"{"erased": true}"#)
    }

    @Test("two known customers named by one message wait for review; a dismissed pair is never proposed again; a configured gateway merges at once")
    func reviewQueue() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.merges.gateways = ["portal"]
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail", endpoint: hub.endpoints.gateway)
        let sara = try gateway.publish(Messages.publish("a-1", "Hello", hints: IdentityHints(email: "sara@example.com", name: "Sara Ahmadi")))
        let omid = try gateway.publish(Messages.publish("b-1", "Hi", hints: IdentityHints(phone: "+989121112233", name: "Omid Rezaei")))
        _ = try gateway.publish(Messages.publish("x-1", "Call me", hints: IdentityHints(phone: "+989121112233", email: "sara@example.com")))
        #expect(try eventually { try database.value("SELECT concat_ws(' ', status, reason) FROM customer_merge_candidates") == "review ambiguous" })
        #expect(try database.count("SELECT count(*) FROM customers WHERE merged_into IS NOT NULL") == 0)

        let listed = try runProgram(binary, ["customer", "review", "--database", database.conninfo])
        #expect(listed.status == 0, "\(listed.output)")
        #expect(listed.output.contains("customers \(sara.customerID) and \(omid.customerID), linked by mail"), "\(listed.output)")
        #expect(listed.output.contains("Sara Ahmadi") && listed.output.contains("Omid Rezaei") && listed.output.contains("phone:+989121112233"))
        let pair = try #require(Int64(try database.value("SELECT id FROM customer_merge_candidates") ?? ""))
        let dismissed = try runProgram(binary, ["customer", "review", "--database", database.conninfo, "--dismiss", "\(pair)", "--actor", "ana"])
        #expect(dismissed.status == 0, "\(dismissed.output)")
        _ = try gateway.publish(Messages.publish("x-2", "Call me again", hints: IdentityHints(phone: "+989121112233", email: "sara@example.com")))
        #expect(
            try eventually {
                try database.value("SELECT string_agg(concat_ws(' ', status, reason), ', ' ORDER BY id) FROM customer_merge_candidates")
                    == "dismissed dismissed, dismissed dismissed_before"
            })
        #expect(try database.count("SELECT count(*) FROM customer_audit WHERE action = 'dismissed' AND actor = 'ana'") == 2)

        // A signed-in portal's link is trusted.
        let portal = try GatewayClient(name: "portal", endpoint: hub.endpoints.gateway)
        let lena = try portal.publish(Messages.publish("p-1", "Hi", hints: IdentityHints(externalID: "CRM-9", name: "Lena")))
        let lenaMail = try gateway.publish(Messages.publish("p-2", "Hi", hints: IdentityHints(email: "lena@example.com", name: "Lena K")))
        _ = try portal.publish(Messages.publish("p-3", "Signed in", hints: IdentityHints(email: "lena@example.com", externalID: "CRM-9")))
        #expect(
            try eventually {
                try database.value("SELECT merged_into FROM customers WHERE id = $1", [.init(lenaMail.customerID)]) == "\(lena.customerID)"
            })
        #expect(try database.value("SELECT reason FROM customer_merges") == "gateway")
        #expect(
            try database.value("SELECT conflicts::text FROM customer_merges")
                == #"{"display_name": {"kept": "survivor", "absorbed": "Lena K", "survivor": "Lena"}}"#)
    }

    @Test("customer merge moves everything with field-by-field conflicts; customer unmerge gives both back exactly, to the last row")
    func mergeThenUnmerge() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        // The worker sends no heartbeat while the commands run, and asks a QUERY after them.
        config.dispatch.heartbeatMs = 5000
        config.dispatch.heartbeatTimeoutMs = 60_000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail", endpoint: hub.endpoints.gateway)
        let sara = IdentityHints(phone: "call me", email: "sara@example.com", name: "Sara Ahmadi")
        let s1 = try gateway.publish(Messages.publish("s-1", "My router is broken", hints: sara, process: .support))
        let s2 = try gateway.publish(
            Publish(
                messageID: "s-2", channel: "sms", occurredAt: 1_790_000_000_000, hints: IdentityHints(email: "sara@example.com"), body: [],
                feedback: Feedback(kind: .complaint, category: "billing")))
        let other = IdentityHints(phone: "+989121112233", name: "S. Ahmadi")
        let o1 = try gateway.publish(Messages.publish("o-1", "I want to buy", hints: other, process: .sales))
        let worker = try WorkerClient(
            registration: Ready(workerID: "agent", queues: ["support", "sales"], capacity: 4), endpoint: hub.endpoints.worker)
        try worker.ready()
        var handled = 0
        let deadline = Date().addingTimeInterval(10)
        while handled < 3, Date() < deadline {
            guard case .task(let task) = try worker.next(timeoutMs: 50) else { continue }
            let isOther = task.interaction["id"] == .integer(o1.interactionID)
            // A reply (and so a conversation) of each customer's moves with the merge and back.
            try worker.reply(Reply(deliveryID: task.deliveryID, replyID: "r", body: Array("noted".utf8)))
            try worker.done(
                Done(
                    deliveryID: task.deliveryID, outcome: "handled", feedback: isOther ? Feedback(kind: .csat, score: 4) : nil,
                    customer: CustomerUpdate(
                        segment: isOther ? "smb" : "household", consent: ["sms": isOther], attributes: ["region": isOther ? "north" : "south"])))
            handled += 1
        }
        #expect(try eventually { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 3 })
        _ = try database.value("SELECT swb_compute_value_tiers(now(), 365, 'order_value', '[{\"name\":\"gold\",\"min_score\":3}]'::jsonb)::text")
        _ = try database.value("SELECT swb_compute_signals(now(), 7, 30, 0.5, 365)::text")
        let (a, b) = (s1.customerID, o1.customerID)
        #expect(s2.customerID == a && a != b)
        let before = try Self.dump(database, a, b)

        let merged = try runProgram(
            binary, ["customer", "merge", "--database", database.conninfo, "\(a)", "\(b)", "--take", "attributes.region", "--actor", "ana"])
        #expect(merged.status == 0, "\(merged.output)")
        #expect(merged.output.contains("customer \(b) merged into customer \(a)"), "\(merged.output)")
        for line in [
            #"  attributes.region: survivor "south", absorbed "north"; kept the absorbed's"#,
            #"  consent.sms: survivor false, absorbed true; kept the survivor's"#,
            #"  display_name: survivor "Sara Ahmadi", absorbed "S. Ahmadi"; kept the survivor's"#,
            #"  segment: survivor "household", absorbed "smb"; kept the survivor's"#,
        ] {
            #expect(merged.output.contains(line), "\(line) in \(merged.output)")
        }
        #expect(
            try database.value(
                "SELECT concat_ws(' | ', display_name, segment, attributes::text, consent::text) FROM customers WHERE id = $1", [.init(a)])
                == #"Sara Ahmadi | household | {"region": "north"} | {"sms": false}"#)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE customer_id = $1 AND direction = 'inbound'", [.init(a)]) == 3)
        #expect(try database.count("SELECT count(*) FROM ingest_keys WHERE customer_id = $1", [.init(b)]) == 0)
        #expect(try database.count("SELECT count(*) FROM feedback WHERE customer_id = $1", [.init(a)]) == 2)
        #expect(try database.count("SELECT count(*) FROM outbound_messages WHERE customer_id = $1", [.init(a)]) == 3)
        #expect(try database.count("SELECT count(*) FROM conversations WHERE customer_id = $1", [.init(b)]) == 0)
        #expect(try database.count("SELECT count(*) FROM consent_changes WHERE customer_id = $1", [.init(a)]) == 3)
        #expect(
            try database.value("SELECT source FROM customer_attribute_sources WHERE customer_id = $1 AND key = 'region'", [.init(a)])
                == "worker:agent")
        // A worker asking for the absorbed customer gets the survivor's record.
        let record = try worker.query(CustomerQuery(queryID: "q", customerID: b))
        #expect(record?["id"] == .integer(a) && record?["merged_from"] == [.integer(b)])
        // Refusals are typed and in their own words.
        let again = try runProgram(binary, ["customer", "merge", "--database", database.conninfo, "\(a)", "\(b)"])
        #expect(again.status != 0 && again.output.contains("was merged into customer \(a) already"), "\(again.output)")

        let mergeID = try #require(Int64(try database.value("SELECT id FROM customer_merges") ?? ""))
        let undone = try runProgram(binary, ["customer", "unmerge", "--database", database.conninfo, "--customer", "\(b)", "--actor", "ana"])
        #expect(undone.status == 0, "\(undone.output)")
        #expect(undone.output.contains("merge \(mergeID) undone"), "\(undone.output)")
        #expect(try Self.dump(database, a, b) == before)
        #expect(try database.value("SELECT concat_ws(' ', status, reason) FROM customer_merge_candidates") == "dismissed unmerged")
        #expect(
            try database.value("SELECT string_agg(action, ' ' ORDER BY id) FROM customer_audit WHERE customer_id = $1", [.init(b)])
                == "merged unmerged")
        let twice = try runProgram(binary, ["customer", "unmerge", "--database", database.conninfo, "\(mergeID)"])
        #expect(twice.status != 0 && twice.output.contains("was undone already"), "\(twice.output)")
    }
}
