import Foundation
import Glibc
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import Synchronization
import Testing

@Suite("Drain: SIGTERM refuses new messages, lets workers finish what they hold, exits 0, and loses nothing ACKed")
struct DrainTests {
    @Test("under load, SIGTERM: every ACKed message is stored, later ones get NACK unavailable hub_draining, held tasks are answered, exit 0")
    func drainUnderLoad() throws {
        let database = try TestDatabase()
        let (gatewayEndpoint, workerEndpoint) = (try freeEndpoint(), try freeEndpoint())
        let hub = try HubProcess(
            database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: "drain_timeout_ms: 15000\n", name: "draining")
        defer { hub.terminate() }
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 3), endpoint: workerEndpoint)
        try worker.ready()

        // A gateway publishing without pause, from its own thread, until the hub refuses it.
        let acked = Mutex<[Int64]>([])
        let refusals = Mutex<[Nack]>([])
        let loadDone = StopSignal()
        let load = Thread {
            defer { loadDone.raise() }
            guard let gateway = try? GatewayClient(name: "sms", endpoint: gatewayEndpoint) else { return }
            for index in 0..<100_000 {
                do {
                    let ack = try gateway.publish(Messages.publish("d-\(index)", "help \(index)", process: .support), timeoutMs: 3000, retries: 0)
                    acked.withLock { $0.append(ack.interactionID) }
                } catch ClientError.refused(let nack) {
                    refusals.withLock { $0.append(nack) }
                    if refusals.withLock({ $0.count }) >= 3 { return }
                } catch {
                    return
                }
            }
        }
        load.start()
        // The worker takes three tasks and holds them.
        var held: [TaskOffer] = []
        let deadline = Date().addingTimeInterval(10)
        while held.count < 3, Date() < deadline {
            if case .task(let task) = try worker.next(timeoutMs: 50) { held.append(task) }
        }
        #expect(held.count == 3)
        usleep(200_000)
        kill(hub.process.processIdentifier, SIGTERM)

        // Refused from now on, with a retry-after; what was ACKed before is kept.
        #expect(eventually(timeoutMs: 8000) { loadDone.isRaised })
        let nacks = refusals.withLock { $0 }
        #expect(!nacks.isEmpty)
        #expect(nacks.allSatisfy { $0.code == .unavailable && $0.detail == "hub_draining" && ($0.retryAfterMs ?? 0) > 0 }, "\(nacks)")
        #expect(hub.process.isRunning, "the hub waits for the held tasks")
        // The held tasks are answered and confirmed while the hub drains; nothing new is offered.
        for task in held { try worker.done(task.deliveryID, outcome: "handled") }
        var confirmed = 0
        var offeredMore = 0
        let answers = Date().addingTimeInterval(5)
        while confirmed < 3, Date() < answers {
            switch try worker.next(timeoutMs: 50) {
            case .confirmed(let confirm) where confirm.state == "done": confirmed += 1
            case .task: offeredMore += 1
            default: break
            }
        }
        #expect(confirmed == 3)
        #expect(offeredMore == 0)
        // Then it exits by itself, cleanly.
        #expect(eventually(timeoutMs: 10_000) { !hub.process.isRunning })
        #expect(hub.process.terminationStatus == 0, "\(hub.output)")

        let ids = acked.withLock { $0 }
        #expect(ids.count > 3)
        let stored = try database.count(
            "SELECT count(*) FROM interactions WHERE id = ANY($1::bigint[])", [.text("{\(ids.map(String.init).joined(separator: ","))}")])
        #expect(stored == ids.count)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 3)
        #expect(try database.count("SELECT count(*) FROM quarantine") == 0)
    }
}
