import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Synchronization
import Testing
import ZeroMQ

/// Workers on threads of their own, each connected to every hub, doing each task for `workMs`:
/// what they received, as they saw it.
final class WorkerCrew: @unchecked Sendable {
    /// (delivery, attempt, worker) of every task a worker was handed.
    let received = Mutex<[(delivery: Int64, attempt: Int, worker: String)]>([])
    let confirmed = Mutex<Set<Int64>>([])
    let refusals = Mutex<[String]>([])
    private let stop = Atomic<Bool>(false)
    private var threads: [Thread] = []

    init(count: Int, endpoints: [String], capacity: Int, workMs: Int) throws {
        let welcomed = Atomic<Int>(0)
        for index in 0..<count {
            let thread = Thread { [self] in
                let client: WorkerClient
                do {
                    client = try WorkerClient(
                        registration: Ready(workerID: "crew-\(index)", queues: ["support"], capacity: capacity), endpoints: endpoints)
                    try client.ready()
                    welcomed.add(1, ordering: .relaxed)
                } catch {
                    refusals.withLock { $0.append("crew-\(index) could not start: \(error)") }
                    return
                }
                var working: [(id: Int64, until: Date)] = []
                while !stop.load(ordering: .relaxed) {
                    do {
                        switch try client.next(timeoutMs: 5) {
                        case .task(let task):
                            received.withLock { $0.append((task.deliveryID, task.attempt, "crew-\(index)")) }
                            working.append((task.deliveryID, Date().addingTimeInterval(Double(workMs) / 1000)))
                        case .confirmed(let confirm): _ = confirmed.withLock { $0.insert(confirm.deliveryID) }
                        case .refused(let error): refusals.withLock { $0.append("\(error.detail) \(error.reason)") }
                        default: break
                        }
                        let now = Date()
                        for job in working where job.until <= now { try client.done(job.id, outcome: "ok") }
                        working.removeAll { $0.until <= now }
                    } catch {
                        refusals.withLock { $0.append("client error: \(error)") }
                    }
                }
                client.close()
            }
            threads.append(thread)
            thread.start()
        }
        guard eventually(timeoutMs: 10_000, { welcomed.load(ordering: .relaxed) == count }) else {
            finish()
            throw TestSetupError("the crew was not welcomed: \(refusals.withLock { $0 })")
        }
    }

    /// Deliveries handed to workers more than once (across all of them).
    var handedTwice: [Int64] {
        let counts = received.withLock { Dictionary($0.map { ($0.delivery, 1) }, uniquingKeysWith: +) }
        return counts.filter { $0.value > 1 }.map(\.key).sorted()
    }

    /// What each worker was handed of the deliveries handed twice, and their history, for a failure's message.
    func twiceReport(_ database: TestDatabase) -> String {
        let twice = Set(handedTwice.prefix(5))
        let handed = received.withLock { $0.filter { twice.contains($0.delivery) }.map { "\($0.delivery)#\($0.attempt)→\($0.worker)" } }
        let history = twice.sorted().map { id in
            let rows =
                (try? database.connect().query(
                    "SELECT kind || ':' || coalesce(worker, '') || '@' || coalesce(hub, '') || '#' || attempt FROM delivery_events WHERE delivery_id = $1 ORDER BY id",
                    [.init(id)]
                ).rows.compactMap { $0[0] }) ?? []
            return "\(id): \(rows.joined(separator: " "))"
        }
        return "handed: \(handed.joined(separator: ", ")); history: \(history.joined(separator: "; "))"
    }

    func finish() { stop.store(true, ordering: .relaxed) }
    deinit { finish() }
}

/// Two hub processes on one database, hub-a and hub-b, with a pair's configuration, and a gateway
/// connected to both, once both answer.
struct HubPair {
    let endpointsA: (gateway: String, worker: String)
    let endpointsB: (gateway: String, worker: String)
    var hubA: HubProcess
    let hubB: HubProcess
    let gateway: GatewayClient
    var workerEndpoints: [String] { [endpointsA.worker, endpointsB.worker] }

