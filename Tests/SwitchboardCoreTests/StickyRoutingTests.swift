import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Sticky routing: a returning customer's contact goes first to their last worker")
struct StickyRoutingTests {
    func task(_ id: Int64, customer: Int64, deadline: Int64 = 10_000, language: String? = nil) -> DispatchTask {
        DispatchTask(
            deliveryID: id, queue: "support", priority: 0, deadline: deadline,
            payload: TaskPayload(interaction: .sample, customerID: customer, body: [], needs: TaskNeeds(language: language)))
    }

    func worker(_ name: String, capacity: Int = 1, languages: [String] = []) -> (PeerID, Ready) {
        (PeerID(Array(name.utf8)), Ready(workerID: name, queues: ["support"], capacity: capacity, languages: languages))
    }

    @Test("the worker who completed the customer's last contact gets the next one, though another is idler and freer")
    func preferLastWorker() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 1_000_000))
        let (sara, saraReady) = worker("sara", capacity: 2)
        let (omid, omidReady) = worker("omid", capacity: 5)
        _ = dispatcher.workerReady(sara, saraReady, now: 0)
        #expect(namedOffers(dispatcher.enqueue([task(1, customer: 42)], now: 0)).map(\.0) == ["sara"])
        _ = dispatcher.done(sara, Done(deliveryID: 1, outcome: "ok"), now: 10)
        _ = dispatcher.workerReady(omid, omidReady, now: 20)
        #expect(namedOffers(dispatcher.enqueue([task(2, customer: 7)], now: 30)).map(\.0) == ["omid"])
        #expect(namedOffers(dispatcher.enqueue([task(3, customer: 42)], now: 40)).map(\.0) == ["sara"])
    }

    @Test("while the last worker is busy the contact waits for it up to sticky_wait, without holding back others; then anyone takes it")
    func waitForBusyWorker() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 1_000_000, stickyWaitMs: 1000))
        let (sara, saraReady) = worker("sara")
        let (omid, omidReady) = worker("omid", capacity: 5)
        dispatcher.remember(customer: 42, worker: "sara")
        _ = dispatcher.workerReady(sara, saraReady, now: 0)
        _ = dispatcher.enqueue([task(1, customer: 9, deadline: 1)], now: 0)  // sara is busy with it now
        _ = dispatcher.workerReady(omid, omidReady, now: 0)
        // Customer 42's contact is more urgent than customer 8's, yet omid gets only 8's: 42's waits for sara.
        #expect(namedOffers(dispatcher.enqueue([task(2, customer: 42, deadline: 5), task(3, customer: 8, deadline: 50)], now: 10)).map(\.1) == [3])
        // Sara finishes within the wait: she gets it.
        #expect(namedOffers(dispatcher.done(sara, Done(deliveryID: 1, outcome: "ok"), now: 500)).map { "\($0.0):\($0.1)" } == ["sara:2"])
        // Next time she stays busy past the wait: anyone takes it.
        _ = dispatcher.enqueue([task(4, customer: 42, deadline: 5)], now: 600)
        #expect(namedOffers(dispatcher.tick(now: 1599)).isEmpty)
        #expect(namedOffers(dispatcher.tick(now: 1600)).map { "\($0.0):\($0.1)" } == ["omid:4"])
    }

    @Test("stickiness never overrides eligibility: a last worker who does not read the contact's language is not waited for")
    func eligibilityFirst() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 1_000_000, stickyWaitMs: 60_000))
        let (persian, persianReady) = worker("fa-agent", languages: ["fa"])
        let (russian, russianReady) = worker("ru-agent", languages: ["ru"])
        dispatcher.remember(customer: 42, worker: "fa-agent")
        _ = dispatcher.workerReady(persian, persianReady, now: 0)
        _ = dispatcher.workerReady(russian, russianReady, now: 0)
        #expect(namedOffers(dispatcher.enqueue([task(1, customer: 42, language: "ru")], now: 0)).map(\.0) == ["ru-agent"])
    }

    @Test("a contact waiting for a worker that leaves goes to anyone at once")
    func workerLeaves() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 1_000_000, stickyWaitMs: 60_000))
        let (sara, saraReady) = worker("sara")
        let (omid, omidReady) = worker("omid")
        dispatcher.remember(customer: 42, worker: "sara")
        _ = dispatcher.workerReady(sara, saraReady, now: 0)
        _ = dispatcher.enqueue([task(1, customer: 9, deadline: 1)], now: 0)
        _ = dispatcher.workerReady(omid, omidReady, now: 0)
        #expect(namedOffers(dispatcher.enqueue([task(2, customer: 42)], now: 1)).isEmpty)
        let gone = dispatcher.workerGone(sara, reason: "disconnected", now: 2)
        // Sara's own task, the most urgent, goes to omid; the one that waited for her is in its lane again.
        #expect(namedOffers(gone).map { "\($0.0):\($0.1)" } == ["omid:1"])
        #expect(dispatcher.readyCount == 1)
        _ = dispatcher.done(omid, Done(deliveryID: 1, outcome: "ok"), now: 3)
        #expect(dispatcher.offeredCount == 1)
    }

    @Test("the memory of last workers is bounded: past its size the oldest half is forgotten")
    func boundedMemory() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        for customer in 0..<Int64(Dispatcher.stickyMemory + 1) { dispatcher.remember(customer: customer, worker: "w") }
        #expect(dispatcher.lastWorker.count == Dispatcher.stickyMemory / 2 + 1)
        #expect(dispatcher.lastWorker[0] == nil)
        #expect(dispatcher.lastWorker[Int64(Dispatcher.stickyMemory)] == "w")
    }
}
