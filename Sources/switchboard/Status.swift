import ArgumentParser
import Postgres
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Is the hub up, and how is the work? The running hub's state, then the database's figures.",
        discussion: """
            First line: the running hub as it answers at its http_endpoint (serving, draining, or \
            not answering; its workers and whether it reaches PostgreSQL). Then, from the database \
            (also when the hub is down): the schema version, deliveries per queue and state, totals \
            and the latest refused inputs. Next: 'switchboard queues' for backlogs and oldest \
            waits, 'switchboard workers' for who holds what, the dashboard at http://HOST:9570/.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "The hub's HTTP endpoint (host:port); default: http_endpoint of the configuration.") var http: String?
    @Flag(help: "Print one JSON object: hub, schema, deliveries.") var json = false

    func run() throws {
        let config = try options.loadConfig()
        let endpoint = http ?? config.httpEndpoint
        let overview = liveOverview(endpoint)
        var hub: [String: JSONValue] = ["endpoint": .string(endpoint ?? "off"), "answering": .bool(overview != nil)]
        if let overview {
            hub["serving"] = overview["serving"] ?? .null
            hub["database_up"] = overview["database_up"] ?? .null
            if case .array(let workers)? = overview["workers"] { hub["workers"] = .integer(Int64(workers.count)) }
        }
        let connection = try Connection(config.database)
        let versions = try Migrator.appliedVersions(connection).filter { $0.hasPrefix("V") }
        let pending = try Migrator.pendingVersions(connection)
        let counts = try connection.query("SELECT queue, state, count(*) FROM deliveries GROUP BY queue, state ORDER BY queue, state").rows
        if json {
            let deliveries = counts.map { row in
                JSONValue.object(["queue": .string(row[0] ?? ""), "state": .string(row[1] ?? ""), "count": .integer(Int64(row[2] ?? "") ?? 0)])
            }
            print(
                JSONWriter.string(
                    .object([
                        "hub": .object(hub), "schema": .string(versions.last ?? "none"), "migrations_pending": .integer(Int64(pending.count)),
                        "deliveries": .array(deliveries),
                    ])))
            return
        }
        if let overview {
            let serving = overview["serving"] == .bool(true) ? "serving" : "DRAINING (stopping)"
            let database = overview["database_up"] == .bool(true) ? "reaches PostgreSQL" : "CANNOT REACH PostgreSQL (messages are refused)"
            print("hub: \(serving) at \(endpoint ?? "-"), \(hub["workers"].map(JSONWriter.string) ?? "0") workers connected, \(database)")
        } else {
            print("hub: NOT ANSWERING at \(endpoint ?? "(http_endpoint is off)"): the figures below are from the database only")
        }
        print(
            "schema: \(versions.last ?? "none") (\(pending.isEmpty ? "up to date" : "\(pending.count) migrations to apply: run 'switchboard migrate'"))"
        )
        print("\nqueue          state        deliveries")
        for row in counts { print(pad(row[0] ?? "", 15) + pad(row[1] ?? "", 13) + (row[2] ?? "0")) }
        let totals = try connection.query(
            "SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM customers), (SELECT count(*) FROM quarantine)"
        ).rows[0]
        print("\ninteractions: \(totals[0] ?? "0")  customers: \(totals[1] ?? "0")  quarantined: \(totals[2] ?? "0")")
        let recent = try connection.query(
            "SELECT received_at::timestamp(0), role, peer, code, left(reason, 80) FROM quarantine ORDER BY id DESC LIMIT 5")
        if !recent.rows.isEmpty {
            print("\nlatest quarantine:")
            for row in recent.rows { print("  " + row.map { $0 ?? "-" }.joined(separator: "  ")) }
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
