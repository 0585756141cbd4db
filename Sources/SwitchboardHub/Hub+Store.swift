import Logging
import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import ZeroMQ

extension Hub {
    /// Handles every reply the store thread has posted.
    func handleStoreReplies(_ lane: StoreLane) throws {
        while try lane.wake.receive(dontWait: true) != nil {}
        for reply in lane.thread.replies.drain() {
            if let reached = reply.databaseReached { databaseUp = reached }
            switch reply {
            case .ingested(let results, let contexts):
                ingested(results, contexts: contexts)
            case .applied(let transitions, let result):
                applied(transitions, result)
            case .held(let peer, .success(let tasks)):
                perform(dispatcher.heldLookedUp(peer, pending: tasks, now: Clock.nowMs()))
            case .held(let peer, .failure(let failure)):
                // Welcomed all the same: its re-sent DONEs are then checked one by one.
                logger.error("could not look up the deliveries a returning worker holds: \(failure.reason)")
                perform(dispatcher.heldLookedUp(peer, pending: [], now: Clock.nowMs()))
            case .pending(let queue, let limit, .success(let page)):
                perform(dispatcher.refilled(queue: queue, tasks: page.tasks, found: page.found, limit: limit, now: Clock.nowMs()))
            case .contexts(let result):
                contextsRead(result)
            case .pending(let queue, _, .failure(let failure)):
                logger.error("could not load pending deliveries of \(queue): \(failure.reason)")
                dispatcher.refillFailed(queue: queue)
                failedRefills.insert(queue)
            case .quarantined(let count, let bytes, let failure):
                quarantineBytes -= bytes
                if let failure { logger.error("could not quarantine \(count) refused inputs: \(failure.reason)") }
            case .maintained(let failure?):
                logger.error("store maintenance failed: \(failure.reason)")
            case .maintained:
                break
            }
        }
    }

    /// Writes the waiting transitions when no batch is in flight, once the oldest has waited
    /// `transition_wait_ms` or a batch's worth is there (unless `waiting` is off, as at stop). No
    /// one waits on most of these writes: an offer's TASK has gone already (the write tells a
    /// restarted hub who holds the delivery), and a DONE only waits for its CONFIRM. At light load
    /// each would otherwise be a commit of its own: a transaction and a WAL flush per message.
    func flushTransitions(now: Int64, waiting: Bool = true) {
        let count = transitionBuffer.count + checkBuffer.count
        guard transitionsInFlight == nil, count > 0, now >= transitionRetryAt else { return }
        if waiting && count < Self.transitionBatch && now < transitionBufferSince + config.transitionWaitMs { return }
        let batch = Array(transitionBuffer.prefix(2000))
        // What is left (more than a batch came) has waited long enough: it goes next.
        transitionBuffer.removeFirst(batch.count)
        // A check goes once every transition decided before it is in this batch or an earlier one.
        let checks = transitionBuffer.isEmpty ? Array(checkBuffer.prefix(2000)) : []
        checkBuffer.removeFirst(checks.count)
        transitionsInFlight = (batch, checks)
        submit(.apply(batch.map(\.0), checks: checks.map(\.check.deliveryID)))
    }

    /// Transitions that go at once, however short a time the oldest has waited.
    static let transitionBatch = 512

    /// How long the loop may wait for input: at most until waiting transitions are due (or, after
    /// a failed write, may be tried again).
    func loopTimeoutMs(now: Int64) -> Int {
        if !outbox.waiting.isEmpty { return 2 }
        guard !transitionBuffer.isEmpty || !checkBuffer.isEmpty, transitionsInFlight == nil else { return 50 }
        let due = max(transitionBufferSince + config.transitionWaitMs, transitionRetryAt)
        return Int(max(1, min(50, due - now)))
    }

