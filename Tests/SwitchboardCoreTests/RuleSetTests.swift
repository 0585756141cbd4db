import SwitchboardConfig
import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("ordered rule sets: first match wins, finer queues, rules on the customer, targets by value tier")
struct RuleSetTests {
    static let yaml = """
        default_process: support
        processes:
          support:
            keywords: [help, problem, помощь, مشکل]
            target_ms: {default: 7200000, sms: 3600000}
            skills: [support]
            tiers:
              gold: {target_ms: {default: 1800000}, answer_ms: {default: 60000}}
              platinum: {target_ms: {sms: 600000}}
        queues:
          support.vip:
            target_ms: {default: 900000}
            skills: [vip]
          field_service.north:
            optional_skills: [electrical]
        rules:
          - id: outage-ru
            when: {language: ru, regex: "(?i)нет\\\\s+связи"}
            queue: field_service.north
            priority: 7
          - id: refund-fa
            when: {keywords: [بازپرداخت, "پول برگردد"]}
            queue: support.vip
            target_ms: {default: 120000}
          - id: partner
            when: {kind: partner, channel: [email, web]}
            queue: support.vip
          - id: vip
            when: {tier: [gold, platinum], process: support}
            queue: support.vip
          - id: north-web
            when: {channel: web, attributes: {region: north}}
            queue: field_service.north
          - id: sms-english
            when: {channel: sms, language: en}
            queue: support
            priority: 3
          - id: never-reached
            when: {channel: sms, language: en}
            queue: support.vip
        """

    let rules: RoutingRules
    let router: Router

    init() throws {
        rules = try RulesFile.load(yaml: Self.yaml)
        router = Router(rules: rules)
    }

    func message(_ text: String, channel: String = "sms", language: String? = nil, attributes: [String: String] = [:]) -> Publish {
        Publish(messageID: "m", channel: channel, occurredAt: 0, language: language, body: Array(text.utf8), attributes: attributes)
    }

    @Test("the first rule whose message conditions hold decides, in Russian, Persian and English; its id is recorded; later rules are not tried")
    func firstMatchWins() {
        let outage = router.route(message("У нас НЕТ  СВЯЗИ с утра"), now: 0)
        #expect(outage.queue == "field_service.north")
        #expect(outage.process == .fieldService)
        #expect(outage.rule == "outage-ru")
        #expect(outage.reason == "rule 'outage-ru'")
        #expect(outage.priority == 7)
        #expect(outage.needs == TaskNeeds(language: "ru", optionalSkills: ["electrical"]))
        #expect(outage.alternatives.isEmpty)
        // The same words in another language, or Russian without them, are not this rule's.
        #expect(router.route(message("Нужна помощь с тарифом"), now: 0).rule == nil)

        let refund = router.route(message("سلام، بازپرداخت سفارش من کجاست؟"), now: 1000)
        #expect(refund.rule == "refund-fa")
        #expect(refund.queue == "support.vip")
        // The rule's own target, and no tier variants: it names its service level itself.
        #expect(refund.deadline == 1000 + 120_000)
        #expect(refund.needs.skills == ["vip"])
        // No rule on the customer comes before it.
        #expect(refund.alternatives.isEmpty)

        let english = router.route(message("Please help, my router is broken"), now: 0)
        #expect(english.rule == "sms-english")
        #expect(english.queue == "support")
        #expect(english.priority == 3)
        #expect(!router.route(message("Please help"), now: 0).alternatives.contains { $0.decision.rule == "never-reached" })
    }

    @Test("rules on the customer become alternatives in order; the first the customer meets is taken, else the base decision")
    func customerAlternatives() {
        // An e-mail in English about a problem: partner and vip rules match the message; no rule decides it outright.
        let routed = router.route(message("I have a problem with my invoice", channel: "email"), now: 0)
        #expect(routed.rule == nil)
        #expect(routed.queue == "support")
        #expect(routed.reason.hasPrefix("keywords: "))
        let alternatives = routed.alternatives.map { ($0.decision.rule, $0.condition) }
        // Each rule's queue inherits support's tier targets: the gold variant (platinum has none
        // for e-mail) comes before the rule itself, and the base decision's last.
        #expect(alternatives.map(\.0) == ["partner", "partner", "vip", "vip", nil])
        #expect(alternatives[0].1 == CustomerCondition(kind: ["partner"], tier: ["gold"]))
        #expect(alternatives[1].1 == CustomerCondition(kind: ["partner"]))
        #expect(alternatives[2].1 == CustomerCondition(tier: ["gold"]))
        #expect(alternatives[3].1 == CustomerCondition(tier: ["gold", "platinum"]))
        #expect(alternatives[4].1 == CustomerCondition(tier: ["gold"]))

        #expect(routed.resolved(for: .new).queue == "support")
        #expect(routed.resolved(for: .new).alternatives.isEmpty)
        let partner = routed.resolved(for: CustomerFacts(kind: "partner", tier: "gold"))
        #expect(partner.rule == "partner")
        #expect(partner.queue == "support.vip")
        let gold = routed.resolved(for: CustomerFacts(tier: "gold"))
        #expect(gold.rule == "vip")
        #expect(gold.deadline == 1_800_000)
        #expect(gold.needs.skills == ["vip"])
        #expect(routed.resolved(for: CustomerFacts(tier: "silver")).queue == "support")
        // A partner on SMS: the partner rule asks for e-mail or web.
        #expect(router.route(message("I have a problem", language: "de"), now: 0).resolved(for: CustomerFacts(kind: "partner")).queue == "support")
    }

