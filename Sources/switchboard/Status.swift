import ArgumentParser
import Postgres
import SwitchboardHub
import SwitchboardStore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the schema version, deliveries per queue and state, and recent quarantine, from the database.")

    @OptionGroup var options: CommonOptions

    func run() throws {
        let config = try options.loadConfig()
        let connection = try Connection(config.database)
        let versions = try Migrator.appliedVersions(connection).filter { $0.hasPrefix("V") }
        let pending = try Migrator.pendingVersions(connection)
        print(
            "schema: \(versions.last ?? "none") (\(pending.isEmpty ? "up to date" : "\(pending.count) migrations to apply: run 'switchboard migrate'"))"
        )
        let counts = try connection.query(
            """
            SELECT queue, state, count(*) FROM deliveries GROUP BY queue, state ORDER BY queue, state
            """)
        print("\nqueue          state        deliveries")
        for row in counts.rows {
            print(pad(row[0] ?? "", 15) + pad(row[1] ?? "", 13) + (row[2] ?? "0"))
        }
        let totals = try connection.query(
            """
            SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM customers), (SELECT count(*) FROM quarantine)
            """
        ).rows[0]
        print("\ninteractions: \(totals[0] ?? "0")  customers: \(totals[1] ?? "0")  quarantined: \(totals[2] ?? "0")")
        let recent = try connection.query(
            """
            SELECT received_at::timestamp(0), role, peer, code, left(reason, 80) FROM quarantine ORDER BY id DESC LIMIT 5
            """)
        if !recent.rows.isEmpty {
            print("\nlatest quarantine:")
            for row in recent.rows { print("  " + row.map { $0 ?? "-" }.joined(separator: "  ")) }
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
