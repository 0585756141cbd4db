import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("switchboard queues: depth, oldest wait, at risk, breached, dead, and the workers for each queue")
struct QueuesCommandTests {
    @Test("a queue's figures come from the database and the running hub; a task no worker qualifies for is shown as unservable")
    func queuesReport() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway)
        for index in 0..<4 { _ = try gateway.publish(Messages.publish("q-\(index)", "Не работает интернет \(index)", channel: "sms")) }
        _ = try gateway.publish(Messages.publish("s-1", "I want to buy the premium plan", channel: "sms"))
        let persian = try WorkerClient(
            registration: Ready(workerID: "fa-only", queues: ["support"], capacity: 2, languages: ["fa"]), endpoint: hub.endpoints.worker)
        try persian.ready()
        // One support delivery past its deadline, one in the last fifth of its time, one dead.
        let connection = try database.connect()
        let ids = try connection.query("SELECT id FROM deliveries WHERE queue = 'support' ORDER BY id").rows.compactMap { $0[0] }
        _ = try connection.query(
            "UPDATE deliveries SET created_at = now() - interval '2 hours', deadline = now() - interval '1 minute' WHERE id = $1", [.text(ids[0])])
        _ = try connection.query(
            "UPDATE deliveries SET created_at = now() - interval '2 hours', deadline = now() + interval '5 minutes' WHERE id = $1", [.text(ids[1])])
        _ = try connection.query("UPDATE deliveries SET state = 'dead' WHERE id = $1", [.text(ids[2])])
        let http = try #require(hub.endpoints.http)
        #expect(
            eventually(timeoutMs: 3000) {
                httpGet(http, "/metrics")?.body.contains("switchboard_deliveries_unservable{queue=\"support\"}") ?? false
            })
        let run = try runProgram(binary, ["queues", "--database", database.conninfo, "--http", http, "--json"])
        #expect(run.status == 0, "\(run.output)")
        guard case .array(let queues) = try JSONParser.parse(Array(run.output.utf8)) else {
            Issue.record("not a JSON array: \(run.output)")
            return
        }
        let byName = Dictionary(
            uniqueKeysWithValues: queues.compactMap { queue -> (String, JSONValue)? in
                guard case .string(let name)? = queue["queue"] else { return nil }
                return (name, queue)
            })
        #expect(byName.keys.sorted() == ["field_service", "marketing", "sales", "support"])
        let support = try #require(byName["support"])
        #expect(support["pending"] == .integer(3))
        #expect(support["breached"] == .integer(1))
        #expect(support["at_risk"] == .integer(1))
        #expect(support["dead"] == .integer(1))
        #expect(support["workers"] == .integer(1))
        #expect(support["free_capacity"] == .integer(2))
        if case .integer(let unservable)? = support["unservable"] { #expect(unservable >= 2) } else { Issue.record("no unservable figure") }
        if case .integer(let waited)? = support["oldest_wait_ms"] { #expect(waited >= 7_000_000) } else { Issue.record("no oldest wait") }
        #expect(byName["sales"]?["pending"] == .integer(1))
        #expect(byName["sales"]?["workers"] == .integer(0))
        // The table form names every column; without a hub to ask, the workers are '-'.
        let table = try runProgram(binary, ["queues", "--database", database.conninfo, "--http", "127.0.0.1:1"])
        #expect(table.status == 0, "\(table.output)")
        #expect(table.output.contains("oldest_wait") && table.output.contains("unservable"))
        #expect(table.output.contains("did not answer"))
    }
}
