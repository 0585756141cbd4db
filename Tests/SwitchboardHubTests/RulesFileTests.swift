import SwitchboardConfig
import SwitchboardCore
import Testing

@Suite("switchboard rules check: a rules file's problems with their lines")
struct RulesFileTests {
    @Test("a routing section alone and a whole configuration both load")
    func loads() throws {
        let section = """
            default_process: sales
            processes:
              support:
                keywords: [help, помощь]
                skills: [support]
            """
        #expect(try RulesFile.load(yaml: section).defaultProcess == .sales)
        #expect(
            try RulesFile.load(yaml: "security: off\nrouting:\n" + section.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
                .rules(for: .support).skills == ["support"])
    }

    @Test(
        "each problem names its line",
        arguments: [
            ("processes:\n  support:\n    keywords: [help\n", 4, "flow sequence"),
            ("processes:\n  support:\n    keywords: [help]\n  billing:\n    intents: [x]\n", 1, "unknown process 'billing'"),
            ("processes:\n  support:\n    target_ms: {default: soon}\n", 3, "target_ms"),
            (
                "processes:\n  sales:\n    intents: [a]\n  support:\n    escalation:\n      - {at_percent: 80, overflow_to: nowhere}\n", 6,
                "overflow_to 'nowhere'"
            ),
            ("processes:\n  support:\n    calendar:\n      time_zone: Mars/Base\n      hours: {mon: \"09:00-17:00\"}\n", 4, "unknown time zone"),
        ])
    func problems(_ yaml: String, _ line: Int, _ words: String) {
        do {
            _ = try RulesFile.load(yaml: yaml)
            Issue.record("accepted")
        } catch {
            #expect(error.message.contains(words), "\(error)")
            #expect(abs(error.line - line) <= 1, "\(error)")
        }
    }
}