    @Test("a queue's value-tier targets set the deadline per channel; a tier without one for the channel keeps the queue's")
    func tierTargets() {
        let sms = router.route(message("помощь нужна срочно"), now: 5000)
        #expect(sms.queue == "support")
        #expect(sms.deadline == 5000 + 3_600_000)
        let tiers = sms.alternatives.filter { $0.decision.rule == nil }
        #expect(tiers.map(\.condition.tier) == [["gold"], ["platinum"]])
        #expect(sms.resolved(for: CustomerFacts(tier: "gold")).queue == "support.vip")
        let platinum = router.route(message("помощь", channel: "fax"), now: 0)
        // Platinum has a target for SMS only: on fax it has no variant of its own beyond the vip rule.
        #expect(platinum.alternatives.filter { $0.decision.rule == nil }.map(\.condition.tier) == [["gold"]])
        #expect(platinum.resolved(for: CustomerFacts(tier: "gold", attributes: [:])).deadline == 1_800_000)
    }

    @Test("message attributes and channel lists select a rule; a binary body matches no keyword or regex rule")
    func attributesAndBinary() {
        let north = router.route(message("hello", channel: "web", attributes: ["region": "north"]), now: 0)
        #expect(north.rule == "north-web")
        #expect(router.route(message("hello", channel: "web", attributes: ["region": "south"]), now: 0).rule == nil)
        let fax = Publish(messageID: "f", channel: "fax", occurredAt: 0, contentType: "image/tiff", body: [0, 1, 2])
        #expect(router.route(fax, now: 0).queue == "support")
    }

    @Test("a rule made in code with a regular expression that does not compile matches nothing, not everything")
    func brokenPattern() {
        let rules = RoutingRules(processes: [:], rules: [RoutingRule(id: "broken", when: RuleConditions(regex: "(unclosed"), queue: "sales")])
        #expect(Router(rules: rules).route(message("anything at all"), now: 0).rule == nil)
    }

    @Test("queue settings lie over their process's; a finer queue's process is the name before its dot")
    func queueSettings() throws {
        let vip = try #require(rules.settings(ofQueue: "support.vip"))
        #expect(vip.target(for: "sms") == 900_000)
        #expect(vip.skills == ["vip"])
        #expect(vip.target(for: "sms", tier: "gold") == 1_800_000)
        #expect(rules.settings(ofQueue: "support.nowhere") == nil)
        #expect(RoutingRules.process(ofQueue: "field_service.north") == .fieldService)
        #expect(RoutingRules.process(ofQueue: "support.") == nil)
        #expect(RoutingRules.process(ofQueue: "billing.vip") == nil)
        #expect(rules.queueNames == ["sales", "marketing", "field_service", "support", "field_service.north", "support.vip"])
    }

    @Test("a rule file's mistakes are named with their line: an unknown queue, a repeated id, a bad regex, a badly named queue, an overflow nowhere")
    func problems() {
        func problem(_ yaml: String) -> RulesFile.Problem? {
            do {
                _ = try RulesFile.load(yaml: yaml)
                return nil
            } catch {
                return error
            }
        }
        let unknownQueue = problem("rules:\n  - id: a\n    queue: support.gold\n")
        #expect(unknownQueue?.line == 3)
        #expect(unknownQueue?.message.contains("queue 'support.gold' does not exist") == true)
        let repeated = problem("rules:\n  - {id: a, queue: support}\n  - {id: a, queue: sales}\n")
        #expect(repeated?.line == 3)
        #expect(repeated?.message.contains("used twice") == true)
        let regex = problem("rules:\n  - id: a\n    queue: support\n    when:\n      regex: \"(unclosed\"\n")
        #expect(regex?.line == 5)
        #expect(regex?.message.contains("regex does not compile") == true)
        let named = problem("queues:\n  vip: {target_ms: {default: 1}}\n")
        #expect(named?.line == 2)
        #expect(named?.message.contains("<process>.<name>") == true)
        let overflow = problem("queues:\n  support.vip:\n    escalation:\n      - {at_percent: 100, overflow_to: support.gold}\n")
        #expect(overflow?.line == 4)
        #expect(overflow?.message.contains("overflow_to 'support.gold' is not a queue") == true)
        #expect(problem("queues:\n  support.vip: {}\nprocesses:\n  support:\n    escalation: [{at_percent: 100, overflow_to: support.vip}]\n") == nil)
        let kind = problem("rules:\n  - id: a\n    queue: support\n    when: {kind: reseller}\n")
        #expect(kind?.line == 4)
    }

    @Test("explain names the rule that decided and why each earlier one did not; without a customer it lists the decisions per customer")
    func explainRules() {
        let lines = router.explain(message("I have a problem", channel: "email"), now: 0)
        #expect(lines[0].hasPrefix("decision: support (keywords: problem)"))
        #expect(lines.contains("  instead, for a customer with kind partner: support.vip (rule 'partner'), priority 0, deadline 900000"))
        #expect(lines.contains("   outage-ru → field_service.north: no, language en is not ru"))
        #expect(lines.contains("   refund-fa → support.vip: no, none of its keywords starts a word of the body"))
        #expect(lines.contains("   vip → support.vip: matches the message; decides for a customer with tier gold or platinum"))
        #expect(lines.contains("   north-web → field_service.north: no, channel email is not web"))
        let gold = router.explain(message("I have a problem", channel: "email"), now: 0, customer: CustomerFacts(tier: "gold"))
        #expect(gold[0].hasPrefix("decision: support.vip (rule 'vip', tier gold target)"))
        #expect(gold.contains("   partner → support.vip: no, the customer does not have kind partner"))
        #expect(gold.contains("   vip → support.vip: matches, and the customer has tier gold or platinum"))
        #expect(gold.contains("   north-web → field_service.north: not tried"))
        #expect(gold.contains("the process steps below are not needed"))
    }
}
