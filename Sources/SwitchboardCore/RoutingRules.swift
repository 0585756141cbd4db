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

    public init(
        keywords: [String] = [], intents: [String] = [], targetMs: [String: Int64] = ["default": 3_600_000], skills: [String] = [],
        optionalSkills: [String] = [], calendar: BusinessCalendar? = nil, escalation: [EscalationStep] = [], answerMs: [String: Int64] = [:]
    ) {
        self.answerMs = answerMs
        self.calendar = calendar
        self.escalation = escalation
        self.keywords = keywords
        self.intents = intents
        self.targetMs = targetMs
        self.skills = skills
        self.optionalSkills = optionalSkills
    }

    enum CodingKeys: String, CodingKey {
        case keywords, intents, skills, calendar, escalation
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
        guard zip(escalation, escalation.dropFirst()).allSatisfy({ $0.atPercent < $1.atPercent }) else {
            throw DecodingError.dataCorruptedError(
                forKey: .escalation, in: container, debugDescription: "escalation steps must come in increasing at_percent")
        }
    }

    /// The service-level target for a channel.
    public func target(for channel: String) -> Int64 {
        targetMs[channel] ?? targetMs["default"] ?? 3_600_000
    }

    /// The deadline of a contact on `channel` that starts waiting at `startMs`: the target counted
    /// in business hours when the process has a calendar.
    public func deadline(for channel: String, from startMs: Int64) -> Int64 {
        guard let compiled = try? calendar?.compiled() else { return startMs + target(for: channel) }
        return compiled.deadline(from: startMs, adding: target(for: channel))
    }
}

/// The whole routing configuration: rules for each of the four processes, in a fixed order.
public struct RoutingRules: Sendable, Equatable, Codable {
    public var processes: [String: ProcessRules]
    /// Where contacts go that nothing else routes.
    public var defaultProcess: CRMProcess

    public init(processes: [String: ProcessRules], defaultProcess: CRMProcess = .support) {
        self.processes = processes
        self.defaultProcess = defaultProcess
    }

    enum CodingKeys: String, CodingKey {
        case processes
        case defaultProcess = "default_process"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        processes = try container.decodeIfPresent([String: ProcessRules].self, forKey: .processes) ?? [:]
        defaultProcess = try container.decodeIfPresent(CRMProcess.self, forKey: .defaultProcess) ?? .support
        if let unknown = processes.keys.first(where: { CRMProcess(rawValue: $0) == nil }) {
            throw DecodingError.dataCorruptedError(
                forKey: .processes, in: container,
                debugDescription: "unknown process '\(unknown)'; expected \(CRMProcess.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    public func rules(for process: CRMProcess) -> ProcessRules {
        processes[process.rawValue] ?? ProcessRules()
    }

    /// Each queue's escalation steps, for the dispatcher (queues without steps left out).
    public var escalationSteps: [String: [EscalationStep]] {
        processes.filter { !$0.value.escalation.isEmpty }.mapValues(\.escalation)
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
            intents: ["marketing", "unsubscribe", "survey", "campaign"],
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
            intents: ["support", "complaint", "billing", "technical"],
            targetMs: ["default": 7_200_000, "phone": 60_000, "chat": 60_000, "web": 900_000], optionalSkills: ["billing", "technical"]),
    ])
}