    init(_ database: TestDatabase) throws {
        endpointsA = (try freeEndpoint(), try freeEndpoint())
        endpointsB = (try freeEndpoint(), try freeEndpoint())
        hubA = try HubProcess(
            database: database, gateway: endpointsA.gateway, worker: endpointsA.worker, configYAML: MultiHubTests.pairYAML, name: "hub-a",
            logLevel: "info")
        hubB = try HubProcess(
            database: database, gateway: endpointsB.gateway, worker: endpointsB.worker, configYAML: MultiHubTests.pairYAML, name: "hub-b",
            logLevel: "info")
        gateway = try GatewayClient(name: "gw", endpoints: [endpointsA.gateway, endpointsB.gateway])
        let (gateway, hubA, hubB) = (gateway, hubA, hubB)
        guard try eventually(timeoutMs: 15_000, { try gateway.ping(timeoutMs: 200) && gateway.ping(timeoutMs: 200) }) else {
            throw TestSetupError("the hubs did not start: \(hubA.output.suffix(1500))\n\(hubB.output.suffix(1500))")
        }
    }

    /// hub-a again, under its name and on its endpoints (after it was killed or exited).
    mutating func restartA(_ database: TestDatabase) throws {
        hubA = try HubProcess(
            database: database, gateway: endpointsA.gateway, worker: endpointsA.worker, configYAML: MultiHubTests.pairYAML, name: "hub-a",
            logLevel: "info")
    }

    func terminate() {
        hubA.terminate()
        hubB.terminate()
    }
}

/// Deliveries done, and the history of a few that are not, for messages.
private func done(_ database: TestDatabase) -> String {
    let count = (try? database.count("SELECT count(*) FROM deliveries WHERE state = 'done'")) ?? -1
    let open =
        (try? database.connect().query(
            """
            SELECT d.id || ' ' || d.state || ' owner ' || coalesce(d.owner, '-') || ': '
                   || coalesce(string_agg(e.kind || ':' || coalesce(e.worker, '') || '@' || coalesce(e.hub, '') || '#' || e.attempt, ' ' ORDER BY e.id), '')
              FROM deliveries d LEFT JOIN delivery_events e ON e.delivery_id = d.id
             WHERE d.state <> 'done' GROUP BY d.id ORDER BY d.id LIMIT 5
            """
        ).rows.compactMap { $0[0] }) ?? []
    return "\(count) (not done: \(open.joined(separator: "; ")))"
}

/// Several hubs on one database (docs/scaling.md).
@Suite("Two hubs on one database")
struct MultiHubTests {
    /// A hub process of a pair: quick heartbeats and a short lease, so that adoption is seen in seconds.
    static let pairYAML = "heartbeat_ms: 100\nheartbeat_timeout_ms: 1500\nhub_lease_ms: 1500\n"

    /// Two in-process hubs on one database, hub-a and hub-b.
    static func runningPair(_ database: TestDatabase) throws -> (RunningHub, RunningHub) {
        var first = RunningHub.config(database)
        first.hubName = "hub-a"
        var second = RunningHub.config(database)
        second.hubName = "hub-b"
        let hubA = try RunningHub(first)
        do {
            return (hubA, try RunningHub(second))
        } catch {
            hubA.shutdown()
            throw error
        }
    }

