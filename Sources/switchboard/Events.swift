import ArgumentParser
import Foundation
import SwitchboardStore

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print, as JSON lines, the events a subscriber of the events socket missed, from the database.",
        discussion: """
            Delivery events (offered, accepted, rejected, timed_out, retried, transferred, done, \
            failed, dead, replayed) with an id above --since, and interaction.received events of \
            deliveries above --received-since, customer.merged events of merges above --merges-since: \
            exactly the JSON the events socket publishes, one per line, oldest first. See \
            protocols/events.md for how a subscriber resumes.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Print delivery events with an id above this one (the last 'id' the subscriber saw).") var since: Int64?
    @Option(help: "Print interaction.received events of deliveries above this one (the last 'delivery_id' of such an event seen).")
    var receivedSince: Int64?
    @Option(help: "Print customer.merged events of merges above this one (the last 'merge_id' seen).") var mergesSince: Int64?
    @Option(help: "At most this many of each kind.") var limit = 100_000

    func validate() throws {
        guard since != nil || receivedSince != nil || mergesSince != nil else {
            throw ValidationError("give --since, --received-since, --merges-since, or several")
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        let config = try options.loadConfig()
        let store = try Store(conninfo: config.database, owner: "switchboard-events")
        let output = FileHandle.standardOutput
        if let receivedSince {
            for event in try store.receivedEvents(afterDelivery: receivedSince, limit: limit) { output.writeLine(event.json) }
        }
        if let since {
            for event in try store.events(after: since, limit: limit) { output.writeLine(event.json) }
        }
        if let mergesSince {
            for merge in try store.merges(after: mergesSince, limit: limit) { output.writeLine(merge.eventJSON) }
        }
    }
}

extension FileHandle {
    fileprivate func writeLine(_ bytes: [UInt8]) { write(Data(bytes + [0x0A])) }
}
