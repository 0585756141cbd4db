import Foundation
import SwitchboardClient
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import Testing

@Suite("ACCEPT, REJECT, offer timeout and TRANSFER over real sockets and PostgreSQL")
struct OfferAnswerIntegrationTests {
    func history(_ database: TestDatabase, _ deliveryID: Int64) throws -> String? {
        try database.value(
            "SELECT string_agg(kind || ':' || coalesce(worker, '-'), ' ' ORDER BY id) FROM delivery_events WHERE delivery_id = $1",
            [.init(deliveryID)])
    }

    @Test("a transfer closes the first leg as transferred, links both legs, and the customer's context travels to the field-service worker")
    func transferKeepsBothLegs() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let ack = try GatewayClient(name: "phone", endpoint: hub.endpoints.gateway).publish(
            Messages.publish("t-1", "My heating is not working, I need help", channel: "phone"))
        let support = try WorkerClient(
            registration: Ready(workerID: "agent-1", queues: ["support"], capacity: 1, accepts: true), endpoint: hub.endpoints.worker)
        try support.ready()
        let first = try #require(try support.nextTask())
        try support.accept(first.deliveryID)
        #expect(try support.nextAnswer() == .confirmed(Confirm(deliveryID: first.deliveryID, state: "in_progress")))
        try support.transfer(first.deliveryID, to: "field_service", reason: "needs a site visit")
        #expect(try support.nextAnswer() == .confirmed(Confirm(deliveryID: first.deliveryID, state: "transferred")))

        let technician = try WorkerClient(
            registration: Ready(workerID: "tech-1", queues: ["field_service"], capacity: 1), endpoint: hub.endpoints.worker)
        try technician.ready()
        let second = try #require(try technician.nextTask())
        #expect(second.queue == "field_service")
        #expect(second.deliveryID != first.deliveryID)
        #expect(second.interaction["id"] == .integer(ack.interactionID))
        #expect(second.customer["id"] == .integer(ack.customerID))
        // The technician is told why it came: the transfer and its reason.
        #expect(second.interaction["route_reason"] == .string("transferred from support by worker 'agent-1': needs a site visit"))
        #expect(String(decoding: second.body, as: UTF8.self) == "My heating is not working, I need help")
        try technician.done(second.deliveryID, outcome: "visit_booked")
        #expect(try technician.nextAnswer() == .confirmed(Confirm(deliveryID: second.deliveryID, state: "done")))

