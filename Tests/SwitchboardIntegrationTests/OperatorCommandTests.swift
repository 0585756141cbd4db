import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

/// The first entry of a `workers --json` answer's list.
private func firstWorker(_ answer: JSONValue) -> JSONValue? {
    guard case .array(let list)? = answer["workers"] else { return nil }
    return list.first
}

@Suite("Operator commands read the live hub, and the database when the hub is down, saying so")
struct OperatorCommandTests {
    @Test(
        "status, workers and queues with --json from a running hub; after it stops, status says it does not answer and workers come from the database"
    )
    func liveThenDatabase() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        // The worker below answers no heartbeat while the commands run: it stays connected all the same.
        config.dispatch.heartbeatMs = 5000
        config.dispatch.heartbeatTimeoutMs = 60_000
        config.dispatch.leaseMs = 120_000
        var hub: RunningHub? = try RunningHub(config)
        let http = try #require(hub?.endpoints.http)
        let gateway = try GatewayClient(name: "mail", endpoint: try #require(hub?.endpoints.gateway))
        for index in 0..<3 { _ = try gateway.publish(Messages.publish("o-\(index)")) }
        let worker = try WorkerClient(
            registration: Ready(workerID: "night-agent", queues: ["support"], capacity: 2), endpoint: try #require(hub?.endpoints.worker))
        try worker.ready()
        _ = try #require(try worker.nextTask())
        _ = try #require(try worker.nextTask())
        // The hub's overview is made once a second.
        let common = ["--database", database.conninfo, "--http", http]
        var workers = JSONValue.null
        #expect(
            eventually(timeoutMs: 5000) {
                _ = try? worker.next(timeoutMs: 10)
                guard let run = try? runProgram(binary, ["workers", "--json"] + common), run.status == 0,
                    let parsed = try? JSONParser.parse(Array(run.output.utf8))
                else { return false }
                workers = parsed
                return firstWorker(workers)?["held"] == 2
            }, "\(workers)")
        #expect(workers["source"] == "hub")
        #expect(firstWorker(workers)?["worker"] == "night-agent" && firstWorker(workers)?["capacity"] == 2)
        let status = try runProgram(binary, ["status"] + common)
        #expect(status.output.hasPrefix("hub: serving at \(http), 1 workers connected, reaches PostgreSQL"), "\(status.output)")
        let statusJSON = try JSONParser.parse(Array(try runProgram(binary, ["status", "--json"] + common).output.utf8))
        #expect(statusJSON["hub"]?["answering"] == .bool(true) && statusJSON["hub"]?["workers"] == 1)
        // The offers reach the database within a transition batch or so.
        var support = JSONValue.null
        #expect(
            eventually(timeoutMs: 5000) {
                guard let run = try? runProgram(binary, ["queues", "--json"] + common),
                    case .array(let rows)? = try? JSONParser.parse(Array(run.output.utf8)),
                    let row = rows.first(where: { $0["queue"] == "support" })
                else { return false }
                support = row
                return support["pending"] == 1 && support["offered"] == 2 && support["workers"] == 1
            }, "\(support)")

        hub?.shutdown()
        hub = nil
        let down = try runProgram(binary, ["status"] + common)
        #expect(down.status == 0 && down.output.hasPrefix("hub: NOT ANSWERING at \(http)"), "\(down.output)")
        let fromDatabase = try runProgram(binary, ["workers"] + common)
        #expect(fromDatabase.output.contains("the hub does not answer at \(http): from the database"), "\(fromDatabase.output)")
        #expect(fromDatabase.output.contains("night-agent") && fromDatabase.output.contains("support"), "\(fromDatabase.output)")
    }
}
