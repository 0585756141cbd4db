import SwitchboardProtocol

/// What routes contacts to one CRM process, and how fast that process must answer.
public struct ProcessRules: Sendable, Equatable, Codable {
    /// Words or phrases that point a text to this process, in any language.
    public var keywords: [String]
    /// Gateway intents (IVR menu choices, web form names) that mean this process.
    public var intents: [String]
    /// Service-level target in milliseconds, per channel; `default` for channels not named.
    public var targetMs: [String: Int64]
    /// Speed-of-answer target (received until first offered) in milliseconds, per channel and
    /// `default`; measured by the analytics views, empty: none.
    public var answerMs: [String: Int64]
    /// Skills a worker must have, every one of them, to be offered this process's contacts.
    public var skills: [String]
    /// Skills that rank the eligible workers: the one with more of them is offered first.
    public var optionalSkills: [String]
    /// Business hours: the service-level time runs only while open. Nil: always open.
    public var calendar: BusinessCalendar?
    /// What happens to a task still waiting as its service-level time runs out, in order.
    public var escalation: [EscalationStep]
    /// Targets of customers of a value tier (`gold`), instead of `target_ms` and `answer_ms`.
    public var tiers: [String: TierTargets]

    public init(
        keywords: [String] = [], intents: [String] = [], targetMs: [String: Int64] = ["default": 3_600_000], skills: [String] = [],
        optionalSkills: [String] = [], calendar: BusinessCalendar? = nil, escalation: [EscalationStep] = [], answerMs: [String: Int64] = [:],
        tiers: [String: TierTargets] = [:]
    ) {
        self.answerMs = answerMs
        self.tiers = tiers
        self.calendar = calendar
        self.escalation = escalation
        self.keywords = keywords
        self.intents = intents
        self.targetMs = targetMs
        self.skills = skills
        self.optionalSkills = optionalSkills
    }

    enum CodingKeys: String, CodingKey {
        case keywords, intents, skills, calendar, escalation, tiers
        case targetMs = "target_ms"
        case answerMs = "answer_ms"
        case optionalSkills = "optional_skills"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        keywords = try container.decodeIfPresent([String].self, forKey: .keywords) ?? []
        intents = try container.decodeIfPresent([String].self, forKey: .intents) ?? []
        targetMs = try container.decodeIfPresent([String: Int64].self, forKey: .targetMs) ?? ["default": 3_600_000]
        answerMs = try container.decodeIfPresent([String: Int64].self, forKey: .answerMs) ?? [:]
        skills = try container.decodeIfPresent([String].self, forKey: .skills) ?? []
        optionalSkills = try container.decodeIfPresent([String].self, forKey: .optionalSkills) ?? []
        calendar = try container.decodeIfPresent(BusinessCalendar.self, forKey: .calendar)
        escalation = try container.decodeIfPresent([EscalationStep].self, forKey: .escalation) ?? []
        tiers = try container.decodeIfPresent([String: TierTargets].self, forKey: .tiers) ?? [:]
        guard zip(escalation, escalation.dropFirst()).allSatisfy({ $0.atPercent < $1.atPercent }) else {
            throw DecodingError.dataCorruptedError(
                forKey: .escalation, in: container, debugDescription: "escalation steps must come in increasing at_percent")
        }
    }

    /// The service-level target for a channel.
    public func target(for channel: String) -> Int64 {
        targetMs[channel] ?? targetMs["default"] ?? 3_600_000
    }

    /// The service-level target for a channel and a customer of `tier`: the tier's, when it has one for the channel or a default.
    public func target(for channel: String, tier: String) -> Int64 {
        guard let targets = tiers[tier]?.targetMs, let target = targets[channel] ?? targets["default"] else { return target(for: channel) }
        return target
    }

    /// This process's settings with a queue's own laid over them: what a queue of the process runs by.
    func overlaid(with queue: QueueSettings) -> ProcessRules {
        var rules = self
        if let value = queue.targetMs { rules.targetMs = value }
        if let value = queue.answerMs { rules.answerMs = value }
        if let value = queue.skills { rules.skills = value }
        if let value = queue.optionalSkills { rules.optionalSkills = value }
        if let value = queue.calendar { rules.calendar = value }
        if let value = queue.escalation { rules.escalation = value }
        if let value = queue.tiers { rules.tiers = value }
        return rules
    }

    /// The deadline of a contact on `channel` that starts waiting at `startMs`: the target counted
    /// in business hours when the process has a calendar.
    public func deadline(for channel: String, from startMs: Int64) -> Int64 {
        guard let compiled = try? calendar?.compiled() else { return startMs + target(for: channel) }
        return compiled.deadline(from: startMs, adding: target(for: channel))
    }
}

