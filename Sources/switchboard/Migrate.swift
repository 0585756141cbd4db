import ArgumentParser
import Postgres
import SwitchboardHub
import SwitchboardStore

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or update the database schema. Safe to run again: applies only what is missing.")

    @OptionGroup var options: CommonOptions

    func run() throws {
        let config = try options.loadConfig()
        let connection = try Connection(config.database)
        let applied = try Migrator.migrate(connection)
        if applied.isEmpty {
            print("schema is up to date (\(Migrator.latestVersion))")
        } else {
            print("applied: \(applied.joined(separator: ", "))")
        }
    }
}
