import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

/// Work the hub loop hands to a store lane.
enum StoreRequest: Sendable {
    /// A batch to store; `contextWanted` (by record, or empty) marks the messages whose customer's
    /// context is read with it, for tasks a worker is free to take at once.
    case ingest([IngestRecord], receivedAtMs: Int64, contextWanted: [Bool])
    /// Writes the transitions, then reads what the store holds of the `checks` deliveries (DONEs
    /// and FAILs memory could not place), so each check sees the writes decided before it. `at`:
    /// when each transition was decided (Unix ms), as the history records it.
    /// `events`: read back the events written, to publish them.
    case apply([DeliveryTransition], at: [Int64], checks: [Int64], events: Bool)
    /// The events of these deliveries decided at or after `sinceMs`: those of a batch written
    /// without reading them back, when a subscriber arrived meanwhile.
    case eventsOf([Int64], sinceMs: Int64)
    case loadPending(queue: String, limit: Int, skipping: Set<Int64>)
    /// Of the deliveries a returning worker says it holds, those still pending.
    case loadHeld(PeerID, [Int64])
    /// The customer contexts of tasks about to be offered.
    case contexts([Store.ContextKey])
    case quarantine([QuarantineEntry], bytes: Int)
    /// A worker's QUERY: the customer's whole record, by id or by normalized identity.
    case customerRecord(PeerID, queryID: String, id: Int64?, identity: NormalizedIdentity?)
    /// Creates upcoming interaction partitions, applies retention, recomputes value tiers when due
    /// and draws the implicit feedback signals.
    case maintain(nowMs: Int64, retention: Retention, valueTiers: ValueTierPlan?, signals: SignalSettings)
    /// Decides the customers new messages linked: merges them, or puts them in review.
    case processMerges(MergeSettings)
    /// Each queue's depth, oldest wait, at risk, breached and dead, for /metrics and the dashboard.
    case queueFigures(queues: [String], nowMs: Int64)
    /// A worker's REPLY to store and queue for its gateway.
    case reply(PeerID, Reply, worker: String, expireAfterMs: Int64)
    /// Leases the next outbound messages of these channels to this hub (none: only expires).
    case claimOutbound(channels: [String], limit: Int, settings: OutboundSettings)
    /// What gateways answered to DELIVERs, and DELIVERs that got no answer.
    case outboundResults([OutboundResult], settings: OutboundSettings)
    /// A gateway's STATUS: the customer's open contacts.
    case contactStatus(PeerID, queryID: String, id: Int64?, identity: NormalizedIdentity?)
    /// Running campaigns' next contacts and attribution; idle conversations closed.
    case campaignPass(nowMs: Int64, settings: OutboundSettings)
    /// Renews this hub's lease for `leaseMs` (sent at `sentAt`, hub clock).
    case renewLease(leaseMs: Int64, sentAt: Int64)
    /// Adopts hubs that stopped or whose lease ran out, and loads the tasks their workers hold.
    case adoptHubs
    case stop
}

/// Why the store could not do a request.
struct StoreFailure: Error, Sendable {
    /// What kind of failure it is: the hub switches on it.
    enum Kind: Sendable, Equatable {
        /// PostgreSQL is unreachable: the hub answers `unavailable`, reconnects and retries.
        case unavailable
        /// PostgreSQL refused the statement (a constraint, bad data): the input is refused, not retried.
        case refused(sqlState: String?)
        /// Anything else went wrong in the hub's own handling of the answer.
        case unexpected
    }

    let kind: Kind
    /// For the hub's log: the error with the statement it came from.
    let reason: String
    /// For the peer whose input was refused: what PostgreSQL said, without the hub's statement.
    let refusal: String

    var unavailable: Bool { kind == .unavailable }
}

/// The store thread's answer to a request, in request order.
enum StoreReply: Sendable {
    /// One result per record; a record that failed alone carries its failure.
    /// With the contexts read with the batch, by interaction.
    case ingested([Result<IngestOutcome, StoreFailure>], contexts: [Int64: [UInt8]])
    case applied(transitions: [DeliveryTransition], Result<Store.AppliedBatch, StoreFailure>)
    case pending(queue: String, limit: Int, Result<Store.PendingPage, StoreFailure>)
    case held(PeerID, Result<[DispatchTask], StoreFailure>)
    case contexts(Result<[Int64: [UInt8]], StoreFailure>)
    case customerRecord(PeerID, queryID: String, Result<[UInt8]?, StoreFailure>)
    case events(Result<[StoredEvent], StoreFailure>)
    case quarantined(count: Int, bytes: Int, StoreFailure?)
    case maintained(StoreFailure?, retention: RetentionResult? = nil)
    case merged(Result<[CustomerMerge], StoreFailure>)
    case queueFigures(Result<QueueFigures, StoreFailure>)
    case replied(PeerID, Reply, Result<StoredReply, StoreFailure>)
    case outboundClaimed(Result<[OutboundMessage], StoreFailure>)
    case outboundRecorded([OutboundResult], Result<[Int64: String], StoreFailure>)
    case contactStatus(PeerID, queryID: String, Result<OpenContacts, StoreFailure>)
    case campaignPassed(Result<JSONValue, StoreFailure>)
    /// Renewed (true), or found adopted by another hub (false).
    case leaseRenewed(sentAt: Int64, Result<Bool, StoreFailure>)
    case adopted(Result<Adopted, StoreFailure>)
}

/// Hubs this hub adopted, and the tasks their workers hold, now this hub's.
struct Adopted: Sendable {
    var hubs: [Store.Adoption]
    var offered: [(task: DispatchTask, worker: String, leaseUntil: Int64)]
}

/// Each queue's figures, and the latest refusals and dead letters, read together for /metrics and the dashboard.
struct QueueFigures: Sendable {
    var queues: [QueueSummary]
    var quarantine: [RecentProblem]
    var dead: [RecentProblem]
}

extension StoreReply {
    /// A batch stored whole: every message's outcome, and the contexts read with it.
    static func ingested(_ answer: Store.IngestAnswer) -> StoreReply {
        .ingested(answer.outcomes.map { .success($0) }, contexts: answer.contexts)
    }

    /// Whether this reply shows PostgreSQL reachable (true), unreachable (false), or says nothing.
    var databaseReached: Bool? {
        let failure: StoreFailure?
        switch self {
        case .ingested(let results, _):
            failure = results.lazy.compactMap { result -> StoreFailure? in if case .failure(let failure) = result { failure } else { nil } }.first
        case .applied(_, .failure(let error)), .pending(_, _, .failure(let error)), .contexts(.failure(let error)), .held(_, .failure(let error)),
            .events(.failure(let error)):
            failure = error
        case .customerRecord(_, _, .failure(let error)), .merged(.failure(let error)), .queueFigures(.failure(let error)): failure = error
        case .replied(_, _, .failure(let error)), .outboundClaimed(.failure(let error)), .outboundRecorded(_, .failure(let error)),
            .contactStatus(_, _, .failure(let error)), .campaignPassed(.failure(let error)), .leaseRenewed(_, .failure(let error)),
            .adopted(.failure(let error)):
            failure = error
        case .applied, .pending, .contexts, .held, .events, .customerRecord, .merged, .queueFigures, .replied, .outboundClaimed,
            .outboundRecorded, .contactStatus, .campaignPassed, .leaseRenewed, .adopted:
            failure = nil
        case .quarantined(_, _, let error), .maintained(let error, _): failure = error
        }
        return !(failure?.unavailable ?? false)
    }
}
