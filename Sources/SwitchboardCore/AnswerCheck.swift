import SwitchboardProtocol

/// A worker's DONE or FAIL for a delivery memory does not hold, checked against the store.
///
/// After a hub restart a worker re-sends the answers it saw no CONFIRM for; the first one may
/// have been committed before the restart. That worker is told its work counted (CONFIRM with
/// `repeat`); any other is told why the delivery is not its own, so it knows whether to drop it.
public struct AnswerCheck: Sendable, Equatable {
    /// What the worker answered.
    public enum Answer: Sendable, Equatable {
        case done(outcome: String)
        case reject
        case retry
        /// REJECT of an offer.
        case decline
        case transfer

        var command: String {
            switch self {
            case .done: "DONE"
            case .reject, .retry: "FAIL"
            case .decline: "REJECT"
            case .transfer: "TRANSFER"
            }
        }
    }

    /// What the store holds of a delivery when the check is read.
    public struct Stored: Sendable, Equatable {
        public var state: String
        public var worker: String?
        public var outcome: String?

        public init(state: String, worker: String?, outcome: String?) {
            self.state = state
            self.worker = worker
            self.outcome = outcome
        }
    }

    /// How the hub answers the worker.
    public enum Verdict: Sendable, Equatable {
        /// The same answer from the same worker was committed before: CONFIRM it again.
        case repeated(Confirm)
        case refused(WorkerError)
    }

    public var deliveryID: Int64
    public var workerID: String
    public var answer: Answer

    public init(deliveryID: Int64, workerID: String, answer: Answer) {
        self.deliveryID = deliveryID
        self.workerID = workerID
        self.answer = answer
    }

    /// The answer for the worker, given what the store holds of the delivery (nil: no such delivery).
    public func verdict(_ stored: Stored?) -> Verdict {
        guard let stored else {
            return .refused(
                WorkerError(
                    code: .notHeld, detail: .unknownDelivery, reason: "delivery \(deliveryID) does not exist", deliveryID: deliveryID))
        }
        if repeats(stored) { return .repeated(Confirm(deliveryID: deliveryID, state: stored.state, repeated: true)) }
        switch (answer, stored.state) {
        case (_, "pending"):
            return .refused(Self.heldElsewhere(deliveryID, "pending, to be offered again"))
        case (_, "offered"), (_, "in_progress"):
            return .refused(Self.heldElsewhere(deliveryID, "offered to worker '\(stored.worker ?? "?")'"))
        default:
            var how = "it is \(stored.state)"
            if let worker = stored.worker { how += " by worker '\(worker)'" }
            if let outcome = stored.outcome { how += " with outcome '\(outcome)'" }
            return .refused(
                WorkerError(
                    code: .notHeld, detail: .settled, reason: "delivery \(deliveryID) was settled otherwise: \(how); drop it",
                    deliveryID: deliveryID))
        }
    }

    /// Whether the store shows this very answer from this worker committed already.
    private func repeats(_ stored: Stored) -> Bool {
        guard stored.worker == workerID else { return false }
        switch answer {
        case .done(let outcome): return stored.state == "done" && stored.outcome == outcome
        case .reject: return stored.state == "failed"
        case .transfer: return stored.state == "transferred"
        case .retry, .decline: return false
        }
    }

    static func heldElsewhere(_ deliveryID: Int64, _ where: String) -> WorkerError {
        WorkerError(
            code: .notHeld, detail: .heldElsewhere,
            reason: "delivery \(deliveryID) is not held by you: it is \(`where`); another worker will handle it, drop it",
            deliveryID: deliveryID)
    }
}
