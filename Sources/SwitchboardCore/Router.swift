import SwitchboardProtocol

/// A routing decision and the reason for it, stored with the delivery so it can be explained.
public struct RouteDecision: Sendable, Equatable {
    public var process: CRMProcess
    /// The queue the delivery goes to: the process's own, or a finer one of it a rule names.
    public var queue: String
    public var priority: Int
    /// Unix milliseconds by which the contact should be handled (received + service-level target).
    public var deadline: Int64
    /// Why: "explicit process", "intent 'billing'", "keywords: refund, возврат", "default".
    public var reason: String
    /// What the worker offered this contact must have and what ranks the eligible ones.
    public var needs: TaskNeeds
    /// Whether `needs.language` was detected from the body (the message did not say).
    public var languageDetected: Bool
    /// The id of the rule that decided; nil when the process steps did.
    public var rule: String?
    /// Decisions that come first for some customers (a rule on the customer, a tier's target), in
    /// order: the first whose condition the message's customer meets is taken instead of this one.
    public var alternatives: [Alternative]

    /// A decision for the customers that meet `condition`.
    public struct Alternative: Sendable, Equatable {
        public var condition: CustomerCondition
        public var decision: RouteDecision
    }

    public init(
        process: CRMProcess, queue: String, priority: Int, deadline: Int64, reason: String, needs: TaskNeeds = .none,
        languageDetected: Bool = false, rule: String? = nil, alternatives: [Alternative] = []
    ) {
        self.rule = rule
        self.alternatives = alternatives
        self.process = process
        self.queue = queue
        self.priority = priority
        self.deadline = deadline
        self.reason = reason
        self.needs = needs
        self.languageDetected = languageDetected
    }

    /// The decision for a message of this customer: the first alternative it meets, else this one.
    public func resolved(for customer: CustomerFacts) -> RouteDecision {
        var decision = alternatives.first { $0.condition.holds(for: customer) }?.decision ?? self
        decision.alternatives = []
        return decision
    }
}

/// Maps a message to a CRM process: explicit process, else intent, else keywords, else the default.
/// Pure: the same rules, message and clock give the same decision.
public struct Router: Sendable {
    /// Keywords are looked for in the first this many bytes of a text body: the opening says what a
    /// message is about, and a long body (an e-mail thread, a pasted log) must not make routing slow.
    public static let scannedBodyBytes = 4096

    public let rules: RoutingRules
    /// Each process's keywords, folded, as the UTF-8 bytes of " keyword" (a space marks the word start).
    let keywordIndex: [(process: CRMProcess, keywords: [(text: String, pattern: [UInt8])])]
    /// Where each keyword sits in `keywordIndex`, by the first two bytes of its word (its first
    /// byte and 0xFF, which UTF-8 never uses, for a one-byte keyword): a word of the text can
    /// only start a keyword filed under its own first bytes.
    private let keywordsByStart: [UInt16: [(process: Int, keyword: Int)]]
    let keywordCount: Int
    let intentIndex: [String: CRMProcess]
    /// What each queue runs by, its calendar compiled and its tasks' skills made once.
    let plans: [String: QueuePlan]
    /// The ordered rules, ready to match.
    let compiledRules: [CompiledRule]

