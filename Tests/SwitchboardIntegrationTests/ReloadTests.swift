import Foundation
import Glibc
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("Reload without a restart: SIGHUP re-reads the whole configuration; a broken file is refused by line and the old one stays")
struct ReloadTests {
    @Test(
        "new routing rules and limits apply to what comes next, no connection or task is dropped, a broken file changes nothing, and config check agrees"
    )
    func reloadWholeConfiguration() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let (gatewayEndpoint, workerEndpoint) = (try freeEndpoint(), try freeEndpoint())
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swb-reload-\(UUID().uuidString).yaml").path
        let base = "security: off\nhttp_endpoint: \"127.0.0.1:0\"\nevents_endpoint: off\ndrain_timeout_ms: 0\nmax_body_bytes: 4096\n"
        try base.write(toFile: file, atomically: true, encoding: .utf8)
        let notify = try NotifySocket()
        let hub = try HubProcess(
            database: database, gateway: gatewayEndpoint, worker: workerEndpoint, name: "reloading", logLevel: "notice",
            environment: ["NOTIFY_SOCKET": notify.path], configFile: file)
        defer { hub.terminate() }
        #expect(notify.collect(seconds: 15) { $0.hasPrefix("READY=1") }.last?.hasPrefix("READY=1") == true)
        let gateway = try GatewayClient(name: "sms", endpoint: gatewayEndpoint)
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 1), endpoint: workerEndpoint)
        try worker.ready()
        let before = try gateway.publish(Messages.publish("r-1", "help", channel: "sms"))
        #expect(before.queue == "support")
        let held = try #require(try worker.nextTask())

        // Every SMS goes to sales now, and bodies are limited to 64 bytes.
        let rules =
            base.replacingOccurrences(of: "max_body_bytes: 4096", with: "max_body_bytes: 64")
            + "routing:\n  rules:\n    - id: sms-to-sales\n      when: {channel: [sms]}\n      queue: sales\n"
        try rules.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try runProgram(binary, ["config", "check", file]).status == 0)
        kill(hub.process.processIdentifier, SIGHUP)
        let reloaded = notify.collect(seconds: 5) { $0.hasPrefix("READY=1") }.filter { !$0.hasPrefix("WATCHDOG") }
        #expect(reloaded.first?.hasPrefix("RELOADING=1") == true && reloaded.last?.hasPrefix("READY=1") == true, "\(reloaded)")
        #expect(eventually { hub.output.contains("configuration reloaded: routing version") }, "\(hub.output)")
        let after = try gateway.publish(Messages.publish("r-2", "help", channel: "sms"))
        #expect(after.queue == "sales")
        do {
            _ = try gateway.publish(Messages.publish("r-3", String(repeating: "x", count: 100), channel: "sms"))
            Issue.record("a body over the reloaded limit was taken")
        } catch ClientError.refused(let nack) {
            #expect(nack.detail == "body_too_large")
        }
        // The worker kept its connection and its task: its DONE is confirmed.
        try worker.done(held.deliveryID, outcome: "handled")
        guard case .confirmed(let confirm)? = try worker.nextAnswer() else {
            Issue.record("no CONFIRM after the reload")
            return
        }
        #expect(confirm.state == "done")
        #expect(try database.count("SELECT count(*) FROM routing_versions") == 2)
        #expect(
            try database.value("SELECT rule_id FROM deliveries d JOIN interactions i ON i.id = d.interaction_id WHERE i.message_id = 'r-2'")
                == "sms-to-sales")

        // A broken file: refused with its line, the running configuration stays.
        try (rules + "    - id: broken\n      queue: nowhere\n").write(toFile: file, atomically: true, encoding: .utf8)
        let check = try runProgram(binary, ["config", "check", file])
        #expect(check.status != 0 && check.output.contains("\(file):12:14: routing.rules[1].queue"), "\(check.output)")
        kill(hub.process.processIdentifier, SIGHUP)
        #expect(eventually { hub.output.contains("configuration NOT reloaded") && hub.output.contains(":12:14:") }, "\(hub.output)")
        let still = try gateway.publish(Messages.publish("r-4", "help", channel: "sms"))
        #expect(still.queue == "sales")
        #expect(try database.count("SELECT count(*) FROM routing_versions") == 2)
    }
}
