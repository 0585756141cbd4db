import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

/// Issue: the hand-off to workers, exactly. Each test is a way a task could reach two workers, or
/// a worker could be left not knowing whether its work counted.
@Suite("Dispatcher: the hand-off to workers, exactly")
struct HandOffTests {
    static let payload = TaskPayload(interaction: .sample, customerID: 1, body: [])

    func task(_ id: Int64, deadline: Int64 = 10_000, attempts: Int = 0) -> DispatchTask {
        DispatchTask(deliveryID: id, queue: "support", priority: 0, deadline: deadline, attempts: attempts, payload: Self.payload)
    }

    func worker(_ name: String, capacity: Int = 1, holding: [Int64] = []) -> (PeerID, Ready) {
        (PeerID(Array(name.utf8)), Ready(workerID: name, queues: ["support"], capacity: capacity, holding: holding))
    }

    func offers(_ actions: [DispatchAction]) -> [Int64] {
        actions.compactMap { if case .offer(_, let task) = $0 { task.deliveryID } else { nil } }
    }

    func transitions(_ actions: [DispatchAction]) -> [DeliveryTransition] {
        actions.compactMap { if case .persist(let transition, _) = $0 { transition } else { nil } }
    }

    func refusal(_ actions: [DispatchAction]) -> WorkerError? {
        actions.lazy.compactMap { if case .refuse(_, let error) = $0 { error } else { nil } }.first
    }

    @Test("a refill read before a settled delivery's write is committed does not bring it back")
    func refillAfterUnwrittenSettle() {
        var dispatcher = Dispatcher(config: DispatchConfig(windowPerQueue: 2))
        _ = dispatcher.enqueue([task(1, deadline: 100), task(2, deadline: 200), task(3, deadline: 300)], now: 0)
        let (a, readyA) = worker("a")
        let first = dispatcher.workerReady(a, readyA, now: 0)
        #expect(offers(first) == [1])
        #expect(first.contains(.refill(queue: "support", limit: 1 + 2, skipping: [1, 2])))
        _ = dispatcher.refilled(queue: "support", tasks: [task(3, deadline: 300)], found: 3, limit: 3, now: 1)
        let done = dispatcher.done(a, Done(deliveryID: 1, outcome: "ok"), now: 2)
        #expect(offers(done) == [2])
        // Neither the offer of 1 nor its DONE is written yet when the window, low again, asks the
        // store for more; the store still lists delivery 1 as pending.
        #expect(done.contains(.refill(queue: "support", limit: 1 + 2, skipping: [2, 3])))
        _ = dispatcher.refilled(queue: "support", tasks: [task(1, deadline: 100)], found: 3, limit: 3, now: 3)
        #expect(dispatcher.readyCount == 1)
        #expect(offers(dispatcher.done(a, Done(deliveryID: 2, outcome: "ok"), now: 4)) == [3])
        // Once written, the store's copy is current again: a later read cannot list it as pending.
        dispatcher.written([.offered(deliveryID: 1, worker: "a", attempt: 1, leaseUntil: 0)] + transitions(done).filter { $0.deliveryID == 1 })
        #expect(dispatcher.unwritten[1] == nil)
    }

