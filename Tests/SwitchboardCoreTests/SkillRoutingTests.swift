import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Skills and languages decide who is offered a task")
struct SkillRoutingTests {
    func task(_ id: Int64, deadline: Int64 = 10_000, language: String? = nil, skills: [String] = [], optional: [String] = []) -> DispatchTask {
        DispatchTask(
            deliveryID: id, queue: "support", priority: 0, deadline: deadline,
            payload: TaskPayload(
                interaction: .sample, customerID: 1, body: [], needs: TaskNeeds(language: language, skills: skills, optionalSkills: optional)))
    }

    func worker(_ name: String, capacity: Int = 1, skills: [String] = [], languages: [String] = []) -> (PeerID, Ready) {
        (PeerID(Array(name.utf8)), Ready(workerID: name, queues: ["support"], capacity: capacity, skills: skills, languages: languages))
    }

    @Test("a Russian task is never offered to a worker who declared only Persian; it waits for one who reads Russian")
    func languageDecides() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (persian, persianReady) = worker("fa-agent", capacity: 5, languages: ["fa"])
        _ = dispatcher.workerReady(persian, persianReady, now: 0)
        #expect(namedOffers(dispatcher.enqueue([task(1, language: "ru"), task(2, language: "fa")], now: 0)).map(\.1) == [2])
        #expect(namedOffers(dispatcher.tick(now: 1000)).isEmpty)
        #expect(dispatcher.unservable == ["support": 1])
        let (russian, russianReady) = worker("ru-agent", languages: ["ru", "en"])
        #expect(namedOffers(dispatcher.workerReady(russian, russianReady, now: 1000)).map(\.0) == ["ru-agent"])
        #expect(dispatcher.unservable.isEmpty)
    }

    @Test("a worker that declared no language takes every language; a language's region is served by its base language")
    func languageMatching() {
        let needs = TaskNeeds(language: "pt-BR")
        #expect(needs.admit(skills: [], languages: []))
        #expect(needs.admit(skills: [], languages: ["pt"]))
        #expect(needs.admit(skills: [], languages: ["pt-br"]))
        #expect(!needs.admit(skills: [], languages: ["es"]))
        #expect(TaskNeeds(language: "pt").admit(skills: [], languages: ["pt-br"]) == false)
        #expect(TaskNeeds().admit(skills: [], languages: ["fa"]))
    }

    @Test("every required skill is needed; a task without skills goes to anyone")
    func requiredSkills() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (billing, billingReady) = worker("billing", capacity: 5, skills: ["billing"])
        _ = dispatcher.workerReady(billing, billingReady, now: 0)
        let offered = namedOffers(dispatcher.enqueue([task(1, skills: ["billing", "vip"]), task(2, skills: ["billing"]), task(3)], now: 0))
        #expect(offered.map(\.1).sorted() == [2, 3])
        let (vip, vipReady) = worker("vip", skills: ["vip", "billing", "french"])
        #expect(namedOffers(dispatcher.workerReady(vip, vipReady, now: 1)).map(\.1) == [1])
    }

    @Test("optional skills rank the qualified workers before free capacity and idle time")
    func optionalSkillsRank() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        let (plain, plainReady) = worker("plain", capacity: 10)
        let (some, someReady) = worker("some", capacity: 2, skills: ["refunds"])
        let (most, mostReady) = worker("most", capacity: 1, skills: ["refunds", "disputes"])
        _ = dispatcher.workerReady(plain, plainReady, now: 0)
        _ = dispatcher.workerReady(some, someReady, now: 0)
        _ = dispatcher.workerReady(most, mostReady, now: 0)
        let ranked = namedOffers(dispatcher.enqueue([task(1, deadline: 1, optional: ["refunds", "disputes"])], now: 1))
        #expect(ranked.map(\.0) == ["most"])
        let next = namedOffers(dispatcher.enqueue([task(2, deadline: 2, optional: ["refunds", "disputes"])], now: 2))
        #expect(next.map(\.0) == ["some"])
        // Without optional skills, most free capacity wins as before.
        #expect(namedOffers(dispatcher.enqueue([task(3, deadline: 3)], now: 3)).map(\.0) == ["plain"])
    }

    @Test("a waiting task nobody qualifies for does not hold back less urgent tasks that someone can take")
    func lanesDoNotBlock() {
        var dispatcher = Dispatcher(config: DispatchConfig())
        _ = dispatcher.enqueue(
            [task(1, deadline: 1, language: "ru"), task(2, deadline: 2, language: "ru"), task(3, deadline: 50, language: "fa")], now: 0)
        let (persian, persianReady) = worker("fa-agent", capacity: 3, languages: ["fa"])
        #expect(namedOffers(dispatcher.workerReady(persian, persianReady, now: 0)).map(\.1) == [3])
        #expect(dispatcher.readyCount == 2)
        #expect(dispatcher.unservable == ["support": 2])
    }

    @Test("the window of a queue counts every lane, and keeps the most urgent across them")
    func windowAcrossLanes() {
        var dispatcher = Dispatcher(config: DispatchConfig(windowPerQueue: 2))
        _ = dispatcher.enqueue([task(1, deadline: 30, language: "ru"), task(2, deadline: 20, language: "fa")], now: 0)
        _ = dispatcher.enqueue([task(3, deadline: 10, language: "en")], now: 0)
        #expect(dispatcher.readyCount(queue: "support") == 2)
        let (anyone, ready) = worker("anyone", capacity: 5)
        #expect(namedOffers(dispatcher.workerReady(anyone, ready, now: 0)).map(\.1) == [3, 2])
    }
}
