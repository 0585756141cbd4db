import SwitchboardProtocol

/// The interaction fields a worker sees in TASK's `interaction` object.
public struct InteractionSummary: Sendable, Equatable {
    public var id: Int64
    public var gateway: String
    public var messageID: String
    public var channel: String
    public var occurredAt: Int64
    public var receivedAt: Int64
    public var intent: String?
    public var language: String?
    public var contentType: String
    public var attributes: [String: String]
    public var routeReason: String

    public init(
        id: Int64, gateway: String, messageID: String, channel: String, occurredAt: Int64, receivedAt: Int64, intent: String? = nil,
        language: String? = nil, contentType: String, attributes: [String: String] = [:], routeReason: String
    ) {
        self.id = id
        self.gateway = gateway
        self.messageID = messageID
        self.channel = channel
        self.occurredAt = occurredAt
        self.receivedAt = receivedAt
        self.intent = intent
        self.language = language
        self.contentType = contentType
        self.attributes = attributes
        self.routeReason = routeReason
    }

    /// As sent in TASK: written when the task is offered, not kept as a tree while it waits.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "id": .integer(id), "gateway": .string(gateway), "message_id": .string(messageID), "channel": .string(channel),
            "occurred_at": .integer(occurredAt), "received_at": .integer(receivedAt), "content_type": .string(contentType),
            "attributes": .object(attributes.mapValues { .string($0) }), "route_reason": .string(routeReason),
        ]
        if let intent { members["intent"] = .string(intent) }
        if let language { members["language"] = .string(language) }
        return .object(members)
    }
}