    @Test("two hubs share the work without offering a delivery twice, and a worker connected to both is never over capacity")
    func shareWithoutDuplicates() throws {
        let database = try TestDatabase()
        let (hubA, hubB) = try Self.runningPair(database)
        defer {
            hubA.shutdown()
            hubB.shutdown()
        }
        let crew = try WorkerCrew(count: 4, endpoints: [hubA.endpoints.worker, hubB.endpoints.worker], capacity: 2, workMs: 3)
        defer { crew.finish() }
        let gateway = try GatewayClient(name: "gw", endpoints: [hubA.endpoints.gateway, hubB.endpoints.gateway])
        #expect(try eventually { try gateway.ping(timeoutMs: 200) && gateway.ping(timeoutMs: 200) })
        try publishAll(gateway, count: 400, prefix: "shared")
        #expect(
            try eventually(timeoutMs: 60_000) { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 400 },
            "\(done(database)) of 400 done")
        crew.finish()
        #expect(crew.handedTwice.isEmpty, "handed twice: \(crew.twiceReport(database))")
        #expect(crew.received.withLock { $0.count } == 400)
        #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'done'") == 400)
        // Each hub offered what it had stored: both took part.
        for hub in ["hub-a", "hub-b"] {
            #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'offered' AND hub = $1", [.text(hub)]) > 0, "\(hub)")
        }
        // A delivery was offered by one hub only.
        #expect(
            try database.count(
                "SELECT count(*) FROM (SELECT delivery_id FROM delivery_events WHERE kind = 'offered' GROUP BY 1 HAVING count(DISTINCT hub) > 1) x")
                == 0)
    }

    @Test(
        "a hub killed under load: the other adopts its work within 2 s of its lease running out, nothing is lost or done twice, and the killed hub rejoins clean"
    )
    func killedHubAdopted() throws {
        let database = try TestDatabase()
        var pair = try HubPair(database)
        defer { pair.terminate() }
        let (gateway, hubB) = (pair.gateway, pair.hubB)
        try publishAll(gateway, count: 600, prefix: "before")
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE owner = 'hub-a' AND state = 'pending'") > 100)

        let crew = try WorkerCrew(count: 3, endpoints: pair.workerEndpoints, capacity: 3, workMs: 15)
        defer { crew.finish() }
        #expect(try eventually(timeoutMs: 30_000) { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") >= 150 })
        pair.hubA.kill9()
        let killedAt = Date()
        #expect(
            try eventually(timeoutMs: 60_000) { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 600 },
            "\(done(database)) of 600 done; hub-b: \(hubB.output.suffix(3000))")
        let adoption = try #require(
            hubB.output.split(separator: "\n").first { $0.contains("adopted hub 'hub-a'") }, "hub-b adopted nothing: \(hubB.output.suffix(3000))")
        print("killed hub adopted \(Date().timeIntervalSince(killedAt)) s after kill (or earlier): \(adoption)")
        let lateMs = adoption.split(separator: "having run out ").last.flatMap { Int($0.split(separator: " ").first ?? "") }
        #expect(lateMs.map { $0 < 2000 } ?? false, "\(adoption)")
        #expect(crew.handedTwice.isEmpty, "handed twice: \(crew.twiceReport(database)) \(crew.refusals.withLock { $0.prefix(5) })")
        #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'done'") == 600)
        #expect(try database.count("SELECT count(*) FROM interactions") == 600)

        // hub-a comes back: it owns nothing of its old run, and takes new work without a duplicate.
        try pair.restartA(database)
        let hubA = pair.hubA
        #expect(
            eventually(timeoutMs: 15_000) { hubA.output.contains("hub 'hub-b' adopted the deliveries of this hub's previous run") },
            "\(hubA.output)")
        try publishAll(gateway, count: 100, prefix: "after")
        #expect(
            try eventually(timeoutMs: 60_000) { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 700 },
            "\(done(database)) of 700 done")
        crew.finish()
        #expect(crew.handedTwice.isEmpty, "handed twice: \(crew.twiceReport(database))")
        #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'done'") == 700)
    }

    @Test(
        "a hub cut off from the database past its lease stops offering; adopted meanwhile, it exits when it can renew again, and no task is done twice"
    )
    func frozenHubFenced() throws {
        let database = try TestDatabase()
        let pair = try HubPair(database)
        defer { pair.terminate() }
        let (gateway, hubA, hubB) = (pair.gateway, pair.hubA, pair.hubB)
        try publishAll(gateway, count: 400, prefix: "frozen")
        let crew = try WorkerCrew(count: 3, endpoints: pair.workerEndpoints, capacity: 3, workMs: 15)
        defer { crew.finish() }
        #expect(try eventually(timeoutMs: 30_000) { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") >= 100 })
        // Frozen for three leases: to the database and to its workers it is gone; then it wakes with its memory intact.
        kill(hubA.process.processIdentifier, SIGSTOP)
        #expect(eventually(timeoutMs: 10_000) { hubB.output.contains("adopted hub 'hub-a'") }, "\(hubB.output.suffix(2000))")
        Thread.sleep(forTimeInterval: 1.5)
        kill(hubA.process.processIdentifier, SIGCONT)
        #expect(eventually(timeoutMs: 10_000) { !hubA.process.isRunning }, "hub-a kept running after it was adopted: \(hubA.output.suffix(2000))")
        #expect(hubA.output.contains("another hub adopted its work"), "\(hubA.output.suffix(2000))")
        #expect(
            try eventually(timeoutMs: 60_000) { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 400 },
            "\(done(database)) of 400 done")
        crew.finish()
        #expect(crew.handedTwice.isEmpty, "handed twice: \(crew.twiceReport(database))")
        #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'done'") == 400)
    }

    @Test("the same gateway message sent to two hubs is stored once, and a gateway connected to both has every message stored once")
    func oneMessageTwoHubs() throws {
        let database = try TestDatabase()
        let (hubA, hubB) = try Self.runningPair(database)
        defer {
            hubA.shutdown()
            hubB.shutdown()
        }
        let toA = try GatewayClient(name: "web-gw", endpoint: hubA.endpoints.gateway)
        let toB = try GatewayClient(name: "web-gw", endpoint: hubB.endpoints.gateway)
        for index in 0..<20 {
            let message = Messages.publish("m-\(index)", "help \(index)", hints: IdentityHints(email: "c\(index % 7)@example.com"))
            let viaA = try toA.publish(message)
            let viaB = try toB.publish(message)
            #expect(!viaA.duplicate && viaB.duplicate)
            #expect(viaA.interactionID == viaB.interactionID && viaA.customerID == viaB.customerID)
        }
        #expect(try database.count("SELECT count(*) FROM interactions") == 20)
        #expect(try database.count("SELECT count(*) FROM deliveries") == 20)

        // One DEALER connected to both hubs: messages go to each in turn, every one stored once.
        let both = try GatewayClient(name: "chat-gw", endpoints: [hubA.endpoints.gateway, hubB.endpoints.gateway])
        #expect(try eventually { try both.ping(timeoutMs: 200) && both.ping(timeoutMs: 200) })
        var acked: [String: Int64] = [:]
        for index in 0..<40 {
            let ack = try both.publish(Messages.publish("c-\(index)", "hi \(index)", channel: "chat", hints: IdentityHints(chat: "v-\(index % 5)")))
            acked[ack.messageID] = ack.interactionID
        }
        #expect(acked.count == 40 && Set(acked.values).count == 40)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'chat-gw'") == 40)
        // The Python example does the same from the spec: one socket, both hubs.
        let python = try runExample(
            "gateway.py", ["--endpoint", "\(hubA.endpoints.gateway),\(hubB.endpoints.gateway)", "--name", "py-gw", "--count", "10"])
        #expect(python.status == 0 && python.output.contains("10 of 10 messages acknowledged"), "\(python.output)")
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'py-gw'") == 10)
        // Both hubs took some: each counts its own ACKs.
        for hub in [hubA, hubB] {
            let http = try #require(hub.endpoints.http)
            let metrics = httpGet(http, "/metrics")?.body ?? ""
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("switchboard_messages_received_total{channel=\"chat\"}") }
            let count = line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            #expect(count > 0, "a hub took no message of the gateway connected to both: \(line ?? "none")")
        }
        // The Python worker connected to both hubs completes the 70 tasks, each once.
        let worker = try runExample(
            "worker.py", ["--endpoint", "\(hubA.endpoints.worker),\(hubB.endpoints.worker)", "--tasks", "70", "--idle", "15"])
        #expect(worker.status == 0 && worker.output.contains("70 tasks confirmed"), "\(worker.output.suffix(2000))")
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 70)
        #expect(try database.count("SELECT count(*) FROM delivery_events WHERE kind = 'done'") == 70)
    }
}

