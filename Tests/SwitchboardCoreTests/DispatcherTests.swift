import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Dispatcher")
struct DispatcherTests {
    static let payload = TaskPayload(interaction: .sample, customerID: 1, body: [])

    func task(_ id: Int64, queue: String = "support", priority: Int = 0, deadline: Int64 = 10_000) -> DispatchTask {
        DispatchTask(deliveryID: id, queue: queue, priority: priority, deadline: deadline, payload: Self.payload)
    }

    func worker(_ name: String, queues: [String] = ["support"], capacity: Int = 1) -> (PeerID, Ready) {
        (PeerID(Array(name.utf8)), Ready(workerID: name, queues: queues, capacity: capacity))
    }

    func offers(_ actions: [DispatchAction]) -> [(PeerID, Int64)] {
        actions.compactMap { if case .offer(let peer, let task) = $0 { (peer, task.deliveryID) } else { nil } }
    }

    @Test("offers by earliest deadline, then highest priority, then oldest")
    func urgencyOrder() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        _ = dispatcher.enqueue(
            [task(5, deadline: 900), task(1, priority: 9, deadline: 1000), task(3, deadline: 1000), task(2, deadline: 1000), task(4, deadline: 500)],
            now: 0)
        let (peer, ready) = worker("w", capacity: 10)
        let offered = offers(dispatcher.workerReady(peer, ready, now: 0)).map(\.1)
        #expect(offered == [4, 5, 1, 2, 3])
    }

    @Test("picks the worker with most free capacity, then the longest idle")
    func fairness() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (a, readyA) = worker("a", capacity: 1)
        let (b, readyB) = worker("b", capacity: 3)
        let (c, readyC) = worker("c", capacity: 3)
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.workerReady(c, readyC, now: 20)
        _ = dispatcher.workerReady(b, readyB, now: 10)
        #expect(offers(dispatcher.enqueue([task(1)], now: 30)).map(\.0) == [b])  // 3 free, idle since 10
        #expect(offers(dispatcher.enqueue([task(2)], now: 31)).map(\.0) == [c])  // 3 free beats 2 free
        let next = offers(dispatcher.enqueue([task(3), task(4), task(5)], now: 32)).map(\.0)
        #expect(next.count == 3)
        #expect(Set(next) == [a, b, c])
    }

    @Test("only offers to workers subscribed to the queue, within capacity")
    func eligibility() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (peer, ready) = worker("sales-only", queues: ["sales"], capacity: 1)
        _ = dispatcher.workerReady(peer, ready, now: 0)
        #expect(offers(dispatcher.enqueue([task(1, queue: "support")], now: 0)).isEmpty)
        #expect(offers(dispatcher.enqueue([task(2, queue: "sales"), task(3, queue: "sales")], now: 0)).map(\.1) == [2])
    }

    @Test("free slots of a queue: its workers' free capacity, less what is ready for it; a draining worker has none")
    func freeSlots() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        #expect(dispatcher.freeSlots(queue: "support") == 0)
        let (a, readyA) = worker("a", queues: ["support", "sales"], capacity: 3)
        let (b, readyB) = worker("b", queues: ["support"], capacity: 2)
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.workerReady(b, readyB, now: 0)
        #expect(dispatcher.freeSlots(queue: "support") == 5)
        #expect(dispatcher.freeSlots(queue: "sales") == 3)
        _ = dispatcher.workerDraining(b, now: 1)
        #expect(dispatcher.freeSlots(queue: "support") == 3)
        #expect(offers(dispatcher.enqueue([task(1), task(2)], now: 2)).map(\.0) == [a, a])
        #expect(dispatcher.freeSlots(queue: "support") == 1)
        #expect(dispatcher.freeSlots(queue: "sales") == 1)
        // Ready deliveries take the slots first: with every worker full, what waits counts against them.
        #expect(offers(dispatcher.enqueue([task(3), task(4), task(5)], now: 3)).count == 1)
        #expect(dispatcher.freeSlots(queue: "support") == -2)
        #expect(dispatcher.freeSlots(queue: "sales") == 0)
    }

    @Test("a lost worker's tasks are offered to another worker at once, as a new attempt")
    func redeliversWhenWorkerDies() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (a, readyA) = worker("a")
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        let (b, readyB) = worker("b")
        _ = dispatcher.workerReady(b, readyB, now: 1)
        let actions = dispatcher.workerGone(a, reason: "disconnected", now: 2)
        #expect(
            actions.contains(
                .persist(.retry(deliveryID: 1, notBefore: 2, error: "worker 'a' lost: disconnected", event: .retried, worker: "a"), confirmTo: nil)))
        let offered = actions.compactMap { if case .offer(let peer, let task) = $0 { (peer, task.attempts) } else { nil } }
        #expect(offered.count == 1)
        #expect(offered.first?.0 == b)
        #expect(offered.first?.1 == 2)
    }

    @Test("a worker silent past the heartbeat timeout loses its tasks; its late DONE is refused")
    func heartbeatExpiry() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 3000))
        let (a, readyA) = worker("a")
        let (b, readyB) = worker("b")
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        _ = dispatcher.workerReady(b, readyB, now: 0)
        dispatcher.workerSeen(b, now: 3000)
        #expect(offers(dispatcher.tick(now: 2999)).isEmpty)
        #expect(offers(dispatcher.tick(now: 3001)).map(\.0) == [b])
        let late = dispatcher.done(a, Done(deliveryID: 1, outcome: "ok"), now: 3002)
        guard case .refuse(_, let error) = late.first else { Issue.record("late DONE was accepted"); return }
        #expect(error.code == .notReady)
        let done = dispatcher.done(b, Done(deliveryID: 1, outcome: "ok"), now: 3003)
        #expect(done.first == .persist(.done(deliveryID: 1, worker: "b", outcome: "ok", notes: nil), confirmTo: b))
    }

    @Test("DONE for a delivery held by another worker is refused as not_held and settles nothing")
    func notHeld() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (a, readyA) = worker("a")
        let (b, readyB) = worker("b")
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.workerReady(b, readyB, now: 1)
        #expect(offers(dispatcher.enqueue([task(1)], now: 2)).map(\.0) == [a])  // idle longest
        for deliveryID: Int64 in [1] {
            let actions = dispatcher.done(b, Done(deliveryID: deliveryID, outcome: "ok"), now: 3)
            guard case .refuse(let peer, let error) = actions.first, actions.count == 1 else {
                Issue.record("DONE of \(deliveryID) by a non-holder was accepted: \(actions)")
                continue
            }
            #expect(peer == b)
            #expect(error.code == .notHeld)
            #expect(error.deliveryID == deliveryID)
        }
        #expect(dispatcher.offeredCount == 1)
    }

    @Test("after max_attempts offers a delivery is dead-lettered")
    func deadLetter() {
        var dispatcher = Dispatcher(config: DispatchConfig(maxAttempts: 2))
        let (a, readyA) = worker("a")
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        let first = dispatcher.fail(a, Fail(deliveryID: 1, disposition: .retryAfter(milliseconds: 0)), now: 1)
        #expect(
            first.contains(
                .persist(.retry(deliveryID: 1, notBefore: 1, error: "worker 'a' asked to retry", event: .retried, worker: "a"), confirmTo: a)))
        #expect(offers(first).map(\.1) == [1])
        let second = dispatcher.fail(a, Fail(deliveryID: 1, disposition: .retryAfter(milliseconds: 0)), now: 2)
        guard case .persist(.dead(1, _), let confirmTo) = second.first else { Issue.record("not dead: \(second)"); return }
        #expect(confirmTo == a)
        #expect(offers(second).isEmpty)
    }

    @Test("a retry waits until its time")
    func scheduledRetry() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (a, readyA) = worker("a")
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        #expect(offers(dispatcher.fail(a, Fail(deliveryID: 1, disposition: .retryAfter(milliseconds: 500)), now: 10)).isEmpty)
        #expect(offers(dispatcher.tick(now: 400)).isEmpty)
        #expect(offers(dispatcher.tick(now: 510)).map(\.1) == [1])
    }

    @Test("a task held past its lease goes back to the queue")
    func leaseExpiry() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 1_000_000, leaseMs: 1000))
        let (a, readyA) = worker("a", capacity: 2)
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        let actions = dispatcher.tick(now: 1001)
        #expect(
            actions.contains(
                .persist(
                    .retry(deliveryID: 1, notBefore: 1001, error: "lease expired while held by 'a'", event: .timedOut, worker: "a"), confirmTo: nil)))
        #expect(offers(actions).map(\.1) == [1])
    }

    @Test("memory keeps the most urgent window; the rest is refilled from the store")
    func boundedWindow() {
        var dispatcher = Dispatcher(config: DispatchConfig(windowPerQueue: 2))
        _ = dispatcher.enqueue([task(1, deadline: 300), task(2, deadline: 200)], now: 0)
        let overflow = dispatcher.enqueue([task(3, deadline: 100), task(4, deadline: 400)], now: 0)
        #expect(dispatcher.readyCount(queue: "support") == 2)
        #expect(overflow.isEmpty)
        let (a, readyA) = worker("a", capacity: 2)
        let actions = dispatcher.workerReady(a, readyA, now: 0)
        #expect(offers(actions).map(\.1) == [3, 2])
        #expect(actions.contains(.refill(queue: "support", limit: 4, skipping: [2, 3])))
        // The store answers with what it holds, including a delivery already settled meanwhile.
        _ = dispatcher.done(a, Done(deliveryID: 3, outcome: "ok"), now: 1)
        let refill = dispatcher.refilled(
            queue: "support", tasks: [task(3, deadline: 100), task(1, deadline: 300), task(4, deadline: 400)], found: 3, limit: 4, now: 2)
        #expect(offers(refill).map(\.1) == [1])
        #expect(dispatcher.readyCount(queue: "support") == 1)
    }

    @Test("a rescan of a full window loads none of what memory holds; finding all it asked for keeps the queue marked for the next refill")
    func rescanSkipsHeld() {
        var dispatcher = Dispatcher(config: DispatchConfig(windowPerQueue: 2))
        _ = dispatcher.enqueue([task(1, deadline: 100), task(2, deadline: 200), task(3, deadline: 300)], now: 0)
        #expect(dispatcher.markBacklog(queue: "support") == [.refill(queue: "support", limit: 1 + 2, skipping: [1, 2])])
        // The store found three (the two held and the one there was no room for) and loaded that one only.
        #expect(dispatcher.refilled(queue: "support", tasks: [task(3, deadline: 300)], found: 3, limit: 3, now: 1).isEmpty)
        #expect(dispatcher.readyCount(queue: "support") == 2)
        // Still overflowing: once a worker takes from the window, the next refill is asked for.
        let (a, readyA) = worker("a", capacity: 1)
        let actions = dispatcher.workerReady(a, readyA, now: 2)
        #expect(offers(actions).map(\.1) == [1])
        #expect(actions.contains(.refill(queue: "support", limit: 1 + 2, skipping: [1, 2])))
        // Finding fewer than asked means the store holds no more: no refill until the next overflow or rescan.
        _ = dispatcher.refilled(queue: "support", tasks: [], found: 2, limit: 3, now: 3)
        let next = dispatcher.done(a, Done(deliveryID: 1, outcome: "ok"), now: 4)
        #expect(offers(next).map(\.1) == [2])
        #expect(!next.contains { if case .refill = $0 { true } else { false } })
    }

    @Test("a refill reads past what memory holds of its own queue only")
    func refillLimitPerQueue() {
        var dispatcher = Dispatcher(config: DispatchConfig(windowPerQueue: 3))
        // Sales is full and overflowing; support holds one task and one offered to a worker.
        _ = dispatcher.enqueue((1...5).map { task($0, queue: "sales") }, now: 0)
        _ = dispatcher.enqueue([task(10), task(11)], now: 0)
        let (a, readyA) = worker("a", queues: ["support"], capacity: 1)
        #expect(offers(dispatcher.workerReady(a, readyA, now: 0)).map(\.1) == [10])
        // Support: 3 free slots minus its one ready task, plus the ready and the offered one.
        #expect(dispatcher.markBacklog(queue: "support") == [.refill(queue: "support", limit: 2 + 2, skipping: [10, 11])])
        // Sales: no free slot (one is asked for anyway, to find more urgent arrivals), plus its three.
        #expect(dispatcher.markBacklog(queue: "sales") == [.refill(queue: "sales", limit: 1 + 3, skipping: [1, 2, 3])])
    }

    @Test("a second READY under a known worker id replaces the old connection")
    func reconnectReplaces() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (old, ready) = worker("w")
        _ = dispatcher.workerReady(old, ready, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        let new = PeerID([1, 2, 3])
        let actions = dispatcher.workerReady(new, ready, now: 5)
        #expect(offers(actions).map(\.0) == [new])
        #expect(dispatcher.workerCount == 1)
    }
}

