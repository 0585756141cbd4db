import Foundation
import SwitchboardClient
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import Synchronization
import Testing
import ZeroMQ

@Suite("Worker faults with real processes and floods")
struct WorkerFaultTests {
    /// libzmq tells the hub that a connection closed by its file descriptor, and the next
    /// connection may be given the same one, its first messages read before that report.
    @Test("a worker that connects as another worker's connection closes stays registered when that close is reported")
    func descriptorOfAClosedConnectionReused() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let context = Context()
        func connect(_ name: String) throws -> Socket {
            let socket = try context.socket(.dealer)
            try socket.setRoutingID(Array(name.utf8))
            try socket.setReceiveTimeout(5000)
            try socket.connect(hub.endpoints.worker)
            try socket.send(Codec.encode(.ready(Ready(workerID: name, queues: ["marketing"], capacity: 1))))
            let welcome = try socket.receive().map { try Codec.decode($0.frames, limits: .client) }
            guard case .welcome? = welcome else { throw TestSetupError("\(name): no WELCOME, got \(String(describing: welcome))") }
            return socket
        }
        // Another worker keeps the hub reading worker messages, so that the next connection's
        // first messages are read in the same turn as the last ones before the close, and the
        // report of the close comes after them.
        let flooding = Atomic<Bool>(true)
        let endpoint = hub.endpoints.worker
        let flooder = Thread {
            guard let socket = try? context.socket(.dealer) else { return }
            defer { socket.close() }
            try? socket.setRoutingID(Array("flooder".utf8))
            try? socket.connect(endpoint)
            try? socket.send(Codec.encode(.ready(Ready(workerID: "flooder", queues: ["sales"], capacity: 1))))
            let heartbeat = Codec.encode(.heartbeat)
            while flooding.load(ordering: .relaxed) {
                for _ in 0..<200 { try? socket.send(heartbeat, dontWait: true) }
                while (try? socket.receive(dontWait: true)) != nil {}
            }
        }
        flooder.start()
        defer { flooding.store(false, ordering: .relaxed) }
        for round in 0..<40 {
            let closing = try connect("closing-\(round)")
            closing.close()
            let next = try connect("next-\(round)")
            defer { next.close() }
            // Time for the closed connection's report to reach the hub.
            usleep(20_000)
            try next.send(Codec.encode(.done(Done(deliveryID: 900_000 + Int64(round), outcome: "ok"))))
            var reply: Command?
            repeat {
                reply = try next.receive().map { try Codec.decode($0.frames, limits: .client) }
            } while reply == .heartbeat
            guard case .error(let error)? = reply else {
                Issue.record("round \(round): expected not_held, got \(String(describing: reply))")
                continue
            }
            #expect(error.code == .notHeld, "round \(round): the new connection's worker was dropped: \(error.reason)")
        }
    }

    @Test("a worker process frozen with SIGSTOP loses its task to another worker; woken, its late DONE is refused and counted nowhere")
    func frozenWorkerProcess() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        let frozen = try ExampleProcess(
            "worker.py", ["--endpoint", hub.endpoints.worker, "--worker-id", "frozen", "--queues", "support", "--capacity", "1", "--idle", "6"])
        defer { frozen.kill() }
        #expect(eventually(timeoutMs: 10_000) { httpGet(http, "/metrics")?.body.contains("switchboard_workers 1") ?? false })

        kill(frozen.pid, SIGSTOP)
        let ack = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("frozen-1"))
        // The TASK waits in the frozen worker's socket; its heartbeats stop, and the hub gives it up.
        let rescuer = try WorkerClient(registration: Ready(workerID: "rescuer", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try rescuer.ready()
        let task = try #require(try rescuer.nextTask(timeoutMs: 10_000), "the frozen worker's task was not re-offered")
        #expect(task.interaction["id"] == .integer(ack.interactionID))
        #expect(task.attempt == 2)
        try rescuer.done(task.deliveryID, outcome: "handled")
        #expect(try rescuer.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done")))

        kill(frozen.pid, SIGCONT)
        let output = frozen.waitForExit(timeoutSeconds: 20)
        #expect(output.contains("TASK \(task.deliveryID) attempt 1"), "the woken worker handles its stale task: \(output)")
        #expect(output.contains("not_held"), "its late DONE must be refused: \(output)")
        #expect(output.contains("0 tasks confirmed"), "\(output)")
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done' AND worker = 'rescuer'") == 1)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 1, "the task is completed once")
    }

    @Test("a worker that stops reading but keeps sending heartbeats loses its tasks to one that reads, long before their lease ends")
    func workerNotReading() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.maxBodyBytes = 16_384
        // Ten minutes: within this test only giving the worker up can free what it was offered.
        config.dispatch.leaseMs = 600_000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }

        // A worker that announces room for 10,000 tasks, heartbeats, and never reads: small
        // buffers on its side, so the hub's queue of messages to it fills after some 1,000 TASKs.
        let context = Context()
        let endpoint = hub.endpoints.worker
        let beating = Atomic<Bool>(true)
        let heartbeats = Thread {
            do {
                let stuck = try context.socket(.dealer)
                try stuck.setReceiveHighWaterMark(1)
                try stuck.setKernelReceiveBuffer(8192)
                try stuck.connect(endpoint)
                try stuck.send(Codec.encode(.ready(Ready(workerID: "stuck", queues: ["support"], capacity: 10_000))))
                while beating.load(ordering: .acquiring) {
                    _ = try? stuck.send(Codec.encode(.heartbeat), dontWait: true)
                    usleep(50_000)
                }
            } catch {
                Issue.record("the stuck worker failed: \(error)")
            }
        }
        heartbeats.start()
        defer { beating.store(false, ordering: .releasing) }
        let http = try #require(hub.endpoints.http)
        #expect(eventually { httpGet(http, "/metrics")?.body.contains("switchboard_workers 1") ?? false })

        let messages = 3000
        let body = String(repeating: "My internet is not working, please help. ", count: 190)
        let gateway = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway)
        for index in 0..<messages {
            _ = try gateway.publish(Messages.publish("stuck-\(index)", body, process: .support))
        }

        let reader = try WorkerClient(registration: Ready(workerID: "reader", queues: ["support"], capacity: 100), endpoint: hub.endpoints.worker)
        try reader.ready()
        var done: Set<Int64> = []
        let deadline = Date().addingTimeInterval(60)
        while done.count < messages, Date() < deadline {
            guard case .task(let task)? = try reader.next(timeoutMs: 100) else { continue }
            try reader.done(task.deliveryID, outcome: "handled")
            done.insert(task.deliveryID)
        }
        #expect(done.count == messages, "tasks offered to the worker that stopped reading stayed with it")
        #expect(try eventually(timeoutMs: 10_000) { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == messages })
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done' AND worker = 'reader'") == messages)
    }

    @Test(
        "a worker flooding 20,000 DONEs gets a repeated CONFIRM for the one it completed, not_held for the others, and the hub keeps serving others")
    func doneFlood() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let polite = PoliteTraffic(hub.endpoints)
        defer { polite.stop() }
        let flooder = try WorkerClient(registration: Ready(workerID: "flooder", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try flooder.ready()
        let ack = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("held-1"))
        let held = try #require(try flooder.nextTask())
        #expect(held.interaction["id"] == .integer(ack.interactionID))

        // The one real DONE first, then floods of the same id and of ids never offered.
        try flooder.done(held.deliveryID, outcome: "handled")
        let floodSize = 20_000
        var refused = 0
        var confirmed = 0
        var repeated = 0
        func count(_ event: WorkerClient.Event) {
            switch event {
            case .refused(let error) where error.code == .notHeld && error.detail == RefusalDetail.unknownDelivery.rawValue: refused += 1
            case .confirmed(let confirm) where confirm.repeated: repeated += 1
            case .confirmed: confirmed += 1
            default: break
            }
        }
        for index in 0..<floodSize {
            try flooder.done(index.isMultiple(of: 2) ? held.deliveryID : Int64(1_000_000 + index), outcome: "handled")
            while let event = try flooder.next(timeoutMs: 0) { count(event) }
        }
        let deadline = Date().addingTimeInterval(20)
        while refused + confirmed + repeated < floodSize + 1, Date() < deadline {
            guard let event = try flooder.next(timeoutMs: 100) else { continue }
            count(event)
        }
        #expect(confirmed == 1, "only the real DONE is confirmed as new")
        #expect(repeated == floodSize / 2, "each re-sent DONE of the completed delivery is confirmed as a repeat")
        #expect(refused == floodSize / 2, "every DONE of a delivery that never existed is answered not_held")
        #expect(try database.count("SELECT count(*) FROM quarantine") == 0, "none of these is bad input")
        #expect(eventually(timeoutMs: 10_000) { polite.ackedSoFar >= 3 }, "the polite gateway is served after the flood")
        let served = polite.stop()
        #expect(served.acked == served.published, "every polite message during the flood is ACKed: \(polite.failures.withLock { $0 })")
        #expect(
            eventually(timeoutMs: 30_000) { polite.completed >= served.acked },
            "completed \(polite.completed) of \(served.acked): \((try? database.value("SELECT string_agg(d.id || ':' || d.state || ':' || coalesce(d.worker, '-') || ':' || d.attempts, ' ') FROM deliveries d JOIN interactions i ON i.id = d.interaction_id WHERE i.gateway = 'polite'")) ?? "-")"
        )
        #expect(
            try database.count("SELECT count(*) FROM deliveries WHERE id = $1 AND state = 'done' AND attempts = 1", [.init(held.deliveryID)]) == 1)
    }
}

/// A Python example client running as its own process, for faults only a process can have.
final class ExampleProcess {
    private let process = Process()
    private let log: URL
    var pid: Int32 { process.processIdentifier }

    init(_ script: String, _ arguments: [String]) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        log = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(script)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", root.appendingPathComponent("protocols/examples/\(script)").path] + arguments
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Waits for the process to end (killing it after the timeout) and returns what it printed.
    func waitForExit(timeoutSeconds: Double) -> String {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        kill()
        return (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    }

    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGCONT)
        process.terminate()
        process.waitUntilExit()
    }
}
