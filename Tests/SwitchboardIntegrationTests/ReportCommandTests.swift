import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("switchboard report: the period's key figures on the terminal and as a self-contained HTML page")
struct ReportCommandTests {
    @Test("the tables hold the fixture's figures; the page has a chart a section, loads nothing from elsewhere, and its tags balance")
    func report() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "omni", endpoint: hub.endpoints.gateway)
        let sara = IdentityHints(email: "sara@example.com")
        _ = try gateway.publish(Messages.publish("r-1", "Which plan?", channel: "web", hints: sara, process: .sales))
        _ = try gateway.publish(Messages.publish("r-2", "I take it <today> & now", channel: "phone", hints: sara, process: .sales))
        let seller = try WorkerClient(registration: Ready(workerID: "seller-<1>", queues: ["sales"], capacity: 1), endpoint: hub.endpoints.worker)
        try seller.ready()
        for _ in 0..<2 {
            let task = try #require(try seller.nextTask())
            try seller.done(task.deliveryID, outcome: task.interaction["message_id"] == "r-2" ? "sold" : "answered")
        }
        #expect(try eventually { try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 2 })
        let complaint = try gateway.publish(
            Publish(
                messageID: "r-3", channel: "sms", occurredAt: 1_790_000_000_000, hints: sara, body: Array("You billed me twice".utf8),
                feedback: Feedback(kind: .complaint, category: "billing")))
        _ = try gateway.publish(
            Publish(
                messageID: "r-4", channel: "sms", occurredAt: 1_790_000_000_000, hints: sara, process: .sales, body: [],
                feedback: Feedback(kind: .csat, score: 2)))
        #expect(complaint.queue == "support")
        let signals = try runProgram(binary, ["customer", "signals", "--database", database.conninfo])
        #expect(signals.status == 0, "\(signals.output)")
        let tiers = try runProgram(binary, ["customer", "tiers", "--database", database.conninfo])
        #expect(tiers.status == 0, "\(tiers.output)")

        let page = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString).html").path
        let run = try runProgram(binary, ["report", "--database", database.conninfo, "--html", page])
        #expect(run.status == 0, "\(run.output)")
        for title in [
            "Contacts per day", "Contacts per channel and process", "Service level per queue", "Work per worker", "Customers by value tier",
            "Journeys before a sale", "Feedback per process", "Complaints per process and category", "Dissatisfaction by process",
            "Journeys before a complaint", "Value at risk (as last computed)",
        ] {
            #expect(run.output.contains(title), "\(title)")
        }
        // By hand: r-2 repeats r-1 (sales, no intent, the same day); the CSAT of 2 is low, the
        // complaint open: churn risk 0.35 + 0.15 + 0.25 + 0.10.
        for line in [
            "  phone    sales    1", "  web      sales    1", "  sms      support  1",
            // (the median first response, in seconds, is left out: a loaded machine may take a tenth)
            "  sales    3           2     100.0            -                     ",
            "  support  1           0     -                -                     -                        1",
            "  seller-<1>  sales  2     100.0", "  web              1",
            "  sales    1        2.00       -    100.0           0", "  support  billing   1       0         1     -",
            "  support  1         0            1           0                100.0",
            "  sales    3         1            0           1                66.7",
            "  web > phone      1", "  bronze  1          1        1.00             0.85             0",
        ] {
            #expect(run.output.contains(line), "\(line) in \(run.output)")
        }
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.components(separatedBy: "<svg ").count - 1 == 11)
        #expect(html.components(separatedBy: "</svg>").count - 1 == 11)
        #expect(html.contains("seller-&lt;1&gt;") && !html.contains("seller-<1>"))
        // Nothing is loaded from elsewhere: the only URL is SVG's namespace.
        #expect(!html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
        #expect(!html.contains("<script") && !html.contains("<link"))
        // Every element opened is closed, in order.
        var open: [String] = []
        var balanced = true
        var rest = Substring(html)
        while let start = rest.firstIndex(of: "<") {
            guard let end = rest[start...].firstIndex(of: ">") else {
                balanced = false
                break
            }
            let tag = rest[rest.index(after: start)..<end]
            rest = rest[rest.index(after: end)...]
            if tag.hasPrefix("!") || tag.hasSuffix("/") { continue }
            let name = String(tag.split(separator: " ").first ?? "")
            if name.hasPrefix("/") {
                if open.popLast() != String(name.dropFirst()) { balanced = false }
            } else if !["meta"].contains(name) {
                open.append(name)
            }
        }
        #expect(balanced && open.isEmpty, "unclosed: \(open)")
    }
}