    public init(rules: RoutingRules) {
        self.rules = rules
        keywordIndex = CRMProcess.allCases.map { process in
            (process, rules.rules(for: process).keywords.map(TextFolding.fold).filter { !$0.isEmpty }.map { ($0, Array(" \($0)".utf8)) })
        }
        var byStart: [UInt16: [(process: Int, keyword: Int)]] = [:]
        for (process, entry) in keywordIndex.enumerated() {
            for (keyword, (_, pattern)) in entry.keywords.enumerated() {
                byStart[Self.startKey(pattern[1], pattern.count > 2 ? pattern[2] : 0xFF), default: []].append((process, keyword))
            }
        }
        keywordsByStart = byStart
        keywordCount = keywordIndex.map(\.keywords.count).max() ?? 0
        var intents: [String: CRMProcess] = [:]
        for process in CRMProcess.allCases {
            for intent in rules.rules(for: process).intents where intents[intent.lowercased()] == nil {
                intents[intent.lowercased()] = process
            }
        }
        intentIndex = intents
        var plans: [String: QueuePlan] = [:]
        for queue in rules.queueNames { plans[queue] = QueuePlan(settings: rules.settings(forQueue: queue)) }
        self.plans = plans
        compiledRules = rules.rules.map { CompiledRule($0, plan: plans[$0.queue] ?? QueuePlan(settings: ProcessRules())) }
    }

    /// Routes one message received at `now` (Unix milliseconds). Rules on the customer, and
    /// targets by value tier, come as the decision's alternatives: the customer is known only
    /// when the message is stored.
    public func route(_ message: Publish, now: Int64) -> RouteDecision {
        var facts = MessageFacts(message: message)
        let language = facts.language
        var alternatives: [RouteDecision.Alternative] = []
        var decided: (rule: CompiledRule, decision: RouteDecision)?
        for rule in compiledRules where miss(rule, &facts) == nil {
            let decision = decide(rule, message, language: language, now: now)
            if rule.rule.when.customer.isEmpty {
                decided = (rule, decision)
                break
            }
            alternatives += withTiers(decision, rule.rule.when.customer, rule: rule.rule, message, now: now)
        }
        var base: RouteDecision
        if let decided {
            base = decided.decision
        } else {
            let (process, reason) = facts.process(self)
            let plan = plans[process.rawValue] ?? QueuePlan(settings: ProcessRules())
            var needs = plan.needs
            needs.language = language
            base = RouteDecision(
                process: process, queue: process.rawValue, priority: message.priority,
                deadline: plan.deadline(plan.settings.target(for: message.channel), from: now), reason: reason, needs: needs)
        }
        base.languageDetected = facts.languageDetected
        if decided?.rule.rule.targetMs == nil {
            alternatives += tierVariants(of: base, CustomerCondition(), message, now: now)
        }
        base.alternatives = alternatives
        for index in base.alternatives.indices { base.alternatives[index].decision.languageDetected = facts.languageDetected }
        return base
    }

    /// A rule's decision.
    private func decide(_ rule: CompiledRule, _ message: Publish, language: String?, now: Int64) -> RouteDecision {
        var needs = rule.needs
        needs.language = language
        let target = rule.rule.targetMs.flatMap { $0[message.channel] ?? $0["default"] } ?? rule.plan.settings.target(for: message.channel)
        return RouteDecision(
            process: rule.process, queue: rule.rule.queue, priority: rule.rule.priority ?? message.priority,
            deadline: rule.plan.deadline(target, from: now), reason: "rule '\(rule.rule.id)'", needs: needs, rule: rule.rule.id)
    }

    /// A customer rule's decision, preceded by its variants for the value tiers its queue has targets for.
    private func withTiers(
        _ decision: RouteDecision, _ condition: CustomerCondition, rule: RoutingRule, _ message: Publish, now: Int64
    ) -> [RouteDecision.Alternative] {
        let variants = rule.targetMs == nil ? tierVariants(of: decision, condition, message, now: now) : []
        return variants + [RouteDecision.Alternative(condition: condition, decision: decision)]
    }

