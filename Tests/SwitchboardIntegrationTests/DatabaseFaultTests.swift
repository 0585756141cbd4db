import Foundation
import Postgres
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Testing

/// A PostgreSQL cluster of this test's own (scripts/pg.sh in a private folder), so it can be stopped.
final class PrivateCluster {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swb-pg-\(UUID().uuidString.prefix(8))")
    let port = Int.random(in: 40_000...49_000)
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/pg.sh").path

    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["SWITCHBOARD_RUN_DIR": folder.path, "SWITCHBOARD_PG_PORT": String(port)], uniquingKeysWith: { $1 })
        // A file, not a pipe: the server pg_ctl starts would hold a pipe open and the read would never end.
        let log = folder.appendingPathExtension("log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else { throw TestSetupError("pg.sh \(arguments): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func start() throws { try run(["start", "--fast"]) }
    func stop() throws { try run(["stop"]) }
    func conninfo() throws -> String { try run(["conninfo", "switchboard"]) }
    deinit { try? stop() }
}

@Suite("PostgreSQL faults")
struct DatabaseFaultTests {
    @Test(
        "while PostgreSQL is down for 10 s the hub answers NACK unavailable with retry-after and /readyz says 503; it reconnects by itself and loses nothing"
    )
    func databaseRestart() throws {
        let cluster = PrivateCluster()
        try cluster.start()
        var config = RunningHub.config(try TestDatabaseOn(conninfo: cluster.conninfo()).database)
        config.dispatch.heartbeatTimeoutMs = 60_000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway)
        let before = try gateway.publish(Messages.publish("p-1"))
        let worker = try WorkerClient(registration: Ready(workerID: "w", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        #expect(task.interaction["id"] == .integer(before.interactionID))

        let http = try #require(hub.endpoints.http)
        #expect(httpGet(http, "/readyz")?.status == 200)

        try cluster.stop()
        let stoppedAt = Date()
        try gateway.send(Messages.publish("p-2"))
        guard case .nack(let nack) = try #require(try gateway.receive(timeoutMs: 5000)) else {
            Issue.record("no NACK while the database is down")
            return
        }
        #expect(nack.code == .unavailable)
        #expect(nack.messageID == "p-2")
        #expect((nack.retryAfterMs ?? 0) > 0)
        // A DONE while the database is down waits; it is written once the database is back.
        try worker.done(task.deliveryID, outcome: "ok")
        #expect(eventually(timeoutMs: 10_000) { httpGet(http, "/readyz")?.status == 503 }, "/readyz must say PostgreSQL is gone")
        #expect(httpGet(http, "/healthz")?.status == 200, "the hub itself is alive")
        // Down for 10 s in all, as a PostgreSQL restart after a crash can take.
        Thread.sleep(forTimeInterval: max(0, 10 - Date().timeIntervalSince(stoppedAt)))
        #expect(hub.isRunning)

        try cluster.start()
        let after = try gateway.publish(Messages.publish("p-2"), retries: 20)
        #expect(!after.duplicate)
        #expect(try worker.nextAnswer(timeoutMs: 10_000) == .confirmed(Confirm(deliveryID: task.deliveryID, state: "done")))
        #expect(eventually(timeoutMs: 10_000) { httpGet(http, "/readyz")?.status == 200 }, "/readyz must recover by itself")
        let database = try Connection(cluster.conninfo())
        #expect(try database.query("SELECT count(*) FROM interactions").scalar() == "2")
        #expect(try database.query("SELECT state FROM deliveries WHERE id = $1", [.init(task.deliveryID)]).scalar() == "done")
    }
}

/// A migrated database at a given connection string.
struct TestDatabaseOn {
    let database: TestDatabase
    init(conninfo: String) throws {
        try Migrator.migrate(try Connection(conninfo))
        database = TestDatabase(existing: conninfo)
    }
}
