import ArgumentParser
import Foundation
import Postgres
import SwitchboardHub
import SwitchboardProtocol

/// The running hub's overview (`GET /api/overview` at its http_endpoint), or nil when it does not answer.
func liveOverview(_ endpoint: String?) -> JSONValue? {
    guard let endpoint, let answer = HealthProbe.get(endpoint, "/api/overview"), answer.status == 200 else { return nil }
    return try? JSONParser.parse(Array(answer.body.utf8), maxDepth: 16)
}

struct Workers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the workers connected to the running hub: their queues, what they hold, their capacity.",
        discussion: """
            Asks the running hub (its http_endpoint, or --http) which workers are connected now. \
            When the hub does not answer, says so and shows instead, from the database, the \
            workers that hold deliveries (offered or in progress): those a restarted hub will \
            wait for. A worker whose load stays at 100 % while its queue grows is slow or stuck: \
            its tasks go back to the queue when its lease or heartbeat runs out.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "The hub's HTTP endpoint (host:port); default: http_endpoint of the configuration.") var http: String?
    @Flag(help: "Print one JSON object: the source (hub or database) and the workers.") var json = false

    func run() throws {
        let config = try options.loadConfig()
        let endpoint = http ?? config.httpEndpoint
        var workers: [JSONValue]
        let source: String
        if let overview = liveOverview(endpoint), case .array(let live)? = overview["workers"] {
            workers = live
            source = "hub"
        } else {
            let connection = try Connection(config.database)
            workers = try connection.query(
                """
                SELECT worker, string_agg(DISTINCT queue, ',' ORDER BY queue), count(*) FROM deliveries
                 WHERE state IN ('offered', 'in_progress') AND worker IS NOT NULL GROUP BY worker ORDER BY worker
                """
            ).rows.map { row in
                .object([
                    "worker": .string(row[0] ?? ""), "queues": .array((row[1] ?? "").split(separator: ",").map { .string(String($0)) }),
                    "held": .integer(Int64(row[2] ?? "") ?? 0),
                ])
            }
            source = "database"
        }
        if json {
            print(JSONWriter.string(.object(["source": .string(source), "workers": .array(workers)])))
            return
        }
        if source == "database" {
            print("the hub does not answer at \(endpoint ?? "(no http_endpoint)"): from the database, the workers holding deliveries\n")
        }
        guard !workers.isEmpty else {
            print(source == "hub" ? "no worker connected" : "no worker holds a delivery")
            return
        }
        var rows = [["worker", "queues", "held", "capacity", "load"]]
        for worker in workers {
            func text(_ key: String) -> String {
                switch worker[key] {
                case .string(let value)?: value
                case .integer(let value)?: String(value)
                case .array(let values)?: values.compactMap { if case .string(let value) = $0 { value } else { nil } }.joined(separator: ",")
                default: "-"
                }
            }
            var load = "-"
            if case .integer(let held)? = worker["held"], case .integer(let capacity)? = worker["capacity"], capacity > 0 {
                load = "\(held * 100 / capacity)%"
            }
            rows.append([
                text("worker") + (worker["draining"] == .bool(true) ? " (leaving)" : ""), text("queues"), text("held"), text("capacity"), load,
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows { print(zip(row, widths).map { $0.padding(toLength: $1 + 2, withPad: " ", startingAt: 0) }.joined()) }
    }
}
