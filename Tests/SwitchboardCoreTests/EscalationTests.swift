import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Escalation acts: raise the priority, relax skills and language, overflow to another queue")
struct EscalationTests {
    /// Received at 0 (the sample interaction), due at `deadline`.
    func task(_ id: Int64, queue: String = "support", deadline: Int64 = 1000, language: String? = nil) -> DispatchTask {
        DispatchTask(
            deliveryID: id, queue: queue, priority: 0, deadline: deadline,
            payload: TaskPayload(interaction: .sample, customerID: id, body: [], needs: TaskNeeds(language: language)))
    }

    func dispatcher(_ steps: [EscalationStep]) -> Dispatcher {
        var dispatcher = Dispatcher(config: DispatchConfig(heartbeatTimeoutMs: 1_000_000))
        dispatcher.escalationSteps = ["support": steps]
        return dispatcher
    }

    func escalations(_ actions: [DispatchAction]) -> [DeliveryTransition] {
        actions.compactMap { if case .persist(let transition, _) = $0, case .escalated = transition { transition } else { nil } }
    }

    @Test("at 80 % of its time a waiting task's priority is raised, written, and it goes before an equally due task")
    func raisePriority() {
        var dispatcher = dispatcher([EscalationStep(atPercent: 80, raisePriority: 5)])
        _ = dispatcher.enqueue([task(1), task(2, queue: "sales")], now: 0)
        #expect(escalations(dispatcher.tick(now: 799)).isEmpty)
        #expect(
            escalations(dispatcher.tick(now: 800)) == [
                .escalated(
                    deliveryID: 1, queue: "support", priority: 5, relaxed: false, escalations: 1,
                    detail: "at 80 % of the service level: priority +5")
            ])
        #expect(escalations(dispatcher.tick(now: 5000)).isEmpty, "each step acts once")
        let peer = PeerID(Array("w".utf8))
        let actions = dispatcher.workerReady(peer, Ready(workerID: "w", queues: ["support"], capacity: 5), now: 5000)
        let offered = actions.compactMap { if case .offer(_, let task) = $0 { task } else { nil } }
        #expect(offered.map(\.deliveryID) == [1])
        #expect(offered.first?.priority == 5)
    }

    @Test("at the deadline language and skills are relaxed: a Russian task nobody reads goes to the Persian-only worker rather than wait on")
    func relax() {
        var dispatcher = dispatcher([EscalationStep(atPercent: 100, relax: true)])
        let persian = PeerID(Array("fa".utf8))
        _ = dispatcher.workerReady(persian, Ready(workerID: "fa", queues: ["support"], capacity: 1, languages: ["fa"]), now: 0)
        #expect(namedOffers(dispatcher.enqueue([task(1, language: "ru")], now: 0)).isEmpty)
        #expect(namedOffers(dispatcher.tick(now: 999)).isEmpty)
        let actions = dispatcher.tick(now: 1000)
        #expect(escalations(actions).count == 1)
        #expect(namedOffers(actions).map(\.1) == [1])
    }

    @Test("after the deadline it overflows to another queue, whose worker takes it; the steps act in order")
    func overflow() {
        var dispatcher = dispatcher([EscalationStep(atPercent: 80, raisePriority: 1), EscalationStep(atPercent: 150, overflowTo: "sales")])
        let seller = PeerID(Array("s".utf8))
        _ = dispatcher.workerReady(seller, Ready(workerID: "s", queues: ["sales"], capacity: 1), now: 0)
        _ = dispatcher.enqueue([task(1)], now: 0)
        #expect(escalations(dispatcher.tick(now: 800)).count == 1)
        let actions = dispatcher.tick(now: 1500)
        #expect(
            escalations(actions) == [
                .escalated(
                    deliveryID: 1, queue: "sales", priority: 1, relaxed: false, escalations: 2,
                    detail: "at 150 % of the service level: overflow to sales")
            ])
        #expect(namedOffers(actions).map(\.0) == ["s"])
        #expect(dispatcher.readyCount == 0)
    }

    @Test("a task read back from the store with one step applied resumes at the second; late ones act at once")
    func resumesAfterRestart() {
        var dispatcher = dispatcher([EscalationStep(atPercent: 50, raisePriority: 1), EscalationStep(atPercent: 90, raisePriority: 2)])
        var restored = task(1)
        restored.escalations = 1
        restored.priority = 1
        _ = dispatcher.enqueue([restored], now: 950)
        let actions = dispatcher.tick(now: 950)
        #expect(
            escalations(actions).map { if case .escalated(_, _, let priority, _, let count, _) = $0 { "\(priority)/\(count)" } else { "" } } == [
                "3/2"
            ])
    }

    @Test("a task offered before its step is due is not escalated")
    func offeredIsLeftAlone() {
        var dispatcher = dispatcher([EscalationStep(atPercent: 80, raisePriority: 5)])
        let peer = PeerID(Array("w".utf8))
        _ = dispatcher.workerReady(peer, Ready(workerID: "w", queues: ["support"], capacity: 1), now: 0)
        #expect(namedOffers(dispatcher.enqueue([task(1)], now: 0)).count == 1)
        #expect(escalations(dispatcher.tick(now: 900)).isEmpty)
    }
}

extension EscalationTests {
    @Test("the escalation schedule holds no more than the waiting tasks need, however many pass through")
    func boundedSchedule() {
        var dispatcher = dispatcher([EscalationStep(atPercent: 80, raisePriority: 1)])
        let peer = PeerID(Array("w".utf8))
        _ = dispatcher.workerReady(peer, Ready(workerID: "w", queues: ["support"], capacity: 10), now: 0)
        for id in Int64(1)...20_000 {
            _ = dispatcher.enqueue([task(id, deadline: 3_600_000)], now: 0)
            _ = dispatcher.done(peer, Done(deliveryID: id, outcome: "ok"), now: 0)
        }
        #expect(dispatcher.escalationsDue.count <= 2 * dispatcher.readyCount + 1025)
    }
}

extension EscalationTests {
    @Test("a task that escalates out of a lane nobody serves leaves nothing behind there: not counted, not unservable")
    func leavesNoEntryBehind() {
        var dispatcher = dispatcher([EscalationStep(atPercent: 100, overflowTo: "sales")])
        _ = dispatcher.enqueue((1...50).map { task(Int64($0), language: "ru") }, now: 0)
        #expect(dispatcher.readyCount(queue: "support") == 50)
        #expect(dispatcher.unservable == ["support": 50])
        _ = dispatcher.tick(now: 1000)
        #expect(dispatcher.readyCount(queue: "support") == 0)
        #expect(dispatcher.readyCount(queue: "sales") == 50)
        #expect(dispatcher.unservable == ["sales": 50])
    }
}
