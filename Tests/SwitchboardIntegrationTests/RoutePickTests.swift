import Postgres
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import Testing

@Suite("Rules on the customer, decided in the ingest statement")
struct RoutePickTests {
    static let rules = RoutingRules(
        processes: ["support": ProcessRules(tiers: ["gold": TierTargets(targetMs: ["default": 600_000])])],
        queues: [
            "support.partners": QueueSettings(), "support.smb": QueueSettings(), "support.north": QueueSettings(skills: ["north"]),
            "support.vip": QueueSettings(),
        ],
        rules: [
            RoutingRule(id: "partner", when: RuleConditions(customer: CustomerCondition(kind: ["partner"])), queue: "support.partners"),
            RoutingRule(id: "smb", when: RuleConditions(customer: CustomerCondition(segment: ["smb", "mid"])), queue: "support.smb", priority: 4),
            RoutingRule(
                id: "north", when: RuleConditions(customer: CustomerCondition(attributes: ["region": "north"])), queue: "support.north"),
            RoutingRule(id: "vip", when: RuleConditions(customer: CustomerCondition(tier: ["gold"])), queue: "support.vip"),
        ])

    @Test("the statement takes, for each message of a batch, the alternative that RouteDecision.resolved takes for its customer")
    func sameAsTheRouter() throws {
        let database = try TestDatabase()
        let store = try Store(conninfo: database.conninfo, owner: "test")
        let version = try store.registerRouting(["rules": "route pick"])
        let customers: [(String, CustomerFacts?)] = [
            ("new", nil),
            ("plain", CustomerFacts()),
            ("partner", CustomerFacts(kind: "partner")),
            ("smb", CustomerFacts(segment: "smb")),
            ("enterprise", CustomerFacts(segment: "enterprise")),
            ("north", CustomerFacts(attributes: ["region": "north"])),
            ("south", CustomerFacts(attributes: ["region": "south", "plan": "north"])),
            ("gold", CustomerFacts(tier: "gold")),
            ("partner-gold", CustomerFacts(kind: "partner", tier: "gold")),
            ("mid-north-gold", CustomerFacts(segment: "mid", tier: "gold", attributes: ["region": "north"])),
        ]
        for case (let name, let facts?) in customers {
            let attributes = facts.attributes.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")
            _ = try database.value(
                """
                WITH c AS (INSERT INTO customers (kind, segment, value_tier, attributes) VALUES ($1, $2, $3, $4::jsonb) RETURNING id)
                INSERT INTO customer_identities (kind, value, customer_id) SELECT 'email', $5, id FROM c
                """, [.init(facts.kind), .init(facts.segment), .init(facts.tier), .init("{\(attributes)}"), .init("\(name)@example.com")])
        }
        let router = Router(rules: Self.rules)
        let receivedAt: Int64 = 1_790_000_000_000
        let records = customers.map { name, _ in
            let publish = Messages.publish("m-\(name)", "hello", hints: IdentityHints(email: "\(name)@example.com"))
            return IngestRecord(
                gateway: "gw", publish: publish, identities: [NormalizedIdentity(kind: .email, value: "\(name)@example.com")],
                route: router.route(publish, now: receivedAt), routingVersion: version)
        }
        // Each customer rule, preceded by its gold variant (its queue has support's tier targets), then the base's gold variant.
        #expect(records.allSatisfy { $0.route.alternatives.count == 9 })
        let outcomes = try store.ingest(records, receivedAtMs: receivedAt)
        for ((name, facts), outcome) in zip(customers, outcomes) {
            guard case .stored(let ack, let task) = outcome else {
                Issue.record("\(name) not stored: \(outcome)")
                continue
            }
            let expected = records[0].route.resolved(for: facts ?? .new)
            #expect(ack.queue == expected.queue, "\(name)")
            #expect(task.queue == expected.queue && task.priority == expected.priority && task.deadline == expected.deadline, "\(name)")
            #expect(task.payload.needs == expected.needs, "\(name)")
            let stored = try database.value(
                "SELECT concat_ws('|', queue, coalesce(rule_id, '-'), priority, extract(epoch FROM deadline)::bigint * 1000, route_reason) FROM deliveries WHERE id = $1",
                [.init(task.deliveryID)])
            #expect(stored == "\(expected.queue)|\(expected.rule ?? "-")|\(expected.priority)|\(expected.deadline)|\(expected.reason)", "\(name)")
        }
        let queues = outcomes.compactMap { if case .stored(let ack, _) = $0 { ack.queue } else { nil } }
        #expect(
            queues == [
                "support", "support", "support.partners", "support.smb", "support", "support.north", "support", "support.vip", "support.partners",
                "support.smb",
            ])
        // A duplicate is answered with the queue first chosen, and writes nothing.
        let again = try store.ingest([records[7]], receivedAtMs: receivedAt + 1)
        guard case .duplicate(let ack)? = again.first else {
            Issue.record("not a duplicate: \(again)")
            return
        }
        #expect(ack.queue == "support.vip")
    }
}