    @Test("a delivery the store lists as pending but a returning worker holds stays with that worker")
    func holdingOfUnwrittenOffer() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        // The hub died before it wrote the offer: the store lists delivery 7 as pending, attempts 0.
        _ = dispatcher.enqueue([task(7), task(8)], now: 0)
        let (a, readyA) = worker("a", capacity: 2, holding: [7])
        let actions = dispatcher.workerReady(a, readyA, now: 1)
        #expect(offers(actions) == [8])
        #expect(transitions(actions).contains(.offered(deliveryID: 7, worker: "a", attempt: 1, leaseUntil: 1 + DispatchConfig().leaseMs)))
        #expect(actions.contains(.welcome(a, Welcome(workerID: "a", heartbeatMs: 1000))))
        #expect(refusal(dispatcher.done(a, Done(deliveryID: 7, outcome: "ok"), now: 2)) == nil)
    }

    @Test("a held delivery memory does not have is looked up before WELCOME, and kept with its worker")
    func holdingLookedUp() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (a, readyA) = worker("a", capacity: 2, holding: [40])
        let actions = dispatcher.workerReady(a, readyA, now: 0)
        #expect(actions == [.lookUpHeld(a, [40])])
        // Meanwhile nothing new is offered to it.
        #expect(offers(dispatcher.enqueue([task(41)], now: 1)).isEmpty)
        let welcomed = dispatcher.heldLookedUp(a, pending: [task(40)], now: 2)
        #expect(welcomed.contains(.welcome(a, Welcome(workerID: "a", heartbeatMs: 1000))))
        #expect(offers(welcomed) == [41])
        #expect(refusal(dispatcher.done(a, Done(deliveryID: 40, outcome: "ok"), now: 3)) == nil)
    }

    /// A hub with workers a and b (capacity 2) connected, about to restore an adopted hub's offers.
    func adoptingHub() -> (Dispatcher, PeerID, PeerID) {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 3000))
        let (a, readyA) = worker("a", capacity: 2), (b, readyB) = worker("b", capacity: 2)
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.workerReady(b, readyB, now: 0)
        return (dispatcher, a, b)
    }

    /// READY again on a worker's connection listing tasks of a hub that went away.
    func claim(_ name: String, _ ids: [Int64]) -> Ready { worker(name, capacity: 2, holding: ids).1 }

    @Test("a restored offer goes to the worker that claims it, though the store names another: the stopped hub offered it again unwritten")
    func claimOfRestoredOfferOfAnother() {
        var (dispatcher, a, b) = adoptingHub()
        // The adopted hub's last written offer of 90 was to b; b declined it (busy), and the hub
        // offered it to a before it could write either.
        dispatcher.holdOffersForReclaim(now: 1)
        dispatcher.restoreOffered(task(90, attempts: 1), workerID: "b", now: 1)
        let claimed = dispatcher.workerReady(a, claim("a", [90]), now: 2)
        #expect(transitions(claimed) == [.offered(deliveryID: 90, worker: "a", attempt: 2, leaseUntil: 2 + DispatchConfig().leaseMs)])
        #expect(offers(claimed).isEmpty, "a holds it: no TASK again")
        #expect(refusal(dispatcher.done(a, Done(deliveryID: 90, outcome: "ok"), now: 3)) == nil)
        // b, claiming nothing, does not get it back, nor does it time out for anyone.
        #expect(!transitions(dispatcher.workerReady(b, claim("b", [7]), now: 4)).contains { $0.deliveryID == 90 })
        #expect(!transitions(dispatcher.tick(now: 10_000)).contains { $0.deliveryID == 90 })
    }

    @Test("a restored offer claimed by its own worker is not taken by a later claim of another")
    func restoredOfferClaimedFirst() {
        var (dispatcher, a, b) = adoptingHub()
        dispatcher.restoreOffered(task(91, attempts: 1), workerID: "b", now: 1)
        #expect(transitions(dispatcher.workerReady(b, claim("b", [91]), now: 2)).isEmpty)
        #expect(transitions(dispatcher.workerReady(a, claim("a", [91]), now: 3)).isEmpty)
        #expect(refusal(dispatcher.done(a, Done(deliveryID: 91, outcome: "ok"), now: 4))?.detail == RefusalDetail.heldElsewhere.rawValue)
        #expect(refusal(dispatcher.done(b, Done(deliveryID: 91, outcome: "ok"), now: 5)) == nil)
    }

    @Test("after a crash nothing is offered for one heartbeat timeout, so returning workers reclaim first")
    func reclaimBeforeOffers() {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 3000))
        dispatcher.holdOffersForReclaim(now: 0)
        _ = dispatcher.enqueue([task(1), task(2)], now: 0)
        let (b, readyB) = worker("b", capacity: 2)
        #expect(offers(dispatcher.workerReady(b, readyB, now: 100)).isEmpty)
        let (a, readyA) = worker("a", holding: [1])
        #expect(offers(dispatcher.workerReady(a, readyA, now: 200)).isEmpty)
        #expect(offers(dispatcher.tick(now: 3000)) == [2])
    }

    @Test("a DONE for a delivery another worker holds says so; one memory does not know is checked in the store")
    func notHeldSaysWhich() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (a, readyA) = worker("a")
        let (b, readyB) = worker("b")
        _ = dispatcher.workerReady(a, readyA, now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        _ = dispatcher.workerReady(b, readyB, now: 1)
        let elsewhere = refusal(dispatcher.done(b, Done(deliveryID: 1, outcome: "ok"), now: 2))
        #expect(elsewhere?.code == .notHeld)
        #expect(elsewhere?.detail == RefusalDetail.heldElsewhere.rawValue)
        #expect(
            dispatcher.done(b, Done(deliveryID: 99, outcome: "ok"), now: 3) == [
                .verify(b, AnswerCheck(deliveryID: 99, workerID: "b", answer: .done(outcome: "ok")))
            ])
    }

    @Test("BYE before READY is answered not_ready")
    func byeBeforeReady() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        #expect(refusal(dispatcher.workerDraining(PeerID([1]), now: 0))?.code == .notReady)
    }

    @Test(
        "a checked answer: the same worker's committed answer is confirmed again, anything else is refused with the reason",
        arguments: [
            (AnswerCheck.Answer.done(outcome: "ok"), AnswerCheck.Stored(state: "done", worker: "a", outcome: "ok"), nil),
            (.reject, AnswerCheck.Stored(state: "failed", worker: "a", outcome: "rejected"), nil),
            (.done(outcome: "ok"), AnswerCheck.Stored(state: "done", worker: "b", outcome: "ok"), RefusalDetail.settled.rawValue),
            (.done(outcome: "ok"), AnswerCheck.Stored(state: "done", worker: "a", outcome: "quote_sent"), RefusalDetail.settled.rawValue),
            (.done(outcome: "ok"), AnswerCheck.Stored(state: "dead", worker: nil, outcome: nil), RefusalDetail.settled.rawValue),
            (.done(outcome: "ok"), AnswerCheck.Stored(state: "offered", worker: "b", outcome: nil), RefusalDetail.heldElsewhere.rawValue),
            (.retry, AnswerCheck.Stored(state: "pending", worker: nil, outcome: nil), RefusalDetail.heldElsewhere.rawValue),
            (.done(outcome: "ok"), nil, RefusalDetail.unknownDelivery.rawValue),
        ] as [(AnswerCheck.Answer, AnswerCheck.Stored?, String?)])
    func verdicts(answer: AnswerCheck.Answer, stored: AnswerCheck.Stored?, refusedAs detail: String?) {
        let verdict = AnswerCheck(deliveryID: 5, workerID: "a", answer: answer).verdict(stored)
        switch verdict {
        case .repeated(let confirm):
            #expect(detail == nil)
            #expect(confirm == Confirm(deliveryID: 5, state: stored!.state, repeated: true))
        case .refused(let error):
            #expect(error.code == .notHeld)
            #expect(error.detail == detail)
            #expect(error.deliveryID == 5)
        }
    }
}
