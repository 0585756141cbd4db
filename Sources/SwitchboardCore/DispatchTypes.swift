import SwitchboardProtocol

/// The ROUTER routing id of a connected worker: who to send to, and who sent.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { bytes.map { String($0, radix: 16) }.joined() }
}

/// What a worker gets with a task besides the dispatch fields: the interaction, the customer, the body.
///
/// A class, made once when the delivery is stored and never changed: a task is copied from the
/// store's answer to the dispatcher's queues and on to the offer, and each copy of a struct of a
/// dozen strings cost a dozen reference counts (retain and release were the largest single cost in
/// a `perf record` of the hub at maximum ingest); a copy of this costs one.
public final class TaskPayload: Sendable, Equatable {
    public let interaction: InteractionSummary
    /// Whose interaction it is: the hub reads the customer's context when it offers the task.
    public let customerID: Int64
    public let body: [UInt8]
    /// What the worker it is offered to must have, and what ranks the eligible ones.
    public let needs: TaskNeeds
    /// The worker who owns the open conversation the interaction belongs to: offered to first.
    public let conversationOwner: String?

    public init(interaction: InteractionSummary, customerID: Int64, body: [UInt8], needs: TaskNeeds = .none, conversationOwner: String? = nil) {
        self.interaction = interaction
        self.customerID = customerID
        self.body = body
        self.needs = needs
        self.conversationOwner = conversationOwner
    }

    public static func == (lhs: TaskPayload, rhs: TaskPayload) -> Bool {
        lhs === rhs
            || (lhs.interaction == rhs.interaction && lhs.customerID == rhs.customerID && lhs.body == rhs.body && lhs.needs == rhs.needs
                && lhs.conversationOwner == rhs.conversationOwner)
    }
}

/// What a task needs of the worker it is offered to (skill-based routing): every required skill,
/// and its language if it has one; optional skills rank the workers that qualify.
public struct TaskNeeds: Sendable, Hashable {
    /// Lower case, as given or detected; nil: any worker may take it.
    public var language: String?
    /// Sorted, without repeats, so that equal needs compare equal.
    public var skills: [String]
    public var optionalSkills: [String]

    public init(language: String? = nil, skills: [String] = [], optionalSkills: [String] = []) {
        self.language = language.map { $0.lowercased() }
        self.skills = Array(Set(skills)).sorted()
        self.optionalSkills = Array(Set(optionalSkills)).sorted()
    }

    public static let none = TaskNeeds()

    /// Whether a worker that declared these skills and languages may be offered the task. A worker
    /// that declared no language takes every language; one that declared `pt` takes `pt-BR`.
    public func admit(skills workerSkills: Set<String>, languages: Set<String>) -> Bool {
        Self.admit(language: language, skills: skills, workerSkills: workerSkills, workerLanguages: languages)
    }

    static func admit(language: String?, skills: [String], workerSkills: Set<String>, workerLanguages: Set<String>) -> Bool {
        for skill in skills where !workerSkills.contains(skill) { return false }
        guard let language, !workerLanguages.isEmpty, !workerLanguages.contains(language) else { return true }
        guard let dash = language.firstIndex(of: "-") else { return false }
        return workerLanguages.contains(String(language[..<dash]))
    }

    /// How many of the optional skills a worker has: more is offered first.
    public func rank(skills workerSkills: Set<String>) -> Int { optionalSkills.count { workerSkills.contains($0) } }
}

/// A delivery the dispatcher holds in memory: committed, waiting to be offered or in flight.
public struct DispatchTask: Sendable, Equatable {
    public var deliveryID: Int64
    public var queue: String
    public var priority: Int
    /// Unix milliseconds.
    public var deadline: Int64
    /// How many times it has been offered so far.
    public var attempts: Int
    /// Not to be offered before this time (a scheduled retry), Unix milliseconds.
    public var notBefore: Int64?
    public var payload: TaskPayload
    /// Workers that sent REJECT for it, or let its offer time out: offered to another first.
    public var declinedBy: [String] = []
    /// Sticky routing: it waited (or was offered) for its customer's last worker once already.
    var stickyTried = false
    /// Escalation steps applied so far (durable: `deliveries.escalations`).
    public var escalations = 0
    /// An escalation dropped its language and required skills: any worker of the queue may take it.
    public var relaxed = false
    /// Kept aside for this worker (its customer's last) until `notBefore`.
    var reservedFor: String?

    public init(deliveryID: Int64, queue: String, priority: Int, deadline: Int64, attempts: Int = 0, notBefore: Int64? = nil, payload: TaskPayload) {
        self.deliveryID = deliveryID
        self.queue = queue
        self.priority = priority
        self.deadline = deadline
        self.attempts = attempts
        self.notBefore = notBefore
        self.payload = payload
    }

