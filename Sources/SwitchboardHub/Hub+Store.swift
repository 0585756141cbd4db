import Logging
import SwitchboardCore
import SwitchboardProtocol
import ZeroMQ

extension Hub {
    /// Handles every reply the store thread has posted.
    func handleStoreReplies() throws {
        while try storeWake.receive(dontWait: true) != nil {}
        for reply in store.replies.drain() {
            switch reply {
            case .ingested(let results):
                ingested(results)
            case .applied(let transitions, let result):
                applied(transitions, result)
            case .pending(let queue, let limit, .success(let tasks)):
                perform(dispatcher.refilled(queue: queue, tasks: tasks, limit: limit, now: Clock.nowMs()))
            case .pending(let queue, _, .failure(let failure)):
                logger.error("could not load pending deliveries of \(queue): \(failure.reason)")
                dispatcher.refillFailed(queue: queue)
                failedRefills.insert(queue)
            case .quarantined(_, let failure?), .maintained(let failure?):
                logger.error("store maintenance failed: \(failure.reason)")
            case .quarantined, .maintained:
                break
            }
        }
    }

    /// Writes the waiting transitions when no batch is in flight.
    func flushTransitions(now: Int64) {
        guard transitionsInFlight == nil, !transitionBuffer.isEmpty, now >= transitionRetryAt else { return }
        let batch = Array(transitionBuffer.prefix(2000))
        transitionBuffer.removeFirst(batch.count)
        transitionsInFlight = batch
        submit(.apply(batch.map(\.0)))
    }

    private func applied(_ transitions: [DeliveryTransition], _ result: Result<[Bool], StoreFailure>) {
        guard let batch = transitionsInFlight else { return }
        transitionsInFlight = nil
        switch result {
        case .success(let appliedFlags):
            for ((transition, confirmTo), applied) in zip(batch, appliedFlags) {
                guard let peer = confirmTo else { continue }
                if applied {
                    send(.confirm(Confirm(deliveryID: transition.deliveryID, state: transition.resultingState)), toWorker: peer)
                } else {
                    send(
                        .error(
                            WorkerError(
                                code: .notHeld, detail: "not_held", reason: "delivery \(transition.deliveryID) was settled before",
                                deliveryID: transition.deliveryID)), toWorker: peer)
                }
            }
        case .failure(let failure):
            // Nothing here may be lost: keep the batch first in line and try again shortly.
            logger.error("could not write \(batch.count) delivery transitions, retrying: \(failure.reason)")
            transitionBuffer.insert(contentsOf: batch, at: 0)
            transitionRetryAt = Clock.nowMs() + 500
        }
    }
}
