import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing
import ZeroMQ

/// The real `switchboard serve` binary as a child process, so it can be killed with SIGKILL.
final class HubProcess {
    let process = Process()
    let log: URL

    /// Starts `switchboard serve`; `configYAML`, if given, is written to a file and passed as `--config`.
    /// `environment` is added to the child's (NOTIFY_SOCKET is removed unless given there).
    init(
        database: TestDatabase, gateway: String, worker: String, configYAML: String? = nil, name: String = "killable", logLevel: String = "warning",
        environment extra: [String: String] = [:], log logFile: URL? = nil, configFile: String? = nil
    ) throws {
        guard let binary = ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"] else {
            throw TestSetupError("SWITCHBOARD_BIN is not set: run the tests with 'make test'")
        }
        log = logFile ?? FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-hub-\(UUID().uuidString).log")
        if logFile == nil { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--log-level", logLevel]
        // Security is on unless configured off; these hubs test other promises.
        var configYAML = (configYAML?.contains("security:") ?? false) ? configYAML! : "security: off\n" + (configYAML ?? "")
        if !configYAML.contains("http_endpoint:") { configYAML += "http_endpoint: \"127.0.0.1:0\"\n" }
        if !configYAML.contains("events_endpoint:") { configYAML += "events_endpoint: \"tcp://127.0.0.1:*\"\n" }
        // These hubs test other promises: they stop at once, as before draining (DrainTests test it).
        if !configYAML.contains("drain_timeout_ms:") { configYAML += "drain_timeout_ms: 0\n" }
        if let configFile {
            // The test's own file, which it rewrites (reload).
            process.arguments! += ["--config", configFile]
        } else {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID().uuidString).yaml")
            try configYAML.write(to: file, atomically: true, encoding: .utf8)
            process.arguments! += ["--config", file.path]
        }
        var environment = ProcessInfo.processInfo.environment
        environment["SWITCHBOARD_DATABASE"] = database.conninfo
        environment["SWITCHBOARD_GATEWAY_ENDPOINT"] = gateway
        environment["SWITCHBOARD_WORKER_ENDPOINT"] = worker
        environment["SWITCHBOARD_HUB_NAME"] = name
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func terminate() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// The process's resident set size in bytes (VmRSS in /proc), or nil once it has exited.
    var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
        else { return nil }
        return kilobytes * 1024
    }
}

/// A loopback endpoint whose port was free a moment ago, for a hub started (and restarted) on it.
/// Chosen below Linux's ephemeral range (32768–60999): a port from that range was taken by an
/// outgoing connection of a test running in parallel before the hub could bind it.
func freeEndpoint() throws -> String {
    let context = Context()
    for _ in 0..<200 {
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 20_000..<32_000))"
        let socket = try context.socket(.router)
        defer { socket.close() }
        if (try? socket.bind(endpoint)) != nil { return endpoint }
    }
    throw TestSetupError("no free loopback port between 20000 and 32000")
}

@Suite("Restart recovery")
struct RecoveryTests {
    @Test("kill -9 of the hub loses no ACKed message, duplicates no interaction, and completes no task twice")
    func killNineLosesNothing() throws {
        let database = try TestDatabase()
        let gatewayEndpoint = try freeEndpoint()
        let workerEndpoint = try freeEndpoint()
        var hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint)
        defer { hub.terminate() }
        let gateway = try GatewayClient(name: "crash-gw", endpoint: gatewayEndpoint)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not start: \(hub.output)")

        let messages = (0..<400).map { Messages.publish("k-\($0)", "help \($0)", hints: IdentityHints(email: "c\($0 % 37)@example.com")) }
        var acked: [String: Ack] = [:]
        func collect(timeoutMs: Int) throws {
            while let answer = try gateway.receive(timeoutMs: timeoutMs) {
                if case .ack(let ack) = answer {
                    if let earlier = acked[ack.messageID] { #expect(earlier.interactionID == ack.interactionID, "re-ACK changed the interaction") }
                    acked[ack.messageID] = ack
                }
            }
        }
        for message in messages[0..<200] { try gateway.send(message) }
        try collect(timeoutMs: 2000)
        #expect(acked.count == 200)

        // A worker takes five tasks and completes three of them, confirmed, before the crash.
        let worker = try WorkerClient(registration: Ready(workerID: "survivor", queues: ["support"], capacity: 5), endpoint: workerEndpoint)
        try worker.ready()
        var holding: [Int64] = []
        while holding.count < 5, let task = try worker.nextTask() { holding.append(task.deliveryID) }
        #expect(holding.count == 5)
        var completed: [Int64] = Array(holding.prefix(3))
        holding.removeFirst(3)
        for id in completed { try worker.done(id, outcome: "ok") }
        var confirmed = 0
        while confirmed < 3, let event = try worker.next(timeoutMs: 5000) {
            switch event {
            case .confirmed(let confirm): #expect(confirm.state == "done"); confirmed += 1
            case .task(let task): holding.append(task.deliveryID)  // capacity freed: new offers arrive
            case .refused(let error): Issue.record("refused: \(error)")
            case .result(let result): Issue.record("unasked RESULT: \(result)")
            case .replied(let replied): Issue.record("unasked REPLIED: \(replied)")
            }
        }
        #expect(confirmed == 3)

        // Mid-load crash: 200 more messages in flight, then SIGKILL.
        for message in messages[200...] { try gateway.send(message) }
        try collect(timeoutMs: 5)
        hub.kill9()
        hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint)