    /// The decision again for each value tier its queue has a target for (the channel's or a
    /// default), with that deadline, for customers that also meet `condition`.
    private func tierVariants(
        of decision: RouteDecision, _ condition: CustomerCondition, _ message: Publish, now: Int64
    ) -> [RouteDecision.Alternative] {
        guard let plan = plans[decision.queue], !plan.settings.tiers.isEmpty else { return [] }
        var variants: [RouteDecision.Alternative] = []
        for tier in plan.settings.tiers.keys.sorted() where condition.tier?.contains(tier) ?? true {
            guard let targets = plan.settings.tiers[tier]?.targetMs, targets[message.channel] ?? targets["default"] != nil else { continue }
            var variant = decision
            variant.deadline = plan.deadline(plan.settings.target(for: message.channel, tier: tier), from: now)
            variant.reason += ", tier \(tier) target"
            var tierCondition = condition
            tierCondition.tier = [tier]
            variants.append(RouteDecision.Alternative(condition: tierCondition, decision: variant))
        }
        return variants
    }

    func choose(_ message: Publish, _ foldedBody: () -> [UInt8]?) -> (CRMProcess, String) {
        if let process = message.process { return (process, "explicit process") }
        if let intent = message.intent, let process = intentIndex[intent.lowercased()] {
            return (process, "intent '\(intent)'")
        }
        if let folded = foldedBody(), let (process, reason) = keywordMatch(folded) {
            return (process, reason)
        }
        return (rules.defaultProcess, "default")
    }

    /// The process whose keywords start the most words of `folded` (as made by
    /// `TextFolding.foldedWords`), and the reason naming them; nil if no keyword does. The flags
    /// of the keywords found live on the stack: routing runs once per message.
    private func keywordMatch(_ folded: [UInt8]) -> (CRMProcess, String)? {
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: keywordIndex.count * keywordCount) { found in
            found.initialize(repeating: false)
            markKeywords(folded, in: found)
            var best: (process: Int, count: Int)?
            for process in keywordIndex.indices {
                let count = found[process * keywordCount..<(process + 1) * keywordCount].lazy.filter { $0 }.count
                if count > 0, count > (best?.count ?? 0) { best = (process, count) }
            }
            guard let best else { return nil }
            var reason = "keywords: "
            reason.reserveCapacity(64)
            var first = true
            for (keyword, entry) in keywordIndex[best.process].keywords.enumerated() where found[best.process * keywordCount + keyword] {
                if !first { reason += ", " }
                reason += entry.text
                first = false
            }
            return (keywordIndex[best.process].process, reason)
        }
    }

    /// Marks which keywords start at a word of `folded`, as flags by process and keyword: only the
    /// keywords filed under each word's first bytes are compared.
    func markKeywords(_ folded: [UInt8], in found: UnsafeMutableBufferPointer<Bool>) {
        folded.withUnsafeBufferPointer { text in
            for start in text.indices where text[start] == 0x20 && start + 1 < text.count {
                let second = start + 2 < text.count ? text[start + 2] : 0x20
                // Keywords of two bytes or more filed under this word's first two, then those of one byte.
                for pass in 0..<2 {
                    let key = Self.startKey(text[start + 1], pass == 0 ? second : 0xFF)
                    for (process, keyword) in keywordsByStart[key] ?? []
                    where !found[process * keywordCount + keyword] {
                        let pattern = keywordIndex[process].keywords[keyword].pattern
                        if start + pattern.count <= text.count, pattern.indices.allSatisfy({ text[start + $0] == pattern[$0] }) {
                            found[process * keywordCount + keyword] = true
                        }
                    }
                }
            }
        }
    }

    private static func startKey(_ first: UInt8, _ second: UInt8) -> UInt16 { UInt16(first) << 8 | UInt16(second) }
}

/// Case and script folding so keywords match however a customer typed them.
public enum TextFolding {
    /// Lower-cases, maps Arabic yeh/kaf to their Persian forms, turns ZWNJ and punctuation into spaces.
    public static func fold(_ text: String) -> String {
        String(decoding: foldedWords(text).dropFirst(), as: UTF8.self)
    }

