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
                quarantineBuffer.written(bytes: bytes)
                if let failure { logger.error("could not quarantine \(count) refused inputs: \(failure.reason)") }
            case .customerRecord(let peer, let queryID, let result):
                queriesInFlight -= 1
                switch result {
                case .success(let record):
                    let customer = record.flatMap { try? JSONParser.parse($0, maxDepth: 16) }
                    send(.result(QueryResult(queryID: queryID, customer: customer)), toWorker: peer)
                case .failure(let failure):
                    answerRefused(
                        peer,
                        WorkerError(
                            code: .unavailable, detail: RefusalDetail.databaseUnavailable.rawValue,
                            reason: "the customer could not be read: \(failure.refusal)"))
                }
            case .maintained(let failure?, _):
                logger.error("store maintenance failed: \(failure.reason)")
            case .maintained(nil, let retention?) where retention.bodiesRemoved > 0 || !retention.partitionsDropped.isEmpty:
                logger.info(
                    "retention: \(retention.bodiesRemoved) message bodies removed, partitions dropped: \(retention.partitionsDropped.joined(separator: ", "))"
                )
            case .maintained:
                break
            case .queueFigures(let result):
                queueFiguresInFlight = false
                switch result {
                case .success(let figures):
                    queueFigures = figures.queues
                    recentQuarantine = figures.quarantine
                    recentDead = figures.dead
                case .failure(let failure): logger.warning("could not read the queues' figures: \(failure.reason)")
                }
            case .replied, .outboundClaimed, .outboundRecorded, .contactStatus, .campaignPassed:
                handleTwoWayReply(reply)
            case .leaseRenewed, .adopted:
                try handleLeaseReply(reply)
            case .merged(let result):
                mergePassInFlight = false
                switch result {
                case .success(let merges):
                    for merge in merges {
                        logger.info("customer \(merge.absorbedID) merged into customer \(merge.survivorID) (\(merge.reason)), merge \(merge.mergeID)")
                        if subscribed(to: "customer.merged") { publish(topic: "customer.merged", merge.eventJSON) }
                    }
                case .failure(let failure):
                    logger.error("the merge pass failed: \(failure.reason)")
                }
            case .events(.success(let events)):
                for event in events where subscribed(to: event.topic) { publish(topic: event.topic, event.json) }
            case .events(.failure(let failure)):
                logger.error("could not read back the events of a batch for a new subscriber: \(failure.reason)")
            }
        }
    }

    /// Sends the waiting transitions and checks to the dispatch lane when a batch is due
    /// (`TransitionWriter.nextBatch`); with `waiting` off (at stop) whatever waits goes at once.
    func flushTransitions(now: Int64, waiting: Bool = true) {
        guard let batch = transitionWriter.nextBatch(now: now, waiting: waiting) else { return }
        submit(
            .apply(
                batch.transitions.map(\.transition), at: batch.transitions.map(\.at), checks: batch.checks.map(\.check.deliveryID),
                events: !eventSubscriptions.isEmpty))
    }

    /// How long the loop may wait for input: at most until waiting transitions are due (or, after
    /// a failed write, may be tried again), and only briefly while messages wait for a worker.
    func loopTimeoutMs(now: Int64) -> Int {
        if !outbox.waiting.isEmpty { return 2 }
        return transitionWriter.msUntilDue(now: now, limit: 50)
    }

    /// Asks the context lane for the contexts of the waiting offers when none are being read.
    func flushOffers(now: Int64) {
        guard let keys = contextReader.nextRequest(now: now) else { return }
        submit(.contexts(keys))
    }

    /// Sends each waiting TASK with its customer's context, unless the worker no longer holds it
    /// (it left, or its lease ran out, while the context was read).
    private func contextsRead(_ result: Result<[Int64: [UInt8]], StoreFailure>) {
        switch result {
        case .success(let contexts):
            for (peer, task, customer) in contextReader.read(contexts) where dispatcher.holds(task, peer: peer) {
                sendTask(task, customer: customer, to: peer)
            }
        case .failure(let failure):
            // The worker holds these; it gets them once the database answers (or they go back at lease expiry).
            let count = contextReader.failed(now: Clock.nowMs())
            logger.error("could not read the customer context of \(count) offers, retrying: \(failure.reason)")
        }
    }

    private func applied(_ transitions: [DeliveryTransition], _ result: Result<Store.AppliedBatch, StoreFailure>) {
        switch result {
        case .success(let written):
            dispatcher.written(transitions)
            if !written.eventsRead && !eventSubscriptions.isEmpty, let since = written.decidedFrom {
                // A subscriber came while this batch was written without reading its events back:
                // read them now, ahead in the lane of every later batch, so the stream keeps its order.
                submit(.eventsOf(transitions.map(\.deliveryID), sinceMs: since))
            }
            for event in written.events {
                let topic = event.topic
                if subscribed(to: topic) { publish(topic: topic, event.json) }
            }
            // A transfer's new leg is pending in its queue now: load it.
            for case (.transferred(_, _, _, let leg), true) in zip(transitions, written.applied) {
                perform(dispatcher.transferWritten(to: leg.queue))
            }
            for answer in transitionWriter.written(written) {
                switch answer {
                case .confirm(let peer, let confirm):
                    if confirm.repeated { stats.repeatedAnswersConfirmed += 1 }
                    send(.confirm(confirm), toWorker: peer)
                case .refuse(let peer, let error):
                    answerRefused(peer, error)
                }
            }
        case .failure(let failure):
            // Nothing here may be lost: the batch is first in line again and tried shortly.
            let count = transitionWriter.failed(now: Clock.nowMs())
            logger.error("could not write \(count) delivery transitions, retrying: \(failure.reason)")
        }
    }
}

/// One store thread and the hub's end of the inproc socket that wakes it and is woken by it.
struct StoreLane {
    let thread: StoreThread
    let wake: Socket

    init(name: String, context: Context, config: HubConfig, logger: Logger, metrics: HubMetrics? = nil) throws {
        thread = StoreThread(
            name: name, context: context, conninfo: config.database, owner: config.hubName, contextRecentDays: config.contextRecentDays,
            logger: logger, recorders: metrics?.laneRecorders(name))
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
