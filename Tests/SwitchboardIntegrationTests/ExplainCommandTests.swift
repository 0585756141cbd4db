import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("switchboard explain and switchboard rules: routing explained before and after deployment")
struct ExplainCommandTests {
    @Test("explain prints the decision with the rule set it was made by, why each step did or did not decide, and the delivery's history")
    func explainInteraction() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let ack = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway).publish(
            Messages.publish("x-1", "Кондиционер сломал, нужен мастер для ремонта", channel: "sms"))
        let worker = try WorkerClient(registration: Ready(workerID: "tech-7", queues: ["field_service"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        try worker.done(task.deliveryID, outcome: "visit_booked")
        _ = try worker.nextAnswer()
        let run = try runProgram(binary, ["explain", "--database", database.conninfo, "\(ack.interactionID)"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("rule set version 1"), "\(run.output)")
        #expect(run.output.contains("decision: field_service (keywords: "))
        #expect(run.output.contains("needs: language ru (detected from the body)"))
        #expect(run.output.contains("   field_service: 3: "))
        #expect(run.output.contains("delivery \(task.deliveryID): queue field_service, done, 1 offers, worker tech-7"))
        #expect(run.output.contains("offered  tech-7") && run.output.contains("done  tech-7  visit_booked"), "\(run.output)")
        let missing = try runProgram(binary, ["explain", "--database", database.conninfo, "999999"])
        #expect(missing.status != 0)
        #expect(missing.output.contains("no interaction 999999"))
    }

    @Test("rules check names the line of a problem; rules test shows where a sample message would go")
    func rulesCommands() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let good = folder.appendingPathComponent("good.yaml").path
        try """
        default_process: support
        processes:
          sales:
            keywords: [buy, купить, خرید]
            skills: [sales]
          support:
            keywords: [help]
        queues:
          support.vip: {skills: [vip]}
        rules:
          - id: vip
            when: {tier: gold, process: support}
            queue: support.vip
        """.write(toFile: good, atomically: true, encoding: .utf8)
        let checked = try runProgram(binary, ["rules", "check", good])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("OK, 1 rules; queues sales, marketing, field_service, support, support.vip; default support"))
        let bad = folder.appendingPathComponent("bad.yaml").path
        try "processes:\n  support:\n    keywords: [help]\n    escalation:\n      - {at_percent: 80, overflow_to: nowhere}\n".write(
            toFile: bad, atomically: true, encoding: .utf8)
        let refused = try runProgram(binary, ["rules", "check", bad])
        #expect(refused.status == 1)
        #expect(refused.output.contains("bad.yaml:5:"), "\(refused.output)")
        #expect(refused.output.contains("overflow_to 'nowhere'"))
        let tested = try runProgram(binary, ["rules", "test", good, "--message", #"{"channel":"sms","body":"می‌خواهم خرید کنم"}"#])
        #expect(tested.status == 0, "\(tested.output)")
        #expect(tested.output.contains("decision: sales (keywords: خرید)"))
        #expect(tested.output.contains("needs: language fa (detected from the body), skills sales"))
        let message = #"{"channel":"chat","body":"help please"}"#
        let anyone = try runProgram(binary, ["rules", "test", good, "--message", message])
        #expect(anyone.output.contains("decision: support (keywords: help)"), "\(anyone.output)")
        #expect(anyone.output.contains("  instead, for a customer with tier gold: support.vip (rule 'vip')"), "\(anyone.output)")
        let gold = try runProgram(binary, ["rules", "test", good, "--message", message, "--customer", #"{"tier":"gold"}"#])
        #expect(gold.output.contains("decision: support.vip (rule 'vip')"), "\(gold.output)")
        #expect(gold.output.contains("needs: language en (detected from the body), skills vip"), "\(gold.output)")
    }
}