    public var needs: TaskNeeds { payload.needs }

    /// The ready queue it waits in: its queue, split by what it needs of a worker.
    var lane: Lane {
        relaxed ? Lane(queue: queue, language: nil, skills: []) : Lane(queue: queue, language: payload.needs.language, skills: payload.needs.skills)
    }

    /// Dispatch order (DESIGN §1.4): earliest deadline, then highest priority, then oldest delivery.
    var urgency: Urgency { Urgency(deadline: deadline, priority: priority, deliveryID: deliveryID) }

    /// The TASK that offers this delivery, with the customer context as JSON text.
    public func taskFrames(customer: [UInt8]) -> [[UInt8]] {
        Codec.taskFrames(
            deliveryID: deliveryID, attempt: attempts, deadline: deadline, queue: queue, priority: priority,
            interaction: payload.interaction.encoded, customer: customer, body: payload.body)
    }
}

/// The tasks of one queue that need the same of a worker: each lane is in dispatch order, so its
/// head is the most urgent task any one worker could be given from it.
struct Lane: Hashable {
    var queue: String
    var language: String?
    var skills: [String]
}

/// Sort key of the ready queues: smaller is more urgent.
struct Urgency: Comparable, Hashable {
    var deadline: Int64
    var priority: Int
    var deliveryID: Int64

    static func < (lhs: Urgency, rhs: Urgency) -> Bool {
        if lhs.deadline != rhs.deadline { return lhs.deadline < rhs.deadline }
        if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
        return lhs.deliveryID < rhs.deliveryID
    }
}

/// What happened to a delivery, as `delivery_events.kind` records it.
public enum DeliveryEvent: String, Sendable, CaseIterable {
    case offered, accepted, rejected
    case timedOut = "timed_out"
    case retried, escalated, transferred, done, failed, dead, replayed
}

/// A durable state change of a delivery that the store must write, with its event.
public enum DeliveryTransition: Sendable, Equatable {
    case offered(deliveryID: Int64, worker: String, attempt: Int, leaseUntil: Int64)
    /// The worker holding it sent ACCEPT: it is `in_progress`, and its first response is recorded.
    case accepted(deliveryID: Int64, worker: String)
    /// `report`: the DONE's resolution, feedback and customer updates as JSON (`Done.report`), if any.
    case done(deliveryID: Int64, worker: String, outcome: String, notes: String?, report: [UInt8]? = nil)
    /// Back to pending, to be offered again not before `notBefore`; `event` says why (the worker
    /// failed it, rejected the offer, let the offer time out, or was lost), `worker` who held it.
    case retry(deliveryID: Int64, notBefore: Int64, error: String, event: DeliveryEvent = .retried, worker: String? = nil)
    case rejected(deliveryID: Int64, worker: String, reason: String)
    case dead(deliveryID: Int64, error: String)
    /// The worker holding it handed it to another queue: it is closed as `transferred`, and a new
    /// delivery of the same interaction (the next leg, linked both ways) waits in `leg.queue`.
    case transferred(deliveryID: Int64, worker: String, reason: String, leg: TransferLeg)
    /// An escalation step acted on a waiting delivery: its queue, priority and relaxation now.
    case escalated(deliveryID: Int64, queue: String, priority: Int, relaxed: Bool, escalations: Int, detail: String)

    public var deliveryID: Int64 {
        switch self {
        case .offered(let id, _, _, _), .accepted(let id, _), .done(let id, _, _, _, _), .retry(let id, _, _, _, _), .rejected(let id, _, _),
            .dead(let id, _), .transferred(let id, _, _, _), .escalated(let id, _, _, _, _, _):
            id
        }
    }

    /// The state the delivery is in once this is written.
    public var resultingState: String {
        switch self {
        case .offered: "offered"
        case .accepted: "in_progress"
        case .done: "done"
        case .retry: "pending"
        case .rejected: "failed"
        case .dead: "dead"
        case .transferred: "transferred"
        case .escalated: "pending"
        }
    }

    /// The event `delivery_events` records for it.
    public var event: DeliveryEvent {
        switch self {
        case .offered: .offered
        case .accepted: .accepted
        case .done: .done
        case .retry(_, _, _, let event, _): event
        case .rejected: .failed
        case .dead: .dead
        case .transferred: .transferred
        case .escalated: .escalated
        }
    }
}

/// The next leg of a transferred delivery: where it goes and what it needs there, as the hub's
/// routing rules give them for the target queue.
public struct TransferLeg: Sendable, Equatable {
    public var queue: String
    public var priority: Int
    /// Unix milliseconds: the transfer's time plus the target process's service-level target.
    public var deadline: Int64
    public var needs: TaskNeeds

