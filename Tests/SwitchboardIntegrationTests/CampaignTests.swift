import Foundation
import SwitchboardClient
import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import Testing

/// Campaigns: whom they reach and when (injected clock), what they send, what came back.
@Suite("Campaigns")
struct CampaignTests {
    static func config(_ database: TestDatabase, campaignEveryMs: Int) -> HubConfig {
        var config = RunningHub.config(database)
        config.dispatch.heartbeatMs = 200
        config.dispatch.heartbeatTimeoutMs = 60_000
        config.outbound.campaignEveryMs = campaignEveryMs
        return config
    }

    /// Midnight UTC of yesterday, plus `hours`, in Unix milliseconds: a clock in the past, so that
    /// the messages the test sends afterwards come after the campaign's contacts.
    static func yesterday(at hours: Double) -> Int64 {
        let today = Int64(Date().timeIntervalSince1970) / 86_400 * 86_400
        return (today - 86_400) * 1000 + Int64(hours * 3_600_000)
    }

    static func targets(_ database: TestDatabase, _ campaign: String) throws -> String? {
        try database.value(
            """
            SELECT string_agg(c.display_name || ':' || t.state || coalesce('/' || t.skip_reason, ''), ',' ORDER BY c.display_name)
              FROM campaign_targets t JOIN campaigns k ON k.id = t.campaign_id JOIN customers c ON c.id = t.customer_id
             WHERE k.name = $1
            """, [.init(campaign)])
    }

