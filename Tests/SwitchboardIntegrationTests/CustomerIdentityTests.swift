import Foundation
import SwitchboardClient
import SwitchboardConfig
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import Testing

@Suite("Customers by every identity: hints never refuse a contact, channel handles, partners")
struct CustomerIdentityTests {
    @Test("a hint that does not normalize is kept unverified on the customer, the message is stored and ACKed, and such values never link customers")
    func unverifiedHints() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway)
        let known = try gateway.publish(Messages.publish("k-1", hints: IdentityHints(email: "sara@example.com")))
        let withBadPhone = try gateway.publish(Messages.publish("k-2", hints: IdentityHints(phone: "call me", email: "Sara@Example.com")))
        #expect(withBadPhone.customerID == known.customerID)
        let first = try gateway.publish(Messages.publish("u-1", hints: IdentityHints(phone: "call me")))
        let second = try gateway.publish(Messages.publish("u-2", hints: IdentityHints(phone: "call me", email: "sara@")))
        #expect(first.customerID != second.customerID)
        #expect(first.customerID != known.customerID)
        #expect(
            try database.value(
                """
                SELECT string_agg(customer_id || ':' || kind || '=' || value, ', ' ORDER BY id) FROM customer_unverified_identities
                """)
                == "\(known.customerID):phone=call me, \(first.customerID):phone=call me, \(second.customerID):email=sara@, \(second.customerID):phone=call me"
        )
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE kind = 'phone'") == 0)
        #expect(try database.count("SELECT count(*) FROM quarantine") == 0)
        #expect(try database.count("SELECT count(*) FROM interactions") == 4)
    }

    @Test("fax numbers in any digits and social handles in any case find the same customer; a chat handle alone leaves it anonymous")
    func channelHandles() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "fax", endpoint: hub.endpoints.gateway)
        let a = try gateway.publish(
            Messages.publish("f-1", channel: "fax", hints: IdentityHints(fax: "۰۲۱ ۸۸۸۸ ۱۲۳۴", social: "Telegram:@Sara_K")))
        let b = try gateway.publish(Messages.publish("f-2", channel: "chat", hints: IdentityHints(social: "telegram: sara_k")))
        let c = try gateway.publish(Messages.publish("f-3", channel: "fax", hints: IdentityHints(fax: "+98 21 8888 1234")))
        #expect(a.customerID == b.customerID && b.customerID == c.customerID)
        #expect(
            try database.value(
                "SELECT string_agg(kind || '=' || value, ', ' ORDER BY kind) FROM customer_identities WHERE customer_id = $1", [.init(a.customerID)])
                == "fax=+982188881234, social=telegram:sara_k")
        #expect(try database.value("SELECT anonymous::text FROM customers WHERE id = $1", [.init(a.customerID)]) == "false")
        let visitor = try gateway.publish(Messages.publish("c-1", channel: "chat", hints: IdentityHints(chat: "livechat:V-8812")))
        let again = try gateway.publish(Messages.publish("c-2", channel: "chat", hints: IdentityHints(chat: "livechat:V-8812")))
        #expect(visitor.customerID == again.customerID)
        #expect(try database.value("SELECT anonymous::text FROM customers WHERE id = $1", [.init(visitor.customerID)]) == "true")
    }

    @Test("a gateway's partner hint makes a new or known customer a partner, for good; rules route partners apart, also on their first contact")
    func partners() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.routing.queues = ["sales.partners": QueueSettings()]
        config.routing.rules = [
            RoutingRule(id: "partners", when: RuleConditions(customer: CustomerCondition(kind: ["partner"])), queue: "sales.partners")
        ]
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "portal", endpoint: hub.endpoints.gateway)
        let reseller = try gateway.publish(
            Messages.publish("p-1", "We need a quote for 40 licenses", hints: IdentityHints(email: "orders@reseller.example", kind: .partner)))
        #expect(reseller.queue == "sales.partners")
        let consumer = try gateway.publish(Messages.publish("p-2", "help", hints: IdentityHints(email: "omid@example.com")))
        #expect(consumer.queue == "support")
        let becomes = try gateway.publish(Messages.publish("p-3", "help", hints: IdentityHints(email: "omid@example.com", kind: .partner)))
        #expect(becomes.queue == "sales.partners")
        let stays = try gateway.publish(Messages.publish("p-4", "help", hints: IdentityHints(email: "omid@example.com", kind: .consumer)))
        #expect(stays.queue == "sales.partners")
        #expect(
            try database.value("SELECT string_agg(id || ':' || kind, ', ' ORDER BY id) FROM customers")
                == "\(reseller.customerID):partner, \(consumer.customerID):partner")
        _ = try gateway.publish(Messages.publish("p-5", "help", hints: IdentityHints(email: "lena@example.com")))
        // Reported apart: the service level per customer kind.
        #expect(
            try database.value(
                "SELECT string_agg(customer_kind || '=' || n, ', ' ORDER BY customer_kind) FROM (SELECT customer_kind, sum(deliveries) AS n FROM analytics_service_level GROUP BY 1) k"
            ) == "consumer=1, partner=4")
        // The worker sees the kind in the customer's profile.
        let worker = try WorkerClient(
            registration: Ready(workerID: "channel-manager", queues: ["sales.partners"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        #expect(task.customer["kind"] == "partner")
    }
}
