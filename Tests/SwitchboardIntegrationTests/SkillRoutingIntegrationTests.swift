import Foundation
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import Testing

@Suite("Skills and languages over real sockets and PostgreSQL")
struct SkillRoutingIntegrationTests {
    /// Takes and completes tasks for `seconds`, answering DONE at once; returns each task's body.
    func drain(_ worker: WorkerClient, seconds: Double) throws -> [String] {
        var bodies: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if case .task(let task) = try worker.next(timeoutMs: 50) {
                bodies.append(String(decoding: task.body, as: UTF8.self))
                try worker.done(task.deliveryID, outcome: "ok")
            }
        }
        return bodies
    }

    @Test("a Russian message is never offered to a Persian-only worker, before or after a hub restart; a skill the rule requires is needed")
    func languageAndSkills() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.routing.processes["sales"]?.skills = ["sales"]
        var hub = try RunningHub(config)
        let gateway = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway)
        for index in 0..<10 {
            _ = try gateway.publish(Messages.publish("ru-\(index)", "Не работает интернет, помогите \(index)", channel: "sms"))
            _ = try gateway.publish(Messages.publish("fa-\(index)", "اینترنت کار نمی‌کند، کمک \(index)", channel: "sms"))
        }
        _ = try gateway.publish(Messages.publish("sales-ru", "Хочу купить тариф, какая цена?", channel: "sms"))
        let persianOnly = { (endpoint: String) in
            try WorkerClient(
                registration: Ready(workerID: "fa-agent", queues: ["support", "sales"], capacity: 4, languages: ["fa"]), endpoint: endpoint)
        }
        let persian = try persianOnly(hub.endpoints.worker)
        try persian.ready()
        let first = try drain(persian, seconds: 2)
        #expect(first.count == 10)
        #expect(first.allSatisfy { $0.hasPrefix("اینترنت") })
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE language = 'ru' AND state = 'pending'") == 11)

        // Restarted, the hub reads the Russian deliveries back with what they need.
        persian.close()
        hub.shutdown()
        hub = try RunningHub(config)
        defer { hub.shutdown() }
        let persianAgain = try persianOnly(hub.endpoints.worker)
        try persianAgain.ready()
        #expect(try drain(persianAgain, seconds: 1.5).isEmpty)
        // Waiting for a worker that qualifies is visible, not silent.
        let http = try #require(hub.endpoints.http)
        #expect(
            eventually(timeoutMs: 3000) {
                let metrics = httpGet(http, "/metrics")?.body ?? ""
                return metrics.contains("switchboard_deliveries_unservable{queue=\"support\"} 10")
                    && metrics.contains("switchboard_deliveries_unservable{queue=\"sales\"} 1")
            })

        let russianSupport = try WorkerClient(
            registration: Ready(workerID: "ru-agent", queues: ["support", "sales"], capacity: 4, languages: ["ru"]), endpoint: hub.endpoints.worker)
        try russianSupport.ready()
        let russian = try drain(russianSupport, seconds: 2)
        #expect(russian.count == 10)
        #expect(russian.allSatisfy { $0.hasPrefix("Не работает") })
        // The sales task needs the skill too: only a Russian seller takes it.
        let seller = try WorkerClient(
            registration: Ready(workerID: "ru-seller", queues: ["sales"], capacity: 1, skills: ["sales"], languages: ["ru", "en"]),
            endpoint: hub.endpoints.worker)
        try seller.ready()
        #expect(try drain(seller, seconds: 1.5) == ["Хочу купить тариф, какая цена?"])
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == 21)
        #expect(try database.value("SELECT string_agg(DISTINCT worker, ',') FROM deliveries WHERE language = 'ru'") == "ru-agent,ru-seller")
        #expect(
            try database.value(
                "SELECT required_skills::text FROM deliveries d JOIN interactions i ON i.id = d.interaction_id WHERE i.message_id = 'sales-ru'")
                == "{sales}")
    }
}

@Suite("Sticky routing over real sockets and PostgreSQL")
struct StickyRoutingIntegrationTests {
    @Test("a returning customer's contact goes to the worker who handled their last one, also after a hub restart")
    func returningCustomer() throws {
        let database = try TestDatabase()
        let config = RunningHub.config(database)
        var hub = try RunningHub(config)
        // Without stickiness the longest idle agent would be offered each contact: the one that
        // just finished, or (after the restart) registered last, never would.
        func agents(_ hub: RunningHub, last: String? = nil) throws -> [WorkerClient] {
            let names: [String] = ["agent-a", "agent-b", "agent-c"].filter { $0 != last } + (last.map { [$0] } ?? [])
            return try names.map { name in
                usleep(20_000)
                let worker = try WorkerClient(registration: Ready(workerID: name, queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
                try worker.ready()
                return worker
            }
        }
        /// Publishes one message of this customer and answers it with whichever agent gets it: that agent's id.
        func handled(_ id: String, email: String, hub: RunningHub, agents: [WorkerClient]) throws -> String? {
            _ = try GatewayClient(name: "mail", endpoint: hub.endpoints.gateway).publish(
                Messages.publish(id, "help me please", hints: IdentityHints(email: email)))
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline {
                for agent in agents {
                    if case .task(let task) = try agent.next(timeoutMs: 20) {
                        try agent.done(task.deliveryID, outcome: "ok")
                        _ = try agent.nextAnswer()
                        return try database.value("SELECT worker FROM deliveries WHERE id = $1", [.init(task.deliveryID)])
                    }
                }
            }
            return nil
        }
        var workers = try agents(hub)
        let first = try #require(try handled("s-1", email: "sara@example.com", hub: hub, agents: workers))
        #expect(try handled("s-2", email: "sara@example.com", hub: hub, agents: workers) == first)
        // Another customer goes to the longest idle agent, not to Sara's.
        #expect(try handled("o-1", email: "omid@example.com", hub: hub, agents: workers) != first)
        workers.forEach { $0.close() }
        hub.shutdown()
        hub = try RunningHub(config)
        defer { hub.shutdown() }
        workers = try agents(hub, last: first)
        #expect(try handled("s-3", email: "sara@example.com", hub: hub, agents: workers) == first)
    }
}
