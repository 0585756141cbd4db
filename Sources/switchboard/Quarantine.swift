import ArgumentParser
import Foundation
import SwitchboardHub
import SwitchboardStore

struct Quarantine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List refused input kept in the quarantine table, or replay gateways' messages once the cause is fixed.",
        subcommands: [List.self, ReplayMessages.self])

    /// Which entries, for both subcommands.
    struct Filter: ParsableArguments {
        @Option(name: .customLong("entry"), help: "Only this quarantine entry id (repeatable).") var entries: [Int64] = []
        @Option(help: "Only entries refused with this code (e.g. unknown_channel, body_too_large, store_rejected).") var code: String?
        @Option(help: "Only entries from this gateway or worker.") var peer: String?

        var isEmpty: Bool { entries.isEmpty && code == nil && peer == nil }

        func selection(includeReplayed: Bool, limit: Int) -> QuarantineSelection {
            QuarantineSelection(ids: entries, code: code, peer: peer, includeReplayed: includeReplayed, limit: limit)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show quarantine entries, oldest first, with the reason each was refused.")

        @OptionGroup var options: CommonOptions
        @OptionGroup var filter: Filter
        @Flag(help: "Include entries replayed before.") var replayed = false
        @Option(help: "At most this many entries.") var limit = 50

        func run() throws {
            let config = try options.loadConfig()
            let entries = try Store(conninfo: config.database, owner: "switchboard-quarantine").quarantined(
                filter.selection(includeReplayed: replayed, limit: limit))
            for entry in entries {
                let when = Date(timeIntervalSince1970: Double(entry.receivedAt) / 1000).formatted(.iso8601)
                let replayedMark = entry.replayed ? " (replayed)" : ""
                print("#\(entry.id) \(when) \(entry.role) \(entry.peer) \(entry.messageID ?? "-") \(entry.code)\(replayedMark): \(entry.reason)")
            }
            if entries.isEmpty { print("no quarantine entries match") }
        }
    }

    struct ReplayMessages: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Store gateways' refused messages again, with this configuration (a running hub offers them within rescan_ms).",
            discussion: """
                Fix the cause first: add the channel to extra_channels, raise max_body_bytes, correct the \
                database. Each chosen entry's frames then get the checks, identity resolution and routing \
                a PUBLISH gets from the hub, and are stored as from the gateway that sent them. What is \
                refused again stays in quarantine, not marked replayed, and the answer says why. Replaying \
                twice stores nothing twice. Workers' input is not replayed.
                """)

        @OptionGroup var options: CommonOptions
        @OptionGroup var filter: Filter
        @Flag(help: "Every entry not replayed yet (instead of --entry, --code or --peer).") var all = false

        func validate() throws {
            guard all || !filter.isEmpty else { throw ValidationError("choose entries with --entry, --code or --peer, or pass --all") }
        }

        func run() throws {
            var stored = 0
            var refused = 0
            var skipped = 0
            try QuarantineReplay(config: try options.loadConfig()).replay(filter.selection(includeReplayed: !filter.entries.isEmpty, limit: 500)) {
                entry, outcome in
                let name = "#\(entry.id) \(entry.peer) \(entry.messageID ?? "-")"
                switch outcome {
                case .stored(let interaction, let queue):
                    stored += 1
                    print("\(name): stored as interaction \(interaction), queue \(queue)")
                case .duplicate(let interaction):
                    stored += 1
                    print("\(name): stored before, as interaction \(interaction)")
                case .refused(let code, let reason):
                    refused += 1
                    print("\(name): refused again, \(code): \(reason)")
                case .notReplayable(let why):
                    skipped += 1
                    print("\(name): not replayed: \(why)")
                }
            }
            print("\(stored) stored, \(refused) refused again, \(skipped) not replayable")
        }
    }
}
