import Foundation
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Testing
import ZeroMQ

@Suite("Dispatch over real sockets")
struct DispatchTests {
    @Test("a worker that disconnects mid-task has it re-offered to another worker at once")
    func redeliversWhenWorkerDisconnects() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        // Only the disconnect can explain a re-offer: no heartbeat is due (an unreachable worker is
        // also found when a heartbeat to it fails) and none expires within the test.
        config.dispatch.heartbeatMs = 30_000
        config.dispatch.heartbeatTimeoutMs = 60_000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let first = try WorkerClient(registration: Ready(workerID: "s-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try first.ready()
        _ = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("d-1"))
        let task = try #require(try first.nextTask())
        let second = try WorkerClient(registration: Ready(workerID: "s-2", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try second.ready()
        first.close()
        let again = try #require(try second.nextTask(timeoutMs: 3000))
        #expect(again.deliveryID == task.deliveryID)
        #expect(again.attempt == 2)
        try second.done(again.deliveryID, outcome: "resolved")
        #expect(try second.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done")))
        #expect(
            try database.value("SELECT worker || ':' || state || ':' || attempts FROM deliveries WHERE id = $1", [.init(task.deliveryID)])
                == "s-2:done:2")
    }

    @Test("a frozen worker loses its task at heartbeat expiry; its late DONE is refused and not counted")
    func frozenWorker() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        // A raw DEALER that never heartbeats stands for a worker stopped with SIGSTOP.
        let context = Context()
        let frozen = try rawDealer(context, hub.endpoints.worker)
        try frozen.send(Codec.encode(.ready(Ready(workerID: "frozen", queues: ["sales"], capacity: 1))))
        _ = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("f-1", "I want to buy"))
        var offered: TaskOffer?
        for _ in 0..<50 where offered == nil {
            guard let message = try frozen.receive() else { continue }
            if case .task(let task) = try Codec.decode(message.frames, limits: .client) { offered = task }
        }
        let task = try #require(offered)
        let healthy = try WorkerClient(registration: Ready(workerID: "healthy", queues: ["sales"], capacity: 1), endpoint: hub.endpoints.worker)
        try healthy.ready()
        let again = try #require(try healthy.nextTask(timeoutMs: 5000))
        #expect(again.deliveryID == task.deliveryID)
        // The frozen worker wakes up and answers: refused, because it no longer holds the task.
        try frozen.send(Codec.encode(.done(Done(deliveryID: task.deliveryID, outcome: "late"))))
        var refusal: WorkerError?
        for _ in 0..<50 where refusal == nil {
            guard let message = try frozen.receive() else { continue }
            if case .error(let error) = try Codec.decode(message.frames, limits: .client) { refusal = error }
        }
        #expect(refusal?.code == .notReady || refusal?.code == .notHeld)
        try healthy.done(again.deliveryID, outcome: "sold")
        #expect(try healthy.nextAnswer() == .confirmed(Confirm(deliveryID: again.deliveryID, state: "done")))
        #expect(try database.value("SELECT outcome FROM deliveries WHERE id = $1", [.init(task.deliveryID)]) == "sold")
    }

    @Test("after max_attempts the delivery is dead and stays visible in the database")
    func deadLetter() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.dispatch.maxAttempts = 2
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let worker = try WorkerClient(registration: Ready(workerID: "w", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        _ = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("x-1"))
        let first = try #require(try worker.nextTask())
        try worker.retry(first.deliveryID, afterMs: 0)
        // The re-offer may overtake the confirmation, which waits for the commit.
        let events = try worker.events(count: 2)
        #expect(events.contains(.confirmed(Confirm(deliveryID: first.deliveryID, state: "pending"))))
        let second = try #require(events.compactMap { if case .task(let task) = $0 { task } else { nil } }.first)
        #expect(second.attempt == 2)
        try worker.retry(second.deliveryID, afterMs: 0)
        #expect(try worker.nextAnswer() == .confirmed(Confirm(deliveryID: first.deliveryID, state: "dead")))
        #expect(try eventually { try database.value("SELECT state FROM deliveries WHERE id = $1", [.init(first.deliveryID)]) == "dead" })
        #expect(try worker.nextTask(timeoutMs: 300) == nil)
    }

    @Test("a rejected task is stored as failed with the worker's reason")
    func reject() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let worker = try WorkerClient(registration: Ready(workerID: "w", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        _ = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("j-1"))
        let task = try #require(try worker.nextTask())
        try worker.reject(task.deliveryID, reason: "spam")
        #expect(try worker.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "failed")))
        #expect(try database.value("SELECT state || ':' || notes FROM deliveries WHERE id = $1", [.init(task.deliveryID)]) == "failed:spam")
    }

    @Test("waiting contacts are offered most urgent first (deadline, then priority), also after a restart")
    func mostUrgentFirst() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway)
        let mail = try gateway.publish(Messages.publish("u-1", "help", channel: "mail"))
        let lowEmail = try gateway.publish(Messages.publish("u-2", "help", channel: "email"))
        let highEmail = try gateway.publish(Messages.publish("u-3", "help", channel: "email", priority: 9))
        let phone = try gateway.publish(Messages.publish("u-4", "help", channel: "phone"))
        // e-mail and mail share support's default target, so the later e-mails have later deadlines;
        // raise the high-priority e-mail's deadline to match the other one to show the priority tie-break.
        try database.connect().query(
            "UPDATE deliveries SET deadline = (SELECT deadline FROM deliveries WHERE interaction_id = $1) WHERE interaction_id = $2",
            [.init(lowEmail.interactionID), .init(highEmail.interactionID)])
        // The hub reads the changed deadline when it recovers its backlog from PostgreSQL.
        hub.shutdown()
        let restarted = try RunningHub(RunningHub.config(database))
        defer { restarted.shutdown() }
        let fresh = try WorkerClient(registration: Ready(workerID: "w2", queues: ["support"], capacity: 1), endpoint: restarted.endpoints.worker)
        try fresh.ready()
        var order: [Int64] = []
        for _ in 0..<4 {
            let task = try #require(try fresh.nextTask())
            order.append(task.interaction["id"].flatMap { if case .integer(let id) = $0 { id } else { nil } } ?? 0)
            try fresh.done(task.deliveryID, outcome: "ok")
        }
        #expect(order == [phone.interactionID, mail.interactionID, highEmail.interactionID, lowEmail.interactionID])
    }

    @Test("a replayed dead letter is offered again, from attempt 1, by the running hub")
    func replayDeadLetter() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.dispatch.maxAttempts = 1
        config.rescanMs = 200
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let worker = try WorkerClient(registration: Ready(workerID: "w", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        _ = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("z-1"))
        let task = try #require(try worker.nextTask())
        try worker.retry(task.deliveryID, afterMs: 0)
        #expect(try worker.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "dead")))
        let store = try Store(conninfo: database.conninfo, owner: "test")
        #expect(try store.replayDead(queue: "sales").isEmpty)
        // By the time it died: not in a range that ended before, and in one around now.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(try store.replayDead(diedFrom: now - 3_600_000, diedUntil: now - 60_000).isEmpty)
        #expect(
            try store.replayDead(queue: "support", deliveryIDs: [task.deliveryID], diedFrom: now - 60_000, diedUntil: now + 60_000) == [
                task.deliveryID
            ])
        let again = try #require(try worker.nextTask(timeoutMs: 5000))
        #expect(again.deliveryID == task.deliveryID)
        #expect(again.attempt == 1)
        try worker.done(again.deliveryID, outcome: "ok")
        #expect(try worker.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done")))
        // The history keeps every step, in order, with the worker of each.
        #expect(
            try database.value(
                "SELECT string_agg(kind || ':' || coalesce(worker, '-'), ' ' ORDER BY id) FROM delivery_events WHERE delivery_id = $1",
                [.init(task.deliveryID)]) == "offered:w dead:- replayed:- offered:w done:w")
    }
}