    @Test(
        "a campaign reaches customers in its window of their own time zone, never in quiet hours, within the frequency cap, and never after an opt-out sent on another channel"
    )
    func contactRules() throws {
        let database = try TestDatabase()
        // The hub's own pass stays out of the way: the test runs passes at the times it chooses.
        let hub = try RunningHub(Self.config(database, campaignEveryMs: 3_600_000))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms-gw", endpoint: hub.endpoints.gateway)
        let people: [(name: String, phone: String, email: String?, zone: String, group: String)] = [
            ("Ali", "09120000001", nil, "Asia/Tehran", "a"), ("Bob", "09120000002", nil, "America/New_York", "a"),
            ("Cyrus", "09120000003", "cyrus@example.com", "Asia/Tehran", "a"), ("Dina", "09120000004", nil, "Asia/Tehran", "d"),
            ("Emma", "09120000005", nil, "UTC", "e"),
        ]
        for (index, person) in people.enumerated() {
            _ = try gateway.publish(
                Messages.publish(
                    "p-\(index)", "hello", channel: "sms", hints: IdentityHints(phone: person.phone, email: person.email, name: person.name)))
            try database.connect().query(
                "UPDATE customers SET attributes = attributes || jsonb_build_object('time_zone', $2::text, 'group', $3::text) WHERE display_name = $1",
                [.init(person.name), .init(person.zone), .init(person.group)])
        }
        // Cyrus says STOP by e-mail: no campaign on any channel reaches him from now on.
        _ = try gateway.publish(Messages.publish("stop-1", "  stop ", channel: "email", hints: IdentityHints(email: "cyrus@example.com")))
        #expect(try database.value("SELECT consent ->> 'marketing' FROM customers WHERE display_name = 'Cyrus'") == "false")
        #expect(try database.value("SELECT intent FROM interactions WHERE message_id = 'stop-1'") == "opt_out")

        let store = try Store(conninfo: database.conninfo, owner: "test")
        var settings = OutboundSettings()
        settings.quietHours = ClockRange(start: "21:00", end: "08:00")
        settings.frequencyCapCount = 1
        settings.frequencyCapDays = 7
        let everyDay = CampaignDefinition.Window(days: [1, 2, 3, 4, 5, 6, 7], from: "09:00", to: "20:00")
        var earlier = CampaignDefinition(name: "earlier", channel: "sms", templates: ["en": "Hello"], defaultLanguage: "en", window: everyDay)
        earlier.target.attributes = ["group": "d"]
        _ = try store.createCampaign(earlier)
        try store.setCampaignState(name: "earlier", to: "running")
        try store.runCampaigns(nowMs: Self.yesterday(at: 7), settings: settings)  // Tehran 10:30
        #expect(try Self.targets(database, "earlier") == "Dina:contacted")

        var spring = CampaignDefinition(
            name: "spring", channel: "sms", templates: ["en": "Hi {name}, spring offers are here"], defaultLanguage: "en", window: everyDay)
        spring.target.attributes = ["group": "a"]
        var dinaToo = CampaignDefinition(name: "spring-d", channel: "sms", templates: ["en": "Hi"], defaultLanguage: "en", window: everyDay)
        dinaToo.target.attributes = ["group": "d"]
        _ = try store.createCampaign(spring)
        _ = try store.createCampaign(dinaToo)
        // A draft contacts nobody.
        try store.runCampaigns(nowMs: Self.yesterday(at: 6), settings: settings)
        #expect(try Self.targets(database, "spring") == nil)
        try store.setCampaignState(name: "spring", to: "running")
        try store.setCampaignState(name: "spring-d", to: "running")
        // 06:00 UTC: 09:30 in Tehran (Ali; Cyrus skipped for his opt-out), 01:00 in New York (Bob waits).
        try store.runCampaigns(nowMs: Self.yesterday(at: 6), settings: settings)
        #expect(try Self.targets(database, "spring") == "Ali:contacted,Cyrus:skipped/opted_out")
        #expect(
            try database.value(
                "SELECT m.body_text FROM outbound_messages m JOIN customers c ON c.id = m.customer_id JOIN campaigns k ON k.id = m.campaign_id WHERE c.display_name = 'Ali' AND k.name = 'spring'"
            ) == "Hi Ali, spring offers are here")
        // 14:00 UTC: 09:00 in New York. Ali is not contacted twice; Dina, contacted by another
        // campaign within the week, is over the cap for every campaign.
        try store.runCampaigns(nowMs: Self.yesterday(at: 14), settings: settings)
        #expect(try Self.targets(database, "spring") == "Ali:contacted,Bob:contacted,Cyrus:skipped/opted_out")
        #expect(try Self.targets(database, "spring-d") == nil)
        // Quiet hours hold even inside a campaign's window: Emma (UTC) at 22:00 no, at 10:00 yes.
        var night = CampaignDefinition(
            name: "night", channel: "sms", templates: ["en": "Hi"], defaultLanguage: "en",
            window: CampaignDefinition.Window(days: [1, 2, 3, 4, 5, 6, 7], from: "00:00", to: "23:59"))
        night.target.attributes = ["group": "e"]
        _ = try store.createCampaign(night)
        try store.setCampaignState(name: "night", to: "running")
        try store.runCampaigns(nowMs: Self.yesterday(at: 22), settings: settings)
        #expect(try Self.targets(database, "night") == nil)
        try store.runCampaigns(nowMs: Self.yesterday(at: 10), settings: settings)
        #expect(try Self.targets(database, "night") == "Emma:contacted")
        // Ali, merged since into the customer his new e-mail address names, opts out from there:
        // the opt-out is his campaign's all the same.
        let aliMail = try gateway.publish(Messages.publish("a-2", "hi", channel: "email", hints: IdentityHints(email: "ali@example.com")))
        let ali = try #require(Int64(try database.value("SELECT id FROM customers WHERE display_name = 'Ali'") ?? ""))
        _ = try store.mergeCustomers(survivor: aliMail.customerID, absorbed: ali, actor: "test")
        _ = try gateway.publish(Messages.publish("a-3", "STOP", channel: "email", hints: IdentityHints(email: "ali@example.com")))
        try store.runCampaigns(nowMs: Self.yesterday(at: 10), settings: settings)
        #expect(
            try database.value(
                "SELECT t.opted_out_at IS NOT NULL FROM campaign_targets t JOIN campaigns k ON k.id = t.campaign_id WHERE k.name = 'spring' AND t.customer_id = $1",
                [.init(ali)]) == "t")
        // A paused campaign contacts nobody new.
        try store.setCampaignState(name: "spring-d", to: "paused")
        #expect(throws: CampaignError.self) { try store.setCampaignState(name: "spring-d", to: "paused") }
        // A misspelt rule is refused, not read as "everyone".
        #expect(throws: RulesFile.Problem.self) {
            _ = try RulesFile.campaign(yaml: "name: x\nchannel: sms\ntemplates: {en: hi}\ndefault_language: en\ntarget:\n  segmnet: [gold]\n")
        }
    }

    @Test("a campaign's messages go out through the channel's gateway, its tasks to workers, and responses, conversions and opt-outs are reported")
    func deliveredAndAttributed() throws {
        let database = try TestDatabase()
        var config = Self.config(database, campaignEveryMs: 200)
        config.outbound.quietHours = nil
        config.outbound.frequencyCapCount = 5
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swb-campaign-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try runProgram(binary, arguments + ["--database", database.conninfo])
        }
        let gateway = try GatewayClient(name: "sms-gw", endpoint: hub.endpoints.gateway)
        let worker = try WorkerClient(
            registration: Ready(workerID: "agent-1", queues: ["support", "sales", "marketing"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        var first = Messages.publish("x-1", "hello", channel: "sms", hints: IdentityHints(phone: "09120000050", name: "Sara"))
        first.language = "en"
        _ = try gateway.publish(first)
        let greeting = try #require(try worker.nextTask())
        try worker.done(greeting.deliveryID, outcome: "answered")

        let file = folder.appendingPathComponent("promo.yaml")
        try """
        name: promo
        channel: sms
        target:
          kind: consumer
          lifecycle: [new]
        templates:
          en: "Hi {name}, 20% off this week"
          fa: "سلام {name}"
        default_language: en
        window: {days: [1, 2, 3, 4, 5, 6, 7], from: "00:00", to: "23:59"}
        response_days: 7
        """.write(to: file, atomically: true, encoding: .utf8)
        let created = try run(["campaign", "create", file.path])
        #expect(created.status == 0, "\(created.output)")
        let started = try run(["campaign", "start", "promo"])
        #expect(started.status == 0 && started.output.contains("running"), "\(started.output)")

        try gateway.hello(channels: ["sms"])
        let deliver = try #require(try TwoWayTests.delivers(gateway, timeoutMs: 5000) { !$0.isEmpty }.first, "the campaign sent nothing")
        #expect(deliver.campaignID != nil && deliver.to["phone"] == "+989120000050" && deliver.language == "en")
        #expect(String(decoding: deliver.body, as: UTF8.self) == "Hi Sara, 20% off this week")
        try gateway.sent(deliver.outboundID)

        // A task campaign: an outbound call for the sales agent.
        let store = try Store(conninfo: database.conninfo, owner: "test")
        _ = try store.createCampaign(
            CampaignDefinition(
                name: "calls", mode: .task, channel: "phone", queue: "sales", templates: ["en": "Call {name} about the upgrade"],
                defaultLanguage: "en",
                window: CampaignDefinition.Window(days: [1, 2, 3, 4, 5, 6, 7], from: "00:00", to: "23:59")))
        try store.setCampaignState(name: "calls", to: "running")
        let call = try #require(try worker.nextTask(timeoutMs: 8000), "the task campaign filed no task")
        #expect(call.queue == "sales" && String(decoding: call.body, as: UTF8.self) == "Call Sara about the upgrade")
        try worker.done(call.deliveryID, outcome: "sale")

        // Sara answers the SMS, and then says STOP.
        _ = try gateway.publish(Messages.publish("x-2", "YES please", channel: "sms", hints: IdentityHints(phone: "09120000050")))
        let response = try #require(try worker.nextTask())
        try worker.done(response.deliveryID, outcome: "converted")
        _ = try gateway.publish(Messages.publish("x-3", "STOP", channel: "sms", hints: IdentityHints(phone: "09120000050")))
        #expect(
            try eventually(timeoutMs: 8000) {
                let promo = try store.campaignReports(name: "promo").first
                return promo?.responded == 1 && promo?.converted == 1 && promo?.optedOut == 1 && promo?.delivered == 1
            }, "\(String(describing: try? store.campaignReports(name: "promo")))")
        let report = try run(["campaign", "report", "promo", "--json"])
        #expect(report.status == 0, "\(report.output)")
        let parsed = try JSONSerialization.jsonObject(with: Data(report.output.utf8)) as? [[String: Any]]
        let promo = try #require(parsed?.first)
        #expect(promo["reached"] as? Int == 1 && promo["delivered"] as? Int == 1 && promo["responded"] as? Int == 1)
        #expect(promo["converted"] as? Int == 1 && promo["opted_out"] as? Int == 1)
        let calls = try #require(try store.campaignReports(name: "calls").first)
        #expect(calls.reached == 1 && calls.delivered == 1 && calls.converted == 1)
        let text = try run(["campaign", "report"])
        #expect(text.output.contains("campaign 1 'promo' (running, message on sms)") && text.output.contains("opted out    1"), "\(text.output)")
        // After the STOP, no campaign reaches her.
        _ = try store.createCampaign(
            CampaignDefinition(
                name: "again", channel: "sms", templates: ["en": "Hi"], defaultLanguage: "en",
                window: CampaignDefinition.Window(days: [1, 2, 3, 4, 5, 6, 7], from: "00:00", to: "23:59")))
        try store.setCampaignState(name: "again", to: "running")
        #expect(try eventually { try Self.targets(database, "again") == "Sara:skipped/opted_out" })
    }
}