        let legs = try database.connect().query(
            """
            SELECT id, state, queue, transferred_to, transferred_from, transfer_reason, route_reason LIKE 'transferred from support by worker ''agent-1''%'
              FROM deliveries WHERE interaction_id = $1 ORDER BY id
            """, [.init(ack.interactionID)]
        ).rows
        #expect(
            legs == [
                ["\(first.deliveryID)", "transferred", "support", "\(second.deliveryID)", nil, "needs a site visit", "f"],
                ["\(second.deliveryID)", "done", "field_service", nil, "\(first.deliveryID)", "needs a site visit", "t"],
            ])
        #expect(try history(database, first.deliveryID) == "offered:agent-1 accepted:agent-1 transferred:agent-1")
        #expect(try history(database, second.deliveryID) == "offered:tech-1 done:tech-1")
        #expect(try database.value("SELECT transfers FROM analytics_delivery_timeline WHERE delivery_id = $1", [.init(first.deliveryID)]) == "1")
    }

    @Test("a TRANSFER to a queue that does not exist, and answers for a task not held, are refused with their detail; the task stays with its worker")
    func badAnswersRefused() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        _ = try GatewayClient(name: "web", endpoint: hub.endpoints.gateway).publish(Messages.publish("bad-1"))
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        try worker.transfer(task.deliveryID, to: "billing", reason: "wrong team")
        guard case .refused(let unknown)? = try worker.nextAnswer() else {
            Issue.record("TRANSFER to an unknown queue was not refused")
            return
        }
        #expect(unknown.code == .invalid && unknown.detail == "unknown_queue" && unknown.deliveryID == task.deliveryID)
        #expect(unknown.reason.contains("'billing' does not exist"))
        try worker.accept(999_999)
        guard case .refused(let notHeld)? = try worker.nextAnswer() else {
            Issue.record("ACCEPT of a delivery not held was not refused")
            return
        }
        #expect(notHeld.code == .notHeld)
        // Nothing was lost: the task is still this worker's, and completes.
        try worker.done(task.deliveryID, outcome: "resolved")
        #expect(try worker.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done")))
        #expect(try eventually { try database.count("SELECT count(*) FROM quarantine WHERE code = 'unknown_queue'") == 1 })
    }

    @Test("an offer a worker that sends ACCEPT lets time out goes to another worker; REJECT sends one on at once")
    func timeoutAndReject() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.dispatch.offerTimeoutMs = 400
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "chat", endpoint: hub.endpoints.gateway)
        _ = try gateway.publish(Messages.publish("o-1", channel: "chat"))
        let sleepy = try WorkerClient(
            registration: Ready(workerID: "sleepy", queues: ["support"], capacity: 1, accepts: true), endpoint: hub.endpoints.worker)
        try sleepy.ready()
        let offered = try #require(try sleepy.nextTask())
        let picky = try WorkerClient(registration: Ready(workerID: "picky", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try picky.ready()
        let again = try #require(try picky.nextTask(timeoutMs: 3000))
        #expect(again.deliveryID == offered.deliveryID)
        #expect(again.attempt == 2)
        try picky.declineOffer(again.deliveryID, reason: "not my area")
        #expect(try picky.nextAnswer() == .confirmed(Confirm(deliveryID: again.deliveryID, state: "pending")))
        // Back to the one that timed out only after a backoff, as nobody else is free; it accepts now.
        let third = try #require(try sleepy.nextTask(timeoutMs: 5000))
        #expect(third.deliveryID == offered.deliveryID)
        try sleepy.accept(third.deliveryID)
        try sleepy.done(third.deliveryID, outcome: "resolved")
        let expected = "offered:sleepy timed_out:sleepy offered:picky rejected:picky offered:sleepy accepted:sleepy done:sleepy"
        #expect(try eventually { try history(database, offered.deliveryID) == expected })
        #expect(try history(database, offered.deliveryID) == expected)
    }
}

@Suite("Escalation over real sockets and PostgreSQL")
struct EscalationIntegrationTests {
    @Test(
        "a support contact nobody takes has its priority raised, then overflows to sales, where it is completed; each step is written and published")
    func overflowAndComplete() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.routing.processes["support"]?.targetMs = ["default": 400]
        config.routing.processes["support"]?.escalation = [
            EscalationStep(atPercent: 50, raisePriority: 2), EscalationStep(atPercent: 100, overflowTo: "sales"),
        ]
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let ack = try GatewayClient(name: "web", endpoint: hub.endpoints.gateway).publish(Messages.publish("e-1"))
        #expect(ack.queue == "support")
        let seller = try WorkerClient(registration: Ready(workerID: "seller", queues: ["sales"], capacity: 1), endpoint: hub.endpoints.worker)
        try seller.ready()
        let task = try #require(try seller.nextTask(timeoutMs: 5000))
        #expect(task.queue == "sales")
        #expect(task.priority == 2)
        try seller.done(task.deliveryID, outcome: "order_fixed")
        #expect(try seller.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done")))
        #expect(
            try database.value(
                "SELECT queue || ':' || priority || ':' || escalations || ':' || state FROM deliveries WHERE id = $1", [.init(task.deliveryID)])
                == "sales:2:2:done")
        #expect(
            try database.value(
                "SELECT string_agg(kind || ':' || queue, ' ' ORDER BY id) FROM delivery_events WHERE delivery_id = $1", [.init(task.deliveryID)])
                == "escalated:support escalated:sales offered:sales done:sales")
        let http = try #require(hub.endpoints.http)
        #expect(eventually { httpGet(http, "/metrics")?.body.contains("switchboard_escalated_total 2") ?? false })
    }
}