    /// Asks for the customer contexts of the waiting offers when no request for them is in flight.
    func flushOffers(now: Int64) {
        guard offersInFlight == nil, !offersAwaitingContext.isEmpty, now >= contextRetryAt else { return }
        let batch = Array(offersAwaitingContext.prefix(2000))
        offersAwaitingContext.removeFirst(batch.count)
        offersInFlight = batch
        submit(.contexts(Array(Set(batch.map { Store.ContextKey($0.task.payload) }))))
    }

    /// Sends each waiting TASK with its customer's context, unless the worker no longer holds it
    /// (it left, or its lease ran out, while the context was read).
    private func contextsRead(_ result: Result<[Int64: [UInt8]], StoreFailure>) {
        guard let batch = offersInFlight else { return }
        offersInFlight = nil
        switch result {
        case .success(let contexts):
            for (peer, task) in batch where dispatcher.holds(task, peer: peer) {
                let customer = contexts[task.payload.interaction.id] ?? JSONWriter.bytes(["id": .integer(task.payload.customerID)])
                send(task.taskFrames(customer: customer), named: "TASK", toWorker: peer)
            }
        case .failure(let failure):
            // The worker holds these; it gets them once the database answers (or they go back at lease expiry).
            logger.error("could not read the customer context of \(batch.count) offers, retrying: \(failure.reason)")
            offersAwaitingContext.insert(contentsOf: batch, at: 0)
            contextRetryAt = Clock.nowMs() + 500
        }
    }

    private func applied(_ transitions: [DeliveryTransition], _ result: Result<Store.AppliedBatch, StoreFailure>) {
        guard let (batch, checks) = transitionsInFlight else { return }
        transitionsInFlight = nil
        switch result {
        case .success(let batchAnswer):
            dispatcher.written(transitions)
            for ((transition, confirmTo), applied) in zip(batch, batchAnswer.applied) {
                guard let peer = confirmTo else { continue }
                if applied {
                    send(.confirm(Confirm(deliveryID: transition.deliveryID, state: transition.resultingState)), toWorker: peer)
                } else {
                    answerRefused(
                        peer,
                        WorkerError(
                            code: .notHeld, detail: AnswerCheck.settled,
                            reason: "delivery \(transition.deliveryID) was settled before your answer was written; drop it",
                            deliveryID: transition.deliveryID))
                }
            }
            for (peer, check) in checks { answer(peer, check.verdict(batchAnswer.stored[check.deliveryID])) }
        case .failure(let failure):
            // Nothing here may be lost: keep the batch first in line and try again shortly.
            logger.error("could not write \(batch.count) delivery transitions, retrying: \(failure.reason)")
            transitionBuffer.insert(contentsOf: batch, at: 0)
            checkBuffer.insert(contentsOf: checks, at: 0)
            transitionRetryAt = Clock.nowMs() + 500
        }
    }

    /// A checked DONE or FAIL: confirmed again if the same worker's earlier one counted, else refused with the reason.
    private func answer(_ peer: PeerID, _ verdict: AnswerCheck.Verdict) {
        switch verdict {
        case .repeated(let confirm):
            stats.repeatedAnswersConfirmed += 1
            send(.confirm(confirm), toWorker: peer)
        case .refused(let error):
            answerRefused(peer, error)
        }
    }
}

/// One store thread and the hub's end of the inproc socket that wakes it and is woken by it.
struct StoreLane {
    let thread: StoreThread
    let wake: Socket

    init(name: String, context: Context, config: HubConfig, logger: Logger) throws {
        thread = StoreThread(
            name: name, context: context, conninfo: config.database, owner: config.hubName, contextRecentDays: config.contextRecentDays,
            logger: logger)
        wake = try context.socket(.pair)
        try wake.bind(thread.endpoint)
        thread.start()
    }

    func submit(_ request: StoreRequest, logger: Logger) {
        thread.requests.post(request)
        do {
            try wake.send([[0]])
        } catch {
            logger.critical("cannot wake the \(thread.name) store thread: \(error)")
        }
    }
}
