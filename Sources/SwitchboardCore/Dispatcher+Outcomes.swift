import SwitchboardProtocol

extension Dispatcher {
    /// DONE: stored, then confirmed. For a delivery this worker does not hold, the refusal says
    /// who has it when memory knows; otherwise the store is asked (`.verify`), since the worker's
    /// earlier DONE may have completed it before a restart lost the CONFIRM.
    public mutating func done(_ peer: PeerID, _ done: Done, now: Int64) -> [DispatchAction] {
        switch take(done.deliveryID, from: peer, answer: .done(outcome: done.outcome), now: now) {
        case .failure(let refusal):
            return refusal.actions
        case .success(let held):
            let transition = DeliveryTransition.done(deliveryID: done.deliveryID, worker: held.workerID, outcome: done.outcome, notes: done.notes)
            return [persist(transition, confirmTo: peer)] + pump(now: now)
        }
    }

    /// FAIL: retry later (counts as an attempt) or reject for good.
    public mutating func fail(_ peer: PeerID, _ fail: Fail, now: Int64) -> [DispatchAction] {
        let answer: AnswerCheck.Answer = if case .reject = fail.disposition { .reject } else { .retry }
        switch take(fail.deliveryID, from: peer, answer: answer, now: now) {
        case .failure(let refusal):
            return refusal.actions
        case .success(let held):
            var actions: [DispatchAction]
            switch fail.disposition {
            case .reject(let reason):
                actions = [persist(.rejected(deliveryID: fail.deliveryID, worker: held.workerID, reason: reason), confirmTo: peer)]
            case .retryAfter(let milliseconds):
                actions = requeue(
                    held.task, error: "worker '\(held.workerID)' asked to retry", notBefore: now + Int64(milliseconds), worker: held.workerID,
                    now: now, confirmTo: peer)
            case .retryWithBackoff:
                let wait = config.retryBackoff.delayMs(attempt: held.task.attempts, deliveryID: held.task.deliveryID)
                actions = requeue(
                    held.task, error: "worker '\(held.workerID)' failed it; retried after \(wait) ms", notBefore: now + wait,
                    worker: held.workerID, now: now, confirmTo: peer)
            }
            return actions + pump(now: now)
        }
    }

    private mutating func take(_ deliveryID: Int64, from peer: PeerID, answer: AnswerCheck.Answer, now: Int64) -> Result<OfferedTask, Refusal> {
        guard let worker = workers[peer] else {
            return .failure(Refusal(peer, Self.notReady(command: answer.command, deliveryID: deliveryID)))
        }
        workers[peer]?.lastSeen = now
        if let held = offered[deliveryID] {
            guard held.peer == peer else {
                return .failure(Refusal(peer, AnswerCheck.heldElsewhere(deliveryID, "offered to worker '\(held.workerID)'")))
            }
            offered[deliveryID] = nil
            workers[peer]?.held.remove(deliveryID)
            if workers[peer]?.held.isEmpty == true { workers[peer]?.idleSince = now }
            return .success(held)
        }
        if waiting[deliveryID] != nil || scheduled[deliveryID] != nil {
            return .failure(Refusal(peer, AnswerCheck.heldElsewhere(deliveryID, "pending, to be offered again")))
        }
        let check = AnswerCheck(deliveryID: deliveryID, workerID: worker.registration.workerID, answer: answer)
        return .failure(Refusal(actions: [.verify(peer, check)]))
    }

    /// Back to the queue, or to the dead letters once it has had `maxAttempts` offers.
    /// `event` is why, as the history records it; `worker` who held it.
    mutating func requeue(
        _ task: DispatchTask, error: String, notBefore: Int64? = nil, event: DeliveryEvent = .retried, worker: String?, now: Int64,
        confirmTo: PeerID? = nil
    ) -> [DispatchAction] {
        if task.attempts >= config.maxAttempts {
            return [persist(.dead(deliveryID: task.deliveryID, error: "\(error); \(task.attempts) attempts made"), confirmTo: confirmTo)]
        }
        var again = task
        again.notBefore = notBefore
        admit(again, now: now)
        return [
            persist(
                .retry(deliveryID: task.deliveryID, notBefore: notBefore ?? now, error: error, event: event, worker: worker), confirmTo: confirmTo)
        ]
    }
}

/// A refusal carried out of `take` as an error value: an answer now, or a check in the store first.
struct Refusal: Error {
    let actions: [DispatchAction]
    init(_ peer: PeerID, _ error: WorkerError) { actions = [.refuse(peer, error)] }
    init(actions: [DispatchAction]) { self.actions = actions }
}
