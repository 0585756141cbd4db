import Foundation
import SwitchboardClient
import SwitchboardConfig
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import Testing

@Suite("Feedback and complaints: scores, surveys and complaints through a channel or a worker's DONE, and a complaint's life")
struct FeedbackTests {
    static func feedbackMessage(_ id: String, _ text: String, _ feedback: Feedback, channel: String = "sms", phone: String = "+989121112233")
        -> Publish
    {
        Publish(
            messageID: id, channel: channel, occurredAt: 1_790_000_000_000, hints: IdentityHints(phone: phone), body: Array(text.utf8),
            feedback: feedback)
    }

    @Test("a complaint message opens a complaint routed as a complaint; its worker's DONE with a resolution closes it, and both sides saw it")
    func complaintLifecycle() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway)
        let ack = try gateway.publish(
            Self.feedbackMessage("c-1", "You charged me twice", Feedback(kind: .complaint, category: "billing")))
        #expect(ack.queue == "support")
        #expect(
            try database.value("SELECT concat_ws(' ', intent, process) FROM interactions WHERE id = $1", [.init(ack.interactionID)])
                == "complaint support")
        #expect(
            try database.value(
                "SELECT concat_ws(' ', customer_id, process, category, status, interaction_id) FROM complaints")
                == "\(ack.customerID) support billing open \(ack.interactionID)")

        let worker = try WorkerClient(registration: Ready(workerID: "agent-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        #expect(task.interaction["intent"] == .string("complaint"))
        // A DONE without a resolution leaves the complaint open; a later DONE resolves it.
        try worker.done(Done(deliveryID: task.deliveryID, outcome: "refund_issued", resolution: "Refunded the second charge"))
        guard case .confirmed(let confirm)? = try worker.nextAnswer() else {
            Issue.record("no CONFIRM")
            return
        }
        #expect(confirm.state == "done")
        #expect(
            try database.value(
                """
                SELECT concat_ws(' | ', status, resolution, resolved_by, resolved_by_delivery, (resolved_at >= opened_at)::text) FROM complaints
                """) == "resolved | Refunded the second charge | agent-1 | \(task.deliveryID) | true")
        #expect(try database.count("SELECT count(*) FROM feedback WHERE type = 'complaint' AND source = 'message'") == 1)
    }

    @Test("a DONE records what the customer said and what was learned of them; a complaint recorded by a worker stays open unless resolved")
    func doneReports() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "mail", endpoint: hub.endpoints.gateway)
        let first = try gateway.publish(Messages.publish("m-1", "My router is broken"))
        let second = try gateway.publish(Messages.publish("m-2", "Still broken, and the technician never came"))
        let worker = try WorkerClient(
            registration: Ready(workerID: "agent-2", queues: ["support", "field_service"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let one = try #require(try worker.nextTask())
        try worker.done(
            Done(
                deliveryID: one.deliveryID, outcome: "handled", feedback: Feedback(kind: .csat, score: 2),
                customer: CustomerUpdate(
                    name: "Sara Karimi", segment: "smb", consent: ["marketing": false], attributes: ["contract": "fiber-100"])))
        let two = try #require(try worker.nextTask())
        try worker.done(Done(deliveryID: two.deliveryID, outcome: "escalated", feedback: Feedback(kind: .complaint, category: "no_show")))
        #expect(try eventually { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 2 })
        let ids = Set([one.interaction["id"], two.interaction["id"]].compactMap { $0.flatMap { if case .integer(let n) = $0 { n } else { nil } } })
        #expect(ids == [first.interactionID, second.interactionID])

        #expect(
            try database.value(
                """
                SELECT string_agg(concat_ws(' ', source, type, coalesce(score::text, '-'), coalesce(category, '-'), worker,
                                            (delivery_id = ANY($1::bigint[]))::text, (about_interaction_id = interaction_id)::text, channel), ', ' ORDER BY id)
                  FROM feedback
                """, [.text("{\(one.deliveryID),\(two.deliveryID)}")])
                == "worker csat 2 - agent-2 true true email, worker complaint - no_show agent-2 true true email")
        #expect(try database.value("SELECT concat_ws(' ', category, status) FROM complaints") == "no_show open")
        #expect(
            try database.value(
                "SELECT concat_ws(' | ', display_name, segment, consent::text, attributes::text) FROM customers WHERE id = $1",
                [.init(first.customerID)]) == #"Sara Karimi | smb | {"marketing": false} | {"contract": "fiber-100"}"#)
        #expect(
            try database.value(
                "SELECT string_agg(key || '=' || value || '@' || source, ', ' ORDER BY key) FROM customer_attribute_sources WHERE customer_id = $1",
                [.init(first.customerID)])
                == "consent.marketing=false@worker:agent-2, contract=fiber-100@worker:agent-2, name=Sara Karimi@worker:agent-2, segment=smb@worker:agent-2"
        )
        #expect(
            try database.value(
                "SELECT string_agg(purpose || '=' || granted || '@' || source, ', ') FROM consent_changes WHERE customer_id = $1",
                [.init(first.customerID)])
                == "marketing=false@worker:agent-2")

        // A later contact's DONE names the open complaint and resolves it.
        let third = try gateway.publish(Messages.publish("m-3", "Is anyone coming?"))
        let three = try #require(try worker.nextTask())
        #expect(three.interaction["id"] == .integer(third.interactionID))
        let complaint = try #require(Int64(try database.value("SELECT id FROM complaints") ?? ""))
        try worker.done(
            Done(deliveryID: three.deliveryID, outcome: "visit_booked", resolution: "Technician booked for Monday", complaintID: complaint))
        #expect(try eventually { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 3 })
        #expect(
            try database.value("SELECT concat_ws(' | ', status, resolution, resolved_by_delivery) FROM complaints")
                == "resolved | Technician booked for Monday | \(three.deliveryID)")
    }

    @Test("scores and surveys through a channel are charged to the process of the contact they rate; bad feedback is refused, typed, and kept")
    func scoresAndSurveys() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway)
        let sale = try gateway.publish(
            Publish(
                messageID: "s-1", channel: "sms", occurredAt: 1_790_000_000_000, hints: IdentityHints(phone: "+989121112233"), process: .sales,
                body: Array("I want to buy the premium plan".utf8)))
        let csat = try gateway.publish(Self.feedbackMessage("s-2", "", Feedback(kind: .csat, score: 5, about: sale.interactionID)))
        #expect(csat.queue == "marketing")
        #expect(csat.customerID == sale.customerID)
        _ = try gateway.publish(Self.feedbackMessage("s-3", "", Feedback(kind: .nps, score: 3)))
        _ = try gateway.publish(
            Self.feedbackMessage(
                "s-4", "Delivery was late", Feedback(kind: .survey, score: 3, answers: ["delivery": .integer(2), "comment": .string("late")])))
        _ = try gateway.publish(Self.feedbackMessage("s-5", "Wrong size", Feedback(kind: .return, category: "wrong_size")))
        #expect(
            try database.value(
                """
                SELECT string_agg(concat_ws(' ', type, coalesce(score::text, '-'), process, coalesce(answers::text, '-'), source), ', ' ORDER BY id)
                  FROM feedback
                """)
                == #"csat 5 sales - message, nps 3 marketing - message, survey 3 marketing {"comment": "late", "delivery": 2} message, return - support - message"#
        )
        #expect(try database.count("SELECT count(*) FROM complaints") == 0)

        for (id, feedback, expected) in [
            ("bad-1", #"{"type":"csat","score":9}"#, "score"), ("bad-2", #"{"type":"complaint"}"#, "category"),
            ("bad-3", #"{"type":"praise","score":5}"#, "praise"), ("bad-4", #"{"type":"nps"}"#, "score"),
            ("bad-5", #"{"type":"return","score":1}"#, "score"), ("bad-6", #"{"type":"csat","score":4,"mood":"ok"}"#, "mood"),
        ] {
            let header = #"{"message_id":"\#(id)","channel":"sms","occurred_at":1790000000000,"feedback":\#(feedback)}"#
            let frames = [Array("SWB/1".utf8), Array("PUBLISH".utf8), Array(header.utf8), []]
            try gateway.sendRaw(frames)
            let answer = try gateway.receive(timeoutMs: 5000)
            guard case .nack(let nack)? = answer else {
                Issue.record("\(id): expected a NACK, got \(answer)")
                continue
            }
            #expect(nack.code == .invalid)
            #expect(["invalid_field", "missing_field"].contains(nack.detail))
            #expect(nack.reason.contains(expected), "\(id): \(nack.reason)")
        }
        #expect(try eventually { try database.count("SELECT count(*) FROM quarantine") == 6 })
        #expect(try database.count("SELECT count(*) FROM feedback") == 4)
    }
}
