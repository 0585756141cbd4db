import Postgres
import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

/// Replays gateways' refused messages from the quarantine table once the cause is fixed: a channel
/// added to `extra_channels`, a larger `max_body_bytes`, a database constraint corrected. Each
/// entry's raw frames get the checks, identity resolution and routing a PUBLISH gets from the hub
/// under this configuration, and are stored as from the gateway that sent them. What is refused
/// again stays in quarantine, not marked replayed, and the answer says why. A stored message's
/// delivery is pending: a running hub offers it at its next rescan (`rescan_ms`). Replaying twice
/// stores nothing twice: the second replay finds the (gateway, message id) and answers duplicate.
public struct QuarantineReplay {
    public enum Outcome: Equatable, Sendable {
        case stored(interactionID: Int64, queue: String)
        case duplicate(interactionID: Int64)
        /// Refused again: the code and reason a gateway would get now.
        case refused(code: String, reason: String)
        /// Nothing a gateway asked to store: a worker's command, or a gateway's other input.
        case notReplayable(String)
    }

    private let config: HubConfig
    private let store: Store
    private let intake: PublishIntake

    public init(config: HubConfig) throws {
        self.config = config
        store = try Store(conninfo: config.database, owner: "switchboard-quarantine-replay")
        try store.checkSchema()
        intake = PublishIntake(config: config)
        try intake.register(in: store)
    }

    /// Replays every selected entry, oldest first, one by one, each stored in a transaction of its
    /// own, marks those whose message is now stored, and hands each with its outcome to `each`.
    /// Entries are read `selection.limit` at a time, so memory holds one page of raw frames
    /// however large the quarantine. Stops at a lost connection: what was replayed stays
    /// replayed, and running it again is safe.
    public func replay(_ selection: QuarantineSelection, _ each: (QuarantinedInput, Outcome) throws -> Void) throws {
        var page = selection
        while true {
            let entries = try store.quarantined(page)
            for entry in entries {
                let outcome = try replay(entry)
                switch outcome {
                case .stored, .duplicate: try store.markReplayed([entry.id])
                case .refused, .notReplayable: break
                }
                try each(entry, outcome)
            }
            guard entries.count == page.limit, let last = entries.last else { return }
            page.afterID = last.id
        }
    }

    /// `replay(_:_:)` collected: every selected entry with its outcome.
    public func replayAll(_ selection: QuarantineSelection) throws -> [(entry: QuarantinedInput, outcome: Outcome)] {
        var results: [(entry: QuarantinedInput, outcome: Outcome)] = []
        try replay(selection) { results.append(($0, $1)) }
        return results
    }

    private func replay(_ entry: QuarantinedInput) throws -> Outcome {
        guard entry.role == "gateway" else { return .notReplayable("a worker's input answers for a task at the time; it is not replayed") }
        // An unnamed gateway's entries carry a peer that is no gateway name (it has a space).
        guard entry.code != "anonymous_gateway", Hub.gatewayName(PeerID(Array(entry.peer.utf8))) != nil else {
            return .notReplayable("the gateway had no name to store the message under")
        }
        guard entry.code != "identity_mismatch" else { return .notReplayable("the gateway's routing id did not match its key") }
        guard let frames = entry.frames else { return .notReplayable("its stored frames are damaged") }
        let publish: Publish
        do {
            guard case .publish(let decoded) = try Codec.decode(frames, limits: config.decodingLimits, accepting: Codec.gatewayCommands) else {
                return .notReplayable("it is not a PUBLISH")
            }
            publish = decoded
        } catch {
            return .refused(code: error.code.rawValue, reason: error.reason)
        }
        let record = intake.record(publish, gateway: entry.peer, now: Clock.nowMs())
        do {
            switch try store.ingest([record], receivedAtMs: Clock.nowMs())[0] {
            case .stored(let ack, _): return .stored(interactionID: ack.interactionID, queue: ack.queue)
            case .duplicate(let ack): return .duplicate(interactionID: ack.interactionID)
            case .conflict(_, let original):
                let refusal = PublishIntake.reused(publish.messageID, storedAs: original.interactionID)
                return .refused(code: refusal.detail.rawValue, reason: refusal.reason)
            }
        } catch let error as PostgresError where !error.isConnectionLoss {
            return .refused(code: "store_rejected", reason: StoreThread.failure(error).refusal)
        }
    }
}
