import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

/// A FAIL without a retry time: exponential backoff with jitter, durable, dead after max_attempts.
@Suite("Retries with backoff")
struct RetryBackoffTests {
    @Test("each attempt waits twice as long as the one before, at most the maximum, less up to a fifth")
    func grows() {
        let backoff = RetryBackoff(baseMs: 1000, maxMs: 10_000)
        for id: Int64 in [1, 2, 77, 123_456_789] {
            let waits = (1...6).map { backoff.delayMs(attempt: $0, deliveryID: id) }
            for (attempt, wait) in waits.enumerated() {
                let full = min(1000 << attempt, 10_000)
                #expect(wait <= Int64(full) && wait > Int64(full) * 4 / 5, "delivery \(id), attempt \(attempt + 1): \(wait) ms")
            }
        }
        #expect(backoff.delayMs(attempt: 1, deliveryID: 5) == backoff.delayMs(attempt: 1, deliveryID: 5), "the same inputs, the same wait")
        let spread = Set((1...50).map { backoff.delayMs(attempt: 3, deliveryID: Int64($0)) })
        #expect(spread.count > 40, "deliveries failed together come back spread out")
        #expect(backoff.delayMs(attempt: 10_000, deliveryID: 1) <= 10_000)
    }

    @Test("a FAIL without a retry time schedules the next offer after the backoff, and the last attempt is dead")
    func dispatcherBacksOff() {
        var dispatcher = Dispatcher(config: DispatchConfig(maxAttempts: 2, retryBackoff: RetryBackoff(baseMs: 1000, maxMs: 60_000)))
        let payload = TaskPayload(interaction: .sample, customerID: 1, body: [])
        let (peer, ready) = (PeerID([1]), Ready(workerID: "w", queues: ["support"], capacity: 1))
        _ = dispatcher.workerReady(peer, ready, now: 0)
        _ = dispatcher.enqueue([DispatchTask(deliveryID: 9, queue: "support", priority: 0, deadline: 0, payload: payload)], now: 0)
        let first = dispatcher.fail(peer, Fail(deliveryID: 9, disposition: .retryWithBackoff), now: 10)
        let wait = RetryBackoff(baseMs: 1000, maxMs: 60_000).delayMs(attempt: 1, deliveryID: 9)
        #expect(first.contains { if case .persist(.retry(9, 10 + wait, _, _, _), peer) = $0 { true } else { false } }, "\(first)")
        #expect(!first.contains { if case .offer = $0 { true } else { false } })
        #expect(!dispatcher.tick(now: 10 + wait - 1).contains { if case .offer = $0 { true } else { false } })
        #expect(
            dispatcher.tick(now: 10 + wait).contains {
                if case .offer(peer, let task) = $0 { task.deliveryID == 9 && task.attempts == 2 } else { false }
            })
        let last = dispatcher.fail(peer, Fail(deliveryID: 9, disposition: .retryWithBackoff), now: 20_000)
        #expect(last.contains { if case .persist(.dead(9, _), peer) = $0 { true } else { false } }, "\(last)")
    }
}
