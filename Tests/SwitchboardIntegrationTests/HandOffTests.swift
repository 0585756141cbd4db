import Foundation
import SwitchboardClient
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import Synchronization
import Testing

/// What a worker received, as the worker saw it: the side of the hub the database cannot show.
struct WorkerLedger {
    private var attemptsSeen: [Int64: [Int]] = [:]
    private var confirmed: Set<Int64> = []
    /// Received and not yet confirmed: what the worker would list in READY's `holding`.
    private(set) var holding: Set<Int64> = []
    /// The same delivery, same attempt, received twice.
    private(set) var sameAttemptTwice = 0
    /// A delivery received again after the hub confirmed it done to this worker.
    private(set) var afterConfirm = 0
    /// A delivery received again while this worker held it (or waited for its CONFIRM).
    private(set) var whileHeld = 0

    var received: Int { attemptsSeen.count }
    var receivedTwice: Int { attemptsSeen.values.count { $0.count > 1 } }

    mutating func task(_ task: TaskOffer) {
        let id = task.deliveryID
        if attemptsSeen[id, default: []].contains(task.attempt) { sameAttemptTwice += 1 }
        if confirmed.contains(id) { afterConfirm += 1 }
        if holding.contains(id) { whileHeld += 1 }
        attemptsSeen[id, default: []].append(task.attempt)
        holding.insert(id)
    }

    mutating func confirm(_ confirm: Confirm) {
        confirmed.insert(confirm.deliveryID)
        holding.remove(confirm.deliveryID)
    }

    var summary: String {
        "received=\(received) received_twice=\(receivedTwice) same_attempt_twice=\(sameAttemptTwice) after_confirm=\(afterConfirm) while_held=\(whileHeld)"
    }
}

/// Sends `count` messages, at most 500 un-ACKed at a time, and waits for every ACK.
func publishAll(_ gateway: GatewayClient, count: Int, prefix: String, process: CRMProcess = .support) throws {
    var acked = 0
    var sent = 0
    let deadline = Date().addingTimeInterval(180)
    while acked < count, Date() < deadline {
        while sent < count, sent - acked < 500 {
            try gateway.send(Messages.publish("\(prefix)-\(sent)", "help \(sent)", process: process))
            sent += 1
        }
        if case .ack? = try gateway.receive(timeoutMs: 100) { acked += 1 }
    }
    guard acked == count else { throw TestSetupError("only \(acked) of \(count) messages were ACKed") }
}

/// Takes every task at once, answers DONE, and records what came, until `messages` are confirmed.
func work(_ worker: WorkerClient, until messages: Int, timeoutSeconds: Double) throws -> (ledger: WorkerLedger, confirmed: Int, refused: [String]) {
    var ledger = WorkerLedger()
    var confirmed = 0
    var refused: [String] = []
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while confirmed < messages, Date() < deadline {
        switch try worker.next(timeoutMs: 100) {
        case .task(let task):
            ledger.task(task)
            try worker.done(task.deliveryID, outcome: "ok")
        case .confirmed(let confirm):
            ledger.confirm(confirm)
            confirmed += 1
        case .refused(let error): refused.append(error.detail)
        case .result, .replied, nil: break
        }
    }
    return (ledger, confirmed, refused)
}

