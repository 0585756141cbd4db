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
