import Foundation
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import Testing

/// Offers, DONEs and the other delivery transitions wait up to `transition_wait_ms` to share a
/// commit, so that light load does not cost a transaction per message; none waits longer, and a
/// stopping hub writes them all.
@Suite("Delivery transitions share commits")
struct TransitionCommitTests {
    @Test("the offers and DONEs of messages answered within transition_wait_ms are written in one commit, and each is confirmed")
    func transitionsShareACommit() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        // Long enough for ten messages to be stored, offered and answered on a busy test machine.
        config.transitionWaitMs = 2000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let worker = try WorkerClient(registration: Ready(workerID: "w-1", queues: ["support"], capacity: 10), endpoint: hub.endpoints.worker)
        try worker.ready()
        let gateway = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway)
        for index in 0..<10 { _ = try gateway.publish(Messages.publish("t-\(index)")) }
        var confirmed = Set<Int64>()
        let deadline = Date().addingTimeInterval(10)
        while confirmed.count < 10 && Date() < deadline {
            switch try worker.next(timeoutMs: 50) {
            case .task(let task): try worker.done(task.deliveryID, outcome: "resolved")
            case .confirmed(let confirm): confirmed.insert(confirm.deliveryID)
            default: break
            }
        }
        #expect(confirmed.count == 10)
        // Each delivery's row as its last write left it: offered to w-1 once, then done, both
        // written by the same transaction as every other delivery's.
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE worker = 'w-1' AND state = 'done' AND attempts = 1") == 10)
        #expect(try database.count("SELECT count(DISTINCT xmin::text) FROM deliveries") == 1)
    }

    @Test("a stopping hub writes the transitions still waiting")
    func stoppingHubWritesWaitingTransitions() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.transitionWaitMs = 600_000
        let hub = try RunningHub(config)
        let worker = try WorkerClient(registration: Ready(workerID: "w-1", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        _ = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("s-1"))
        let task = try #require(try worker.nextTask())
        try worker.done(task.deliveryID, outcome: "resolved")
        // Still waiting: neither the offer nor the DONE is written, so no CONFIRM yet.
        #expect(try worker.nextAnswer(timeoutMs: 300) == nil)
        #expect(try database.value("SELECT state FROM deliveries WHERE id = $1", [.init(task.deliveryID)]) == "pending")
        hub.shutdown()
        #expect(
            try database.value("SELECT worker || ':' || state || ':' || attempts FROM deliveries WHERE id = $1", [.init(task.deliveryID)])
                == "w-1:done:1")
    }
}
