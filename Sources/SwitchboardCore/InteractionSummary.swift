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
    /// The conversation it belongs to, if any (conversations (id)).
    public var conversationID: Int64?

    public init(
        id: Int64, gateway: String, messageID: String, channel: String, occurredAt: Int64, receivedAt: Int64, intent: String? = nil,
        language: String? = nil, contentType: String, attributes: [String: String] = [:], routeReason: String,
        conversationID: Int64? = nil
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
        self.conversationID = conversationID
    }

    /// TASK's `interaction` object, written when the task is offered (not kept while it waits).
    public var encoded: [UInt8] {
        var object = JSONObjectWriter(reservingCapacity: 256)
        object.field("attributes", attributes)
        object.field("channel", channel)
        object.field("content_type", contentType)
        object.field("conversation_id", conversationID)
        object.field("gateway", gateway)
        object.field("id", id)
        object.field("intent", intent)
        object.field("language", language)
        object.field("message_id", messageID)
        object.field("occurred_at", occurredAt)
        object.field("received_at", receivedAt)
        object.field("route_reason", routeReason)
        return object.finish()
    }
}
