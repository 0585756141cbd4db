import ArgumentParser
import Foundation
import Logging
import SwitchboardConfig
import SwitchboardHub

@main
struct Switchboard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "The contact-center hub: gateways publish customer contacts, workers of the four CRM processes handle them.",
        subcommands: [
            Serve.self, Migrate.self, Status.self, Queues.self, Workers.self, Events.self, Explain.self, Rules.self, Replay.self, Quarantine.self,
            Keygen.self,
            Customer.self, Complaints.self, Campaign.self, Outbound.self, Import.self, ReportCommand.self, ConfigCommand.self, Demo.self,
        ])
}

/// Options every command that touches the database or the config file shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Configuration file (YAML). Environment variables SWITCHBOARD_* override its keys.")
    var config: String?

    @Option(help: "libpq connection string; overrides the config file and SWITCHBOARD_DATABASE.")
    var database: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// The configuration file (if any) with environment and `--database` overrides applied.
    func loadConfig() throws -> HubConfig {
        var loaded = try HubConfig.load(path: self.config)
        if let database { loaded.database = database }
        return loaded
    }

    func makeLogger(label: String) -> Logger {
        let level = logLevel
        let journal = JournalLogHandler.standardErrorIsJournal(ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { name in
            if journal {
                var handler = JournalLogHandler(label: name)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: name)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
