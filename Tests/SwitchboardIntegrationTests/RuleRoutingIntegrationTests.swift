import Foundation
import SwitchboardClient
import SwitchboardConfig
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import Testing

@Suite("Ordered rules over real sockets and PostgreSQL: finer queues, rules on the customer, targets by tier")
struct RuleRoutingIntegrationTests {
    static func config(_ database: TestDatabase) -> HubConfig {
        var config = RunningHub.config(database)
        config.routing.queues = [
            "support.vip": QueueSettings(targetMs: ["default": 900_000], skills: ["vip"]),
            "field_service.north": QueueSettings(),
        ]
        config.routing.processes["support"]?.tiers = ["platinum": TierTargets(targetMs: ["default": 120_000], answerMs: ["default": 30_000])]
        config.routing.processes["support"]?.answerMs = ["default": 600_000]
        config.routing.rules = [
            RoutingRule(id: "vip", when: RuleConditions(process: [.support], customer: CustomerCondition(tier: ["gold"])), queue: "support.vip"),
            RoutingRule(
                id: "outage-ru", when: RuleConditions(language: ["ru"], regex: "(?i)нет\\s+связи"), queue: "field_service.north", priority: 7),
        ]
        return config
    }

    /// Takes and completes tasks for `seconds`; returns each task's message id and queue.
    func drain(_ worker: WorkerClient, seconds: Double) throws -> [String: String] {
        var taken: [String: String] = [:]
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if case .task(let task) = try worker.next(timeoutMs: 50) {
                if case .string(let id)? = task.interaction["message_id"] { taken[id] = task.queue }
                try worker.done(task.deliveryID, outcome: "ok")
            }
        }
        return taken
    }

    @Test(
        "a gold customer's contact goes to support.vip by its rule, a Russian outage to field_service.north, a platinum customer's keeps support with its tier's targets; each worker gets only its queue's"
    )
    func rulesOnTheCustomer() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(Self.config(database))
        defer { hub.shutdown() }
        _ = try database.value(
            """
            WITH c AS (INSERT INTO customers (display_name, value_tier, anonymous) VALUES ('Vera', 'gold', false) RETURNING id)
            INSERT INTO customer_identities (kind, value, customer_id) SELECT 'phone', '+79161234567', id FROM c
            """)
        _ = try database.value(
            """
            WITH c AS (INSERT INTO customers (display_name, value_tier, anonymous) VALUES ('Omid', 'platinum', false) RETURNING id)
            INSERT INTO customer_identities (kind, value, customer_id) SELECT 'email', 'omid@example.com', id FROM c
            """)
        let gateway = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway)
        let gold = try gateway.publish(
            Messages.publish("gold-1", "Проблема с оплатой, помогите", channel: "sms", hints: IdentityHints(phone: "+7 916 123-45-67")))
        let anonymous = try gateway.publish(
            Messages.publish("anon-1", "Проблема с оплатой, помогите", channel: "sms", hints: IdentityHints(phone: "+7 916 000-00-01")))
        let outage = try gateway.publish(
            Messages.publish("outage-1", "Нет связи второй день", channel: "sms", hints: IdentityHints(phone: "+7 916 000-00-02")))
        let platinum = try gateway.publish(
            Messages.publish("plat-1", "I have a problem with my bill", hints: IdentityHints(email: "omid@example.com")))
        // The gateway is told the queue the customer's rule chose.
        #expect(gold.queue == "support.vip")
        #expect(anonymous.queue == "support")
        #expect(outage.queue == "field_service.north")
        #expect(platinum.queue == "support")

        // A worker naming a queue that is not configured is refused, and told the queues there are.
        let stray = try WorkerClient(registration: Ready(workerID: "stray", queues: ["support.gold"], capacity: 1), endpoint: hub.endpoints.worker)
        do {
            try stray.ready()
            Issue.record("READY for an unknown queue was not refused")
        } catch ClientError.workerError(let refusal) {
            #expect(refusal.detail == "unknown_queue")
            #expect(refusal.reason.contains("support.vip") && refusal.reason.contains("field_service.north"))
        }

        let agent = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 4), endpoint: hub.endpoints.worker)
        let vip = try WorkerClient(
            registration: Ready(workerID: "vip-agent", queues: ["support.vip"], capacity: 4, skills: ["vip"]), endpoint: hub.endpoints.worker)
        let north = try WorkerClient(
            registration: Ready(workerID: "north-tech", queues: ["field_service.north"], capacity: 4), endpoint: hub.endpoints.worker)
        for worker in [agent, vip, north] { try worker.ready() }
        #expect(try drain(agent, seconds: 2) == ["anon-1": "support", "plat-1": "support"])
        #expect(try drain(vip, seconds: 0.5) == ["gold-1": "support.vip"])
        #expect(try drain(north, seconds: 0.5) == ["outage-1": "field_service.north"])

        // The database records the rule and the process of each, and the tier's deadline.
        func row(_ messageID: String) throws -> String? {
            try database.value(
                """
                SELECT concat_ws('|', d.queue, coalesce(d.rule_id, '-'), i.process, d.priority, d.state, d.required_skills::text)
                  FROM deliveries d JOIN interactions i ON i.id = d.interaction_id WHERE i.message_id = $1
                """, [.init(messageID)])
        }
        #expect(try row("gold-1") == "support.vip|vip|support|0|done|{vip}")
        #expect(try row("anon-1") == "support|-|support|0|done")
        #expect(try row("outage-1") == "field_service.north|outage-ru|field_service|7|done")
        #expect(try row("plat-1") == "support|-|support|0|done")
        let minutes = try database.value(
            """
            SELECT round(extract(epoch FROM d.deadline - d.created_at) / 60)::text
              FROM deliveries d JOIN interactions i ON i.id = d.interaction_id WHERE i.message_id = $1
            """, [.init("plat-1")])
        #expect(minutes == "2")
        #expect(
            try database.value(
                "SELECT d.route_reason FROM deliveries d JOIN interactions i ON i.id = d.interaction_id WHERE i.message_id = 'plat-1'")
                == "keywords: problem, tier platinum target")
        // The answer target the views measure is the tier's where it has one, the queue's otherwise.
        let targets = try database.value(
            """
            SELECT string_agg(t.queue || '=' || t.answer_target_seconds::int, ',' ORDER BY t.delivery_id)
              FROM analytics_delivery_timeline t
            """)
        #expect(targets == "support.vip=600,support=600,support=30")

        // explain names the rule, with the customer it was checked against.
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let run = try runProgram(binary, ["explain", "--database", database.conninfo, "\(gold.interactionID)"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("customer: kind consumer, tier gold"), "\(run.output)")
        #expect(run.output.contains("decision: support.vip (rule 'vip')"), "\(run.output)")
        #expect(run.output.contains("   vip → support.vip: matches, and the customer has tier gold"), "\(run.output)")
        #expect(run.output.contains("routed: rule 'vip' (rule vip)"), "\(run.output)")
    }

    @Test(
        "deliveries left in a queue the configuration no longer names are loaded, counted unservable and listed by switchboard queues, not left unseen"
    )
    func strayQueue() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        var hub = try RunningHub(Self.config(database))
        let outage = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway).publish(
            Messages.publish("old-1", "Нет связи второй день", channel: "sms", hints: IdentityHints(phone: "+7 916 000-00-09")))
        #expect(outage.queue == "field_service.north")
        hub.shutdown()
        // The operator drops the queue and its rule.
        hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        #expect(
            eventually(timeoutMs: 3000) {
                (httpGet(http, "/metrics")?.body ?? "").contains("switchboard_deliveries_unservable{queue=\"field_service.north\"} 1")
            })
        let run = try runProgram(binary, ["queues", "--database", database.conninfo, "--http", http, "--json"])
        #expect(run.status == 0, "\(run.output)")
        guard case .array(let queues) = try JSONParser.parse(Array(run.output.utf8)) else {
            Issue.record("not a JSON array: \(run.output)")
            return
        }
        #expect(queues.contains { $0["queue"] == "field_service.north" && $0["pending"] == .integer(1) }, "\(run.output)")
    }
}
