/// A worker's answer to the customer on a delivery it holds (worker → hub): stored as an outbound
/// interaction and sent through a gateway serving the customer's channel.
public struct Reply: Sendable, Equatable {
    public var deliveryID: Int64
    /// The worker's own id for this reply, unique per delivery: a REPLY sent again (after a hub
    /// restart) with the same id is stored once.
    public var replyID: String
    public var contentType: String
    public var body: [UInt8]
    /// The customer's matter is settled: the conversation closes once this reply is queued.
    public var close: Bool

    public init(deliveryID: Int64, replyID: String, contentType: String = Publish.defaultContentType, body: [UInt8], close: Bool = false) {
        self.deliveryID = deliveryID
        self.replyID = replyID
        self.contentType = contentType
        self.body = body
        self.close = close
    }
}

/// The hub stored a REPLY: it is on its way to the customer (hub → worker).
public struct Replied: Sendable, Equatable {
    public var deliveryID: Int64
    public var replyID: String
    public var outboundID: Int64
    public var conversationID: Int64
    /// True when this answers a REPLY stored before (re-sent).
    public var repeated: Bool

    public init(deliveryID: Int64, replyID: String, outboundID: Int64, conversationID: Int64, repeated: Bool = false) {
        self.deliveryID = deliveryID
        self.replyID = replyID
        self.outboundID = outboundID
        self.conversationID = conversationID
        self.repeated = repeated
    }
}

/// A gateway announcing the channels it can send on (gateway → hub), and the hub's answer
/// (hub → gateway) with how often the gateway must PING to stay known as connected.
public struct Hello: Sendable, Equatable {
    public var channels: [String]
    /// In the hub's answer only.
    public var heartbeatMs: Int?

    public init(channels: [String], heartbeatMs: Int? = nil) {
        self.channels = channels
        self.heartbeatMs = heartbeatMs
    }
}

/// An outbound message for a gateway to send (hub → gateway).
public struct Deliver: Sendable, Equatable {
    public var outboundID: Int64
    /// The same for every DELIVER of this message: a gateway that has sent it answers SENT again
    /// without sending it twice.
    public var idempotencyKey: String
    public var channel: String
    /// The customer's addresses by identity kind (phone, email, chat, ...): the gateway picks the
    /// one its channel uses.
    public var to: [String: String]
    public var conversationID: Int64?
    /// The conversation's thread hint, and the gateway message id this answers (e-mail
    /// In-Reply-To), when known.
    public var thread: String?
    public var inReplyTo: String?
    public var language: String?
    public var contentType: String
    /// 1 for the first DELIVER of this message.
    public var attempt: Int
    /// Unix milliseconds after which it must not be sent.
    public var expiresAt: Int64
    public var campaignID: Int64?
    public var body: [UInt8]

    public init(
        outboundID: Int64, idempotencyKey: String, channel: String, to: [String: String], conversationID: Int64? = nil, thread: String? = nil,
        inReplyTo: String? = nil, language: String? = nil, contentType: String = Publish.defaultContentType, attempt: Int, expiresAt: Int64,
        campaignID: Int64? = nil, body: [UInt8]
    ) {
        self.outboundID = outboundID
        self.idempotencyKey = idempotencyKey
        self.channel = channel
        self.to = to
        self.conversationID = conversationID
        self.thread = thread
        self.inReplyTo = inReplyTo
        self.language = language
        self.contentType = contentType
        self.attempt = attempt
        self.expiresAt = expiresAt
        self.campaignID = campaignID
        self.body = body
    }
}

/// The gateway sent an outbound message (gateway → hub).
public struct Sent: Sendable, Equatable {
    public var outboundID: Int64
    /// The provider's own id for it (an SMS message id), kept with the message.
    public var reference: String?

    public init(outboundID: Int64, reference: String? = nil) {
        self.outboundID = outboundID
        self.reference = reference
    }
}

/// The gateway could not send an outbound message (gateway → hub): for good (no retry), or not
/// now (`retryAfterMs`: the hub offers it again after that).
public struct Undeliverable: Sendable, Equatable {
    public var outboundID: Int64
    public var reason: String
    public var retryAfterMs: Int?

    public init(outboundID: Int64, reason: String, retryAfterMs: Int? = nil) {
        self.outboundID = outboundID
        self.reason = reason
        self.retryAfterMs = retryAfterMs
    }
}

/// "Where is my request?" (gateway → hub): a customer's open contacts, by id or by an identity as
/// a PUBLISH hint gives it; the same selector as a worker's QUERY.
public typealias StatusQuery = CustomerQuery

/// The answer to STATUS (hub → gateway): `contacts`, each with its state, queue position and
/// estimated wait; `found` false when no customer has that identity.
public struct OpenContacts: Sendable, Equatable {
    public var queryID: String
    public var customerID: Int64?
    /// The contacts as JSON objects (protocols/gateway.md).
    public var contacts: [JSONValue]

    public init(queryID: String, customerID: Int64?, contacts: [JSONValue]) {
        self.queryID = queryID
        self.customerID = customerID
        self.contacts = contacts
    }

    public var found: Bool { customerID != nil }
}
