/// What a customer said of us, explicitly: a score, a survey's answers, a return or a complaint.
/// It comes as a PUBLISH's `feedback` (the customer sent it through a channel) or with a worker's
/// DONE (the customer said it to the agent); see protocols/gateway.md and protocols/worker.md.
public struct Feedback: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Customer satisfaction, `score` 1 (very unhappy) to 5 (very happy).
        case csat
        /// Net promoter, `score` 0 to 10: "would you recommend us".
        case nps
        /// Several questions: `answers`, and an optional overall `score` 1 to 5.
        case survey
        /// Goods sent back: an optional `category` (the reason).
        case `return`
        /// A complaint: its `category` is required; it opens a complaint that a worker's DONE
        /// with a resolution closes.
        case complaint
    }

    public var kind: Kind
    public var score: Int?
    public var category: String?
    /// A survey's answers: question → integer or string.
    public var answers: [String: JSONValue]
    /// The interaction the feedback is about (an id from an earlier ACK), when the channel knows it.
    public var about: Int64?

    public init(kind: Kind, score: Int? = nil, category: String? = nil, answers: [String: JSONValue] = [:], about: Int64? = nil) {
        self.kind = kind
        self.score = score
        self.category = category
        self.answers = answers
        self.about = about
    }

    /// The score's range for a kind; nil when the kind has no score.
    public static func scoreRange(of kind: Kind) -> ClosedRange<Int64>? {
        switch kind {
        case .csat, .survey: 1...5
        case .nps: 0...10
        case .return, .complaint: nil
        }
    }

    /// As it is written on the wire and passed to PostgreSQL: members in sorted order.
    public var json: JSONValue {
        var members: [String: JSONValue] = ["type": .string(kind.rawValue)]
        if let score { members["score"] = .integer(Int64(score)) }
        if let category { members["category"] = .string(category) }
        if !answers.isEmpty { members["answers"] = .object(answers) }
        if let about { members["about"] = .integer(about) }
        return .object(members)
    }

    static let fieldNames: Set<String> = ["type", "score", "category", "answers", "about"]

    /// Reads and checks a `feedback` object; every fault is `invalid_field` naming the member.
    static func read(_ value: JSONValue, in header: HeaderReader) throws(ProtocolError) -> Feedback {
        let command = header.command + " feedback"
        guard case .object(let members) = value else {
            throw header.failure(.invalidField, "\(header.command) field 'feedback' must be an object, got \(value.typeName)")
        }
        if let unknown = members.keys.sorted().first(where: { !fieldNames.contains($0) }) {
            throw header.failure(.invalidField, "\(command) member '\(unknown)' is unknown; expected \(fieldNames.sorted().joined(separator: ", "))")
        }
        let reader = HeaderReader(command: command, members: members, messageID: header.messageID)
        let name = try reader.string("type", maxBytes: 16)
        guard let kind = Kind(rawValue: name) else {
            throw header.failure(
                .invalidField, "\(command) type '\(name)' is unknown; expected \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var score: Int?
        if let range = scoreRange(of: kind) {
            score = try reader.optionalInteger("score", in: range).map(Int.init)
            if score == nil, kind != .survey { throw header.failure(.missingField, "\(command) of type \(name) needs 'score' (\(range))") }
        } else if members["score"] != nil, members["score"] != .null {
            throw header.failure(.invalidField, "\(command) of type \(name) takes no 'score'")
        }
        let category = try reader.optionalString("category", maxBytes: 64)
        if let category { try reader.checkIdentifier(category, field: "category") }
        if kind == .complaint, category == nil { throw header.failure(.missingField, "\(command) of type complaint needs 'category'") }
        var answers: [String: JSONValue] = [:]
        if let value = members["answers"], value != .null {
            guard kind == .survey else { throw header.failure(.invalidField, "\(command) of type \(name) takes no 'answers'") }
            guard case .object(let entries) = value, (1...32).contains(entries.count) else {
                throw header.failure(.invalidField, "\(command) member 'answers' must be an object of 1 to 32 answers")
            }
            for (question, answer) in entries {
                guard !question.isEmpty, question.utf8.count <= 64 else {
                    throw header.failure(.invalidField, "\(command) answers' questions must be 1 to 64 bytes")
                }
                switch answer {
                case .integer: break
                case .string(let text) where text.utf8.count <= 1024: break
                default: throw header.failure(.invalidField, "\(command) answer '\(question)' must be an integer or a string of at most 1024 bytes")
                }
            }
            answers = entries
        }
        if kind == .survey, answers.isEmpty { throw header.failure(.missingField, "\(command) of type survey needs 'answers'") }
        return Feedback(kind: kind, score: score, category: category, answers: answers, about: try reader.optionalInteger("about", in: 1...Int64.max))
    }
}

/// What a worker learned of the customer during the contact (DONE's `customer`): a name, a
/// segment, consent and attributes, written onto the customer with the worker as their source.
public struct CustomerUpdate: Sendable, Equatable {
    public var name: String?
    public var segment: String?
    /// Consent by purpose ("marketing": true), merged into the customer's consent.
    public var consent: [String: Bool]
    public var attributes: [String: String]

    public init(name: String? = nil, segment: String? = nil, consent: [String: Bool] = [:], attributes: [String: String] = [:]) {
        self.name = name
        self.segment = segment
        self.consent = consent
        self.attributes = attributes
    }

    public var isEmpty: Bool { name == nil && segment == nil && consent.isEmpty && attributes.isEmpty }

    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let name { members["name"] = .string(name) }
        if let segment { members["segment"] = .string(segment) }
        if !consent.isEmpty { members["consent"] = .object(consent.mapValues(JSONValue.bool)) }
        if !attributes.isEmpty { members["attributes"] = .object(attributes.mapValues(JSONValue.string)) }
        return .object(members)
    }

    static let fieldNames: Set<String> = ["name", "segment", "consent", "attributes"]

    static func read(_ value: JSONValue, in header: HeaderReader) throws(ProtocolError) -> CustomerUpdate {
        let command = header.command + " customer"
        guard case .object(let members) = value else {
            throw header.failure(.invalidField, "\(header.command) field 'customer' must be an object, got \(value.typeName)")
        }
        if let unknown = members.keys.sorted().first(where: { !fieldNames.contains($0) }) {
            throw header.failure(.invalidField, "\(command) member '\(unknown)' is unknown; expected \(fieldNames.sorted().joined(separator: ", "))")
        }
        let reader = HeaderReader(command: command, members: members, messageID: nil)
        var consent: [String: Bool] = [:]
        if let value = members["consent"], value != .null {
            guard case .object(let entries) = value, entries.count <= 16 else {
                throw header.failure(.invalidField, "\(command) member 'consent' must be an object of at most 16 booleans")
            }
            for (purpose, flag) in entries {
                guard case .bool(let given) = flag, !purpose.isEmpty, purpose.utf8.count <= 64 else {
                    throw header.failure(.invalidField, "\(command) consent '\(purpose)' must be a boolean under a name of 1 to 64 bytes")
                }
                consent[purpose] = given
            }
        }
        let segment = try reader.optionalString("segment", maxBytes: 64)
        if let segment { try reader.checkIdentifier(segment, field: "segment") }
        return CustomerUpdate(
            name: try reader.optionalString("name", maxBytes: 256), segment: segment, consent: consent,
            attributes: try reader.stringMap("attributes", maxCount: 64))
    }
}