@Suite("Dispatcher recovery")
struct DispatcherRecoveryTests {
    let payload = TaskPayload(interaction: .sample, customerID: 1, body: [])

    @Test("after a restart a worker keeps the deliveries it lists in READY; the others are re-offered")
    func restoredDeliveries() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 3000))
        for id: Int64 in [1, 2] {
            dispatcher.restoreOffered(
                DispatchTask(deliveryID: id, queue: "sales", priority: 0, deadline: 0, attempts: 1, payload: payload), workerID: "w", now: 0)
        }
        let peer = PeerID([7])
        let actions = dispatcher.workerReady(peer, Ready(workerID: "w", queues: ["sales"], capacity: 5, holding: [1]), now: 10)
        #expect(
            actions.contains(
                .persist(.retry(deliveryID: 2, notBefore: 10, error: "worker 'w' came back without it", event: .retried, worker: "w"), confirmTo: nil)
            ))
        let offered = actions.compactMap { if case .offer(_, let task) = $0 { task } else { nil } }
        #expect(offered.map(\.deliveryID) == [2])
        #expect(offered.first?.attempts == 2)
        #expect(
            dispatcher.done(peer, Done(deliveryID: 1, outcome: "ok"), now: 11).first
                == .persist(.done(deliveryID: 1, worker: "w", outcome: "ok", notes: nil), confirmTo: peer))
    }

    @Test("a restored delivery whose worker never returns is re-offered after one heartbeat timeout")
    func restoredWithoutWorker() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 3000))
        dispatcher.restoreOffered(
            DispatchTask(deliveryID: 1, queue: "sales", priority: 0, deadline: 0, attempts: 1, payload: payload), workerID: "gone", now: 0)
        let other = PeerID([8])
        _ = dispatcher.workerReady(other, Ready(workerID: "other", queues: ["sales"], capacity: 1), now: 1)
        dispatcher.workerSeen(other, now: 2999)
        #expect(dispatcher.tick(now: 2999).isEmpty)
        let actions = dispatcher.tick(now: 3001)
        #expect(actions.contains { if case .offer(other, let task) = $0 { task.deliveryID == 1 } else { false } })
    }
}

extension InteractionSummary {
    static let sample = InteractionSummary(
        id: 1, gateway: "gw", messageID: "m-1", channel: "email", occurredAt: 0, receivedAt: 0, contentType: "text/plain", routeReason: "test")
}