    public init(queue: String, priority: Int, deadline: Int64, needs: TaskNeeds) {
        self.queue = queue
        self.priority = priority
        self.deadline = deadline
        self.needs = needs
    }
}

/// What the hub loop must carry out after a dispatcher event.
public enum DispatchAction: Sendable, Equatable {
    /// Offer this task to the worker (the hub adds the customer context and sends TASK).
    case offer(PeerID, DispatchTask)
    /// Write this transition; if `confirmTo` is set, send that worker CONFIRM once it is committed.
    case persist(DeliveryTransition, confirmTo: PeerID?)
    /// Tell the worker its READY was accepted.
    case welcome(PeerID, Welcome)
    /// Refuse a worker's command.
    case refuse(PeerID, WorkerError)
    /// Find the `limit` most urgent pending deliveries of `queue` in the store and load those not in
    /// `skipping`, which memory holds already (the in-memory window ran low, or a rescan).
    case refill(queue: String, limit: Int, skipping: Set<Int64>)
    /// A worker left or was given up on; for logs and metrics.
    case workerLost(PeerID, workerID: String, reason: String, requeued: Int)
    /// A DONE or FAIL for a delivery memory does not hold: read what the store holds of it, after
    /// the transitions before it are written, and answer the worker with `AnswerCheck.verdict`.
    case verify(PeerID, AnswerCheck)
    /// A returning worker lists these deliveries in `holding` and memory does not have them: load
    /// those still pending and hand them to `heldLookedUp`.
    case lookUpHeld(PeerID, [Int64])
}

/// Limits of the dispatcher, from the hub's configuration.
public struct DispatchConfig: Sendable {
    public var maxAttempts: Int
    public var heartbeatMs: Int64
    /// A worker silent this long is considered dead.
    public var heartbeatTimeoutMs: Int64
    /// How long a worker may hold a task before it goes back to the queue.
    public var leaseMs: Int64
    /// How many pending deliveries of one queue are kept in memory; the rest wait in PostgreSQL.
    public var windowPerQueue: Int
    /// How long a delivery a worker failed without saying when waits before its next offer.
    public var retryBackoff: RetryBackoff
    /// How long a worker that sends ACCEPT has to accept (or complete) an offer before it goes to another worker.
    public var offerTimeoutMs: Int64
    /// How long a returning customer's contact waits for the busy worker who last handled them (0: not at all).
    public var stickyWaitMs: Int64

    public init(
        maxAttempts: Int = 5, heartbeatMs: Int64 = 1000, heartbeatTimeoutMs: Int64 = 3000, leaseMs: Int64 = 300_000, windowPerQueue: Int = 10_000,
        retryBackoff: RetryBackoff = RetryBackoff(), offerTimeoutMs: Int64 = 30_000, stickyWaitMs: Int64 = 0
    ) {
        self.offerTimeoutMs = offerTimeoutMs
        self.stickyWaitMs = stickyWaitMs
        self.maxAttempts = maxAttempts
        self.heartbeatMs = heartbeatMs
        self.heartbeatTimeoutMs = heartbeatTimeoutMs
        self.leaseMs = leaseMs
        self.windowPerQueue = windowPerQueue
        self.retryBackoff = retryBackoff
    }
}

/// Exponential backoff with jitter for deliveries a worker failed without a retry time: the
/// `attempt`-th failure waits `baseMs × 2^(attempt−1)`, at most `maxMs`, less up to a fifth so
/// that deliveries failed together do not all come back at once. The jitter is a function of the
/// delivery and the attempt, not of a random source: the same inputs give the same wait (the
/// core stays pure), and different deliveries spread.
public struct RetryBackoff: Sendable, Equatable {
    public var baseMs: Int64
    public var maxMs: Int64

    public init(baseMs: Int64 = 1000, maxMs: Int64 = 300_000) {
        self.baseMs = baseMs
        self.maxMs = maxMs
    }

    public func delayMs(attempt: Int, deliveryID: Int64) -> Int64 {
        var full = baseMs
        for _ in 1..<max(attempt, 1) where full < maxMs { full *= 2 }
        full = min(full, maxMs)
        // SplitMix64 of (delivery, attempt): a fraction in [0, 1) of the fifth taken off.
        var mixed = UInt64(bitPattern: deliveryID) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(attempt)
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        let jitter = Int64(Double(full / 5) * Double(mixed >> 11) / Double(1 << 53))
        return full - jitter
    }
}

/// A connected worker's load, as the dashboard shows it.
public struct WorkerLoad: Sendable, Equatable {
    public var workerID: String
    public var queues: [String]
    public var capacity: Int
    public var held: Int
    /// It sent BYE: it finishes what it holds and gets nothing new.
    public var draining: Bool
}