    /// The folded text as UTF-8: its words separated by single spaces, each word preceded by one
    /// (so " keyword" finds a word start). ASCII is folded byte by byte; other scalars by their
    /// Unicode properties, which is what made folding the router's main cost before.
    public static func foldedWords(_ text: String) -> [UInt8] {
        var words = FoldedWords(capacity: text.utf8.count + 1)
        for scalar in text.unicodeScalars { fold(scalar, into: &words) }
        return words.bytes
    }

    /// The same of text given as UTF-8, read in place: what `foldedWords(String(decoding:
    /// utf8, as: UTF8.self))` gives, without the string. An invalid sequence (a cut through a
    /// multi-byte character) is U+FFFD there, which folds to a space.
    public static func foldedWords(utf8: ArraySlice<UInt8>) -> [UInt8] {
        var words = FoldedWords(capacity: utf8.count + 1)
        var bytes = utf8.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&bytes) {
            case .scalarValue(let scalar): fold(scalar, into: &words)
            case .error: words.append(separator)
            case .emptyInput: return words.bytes
            }
        }
    }

    private static func fold(_ scalar: Unicode.Scalar, into words: inout FoldedWords) {
        if scalar.isASCII {
            let byte = UInt8(scalar.value)
            switch byte {
            case 0x41...0x5A: words.append(UInt32(byte + 0x20))
            case 0x61...0x7A, 0x30...0x39: words.append(UInt32(byte))
            default: words.append(separator)
            }
            return
        }
        let known = scalar.value < 0x800 ? twoByteFolds[Int(scalar.value) - 0x80] : unlisted
        if known != unlisted {
            words.append(known)
            return
        }
        foldByProperties(scalar) { words.append($0) }
    }

    /// Folded text being written: letters as UTF-8, a space before each word. A struct changed in
    /// place, not variables captured by a local function, which Swift checks for exclusive access
    /// on every letter (a tenth of the router's time in a `perf record` of the hub).
    private struct FoldedWords {
        var bytes: [UInt8] = []
        var spaceDue = true

        init(capacity: Int) { bytes.reserveCapacity(capacity) }

        /// A folded scalar, or `separator`.
        mutating func append(_ folded: UInt32) {
            guard folded != separator else {
                spaceDue = true
                return
            }
            if spaceDue {
                bytes.append(0x20)
                spaceDue = false
            }
            if folded < 0x80 {
                bytes.append(UInt8(folded))
            } else {
                UTF8.encode(Unicode.Scalar(folded)!) { bytes.append($0) }
            }
        }
    }

    /// What a non-ASCII scalar folds to, by its Unicode properties: each scalar of its lower-case
    /// mapping as a letter, or `separator` (ZWNJ, punctuation, spaces of every kind).
    private static func foldByProperties(_ scalar: Unicode.Scalar, _ emit: (UInt32) -> Void) {
        for lower in scalar.properties.lowercaseMapping.unicodeScalars {
            switch lower {
            case "\u{064A}", "\u{0649}": emit(0x06CC)
            case "\u{0643}": emit(0x06A9)
            case "\u{0451}": emit(0x0435)
            default:
                let letterLike =
                    lower.properties.isAlphabetic || lower.properties.numericType != nil || lower.properties.generalCategory == .nonspacingMark
                emit(letterLike ? lower.value : separator)
            }
        }
    }

    /// How each scalar from U+0080 to U+07FF folds (Latin, Greek, Cyrillic, Armenian, Hebrew,
    /// Arabic and Persian letters), worked out once by `foldByProperties`: the one scalar it
    /// becomes, `separator`, or `unlisted` when it becomes several (those take the slow path).
    /// Property lookups per scalar were most of the router's time on non-Latin text.
    private static let twoByteFolds: [UInt32] = (UInt32(0x80)..<0x800).map { value in
        var folded: [UInt32] = []
        foldByProperties(Unicode.Scalar(value)!) { folded.append($0) }
        return folded.count == 1 ? folded[0] : unlisted
    }

    private static let separator: UInt32 = 0
    private static let unlisted: UInt32 = .max
}