@Suite("The hand-off to workers: no task twice, holding honoured, a reading worker kept, every answer known")
struct HandOffTests {
    @Test("a backlog drained while the hub reads it again every 20 ms offers no delivery twice")
    func backlogDrainWithRescans() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.rescanMs = 20
        config.transitionWaitMs = 40
        config.dispatch.windowPerQueue = 64
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let messages = 4000
        try publishAll(try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway), count: messages, prefix: "backlog")

        let worker = try WorkerClient(registration: Ready(workerID: "drainer", queues: ["support"], capacity: 8), endpoint: hub.endpoints.worker)
        try worker.ready()
        var (ledger, confirmedCount, _) = try work(worker, until: messages, timeoutSeconds: 120)
        // Rescans that come after the last CONFIRM must not bring anything back either.
        while case .task(let task)? = try worker.next(timeoutMs: 300) { ledger.task(task) }
        print("backlog drain: \(ledger.summary)")
        #expect(confirmedCount == messages)
        #expect(ledger.received == messages)
        #expect(ledger.receivedTwice == 0, "\(ledger.summary)")
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done' AND attempts = 1") == messages)
    }

    @Test("a worker reading steadily at capacity 64 through 100,000 tasks is never dropped, though its connection's queue fills")
    func steadyReaderKept() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        // CONFIRMs of a batch and new TASKs come in bursts far past so small a queue.
        config.workerSendQueue = 16
        config.transitionWaitMs = 50
        config.dispatch.heartbeatMs = 1000
        config.dispatch.heartbeatTimeoutMs = 3000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        let messages = 100_000
        let endpoint = hub.endpoints.gateway
        let published = Mutex<Result<Void, TestSetupError>?>(nil)
        let publisher = Thread {
            let result = Result { try publishAll(try GatewayClient(name: "gw", endpoint: endpoint), count: messages, prefix: "steady") }
            published.withLock { $0 = result.mapError { TestSetupError("\($0)") } }
        }
        publisher.start()

        let worker = try WorkerClient(registration: Ready(workerID: "steady", queues: ["support"], capacity: 64), endpoint: hub.endpoints.worker)
        try worker.ready()
        let (ledger, confirmedCount, refused) = try work(worker, until: messages, timeoutSeconds: 600)
        try published.withLock { $0 }?.get()
        let metrics = httpGet(http, "/metrics")?.body ?? ""
        print("steady reader: \(ledger.summary) refused=\(refused.count)")
        #expect(confirmedCount == messages)
        #expect(metrics.contains("switchboard_workers_not_reading_total 0"), "\(metrics)")
        #expect(refused.isEmpty, "\(refused.prefix(5))")
        #expect(ledger.receivedTwice == 0, "\(ledger.summary)")
    }

    @Test("after a crash a returning worker keeps what it lists in holding, also tasks whose offer was never written")
    func holdingKeptAfterCrash() throws {
        let database = try TestDatabase()
        let gatewayEndpoint = try freeEndpoint()
        let workerEndpoint = try freeEndpoint()
        // Offers wait a minute to be written: when the hub is killed none of them is in the database.
        let yaml = "transition_wait_ms: 60000\nheartbeat_ms: 100\nheartbeat_timeout_ms: 1500\n"
        var hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: yaml)
        defer { hub.terminate() }
        let gateway = try GatewayClient(name: "gw", endpoint: gatewayEndpoint)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not start: \(hub.output)")
        let holder = try WorkerClient(registration: Ready(workerID: "holder", queues: ["support"], capacity: 10), endpoint: workerEndpoint)
        try holder.ready()
        try publishAll(gateway, count: 10, prefix: "held")
        var held: Set<Int64> = []
        let deadline = Date().addingTimeInterval(20)
        while held.count < 10, Date() < deadline {
            if case .task(let task)? = try holder.next(timeoutMs: 100) { held.insert(task.deliveryID) }
        }
        #expect(held.count == 10)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'pending' AND attempts = 0") == 10, "offers were written")

        hub.kill9()
        hub = try HubProcess(
            database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: "heartbeat_ms: 100\nheartbeat_timeout_ms: 1500\n")
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not restart: \(hub.output)")
        // Another worker announces itself first, before the holder notices the restart.
        let other = try WorkerClient(registration: Ready(workerID: "other", queues: ["support"], capacity: 10), endpoint: workerEndpoint)
        try other.ready()
        var stolen: [Int64] = []
        var holderEvents: [WorkerClient.Event] = []
        let until = Date().addingTimeInterval(3)
        while Date() < until {
            if case .task(let task)? = try other.next(timeoutMs: 20) { stolen.append(task.deliveryID) }
            if let event = try holder.next(timeoutMs: 20) { holderEvents.append(event) }
        }
        #expect(stolen.isEmpty, "tasks the holder listed in holding went to another worker: \(stolen)")
        #expect(holderEvents.isEmpty, "the holder got \(holderEvents)")
        for id in held.sorted() { try holder.done(id, outcome: "ok") }
        let answers = try holder.events(count: 10, timeoutMs: 10_000)
        let confirmed = answers.compactMap {
            if case .confirmed(let confirm) = $0, !confirm.repeated, confirm.state == "done" { confirm.deliveryID } else { nil }
        }
        #expect(confirmed.sorted() == held.sorted(), "\(answers)")
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done' AND worker = 'holder' AND attempts = 1") == 10)
    }

    @Test("a DONE re-sent after a restart for a delivery the same worker completed is confirmed as a repeat; another worker's is refused as settled")
    func repeatedDoneAfterCrash() throws {
        let database = try TestDatabase()
        let gatewayEndpoint = try freeEndpoint()
        let workerEndpoint = try freeEndpoint()
        var hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint)
        defer { hub.terminate() }
        let gateway = try GatewayClient(name: "gw", endpoint: gatewayEndpoint)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not start: \(hub.output)")
        let worker = try WorkerClient(registration: Ready(workerID: "w", queues: ["support"], capacity: 1), endpoint: workerEndpoint)
        try worker.ready()
        _ = try gateway.publish(Messages.publish("once"))
        let task = try #require(try worker.nextTask())
        try worker.done(task.deliveryID, outcome: "resolved")
        #expect(try worker.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done")))

        hub.kill9()
        hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not restart: \(hub.output)")
        // As if its CONFIRM had been lost in the crash: the same DONE again, once the hub knows the worker.
        let again = try WorkerClient(registration: Ready(workerID: "w", queues: ["support"], capacity: 1), endpoint: workerEndpoint)
        try again.ready()
        try again.done(task.deliveryID, outcome: "resolved")
        #expect(try again.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done", repeated: true)))
        let stranger = try WorkerClient(registration: Ready(workerID: "stranger", queues: ["support"], capacity: 1), endpoint: workerEndpoint)
        try stranger.ready()
        try stranger.done(task.deliveryID, outcome: "resolved")
        guard case .refused(let error)? = try stranger.nextAnswer() else { Issue.record("no refusal for another worker's DONE"); return }
        #expect(error.code == .notHeld)
        #expect(error.detail == RefusalDetail.settled.rawValue)
        #expect(error.reason.contains("'w'"), "\(error.reason)")
        #expect(try database.count("SELECT count(*) FROM quarantine") == 0)
    }
}
