import SwitchboardProtocol
import Synchronization

/// One rule of the ordered rule set: when every condition given holds, the contact goes to the
/// rule's queue with its priority, skills and service level. The first rule that matches wins;
/// when none does, the process steps decide (explicit process, intent, keywords, default).
public struct RoutingRule: Sendable, Equatable, Codable {
    /// Recorded with every delivery it routes (`deliveries.rule_id`): unique within the rule set.
    public var id: String
    public var when: RuleConditions
    /// A process, or a configured queue of one (`support.vip`).
    public var queue: String
    /// The task's priority (0–9), instead of the message's.
    public var priority: Int?
    /// Instead of the queue's, when given.
    public var skills: [String]?
    public var optionalSkills: [String]?
    /// Service-level target per channel and `default`, instead of the queue's (and its tiers').
    public var targetMs: [String: Int64]?

    public init(
        id: String, when: RuleConditions = RuleConditions(), queue: String, priority: Int? = nil, skills: [String]? = nil,
        optionalSkills: [String]? = nil, targetMs: [String: Int64]? = nil
    ) {
        self.id = id
        self.when = when
        self.queue = queue
        self.priority = priority
        self.skills = skills
        self.optionalSkills = optionalSkills
        self.targetMs = targetMs
    }

    enum CodingKeys: String, CodingKey {
        case id, when, queue, priority, skills
        case optionalSkills = "optional_skills"
        case targetMs = "target_ms"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        when = try container.decodeIfPresent(RuleConditions.self, forKey: .when) ?? RuleConditions()
        queue = try container.decode(String.self, forKey: .queue)
        priority = try container.decodeIfPresent(Int.self, forKey: .priority)
        skills = try container.decodeIfPresent([String].self, forKey: .skills)
        optionalSkills = try container.decodeIfPresent([String].self, forKey: .optionalSkills)
        targetMs = try container.decodeIfPresent([String: Int64].self, forKey: .targetMs)
        guard !id.isEmpty else { throw DecodingError.dataCorruptedError(forKey: .id, in: container, debugDescription: "a rule's id is empty") }
        if let priority, !(0...9).contains(priority) {
            throw DecodingError.dataCorruptedError(forKey: .priority, in: container, debugDescription: "priority must be 0 to 9")
        }
    }
}

/// What a rule looks at. Each condition given must hold; a list holds when any of its values does.
public struct RuleConditions: Sendable, Equatable, Codable {
    public var channel: [String]?
    /// The gateway's intent, any case.
    public var intent: [String]?
    /// The process the process steps choose (explicit, intent, keywords, default).
    public var process: [CRMProcess]?
    /// The task's language (the message's or detected); `pt` holds for `pt-BR`.
    public var language: [String]?
    /// Any of them starts a word of the body's first 4 KiB (folded as for process keywords).
    public var keywords: [String]?
    /// A regular expression found in the body's first 4 KiB of text; `(?i)` for any case.
    public var regex: String?
    /// The message's attributes have these values.
    public var attributes: [String: String]?
    /// What the customer the message resolves to must be: checked where the customer is known.
    public var customer: CustomerCondition

    public init(
        channel: [String]? = nil, intent: [String]? = nil, process: [CRMProcess]? = nil, language: [String]? = nil, keywords: [String]? = nil,
        regex: String? = nil, attributes: [String: String]? = nil, customer: CustomerCondition = CustomerCondition()
    ) {
        self.channel = channel
        self.intent = intent
        self.process = process
        self.language = language
        self.keywords = keywords
        self.regex = regex
        self.attributes = attributes
        self.customer = customer
    }

