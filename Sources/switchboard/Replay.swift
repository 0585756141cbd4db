import ArgumentParser
import Foundation
import SwitchboardStore

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put dead-lettered deliveries back in their queue (a running hub offers them within rescan_ms).",
        discussion: """
            A delivery is dead after max_attempts offers failed. Fix the cause first (a worker bug, a \
            missing worker), then replay: every dead delivery, those of one queue, chosen ids, or \
            those that died in a time range. Each starts again at attempt 1, with a 'replayed' \
            event in delivery_events. See 'switchboard status' for what is dead.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Only dead deliveries of this queue.") var queue: String?
    @Option(name: .customLong("delivery"), help: "Only this delivery id (repeatable).") var deliveries: [Int64] = []
    @Option(help: "Only those that died at or after this time (ISO 8601, e.g. 2026-12-04T08:00:00Z).") var since: String?
    @Option(help: "Only those that died before this time (ISO 8601).") var until: String?
    @Flag(help: "Print the result as JSON: {\"replayed\": N, \"delivery_ids\": [...]}.") var json = false

    func run() throws {
        let config = try options.loadConfig()
        let store = try Store(conninfo: config.database, owner: "switchboard-replay")
        let ids = try store.replayDead(
            queue: queue, deliveryIDs: deliveries, diedFrom: try since.map { try Self.milliseconds($0, option: "--since") },
            diedUntil: try until.map { try Self.milliseconds($0, option: "--until") })
        if json {
            print("{\"replayed\":\(ids.count),\"delivery_ids\":[\(ids.map(String.init).joined(separator: ","))]}")
        } else {
            print("\(ids.count) dead deliveries are pending again")
        }
    }

    /// An ISO 8601 time (with or without fractional seconds) as Unix milliseconds.
    static func milliseconds(_ text: String, option: String) throws -> Int64 {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        formatter.formatOptions.insert(.withFractionalSeconds)
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        throw ValidationError("\(option) '\(text)' is not an ISO 8601 time such as 2026-12-04T08:00:00Z")
    }
}
