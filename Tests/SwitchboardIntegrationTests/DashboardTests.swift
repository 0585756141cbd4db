import Foundation
import SwitchboardClient
import Testing

@Suite("The live dashboard at /: served by the hub, drawn by a real browser, in agreement with the database")
struct DashboardTests {
    /// The cells of each queue's row in the page's DOM, by queue: the text of every <td>.
    static func queueRows(_ dom: String) -> [String: [String]] {
        var rows: [String: [String]] = [:]
        var rest = Substring(dom)
        while let start = rest.range(of: "<tr data-queue=\"") {
            let afterName = rest[start.upperBound...]
            guard let quote = afterName.firstIndex(of: "\""), let end = afterName.range(of: "</tr>") else { break }
            let queue = String(afterName[..<quote])
            let row = afterName[..<end.lowerBound]
            rows[queue] = row.components(separatedBy: "<td").dropFirst().map { cell in
                let text = cell.split(separator: ">", maxSplits: 1).last.map(String.init) ?? ""
                return String(text.prefix { $0 != "<" })
            }
            rest = afterName[end.upperBound...]
        }
        return rows
    }

    @Test("after demo traffic a headless Chromium shows the four processes with figures equal to the database's, and /api/stream goes on sending")
    func dashboardInChromium() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        let demo = try runProgram(
            binary,
            ["demo", "--gateway-endpoint", hub.endpoints.gateway, "--worker-endpoint", hub.endpoints.worker, "--rate", "150", "--seconds", "4"])
        #expect(demo.status == 0, "\(demo.output)")
        // The queues' figures are read from the database every 5 s: wait for a read after the demo.
        usleep(6_500_000)

        let page = try #require(httpGet(http, "/"))
        #expect(page.status == 200 && page.body.contains("<title>Switchboard</title>"))
        #expect(!page.body.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"), "nothing loaded from elsewhere")
        let chromium = ["chromium", "--headless", "--no-sandbox", "--virtual-time-budget=3000", "--window-size=1400,1100"]
        let dump = try runProgram("/usr/bin/env", chromium + ["--dump-dom", "http://\(http)/?snapshot"])
        #expect(dump.status == 0)
        let rows = Self.queueRows(dump.output)
        for process in ["sales", "marketing", "field_service", "support"] {
            #expect(dump.output.contains("data-process=\"\(process)\""), "\(process) is on the page")
            let cells = try #require(rows[process], "\(process)'s row in \(dump.output.prefix(2000))")
            // queue, waiting, held, oldest, done today, in target, at risk, late, dead, workers
            let (waiting, held, done) = (Int(cells[1]), Int(cells[2]), Int(cells[4]))
            #expect((done ?? 0) > 0, "\(process) shows work done")
            #expect(waiting == (try database.count("SELECT count(*) FROM deliveries WHERE queue = $1 AND state = 'pending'", [.init(process)])))
            #expect(
                held
                    == (try database.count(
                        "SELECT count(*) FROM deliveries WHERE queue = $1 AND state IN ('offered', 'in_progress')", [.init(process)])))
            #expect(done == (try database.count("SELECT count(*) FROM deliveries WHERE queue = $1 AND state = 'done'", [.init(process)])))
        }
        let shot = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-\(UUID().uuidString).png").path
        #expect(try runProgram("/usr/bin/env", chromium + ["--screenshot=\(shot)", "http://\(http)/?snapshot"]).status == 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.count > 20_000 && png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))

        // Live: the stream sends the overview once a second.
        let stream = try runProgram(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import sys, urllib.request, json
                events = 0
                with urllib.request.urlopen("http://" + sys.argv[1] + "/api/stream", timeout=5) as response:
                    print(response.headers["Content-Type"])
                    for line in response:
                        if line.startswith(b"data: "):
                            overview = json.loads(line[6:])
                            events += 1
                            if events == 3:
                                print(events, len(overview["processes"]), len(overview["series"]) > 0)
                                break
                """, http,
            ])
        #expect(stream.status == 0, "\(stream.output)")
        #expect(stream.output.contains("text/event-stream") && stream.output.contains("3 4 True"), "\(stream.output)")
    }
}
