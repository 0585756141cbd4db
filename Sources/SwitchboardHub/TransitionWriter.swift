import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

/// The dispatch lane's write path, as a state machine the hub loop feeds and whose answers it
/// carries out: the transitions the dispatcher decided, and the DONE/FAIL checks, wait to share
/// one commit; one batch is in flight at a time; a batch that failed goes first in line again.
///
/// No one waits on most of these writes: an offer's TASK has gone already (the write tells a
/// restarted hub who holds the delivery), and a DONE only waits for its CONFIRM. At light load
/// each would otherwise be a commit of its own: a transaction and a WAL flush per message.
struct TransitionWriter {
    /// What goes to the dispatch lane in one request.
    struct Batch {
        var transitions: [(transition: DeliveryTransition, confirmTo: PeerID?, at: Int64)]
        var checks: [(peer: PeerID, check: AnswerCheck)]
    }

    /// What the hub sends a worker once a batch is written.
    enum Answer: Equatable {
        case confirm(PeerID, Confirm)
        case refuse(PeerID, WorkerError)
    }

    /// How long the oldest waiting transition may wait for company (`transition_wait_ms`).
    var waitMs: Int64
    /// Transitions that go at once, however short a time the oldest has waited.
    static let batchTrigger = 512
    /// The most transitions, and the most checks, in one request.
    static let maxBatch = 2000
    /// After a failed write, how long before the batch is tried again.
    static let retryMs: Int64 = 500

    /// Each with the time it was decided, which the history records.
    private(set) var waiting: [(transition: DeliveryTransition, confirmTo: PeerID?, at: Int64)] = []
    private(set) var waitingChecks: [(peer: PeerID, check: AnswerCheck)] = []
    /// When the oldest of `waiting` and `waitingChecks` came.
    private var since: Int64 = 0
    private(set) var inFlight: Batch?
    private var retryAt: Int64 = 0

    init(waitMs: Int64) { self.waitMs = waitMs }

    /// Nothing waits and nothing is in flight.
    var isIdle: Bool { waiting.isEmpty && waitingChecks.isEmpty && inFlight == nil }

    mutating func add(_ transition: DeliveryTransition, confirmTo peer: PeerID?, now: Int64) {
        if waiting.isEmpty && waitingChecks.isEmpty { since = now }
        waiting.append((transition, peer, now))
    }

    /// A DONE or FAIL to check in the store after the transitions decided before it.
    mutating func addCheck(_ check: AnswerCheck, from peer: PeerID, now: Int64) {
        if waiting.isEmpty && waitingChecks.isEmpty { since = now }
        waitingChecks.append((peer, check))
    }

    /// The batch to send now, if one is due: none in flight, and the oldest has waited `waitMs` or
    /// a batch's worth waits (with `waiting` off, as at stop, whatever waits goes at once).
    mutating func nextBatch(now: Int64, waiting waitForCompany: Bool = true) -> Batch? {
        let count = waiting.count + waitingChecks.count
        guard inFlight == nil, count > 0, now >= retryAt else { return nil }
        if waitForCompany && count < Self.batchTrigger && now < since + waitMs { return nil }
        let transitions = Array(waiting.prefix(Self.maxBatch))
        // What is left (more than a batch came) has waited long enough: it goes next.
        waiting.removeFirst(transitions.count)
        // A check goes once every transition decided before it is in this batch or an earlier one.
        let checks = waiting.isEmpty ? Array(waitingChecks.prefix(Self.maxBatch)) : []
        waitingChecks.removeFirst(checks.count)
        let batch = Batch(transitions: transitions, checks: checks)
        inFlight = batch
        return batch
    }

    /// The batch in flight is written: what to tell each worker that waits for an answer.
    mutating func written(_ answer: Store.AppliedBatch) -> [Answer] {
        guard let batch = inFlight else { return [] }
        inFlight = nil
        var answers: [Answer] = []
        for ((transition, confirmTo, _), applied) in zip(batch.transitions, answer.applied) {
            guard let peer = confirmTo else { continue }
            if applied {
                answers.append(.confirm(peer, Confirm(deliveryID: transition.deliveryID, state: transition.resultingState)))
            } else {
                answers.append(
                    .refuse(
                        peer,
                        WorkerError(
                            code: .notHeld, detail: .settled,
                            reason: "delivery \(transition.deliveryID) was settled before your answer was written; drop it",
                            deliveryID: transition.deliveryID)))
            }
        }
        for (peer, check) in batch.checks {
            switch check.verdict(answer.stored[check.deliveryID]) {
            case .repeated(let confirm): answers.append(.confirm(peer, confirm))
            case .refused(let error): answers.append(.refuse(peer, error))
            }
        }
        return answers
    }

    /// The batch in flight could not be written: nothing in it may be lost, so it goes first in
    /// line again and is tried after `retryMs`. Returns how many transitions it held.
    @discardableResult
    mutating func failed(now: Int64) -> Int {
        guard let batch = inFlight else { return 0 }
        inFlight = nil
        waiting.insert(contentsOf: batch.transitions, at: 0)
        waitingChecks.insert(contentsOf: batch.checks, at: 0)
        retryAt = now + Self.retryMs
        return batch.transitions.count
    }

    /// How long the hub loop may wait for input before a waiting batch is due (at most `limit`).
    func msUntilDue(now: Int64, limit: Int) -> Int {
        guard !(waiting.isEmpty && waitingChecks.isEmpty), inFlight == nil else { return limit }
        return Int(max(1, min(Int64(limit), max(since + waitMs, retryAt) - now)))
    }
}
