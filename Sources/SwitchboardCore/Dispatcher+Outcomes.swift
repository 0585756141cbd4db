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
            remember(customer: held.task.payload.customerID, worker: held.workerID)
            let transition = DeliveryTransition.done(
                deliveryID: done.deliveryID, worker: held.workerID, outcome: done.outcome, notes: done.notes,
                report: done.report.map(JSONWriter.bytes))
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

    /// ACCEPT: the worker holding the offer takes it; it is in progress and no longer times out.
    /// Answered by CONFIRM (`in_progress`) once written.
    public mutating func accept(_ peer: PeerID, _ accept: Accept, now: Int64) -> [DispatchAction] {
        guard workers[peer] != nil else { return [.refuse(peer, Self.notReady(command: "ACCEPT", deliveryID: accept.deliveryID))] }
        workers[peer]?.lastSeen = now
        workers[peer]?.sendsAccept = true
        guard let held = offered[accept.deliveryID], held.peer == peer else {
            let whereItIs = offered[accept.deliveryID].map { "offered to worker '\($0.workerID)'" } ?? "not offered to you now"
            return [.refuse(peer, AnswerCheck.heldElsewhere(accept.deliveryID, whereItIs))]
        }
        offered[accept.deliveryID]?.acceptBy = nil
        return [persist(.accepted(deliveryID: accept.deliveryID, worker: held.workerID), confirmTo: peer)]
    }

    /// REJECT: the worker declines the offer; it goes to another worker that qualifies, or, when
    /// only workers that declined it are free, after a backoff to anyone.
    public mutating func decline(_ peer: PeerID, _ reject: Reject, now: Int64) -> [DispatchAction] {
        switch take(reject.deliveryID, from: peer, answer: .decline, now: now) {
        case .failure(let refusal):
            return refusal.actions
        case .success(let held):
            var task = held.task
            if reject.busy {
                // Full with another hub's tasks: the offer did not count, and the worker is left alone until heard from again.
                task.attempts = max(0, task.attempts - 1)
                workers[peer]?.busy = true
            } else {
                task.declinedBy.append(held.workerID)
            }
            let why = reject.reason.map { ": \($0)" } ?? ""
            return requeue(
                task, error: "rejected by worker '\(held.workerID)'\(why)", event: .rejected, worker: held.workerID, now: now, confirmTo: peer)
                + pump(now: now)
        }
    }

    /// TRANSFER: the worker hands the task to another queue; `leg` says where it goes and what it
    /// needs there (the routing rules of the target queue, applied to the task). Once written, the
    /// new leg is pending in that queue and a refill loads it.
    public mutating func transfer(_ peer: PeerID, _ transfer: Transfer, now: Int64, leg: (DispatchTask) -> TransferLeg) -> [DispatchAction] {
        switch take(transfer.deliveryID, from: peer, answer: .transfer, now: now) {
        case .failure(let refusal):
            return refusal.actions
        case .success(let held):
            let transition = DeliveryTransition.transferred(
                deliveryID: transfer.deliveryID, worker: held.workerID, reason: transfer.reason, leg: leg(held.task))
            return [persist(transition, confirmTo: peer)] + pump(now: now)
        }
    }

    /// A transfer is written: its new leg waits in the store for the target queue's refill.
    public mutating func transferWritten(to queue: String) -> [DispatchAction] { markBacklog(queue: queue) }

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
            release(deliveryID, from: peer, now: now)
            return .success(held)
        }
        if waiting[deliveryID] != nil || scheduled[deliveryID] != nil {
            return .failure(Refusal(peer, AnswerCheck.heldElsewhere(deliveryID, "pending, to be offered again")))
        }
        let check = AnswerCheck(deliveryID: deliveryID, workerID: worker.registration.workerID, answer: answer)
        return .failure(Refusal(actions: [.verify(peer, check)]))
    }

    /// The worker on `peer` no longer holds delivery `id`.
    mutating func release(_ id: Int64, from peer: PeerID, now: Int64) {
        workers[peer]?.held.remove(id)
        if workers[peer]?.held.isEmpty == true { workers[peer]?.idleSince = now }
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
