import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("A task's language: the message's, else detected from its body")
struct LanguageDetectionTests {
    func route(_ text: String, language: String? = nil, contentType: String = Publish.defaultContentType, rules: RoutingRules = .standard)
        -> RouteDecision
    {
        Router(rules: rules).route(
            Publish(messageID: "m", channel: "sms", occurredAt: 0, language: language, contentType: contentType, body: Array(text.utf8)), now: 0)
    }

    @Test(
        "English, Persian, Russian, Arabic, Ukrainian, Greek and Hebrew are told by their letters",
        arguments: [
            ("My password does not work, I need help", "en"),
            ("اینترنت کار نمی‌کند، مشکل دارم", "fa"),
            ("Не работает приложение, ошибка", "ru"),
            ("أريد استرداد المال من فضلك", "ar"),
            ("Не працює застосунок, допоможіть", "uk"),
            ("Το προϊόν δεν λειτουργεί", "el"),
            ("המוצר לא עובד", "he"),
            // Mostly Russian, with a Latin product name.
            ("Ошибка в приложении SuperApp на телефоне", "ru"),
        ])
    func detected(_ text: String, _ expected: String) {
        let decision = route(text)
        #expect(decision.needs.language == expected)
        #expect(decision.languageDetected)
    }

    @Test("Latin letters without an English word, a binary body and an empty one have no language: any worker may take them")
    func unknown() {
        #expect(route("Bonjour, mon colis est perdu").needs.language == nil)
        #expect(route("").needs.language == nil)
        #expect(route("12345 !!!").needs.language == nil)
        #expect(route("Не работает", contentType: "application/octet-stream").needs.language == nil)
    }

    @Test("the language the message gives wins over the body's letters, lower-cased")
    func declaredWins() {
        let decision = route("Не работает приложение", language: "FA")
        #expect(decision.needs.language == "fa")
        #expect(!decision.languageDetected)
    }

    @Test("a process's required and optional skills travel with its tasks")
    func skillsFromRules() {
        var rules = RoutingRules.standard
        rules.processes["support"]?.skills = ["support", "billing", "support"]
        rules.processes["support"]?.optionalSkills = ["refunds"]
        let decision = route("I need help with a refund")
        #expect(decision.needs.skills.isEmpty)
        let needing = route("I need help with a refund", rules: rules)
        #expect(needing.process == .support)
        #expect(needing.needs.skills == ["billing", "support"])
        #expect(needing.needs.optionalSkills == ["refunds"])
    }
}