/// Hubs played by this test over real ZeroMQ sockets: what the worker library sends each, and
/// what it makes of what they answer.
@Suite("A worker connected to several hubs")
struct SeveralHubsWorkerClientTests {
    /// A hub's worker socket, which this test answers by hand.
    final class ScriptedHub: @unchecked Sendable {
        let socket: Socket
        private var worker: [UInt8] = []

        init(_ context: Context) throws {
            socket = try context.socket(.router)
            try socket.setReceiveTimeout(5000)
            try socket.bind("tcp://127.0.0.1:*")
        }

        /// The next command other than a HEARTBEAT.
        func receive() throws -> Command {
            while true {
                guard var message = try socket.receive() else { throw TestSetupError("the worker sent nothing") }
                worker = message.removeRoutingID() ?? []
                let command = try Codec.decode(message.frames)
                if command != .heartbeat { return command }
            }
        }

        func send(_ command: Command) throws { try socket.send([worker] + Codec.encode(command)) }

        static func task(_ id: Int64) -> Command {
            .task(
                TaskOffer(
                    deliveryID: id, attempt: 1, deadline: 0, queue: "support", priority: 0, interaction: ["id": .integer(id)],
                    customer: ["id": 1], body: []))
        }
    }

    /// A scripted hub on a thread of its own (a socket stays on the thread that made it), running
    /// `script`; returns its endpoint, and a semaphore signalled when the script ends.
    static func hubOnThread(_ script: @escaping @Sendable (ScriptedHub) throws -> Void) throws -> (endpoint: String, ended: DispatchSemaphore) {
        let endpoint = Mutex<String?>(nil)
        let bound = DispatchSemaphore(value: 0), ended = DispatchSemaphore(value: 0)
        Thread {
            defer { ended.signal() }
            let hub = try? ScriptedHub(Context())
            endpoint.withLock { $0 = hub?.socket.lastEndpoint }
            bound.signal()
            guard let hub else { return }
            try? script(hub)
            Thread.sleep(forTimeInterval: 0.5)  // what it sent is read before its socket closes
        }.start()
        bound.wait()
        return (try #require(endpoint.withLock { $0 }), ended)
    }

    static func taskID(_ event: WorkerClient.Event?) -> Int64? { if case .task(let task) = event { task.deliveryID } else { nil } }

    /// A worker of capacity 1 connected to two scripted hubs, both of which welcomed it, holding task 1 of hub A.
    static func fullWorker(_ context: Context) throws -> (client: WorkerClient, hubA: ScriptedHub, hubB: ScriptedHub) {
        let hubA = try ScriptedHub(context), hubB = try ScriptedHub(context)
        let client = try WorkerClient(
            registration: Ready(workerID: "w", queues: ["support"], capacity: 1), endpoints: [hubA.socket.lastEndpoint, hubB.socket.lastEndpoint],
            context: context)
        // One thread owns every socket here: the hubs answer READY once `ready` stopped waiting.
        #expect(throws: ClientError.self) { try client.ready(timeoutMs: 100) }
        for hub in [hubA, hubB] {
            #expect(try hub.receive() == .ready(client.registration))
            try hub.send(.welcome(Welcome(workerID: "w", heartbeatMs: 1000)))
        }
        try hubA.send(ScriptedHub.task(1))
        #expect(taskID(try client.next(timeoutMs: 2000)) == 1)
        return (client, hubA, hubB)
    }

    /// The worker answers `id` DONE; it must go to `hub`, whose CONFIRM must reach the caller.
    static func complete(_ id: Int64, _ client: WorkerClient, via hub: ScriptedHub) throws {
        try client.done(id, outcome: "ok")
        #expect(try hub.receive() == .done(Done(deliveryID: id, outcome: "ok")))
        try hub.send(.confirm(Confirm(deliveryID: id, state: "done")))
        #expect(try client.next(timeoutMs: 2000) == .confirmed(Confirm(deliveryID: id, state: "done")))
    }

    /// Hub B offers task 2 to the full worker: declined busy, unseen by the caller.
    static func offerDeclined(_ client: WorkerClient, by hubB: ScriptedHub) throws {
        try hubB.send(ScriptedHub.task(2))
        #expect(try client.next(timeoutMs: 300) == nil)
        #expect(try hubB.receive() == .reject(Reject(deliveryID: 2, reason: "at capacity with another hub's tasks", busy: true)))
    }

    @Test("a task offered again after a busy decline whose CONFIRM was lost: its DONE's CONFIRM is the caller's")
    func doneConfirmAfterLostDeclineConfirm() throws {
        let (client, hubA, hubB) = try Self.fullWorker(Context())
        defer { client.close() }
        try Self.offerDeclined(client, by: hubB)
        // Hub B never confirms the decline (it stopped before writing it, say), and offers task 2
        // again once the worker has room.
        try Self.complete(1, client, via: hubA)
        try hubB.send(ScriptedHub.task(2))
        #expect(Self.taskID(try client.next(timeoutMs: 2000)) == 2)
        try Self.complete(2, client, via: hubB)
    }

    @Test("a task declined twice and then taken: the declines' late CONFIRMs leave its answer going to the hub that offered it")
    func lateDeclineConfirms() throws {
        let (client, hubA, hubB) = try Self.fullWorker(Context())
        defer { client.close() }
        try Self.offerDeclined(client, by: hubB)
        try Self.offerDeclined(client, by: hubB)
        try Self.complete(1, client, via: hubA)
        // The first decline is confirmed; the task is offered a third time and taken; then the second decline's CONFIRM comes.
        try hubB.send(.confirm(Confirm(deliveryID: 2, state: "pending")))
        try hubB.send(ScriptedHub.task(2))
        #expect(Self.taskID(try client.next(timeoutMs: 2000)) == 2)
        try hubB.send(.confirm(Confirm(deliveryID: 2, state: "pending")))
        #expect(try client.next(timeoutMs: 300) == nil, "a decline's CONFIRM is not the caller's")
        try Self.complete(2, client, via: hubB)
    }

    @Test("a TASK that comes from one hub while `ready` still waits for another's WELCOME is kept for `next`")
    func taskBeforeEveryWelcome() throws {
        // Hub B welcomes the worker and offers it a task at once; hub A is slow to answer READY.
        let hubB = try Self.hubOnThread { hub in
            guard case .ready = try hub.receive() else { return }
            try hub.send(.welcome(Welcome(workerID: "w", heartbeatMs: 1000)))
            try hub.send(ScriptedHub.task(4))
        }
        let hubA = try Self.hubOnThread { hub in
            guard case .ready = try hub.receive() else { return }
            Thread.sleep(forTimeInterval: 0.3)
            try hub.send(.welcome(Welcome(workerID: "w", heartbeatMs: 1000)))
        }
        let client = try WorkerClient(
            registration: Ready(workerID: "w", queues: ["support"], capacity: 2), endpoints: [hubA.endpoint, hubB.endpoint])
        defer { client.close() }
        try client.ready()
        #expect(Self.taskID(try client.next(timeoutMs: 1000)) == 4)
        hubA.ended.wait()
        hubB.ended.wait()
    }
}
