import ArgumentParser
import SwitchboardStore

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put dead-lettered deliveries back in their queue (a running hub offers them within rescan_ms).",
        discussion: """
            A delivery is dead after max_attempts offers failed. Fix the cause first (a worker bug, a \
            missing worker), then replay: every dead delivery, those of one queue, or chosen ids. \
            Each starts again at attempt 1. See 'switchboard status' for what is dead.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Only dead deliveries of this queue.") var queue: String?
    @Option(name: .customLong("delivery"), help: "Only this delivery id (repeatable).") var deliveries: [Int64] = []

    func run() throws {
        let config = try options.loadConfig()
        let store = try Store(conninfo: config.database, owner: "switchboard-replay")
        let count = try store.replayDead(queue: queue, deliveryIDs: deliveries)
        print("\(count) dead deliveries are pending again")
    }
}
