import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("QUERY: a customer's whole record for a worker, in one round trip")
struct CustomerQueryTests {
    @Test(
        "by any identity as a hint would give it, or by id: profile, identities, open deliveries and recent contacts; no such customer is found false"
    )
    func customer360() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail", endpoint: hub.endpoints.gateway)
        let sara = IdentityHints(phone: "+98 912 345 6789", email: "sara@example.com", name: "Sara Ahmadi")
        let first = try gateway.publish(Messages.publish("q-1", "My router is broken", hints: sara, process: .support))
        let second = try gateway.publish(Messages.publish("q-2", "I want to buy a second one", hints: sara, process: .sales))
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()

        let byEmail = try #require(try worker.query(CustomerQuery(queryID: "q1", identityKind: "email", identityValue: " Sara@Example.COM ")))
        #expect(byEmail["id"] == .integer(first.customerID))
        #expect(byEmail["display_name"] == "Sara Ahmadi")
        #expect(byEmail["value_tier"] == "standard")
        #expect(
            byEmail["identities"]
                == [
                    ["kind": "email", "value": "sara@example.com", "verified": false],
                    ["kind": "phone", "value": "+989123456789", "verified": false],
                ])
        guard case .array(let recent)? = byEmail["recent"], case .array(let open)? = byEmail["open_deliveries"] else {
            Issue.record("no recent or open deliveries: \(byEmail)")
            return
        }
        #expect(recent.map { $0["interaction_id"] } == [.integer(second.interactionID), .integer(first.interactionID)])
        // The sales contact waits (no seller); the support one may be with this worker already.
        #expect(open.contains { $0["queue"] == "sales" && $0["state"] == "pending" && $0["interaction_id"] == .integer(second.interactionID) })

        let byPhone = try worker.query(CustomerQuery(queryID: "q2", identityKind: "phone", identityValue: "۰۰۹۸ ۹۱۲ ۳۴۵ ۶۷۸۹"))
        #expect(byPhone?["id"] == .integer(first.customerID))
        let byID = try worker.query(CustomerQuery(queryID: "q3", customerID: first.customerID))
        #expect(byID == byEmail || byID?["id"] == .integer(first.customerID))
        #expect(try worker.query(CustomerQuery(queryID: "q4", identityKind: "email", identityValue: "nobody@example.com")) == nil)
        #expect(try worker.query(CustomerQuery(queryID: "q5", identityKind: "phone", identityValue: "call me")) == nil)
        #expect(try worker.query(CustomerQuery(queryID: "q6", customerID: 999_999)) == nil)
        do {
            _ = try worker.query(CustomerQuery(queryID: "q7", identityKind: "pager", identityValue: "555"))
            Issue.record("an unknown identity kind was not refused")
        } catch ClientError.workerError(let error) {
            #expect(error.detail == "invalid_field")
        }
        // The task that arrived while it asked is not lost.
        var offered: TaskOffer?
        for _ in 0..<40 where offered == nil {
            if case .task(let task) = try worker.next(timeoutMs: 50) { offered = task }
        }
        #expect(offered?.interaction["message_id"] == "q-1")
    }

    @Test("the record holds the customer's feedback, open and resolved complaints, experience and raised signals")
    func feedbackInTheRecord() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway)
        let hints = IdentityHints(phone: "+989121112233")
        let complaint = try gateway.publish(
            Publish(
                messageID: "f-1", channel: "sms", occurredAt: 1_790_000_000_000, hints: hints, body: Array("Billed twice".utf8),
                feedback: Feedback(kind: .complaint, category: "billing")))
        let csat = try gateway.publish(
            Publish(
                messageID: "f-2", channel: "sms", occurredAt: 1_790_000_000_000, hints: hints, body: [],
                feedback: Feedback(kind: .csat, score: 1, about: complaint.interactionID)))
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        try worker.done(
            Done(deliveryID: task.deliveryID, outcome: "callback", feedback: Feedback(kind: .complaint, category: "waiting_time")))
        #expect(try eventually { try database.count("SELECT count(*) FROM complaints") == 2 })
        _ = try database.value("SELECT swb_compute_signals(now(), 7, 30, 0.5, 365)::text")

        let record = try #require(try worker.query(CustomerQuery(queryID: "r1", customerID: complaint.customerID)))
        guard case .array(let feedback)? = record["feedback"], case .array(let complaints)? = record["complaints"] else {
            Issue.record("no feedback or complaints: \(record)")
            return
        }
        #expect(feedback.map { $0["type"] } == ["complaint", "csat", "complaint"])
        #expect(feedback.first?["source"] == "worker" && feedback.last?["source"] == "message")
        #expect(feedback[1]["score"] == 1 && feedback[1]["about_interaction_id"] == .integer(complaint.interactionID))
        #expect(feedback[1]["interaction_id"] == .integer(csat.interactionID))
        #expect(
            Set(complaints.compactMap { if case .string(let category)? = $0["category"] { category } else { nil } }) == ["billing", "waiting_time"])
        #expect(complaints.allSatisfy { $0["status"] == "open" })
        #expect(record["experience"]?["open_complaints"] == 2)
        #expect(record["experience"]?["satisfaction"] == .double(0))
        guard case .array(let signals)? = record["signals"] else {
            Issue.record("no signals: \(record)")
            return
        }
        #expect(signals.contains { $0["signal"] == "churn_risk" })
    }
}