/// The whole routing configuration: settings for each of the four processes and for the queues
/// finer than them, and the ordered rules that send contacts to those queues.
public struct RoutingRules: Sendable, Equatable, Codable {
    public var processes: [String: ProcessRules]
    /// Where contacts go that nothing else routes.
    public var defaultProcess: CRMProcess
    /// Queues finer than the processes, by name: `<process>.<name>` (`support.vip`). Each runs by
    /// its process's settings, with those it gives instead.
    public var queues: [String: QueueSettings]
    /// Tried in order before the process steps; the first that matches decides.
    public var rules: [RoutingRule]

    public init(
        processes: [String: ProcessRules], defaultProcess: CRMProcess = .support, queues: [String: QueueSettings] = [:], rules: [RoutingRule] = []
    ) {
        self.processes = processes
        self.defaultProcess = defaultProcess
        self.queues = queues
        self.rules = rules
    }

    enum CodingKeys: String, CodingKey {
        case processes, queues, rules
        case defaultProcess = "default_process"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        processes = try container.decodeIfPresent([String: ProcessRules].self, forKey: .processes) ?? [:]
        defaultProcess = try container.decodeIfPresent(CRMProcess.self, forKey: .defaultProcess) ?? .support
        queues = try container.decodeIfPresent([String: QueueSettings].self, forKey: .queues) ?? [:]
        rules = try container.decodeIfPresent([RoutingRule].self, forKey: .rules) ?? []
        func problem(_ path: [any CodingKey], _ description: String) -> DecodingError {
            .dataCorrupted(DecodingError.Context(codingPath: container.codingPath + path, debugDescription: description))
        }
        if let unknown = processes.keys.first(where: { CRMProcess(rawValue: $0) == nil }) {
            throw problem(
                [CodingKeys.processes], "unknown process '\(unknown)'; expected \(CRMProcess.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for name in queues.keys.sorted() where Self.process(ofQueue: name) == nil || CRMProcess(rawValue: name) != nil {
            throw problem(
                [CodingKeys.queues, AnyKey(name)],
                "queue '\(name)' must be named <process>.<name>, of letters, digits, '_' and '-' (support.vip, field_service.north)")
        }
        let names = Set(queueNames)
        var ids: Set<String> = []
        for (index, rule) in rules.enumerated() {
            guard ids.insert(rule.id).inserted else {
                throw problem([CodingKeys.rules, AnyKey(index), AnyKey("id")], "rule id '\(rule.id)' is used twice")
            }
            guard names.contains(rule.queue) else {
                throw problem(
                    [CodingKeys.rules, AnyKey(index), AnyKey("queue")],
                    "queue '\(rule.queue)' does not exist; expected \(queueNames.joined(separator: ", "))")
            }
        }
        for queue in queueNames {
            for (index, step) in settings(forQueue: queue).escalation.enumerated() {
                if let target = step.overflowTo, !names.contains(target) {
                    let place: [any CodingKey] =
                        queues[queue]?.escalation != nil
                        ? [CodingKeys.queues, AnyKey(queue), AnyKey("escalation"), AnyKey(index)]
                        : [CodingKeys.processes, AnyKey(queue), AnyKey("escalation"), AnyKey(index)]
                    throw problem(place, "overflow_to '\(target)' is not a queue; expected \(queueNames.joined(separator: ", "))")
                }
            }
        }
    }

    public func rules(for process: CRMProcess) -> ProcessRules {
        processes[process.rawValue] ?? ProcessRules()
    }

    /// The four processes' queues, then the configured ones, by name.
    public var queueNames: [String] { CRMProcess.allCases.map(\.rawValue) + queues.keys.sorted() }

    /// The process a queue name belongs to: the name itself, or what comes before its first dot,
    /// when what follows is a name of letters, digits, `_` and `-`.
    public static func process(ofQueue name: String) -> CRMProcess? {
        guard let dot = name.firstIndex(of: ".") else { return CRMProcess(rawValue: name) }
        let rest = name[name.index(after: dot)...]
        guard !rest.isEmpty, rest.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" })
        else { return nil }
        return CRMProcess(rawValue: String(name[..<dot]))
    }

    /// What a queue runs by: its process's settings, with a configured queue's own instead. Nil for a queue that does not exist.
    public func settings(ofQueue queue: String) -> ProcessRules? {
        guard let process = Self.process(ofQueue: queue) else { return nil }
        if queue == process.rawValue { return rules(for: process) }
        return queues[queue].map { rules(for: process).overlaid(with: $0) }
    }

    /// `settings(ofQueue:)` of a queue that exists.
    func settings(forQueue queue: String) -> ProcessRules { settings(ofQueue: queue) ?? ProcessRules() }

