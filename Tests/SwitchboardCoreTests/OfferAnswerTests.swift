import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("ACCEPT, REJECT, the offer timeout and TRANSFER")
struct OfferAnswerTests {
    let payload = TaskPayload(interaction: .sample, customerID: 1, body: [])

    func task(_ id: Int64, deadline: Int64 = 10_000) -> DispatchTask {
        DispatchTask(deliveryID: id, queue: "support", priority: 3, deadline: deadline, payload: payload)
    }

    func worker(_ name: String, capacity: Int = 1, accepts: Bool = false) -> (PeerID, Ready) {
        (PeerID(Array(name.utf8)), Ready(workerID: name, queues: ["support"], capacity: capacity, accepts: accepts))
    }

    func persisted(_ actions: [DispatchAction]) -> [DeliveryTransition] {
        actions.compactMap { if case .persist(let transition, _) = $0 { transition } else { nil } }
    }

    @Test("an offer neither accepted nor completed within the offer timeout goes to another worker, and records timed_out")
    func offerTimeout() {
        var dispatcher = Dispatcher(config: DispatchConfig(offerTimeoutMs: 1000))
        let (slow, slowReady) = worker("slow", accepts: true)
        let (other, otherReady) = worker("other", accepts: true)
        _ = dispatcher.workerReady(slow, slowReady, now: 0)
        #expect(namedOffers(dispatcher.enqueue([task(1)], now: 0)).map(\.0) == ["slow"])
        _ = dispatcher.workerReady(other, otherReady, now: 10)
        #expect(namedOffers(dispatcher.tick(now: 999)).isEmpty)
        let actions = dispatcher.tick(now: 1000)
        #expect(persisted(actions).contains { if case .retry(1, _, _, .timedOut, "slow") = $0 { true } else { false } })
        #expect(namedOffers(actions).map(\.0) == ["other"])
        // The slow worker's late ACCEPT is refused: another holds it now.
        let late = dispatcher.accept(slow, Accept(deliveryID: 1), now: 1001)
        #expect(late.contains { if case .refuse(_, let error) = $0 { error.detail == "held_elsewhere" } else { false } })
    }

    @Test("ACCEPT stops the offer timeout and records the first response; a worker that never sends ACCEPT keeps its task until the lease")
    func acceptStopsTheClock() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 1_000_000, leaseMs: 60_000, offerTimeoutMs: 1000))
        let (agent, agentReady) = worker("agent", capacity: 1, accepts: true)
        let (legacy, legacyReady) = worker("legacy", capacity: 1)
        _ = dispatcher.workerReady(agent, agentReady, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        let accepted = dispatcher.accept(agent, Accept(deliveryID: 1), now: 500)
        #expect(accepted == [.persist(.accepted(deliveryID: 1, worker: "agent"), confirmTo: agent)])
        #expect(persisted(dispatcher.tick(now: 5000)).isEmpty)
        _ = dispatcher.workerReady(legacy, legacyReady, now: 5000)
        #expect(namedOffers(dispatcher.enqueue([task(2, deadline: 1)], now: 5000)).map(\.0) == ["legacy"])
        #expect(persisted(dispatcher.tick(now: 59_000)).isEmpty)
        #expect(dispatcher.offeredCount == 2)
    }

    @Test("REJECT sends the task to another qualified worker at once, never back to the one that rejected it while another is free")
    func rejectGoesElsewhere() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (a, readyA) = worker("a", capacity: 5)
        let (b, readyB) = worker("b", capacity: 1)
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.workerReady(b, readyB, now: 0)
        #expect(namedOffers(dispatcher.enqueue([task(1)], now: 1)).map(\.0) == ["a"])
        let actions = dispatcher.decline(a, Reject(deliveryID: 1, reason: "not my area"), now: 2)
        #expect(
            persisted(actions).first
                == .retry(deliveryID: 1, notBefore: 2, error: "rejected by worker 'a': not my area", event: .rejected, worker: "a"))
        #expect(namedOffers(actions).map(\.0) == ["b"])
    }

    @Test("a task rejected by every free worker does not hold back its lane: it waits a backoff, then goes to anyone")
    func rejectedByAll() {
        var dispatcher = Dispatcher(config: DispatchConfig(retryBackoff: RetryBackoff(baseMs: 1000, maxMs: 1000)))
        let (a, readyA) = worker("a", capacity: 5)
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.enqueue([task(1, deadline: 1)], now: 0)
        let declined = dispatcher.decline(a, Reject(deliveryID: 1), now: 1)
        #expect(namedOffers(declined).isEmpty)
        // The next task of the same lane is offered to the same worker meanwhile.
        #expect(namedOffers(dispatcher.enqueue([task(2, deadline: 50)], now: 2)).map(\.1) == [2])
        #expect(namedOffers(dispatcher.tick(now: 700)).isEmpty)
        #expect(namedOffers(dispatcher.tick(now: 1100)).map(\.1) == [1])
    }

    @Test("TRANSFER closes the worker's delivery with the next leg it was given; a worker that does not hold it is refused")
    func transfer() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (a, readyA) = worker("a")
        let (b, readyB) = worker("b")
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        _ = dispatcher.workerReady(b, readyB, now: 0)
        let refused = dispatcher.transfer(b, Transfer(deliveryID: 1, queue: "field_service", reason: "visit"), now: 5) { _ in
            Issue.record("a refused transfer made a leg")
            return TransferLeg(queue: "x", priority: 0, deadline: 0, needs: .none)
        }
        #expect(refused.contains { if case .refuse = $0 { true } else { false } })
        let actions = dispatcher.transfer(a, Transfer(deliveryID: 1, queue: "field_service", reason: "needs a site visit"), now: 5) { held in
            TransferLeg(queue: "field_service", priority: held.priority, deadline: 5 + 600_000, needs: TaskNeeds(language: "fa", skills: ["visit"]))
        }
        #expect(
            persisted(actions) == [
                .transferred(
                    deliveryID: 1, worker: "a", reason: "needs a site visit",
                    leg: TransferLeg(queue: "field_service", priority: 3, deadline: 600_005, needs: TaskNeeds(language: "fa", skills: ["visit"])))
            ])
        #expect(dispatcher.offeredCount == 0)
        #expect(
            dispatcher.transferWritten(to: "field_service").contains { if case .refill(queue: "field_service", _, _) = $0 { true } else { false } })
    }
}
