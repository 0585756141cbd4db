import SwitchboardProtocol

/// What a queue runs by, made once per rule set: its settings, its calendar compiled, the skills its tasks carry.
struct QueuePlan: Sendable {
    let settings: ProcessRules
    let calendar: BusinessCalendar.Compiled?
    let needs: TaskNeeds

    init(settings: ProcessRules) {
        self.settings = settings
        calendar = try? settings.calendar?.compiled()
        needs = TaskNeeds(skills: settings.skills, optionalSkills: settings.optionalSkills)
    }

    /// `target` after `now`, counted in business hours when the queue has a calendar.
    func deadline(_ target: Int64, from now: Int64) -> Int64 {
        guard let calendar else { return now + target }
        return calendar.deadline(from: now, adding: target)
    }
}

/// A rule ready to match: its keywords folded, its regular expression compiled, its queue's plan.
struct CompiledRule: Sendable {
    let rule: RoutingRule
    let plan: QueuePlan
    let process: CRMProcess
    let needs: TaskNeeds
    let intents: Set<String>?
    /// " keyword", folded, as UTF-8: found where a word starts.
    let keywords: [[UInt8]]?
    let pattern: BodyPattern?

    init(_ rule: RoutingRule, plan: QueuePlan) {
        self.rule = rule
        self.plan = plan
        process = RoutingRules.process(ofQueue: rule.queue) ?? .support
        needs = TaskNeeds(skills: rule.skills ?? plan.settings.skills, optionalSkills: rule.optionalSkills ?? plan.settings.optionalSkills)
        intents = rule.when.intent.map { Set($0.map { $0.lowercased() }) }
        keywords = rule.when.keywords.map { $0.map(TextFolding.fold).filter { !$0.isEmpty }.map { Array(" \($0)".utf8) } }
        pattern = rule.when.regex.flatMap { try? BodyPattern($0) }
    }
}

/// Which of a rule's conditions on the message does not hold (the first, in the order checked).
enum RuleMiss: Equatable {
    case channel, intent, attributes, language, process, keywords, regex

    var condition: String {
        switch self {
        case .channel: "channel"
        case .intent: "intent"
        case .attributes: "attributes"
        case .language: "language"
        case .process: "process"
        case .keywords: "keywords"
        case .regex: "regex"
        }
    }
}

/// What rules look at in a message, each worked out once and only when a rule asks.
struct MessageFacts {
    let message: Publish
    private(set) var language: String?
    private(set) var languageDetected = false
    private var folded: [UInt8]??
    private var text: Substring?
    private var chosen: (CRMProcess, String)?

    init(message: Publish) {
        self.message = message
        language = message.language?.lowercased()
        if language == nil, let words = foldedBody() {
            language = LanguageDetection.detect(utf8: message.body.prefix(Router.scannedBodyBytes), folded: words)
            languageDetected = language != nil
        }
    }

    /// The body's opening, folded (`TextFolding.foldedWords`); nil for a body that is not text.
    mutating func foldedBody() -> [UInt8]? {
        if let folded { return folded }
        let words = message.isText ? TextFolding.foldedWords(utf8: message.body.prefix(Router.scannedBodyBytes)) : nil
        folded = .some(words)
        return words
    }

    /// The body's opening as text, for regular expressions; nil for a body that is not text.
    mutating func bodyText() -> Substring? {
        guard message.isText else { return nil }
        if let text { return text }
        let opening = Substring(String(decoding: message.body.prefix(Router.scannedBodyBytes), as: UTF8.self))
        text = opening
        return opening
    }

    /// The process the process steps choose, and why.
    mutating func process(_ router: Router) -> (CRMProcess, String) {
        if let chosen { return chosen }
        // The body is folded only when neither an explicit process nor a known intent decides.
        let decidedEarly = message.process != nil || message.intent.map { router.intentIndex[$0.lowercased()] != nil } ?? false
        let words = decidedEarly ? nil : foldedBody()
        let choice = router.choose(message) { words }
        chosen = choice
        return choice
    }
}

extension Router {
    /// The first of the rule's conditions on the message that does not hold; nil when all do
    /// (its conditions on the customer are left to `RouteDecision.resolved(for:)` and the store).
    func miss(_ compiled: CompiledRule, _ facts: inout MessageFacts) -> RuleMiss? {
        let when = compiled.rule.when
        let message = facts.message
        if let channels = when.channel, !channels.contains(message.channel) { return .channel }
        if let intents = compiled.intents, !(message.intent.map { intents.contains($0.lowercased()) } ?? false) { return .intent }
        if let attributes = when.attributes, !attributes.allSatisfy({ message.attributes[$0.key] == $0.value }) { return .attributes }
        if let languages = when.language {
            guard let language = facts.language else { return .language }
            let base = language.split(separator: "-").first.map(String.init) ?? language
            if !languages.contains(language) && !languages.contains(base) { return .language }
        }
        if let processes = when.process, !processes.contains(facts.process(self).0) { return .process }
        if let keywords = compiled.keywords {
            guard let folded = facts.foldedBody(), keywords.contains(where: { Self.startsAWord($0, in: folded) }) else { return .keywords }
        }
        if when.regex != nil {
            // A pattern that did not compile (the rules file is checked, rules made in code are not) matches nothing.
            guard let pattern = compiled.pattern, let text = facts.bodyText(), pattern.matches(text) else { return .regex }
        }
        return nil
    }

    /// Whether `pattern` (" keyword") occurs in `folded`: the keyword starts one of its words.
    static func startsAWord(_ pattern: [UInt8], in folded: [UInt8]) -> Bool {
        guard pattern.count <= folded.count else { return false }
        return folded.withUnsafeBufferPointer { text in
            pattern.withUnsafeBufferPointer { wanted in
                for start in 0...(text.count - wanted.count) where text[start] == 0x20 {
                    var index = 1
                    while index < wanted.count, text[start + index] == wanted[index] { index += 1 }
                    if index == wanted.count { return true }
                }
                return false
            }
        }
    }
}
