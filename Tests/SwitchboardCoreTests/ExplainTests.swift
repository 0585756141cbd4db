import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("explain: why a message goes where it goes")
struct ExplainTests {
    let router = Router(rules: .standard)

    @Test("each step of the rules says whether it decided; keywords are listed per process in three languages")
    func steps() {
        let lines = router.explain(
            Publish(messageID: "m", channel: "sms", occurredAt: 0, body: Array("Не работает интернет, нужна помощь. Хочу купить".utf8)), now: 0)
        #expect(lines[0].hasPrefix("decision: support (keywords: "))
        #expect(lines[1] == "needs: language ru (detected from the body), no required skills, ranked by billing, technical")
        #expect(lines.contains("1. explicit process: none given"))
        #expect(lines.contains("2. intent: none given"))
        #expect(lines.contains { $0.hasPrefix("   support: 2: ") && $0.contains("помощь") && $0.contains("не работает") })
        #expect(lines.contains("   sales: 1: купить"))
        #expect(lines.contains("   marketing: none"))
        #expect(lines.last == "4. default: support (not needed)")
    }

    @Test("an intent decides before keywords; an explicit process before both; a binary body has no keywords")
    func precedence() {
        let byIntent = router.explain(
            Publish(messageID: "m", channel: "phone", occurredAt: 0, intent: "repair", body: Array("I want to buy".utf8)), now: 0)
        #expect(byIntent[0].hasPrefix("decision: field_service (intent 'repair')"))
        #expect(byIntent.contains("2. intent: 'repair' is an intent of field_service"))
        let explicit = router.explain(
            Publish(messageID: "m", channel: "phone", occurredAt: 0, intent: "nonsense", process: .marketing, body: []), now: 0)
        #expect(explicit.contains("1. explicit process: marketing, decides"))
        #expect(explicit.contains("2. intent: 'nonsense' is no process's intent (not needed)"))
        let binary = router.explain(
            Publish(messageID: "m", channel: "fax", occurredAt: 0, contentType: "image/tiff", body: [0, 1, 2]), now: 0)
        #expect(binary.contains("3. keywords: the body is not text (image/tiff), none read"))
        #expect(binary[0].hasPrefix("decision: support (default)"))
    }
}