        // The gateway re-sends everything without an ACK until all is ACKed.
        for _ in 0..<20 where acked.count < messages.count {
            for message in messages where acked[message.messageID] == nil { try gateway.send(message) }
            try collect(timeoutMs: 500)
        }
        #expect(acked.count == messages.count, "hub log: \(hub.output)")

        // The worker finishes what it held and drains the queue; nothing is offered twice once confirmed.
        for id in holding {
            try worker.done(id, outcome: "ok")
            completed.append(id)
        }
        // After a crash the hub offers nothing for one heartbeat timeout (3 s), while workers reclaim.
        var idle = 0
        while idle < 25 {
            guard let event = try worker.next(timeoutMs: 200) else { idle += 1; continue }
            idle = 0
            switch event {
            case .task(let task):
                #expect(!completed.contains(task.deliveryID), "delivery \(task.deliveryID) offered again after its DONE was confirmed")
                try worker.done(task.deliveryID, outcome: "ok")
                completed.append(task.deliveryID)
            case .confirmed, .refused, .result, .replied:
                continue
            }
        }
        #expect(try database.count("SELECT count(*) FROM interactions") == messages.count)
        #expect(try database.count("SELECT count(DISTINCT (gateway, message_id)) FROM interactions") == messages.count)
        let ackedIDs = Set(acked.values.map(\.interactionID))
        #expect(ackedIDs.count == messages.count)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == messages.count)
        #expect(Set(completed).count == completed.count)
    }
}

@Suite("Retries with backoff across a crash")
struct RetryAcrossCrashTests {
    @Test("a FAIL without a retry time waits its backoff, also when the hub is killed and restarted meanwhile")
    func delayedRetrySurvivesKill() throws {
        let database = try TestDatabase()
        let gatewayEndpoint = try freeEndpoint()
        let workerEndpoint = try freeEndpoint()
        let yaml = "retry_base_ms: 3000\nheartbeat_ms: 100\nheartbeat_timeout_ms: 500\n"
        var hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: yaml)
        defer { hub.terminate() }
        let gateway = try GatewayClient(name: "gw", endpoint: gatewayEndpoint)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not start: \(hub.output)")
        let worker = try WorkerClient(registration: Ready(workerID: "w", queues: ["support"], capacity: 1), endpoint: workerEndpoint)
        try worker.ready()
        _ = try gateway.publish(Messages.publish("later"))
        let task = try #require(try worker.nextTask())
        let failedAt = Date()
        try worker.retry(task.deliveryID)
        #expect(try worker.nextAnswer() == .confirmed(Confirm(deliveryID: task.deliveryID, state: "pending")))
        // The backoff of a first attempt: 2.4 to 3 s, written with the retry.
        let wait = try #require(
            try database.value("SELECT extract(epoch FROM not_before - now()) FROM deliveries WHERE id = $1", [.init(task.deliveryID)])
                .flatMap(Double.init))
        #expect(wait > 1.5 && wait <= 3.0, "not_before is \(wait) s away")

        hub.kill9()
        hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: yaml)
        var again: TaskOffer?
        while again == nil, Date().timeIntervalSince(failedAt) < 15 {
            if case .task(let offer)? = try worker.next(timeoutMs: 50) { again = offer }
        }
        let offer = try #require(again, "the retried task never came back: \(hub.output)")
        #expect(Date().timeIntervalSince(failedAt) >= 2.3, "offered again before its backoff")
        #expect(offer.deliveryID == task.deliveryID)
        #expect(offer.attempt == 2)
    }
}