    enum CodingKeys: String, CodingKey {
        case channel, intent, process, language, keywords, regex, attributes, kind, segment, tier
        case customerAttributes = "customer_attributes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        channel = try container.oneOrMany(.channel)
        intent = try container.oneOrMany(.intent)
        process = try container.oneOrMany(.process)
        let languages: [String]? = try container.oneOrMany(.language)
        language = languages?.map { $0.lowercased() }
        keywords = try container.oneOrMany(.keywords)
        regex = try container.decodeIfPresent(String.self, forKey: .regex)
        attributes = try container.decodeIfPresent([String: String].self, forKey: .attributes)
        customer = CustomerCondition(
            kind: try container.oneOrMany(.kind), segment: try container.oneOrMany(.segment), tier: try container.oneOrMany(.tier),
            attributes: try container.decodeIfPresent([String: String].self, forKey: .customerAttributes))
        if let kinds = customer.kind, let unknown = kinds.first(where: { !["consumer", "partner"].contains($0) }) {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container, debugDescription: "kind '\(unknown)' is unknown; expected consumer or partner")
        }
        if let regex {
            do {
                _ = try BodyPattern(regex)
            } catch {
                throw DecodingError.dataCorruptedError(forKey: .regex, in: container, debugDescription: "regex does not compile: \(error)")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(channel, forKey: .channel)
        try container.encodeIfPresent(intent, forKey: .intent)
        try container.encodeIfPresent(process, forKey: .process)
        try container.encodeIfPresent(language, forKey: .language)
        try container.encodeIfPresent(keywords, forKey: .keywords)
        try container.encodeIfPresent(regex, forKey: .regex)
        try container.encodeIfPresent(attributes, forKey: .attributes)
        try container.encodeIfPresent(customer.kind, forKey: .kind)
        try container.encodeIfPresent(customer.segment, forKey: .segment)
        try container.encodeIfPresent(customer.tier, forKey: .tier)
        try container.encodeIfPresent(customer.attributes, forKey: .customerAttributes)
    }
}

/// What the customer must be for a rule (or a tier's target) to hold. The hub routes before it
/// knows the customer, so these are checked by the ingest statement, against the customer the
/// message resolves to (`swb_route_pick`); a new customer is a consumer of tier `standard`.
public struct CustomerCondition: Sendable, Equatable, Hashable {
    public var kind: [String]?
    public var segment: [String]?
    public var tier: [String]?
    /// `customers.attributes` has each of these keys with this string value.
    public var attributes: [String: String]?

    public init(kind: [String]? = nil, segment: [String]? = nil, tier: [String]? = nil, attributes: [String: String]? = nil) {
        self.kind = kind
        self.segment = segment
        self.tier = tier
        self.attributes = attributes
    }

    /// True when it asks nothing of the customer.
    public var isEmpty: Bool { kind == nil && segment == nil && tier == nil && attributes == nil }

    public func holds(for customer: CustomerFacts) -> Bool {
        if let kind, !kind.contains(customer.kind) { return false }
        if let segment, !(customer.segment.map(segment.contains) ?? false) { return false }
        if let tier, !tier.contains(customer.tier) { return false }
        if let attributes, !attributes.allSatisfy({ customer.attributes[$0.key] == $0.value }) { return false }
        return true
    }

    /// The members `swb_route_pick` reads: a list of values for kind, segment and tier, an object for attributes.
    public var json: [String: JSONValue] {
        var members: [String: JSONValue] = [:]
        if let kind { members["kind"] = .array(kind.map(JSONValue.string)) }
        if let segment { members["segment"] = .array(segment.map(JSONValue.string)) }
        if let tier { members["tier"] = .array(tier.map(JSONValue.string)) }
        if let attributes { members["attributes"] = .object(attributes.mapValues(JSONValue.string)) }
        return members
    }
}

/// What routing may know of a customer: `customers.kind`, `segment`, `value_tier` and the string values of `attributes`.
public struct CustomerFacts: Sendable, Equatable {
    public var kind: String
    public var segment: String?
    public var tier: String
    public var attributes: [String: String]

    public init(kind: String = "consumer", segment: String? = nil, tier: String = "standard", attributes: [String: String] = [:]) {
        self.kind = kind
        self.segment = segment
        self.tier = tier
        self.attributes = attributes
    }

    /// A customer the message makes: nothing is known of it yet.
    public static let new = CustomerFacts()
}

/// A rule's regular expression, compiled once. `Regex` is not `Sendable` (it compiles its program
/// lazily, in place), so the router's copy is used under a lock; a rule set has few of them.
final class BodyPattern: Sendable {
    let source: String
    private let regex: Mutex<Regex<AnyRegexOutput>>

    init(_ source: String) throws {
        self.source = source
        regex = Mutex(try Regex(source))
    }

    func matches(_ text: Substring) -> Bool { regex.withLock { text.contains($0) } }
}

extension KeyedDecodingContainer {
    /// A list, or one value standing for a list of one (`channel: sms`).
    func oneOrMany<Value: Decodable>(_ key: Key) throws -> [Value]? {
        if let one = try? decodeIfPresent(Value.self, forKey: key) { return [one] }
        return try decodeIfPresent([Value].self, forKey: key)
    }
}