    /// Each queue's escalation steps, for the dispatcher (queues without steps left out).
    public var escalationSteps: [String: [EscalationStep]] {
        var steps: [String: [EscalationStep]] = [:]
        for queue in queueNames {
            let escalation = settings(forQueue: queue).escalation
            if !escalation.isEmpty { steps[queue] = escalation }
        }
        return steps
    }

    /// The built-in rule set: English, Persian and Russian keywords for each process.
    public static let standard = RoutingRules(processes: [
        "sales": ProcessRules(
            keywords: [
                "buy", "purchase", "price", "quote", "order", "upgrade", "discount", "خرید", "قیمت", "سفارش", "پیش‌فاکتور", "купить", "цена", "заказ",
                "стоимость", "скидка",
            ],
            intents: ["sales", "purchase", "quote", "order"],
            targetMs: ["default": 3_600_000, "phone": 120_000, "chat": 120_000, "web": 600_000]),
        "marketing": ProcessRules(
            keywords: [
                "newsletter", "unsubscribe", "campaign", "promotion", "offer", "survey", "خبرنامه", "لغو اشتراک", "تخفیف ویژه", "جشنواره", "рассылка",
                "отписаться", "акция", "опрос",
            ],
            intents: ["marketing", "unsubscribe", "survey", "campaign", "csat", "nps"],
            targetMs: ["default": 86_400_000]),
        "field_service": ProcessRules(
            keywords: [
                "technician", "repair", "install", "installation", "visit", "broken", "onsite", "تعمیر", "نصب", "تکنسین", "خراب", "ремонт",
                "установка", "мастер", "сломал", "выезд",
            ],
            intents: ["field_service", "repair", "installation", "appointment"],
            targetMs: ["default": 14_400_000, "phone": 600_000], optionalSkills: ["electrical", "plumbing", "heating"]),
        "support": ProcessRules(
            keywords: [
                "help", "problem", "error", "complaint", "refund", "not working", "password", "پشتیبانی", "مشکل", "شکایت", "بازپرداخت", "کار نمی‌کند",
                "помощь", "проблема", "жалоба", "возврат", "не работает", "ошибка",
            ],
            intents: ["support", "complaint", "return", "billing", "technical"],
            targetMs: ["default": 7_200_000, "phone": 60_000, "chat": 60_000, "web": 900_000], optionalSkills: ["billing", "technical"]),
    ])
}

/// A queue's own settings (`routing.queues`); those not given are its process's.
public struct QueueSettings: Sendable, Equatable, Codable {
    public var targetMs: [String: Int64]?
    public var answerMs: [String: Int64]?
    public var skills: [String]?
    public var optionalSkills: [String]?
    public var calendar: BusinessCalendar?
    public var escalation: [EscalationStep]?
    public var tiers: [String: TierTargets]?

    public init(
        targetMs: [String: Int64]? = nil, answerMs: [String: Int64]? = nil, skills: [String]? = nil, optionalSkills: [String]? = nil,
        calendar: BusinessCalendar? = nil, escalation: [EscalationStep]? = nil, tiers: [String: TierTargets]? = nil
    ) {
        self.targetMs = targetMs
        self.answerMs = answerMs
        self.skills = skills
        self.optionalSkills = optionalSkills
        self.calendar = calendar
        self.escalation = escalation
        self.tiers = tiers
    }

    enum CodingKeys: String, CodingKey {
        case skills, calendar, escalation, tiers
        case targetMs = "target_ms"
        case answerMs = "answer_ms"
        case optionalSkills = "optional_skills"
    }
}

/// The service-level targets of a value tier, per channel and `default`; a channel neither names
/// nor defaults keeps the queue's target.
public struct TierTargets: Sendable, Equatable, Codable {
    public var targetMs: [String: Int64]?
    public var answerMs: [String: Int64]?

    public init(targetMs: [String: Int64]? = nil, answerMs: [String: Int64]? = nil) {
        self.targetMs = targetMs
        self.answerMs = answerMs
    }

    enum CodingKeys: String, CodingKey {
        case targetMs = "target_ms"
        case answerMs = "answer_ms"
    }
}

/// A coding key made at run time: a map's key or a list's index, to place a problem found after decoding.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { stringValue = string }
    init(_ index: Int) {
        stringValue = "\(index)"
        intValue = index
    }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.init(intValue) }
}

extension Decoder {
    /// Refuses the keys a section of the configuration does not have: a misspelt one would
    /// otherwise be ignored, and its setting silently left at its default.
    public func refuseUnknownKeys<Key: CodingKey & CaseIterable>(_ known: Key.Type) throws {
        let names = known.allCases.map(\.stringValue)
        let container = try container(keyedBy: AnyKey.self)
        if let unknown = container.allKeys.first(where: { !names.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(
                forKey: unknown, in: container,
                debugDescription: "unknown key '\(unknown.stringValue)'; expected one of \(names.sorted().joined(separator: ", "))")
        }
    }
}
