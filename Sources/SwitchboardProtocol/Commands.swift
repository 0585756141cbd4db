/// The protocol version this codec speaks; the first frame of every message.
public let protocolVersion = "SWB/1"

/// The four CRM processes of the IBM contact-center model; each has a queue of the same name.
public enum CRMProcess: String, Sendable, CaseIterable, Codable {
    case sales
    case marketing
    case fieldService = "field_service"
    case support
}

/// Who the customer is, as far as the channel knows. Values are raw; the hub normalizes them.
public struct IdentityHints: Sendable, Equatable {
    public var phone: String?
    public var email: String?
    public var externalID: String?
    public var deviceID: String?
    public var name: String?
    /// A fax number, in any digit script, as phone numbers are.
    public var fax: String?
    /// A chat handle: a web or app chat's visitor or user id ("livechat:v-8812").
    public var chat: String?
    /// A social network handle as "network:handle" ("telegram:@sara_k").
    public var social: String?
    /// What the contact is: "partner" for a reseller or supplier, else a consumer (nil).
    public var kind: CustomerKind?

    public init(
        phone: String? = nil, email: String? = nil, externalID: String? = nil, deviceID: String? = nil, name: String? = nil, fax: String? = nil,
        chat: String? = nil, social: String? = nil, kind: CustomerKind? = nil
    ) {
        self.phone = phone
        self.email = email
        self.externalID = externalID
        self.deviceID = deviceID
        self.name = name
        self.fax = fax
        self.chat = chat
        self.social = social
        self.kind = kind
    }

    /// True when no hint is given.
    public var isEmpty: Bool {
        phone == nil && email == nil && externalID == nil && deviceID == nil && name == nil && fax == nil && chat == nil && social == nil
            && kind == nil
    }
}

/// Who a customer is to the business: `customers.kind`.
public enum CustomerKind: String, Sendable, CaseIterable, Codable {
    case consumer
    /// A reseller, supplier or other business partner, reported and routed apart.
    case partner
}

/// A customer message from a gateway (gateway → hub).
public struct Publish: Sendable, Equatable {
    public var messageID: String
    public var channel: String
    /// When the contact happened, in Unix milliseconds, as the gateway saw it.
    public var occurredAt: Int64
    public var hints: IdentityHints
    public var intent: String?
    public var process: CRMProcess?
    /// 0 (routine) to 9 (most urgent).
    public var priority: Int
    public var language: String?
    public var contentType: String
    public var body: [UInt8]
    public var attributes: [String: String]
    /// Explicit feedback the message carries (a score, a survey, a return, a complaint); the body
    /// is its comment.
    public var feedback: Feedback?
    /// The channel's thread hint (an e-mail's thread root Message-ID, a chat session id): the
    /// message joins that thread's open conversation, or opens one.
    public var thread: String?

    public init(
        messageID: String, channel: String, occurredAt: Int64, hints: IdentityHints = IdentityHints(),
        intent: String? = nil, process: CRMProcess? = nil, priority: Int = 0, language: String? = nil,
        contentType: String = Publish.defaultContentType, body: [UInt8], attributes: [String: String] = [:], feedback: Feedback? = nil,
        thread: String? = nil
    ) {
        self.messageID = messageID
        self.channel = channel
        self.occurredAt = occurredAt
        self.hints = hints
        self.intent = intent
        self.process = process
        self.priority = priority
        self.language = language
        self.contentType = contentType
        self.body = body
        self.attributes = attributes
        self.feedback = feedback
        self.thread = thread
    }

    public static let defaultContentType = "text/plain; charset=utf-8"

    /// True when the body must be UTF-8 text (any `text/*` type, in any case). Compared byte by
    /// byte: this runs several times per message, and a lower-cased copy of a content type longer
    /// than 15 bytes is an allocation each time.
    public var isText: Bool { Self.isText(contentType) }

    /// Whether a body of `contentType` must be UTF-8 text: PUBLISH's, REPLY's and DELIVER's alike.
    public static func isText(_ contentType: String) -> Bool {
        var type = contentType.utf8.makeIterator()
        for expected in "text/".utf8 {
            guard let byte = type.next() else { return false }
            guard ((0x41...0x5A).contains(byte) ? byte | 0x20 : byte) == expected else { return false }
        }
        return true
    }
    /// The body as text, for routing by keywords; nil for binary bodies.
    public var bodyText: String? { isText ? String(decoding: body, as: UTF8.self) : nil }
    /// A text body's UTF-8 as it is stored: the body itself when it is valid UTF-8, as the decoder
    /// makes sure of (no copy), else the UTF-8 of `bodyText`, invalid sequences replaced; nil for
    /// binary bodies.
    public var textBytes: [UInt8]? {
        guard isText else { return nil }
        return UTF8Validation.isValid(body) ? body : Array(String(decoding: body, as: UTF8.self).utf8)
    }
}

/// UTF-8 checked in place, without the copy that `String(validating:)` makes of every body.
public enum UTF8Validation {
    public static func isValid(_ bytes: [UInt8]) -> Bool { (try? UTF8Span(validating: bytes.span)) != nil }
}

/// The hub's receipt: the message and its routing decision are committed (hub → gateway).
public struct Ack: Sendable, Equatable {
    public var messageID: String
    public var interactionID: Int64
    public var customerID: Int64
    public var queue: String
    /// True when this answers a re-sent message that was already stored.
    public var duplicate: Bool

    public init(messageID: String, interactionID: Int64, customerID: Int64, queue: String, duplicate: Bool) {
        self.messageID = messageID
        self.interactionID = interactionID
        self.customerID = customerID
        self.queue = queue
        self.duplicate = duplicate
    }
}

/// The wire error codes of a NACK or ERROR.
public enum NackCode: String, Sendable, CaseIterable {
    /// The sender's input is wrong; re-sending it unchanged will fail again.
    case invalid
    /// The hub is at its limit; retry after `retry_after_ms`.
    case overloaded
    /// The hub cannot reach its database; retry after `retry_after_ms`.
    case unavailable
}

/// A refusal of a gateway message, with a code to switch on and a reason to read (hub → gateway).
public struct Nack: Error, Sendable, Equatable {
    public var messageID: String?
    public var code: NackCode
    /// A finer machine-readable cause (`unknown_channel`, `body_too_large`, …).
    public var detail: String
    public var reason: String
    public var retryAfterMs: Int?

    public init(messageID: String?, code: NackCode, detail: String, reason: String, retryAfterMs: Int? = nil) {
        self.messageID = messageID
        self.code = code
        self.detail = detail
        self.reason = reason
        self.retryAfterMs = retryAfterMs
    }
}

/// A worker announcing what it serves (worker → hub).
public struct Ready: Sendable, Equatable {
    public var workerID: String
    public var queues: [String]
    /// How many tasks it handles at once.
    public var capacity: Int
    public var skills: [String]
    public var languages: [String]
    /// Deliveries this worker still holds from before a reconnect (hub restart); empty on first start.
    public var holding: [Int64]
    /// It sends ACCEPT for each task it takes: an offer it neither accepts nor completes within the
    /// queue's offer timeout goes to another worker. Without it a task stays until its lease ends.
    public var accepts: Bool

    public init(
        workerID: String, queues: [String], capacity: Int, skills: [String] = [], languages: [String] = [], holding: [Int64] = [],
        accepts: Bool = false
    ) {
        self.workerID = workerID
        self.queues = queues
        self.capacity = capacity
        self.skills = skills
        self.languages = languages
        self.holding = holding
        self.accepts = accepts
    }
}

/// A worker takes an offered task: it is in progress, and its first response is recorded (worker → hub).
public struct Accept: Sendable, Equatable {
    public var deliveryID: Int64

    public init(deliveryID: Int64) { self.deliveryID = deliveryID }
}

/// A worker declines an offered task: it goes to another worker (worker → hub).
public struct Reject: Sendable, Equatable {
    public var deliveryID: Int64
    public var reason: String?
    /// The worker is full with tasks of another hub (several hubs): the offer does not count as an
    /// attempt, and this hub offers the worker nothing until it next hears from it.
    public var busy: Bool

    public init(deliveryID: Int64, reason: String? = nil, busy: Bool = false) {
        self.deliveryID = deliveryID
        self.reason = reason
        self.busy = busy
    }
}

/// A worker hands a task it holds to another queue (support → field service for a site visit):
/// a new delivery in that queue, linked to this one, which is closed as `transferred` (worker → hub).
public struct Transfer: Sendable, Equatable {
    public var deliveryID: Int64
    public var queue: String
    public var reason: String

    public init(deliveryID: Int64, queue: String, reason: String) {
        self.deliveryID = deliveryID
        self.queue = queue
        self.reason = reason
    }
}

/// A worker's question about a customer (worker → hub): by id, or by an identity as a gateway would
/// give it as a hint (`kind` one of phone, email, external, device, fax, chat, social).
public struct CustomerQuery: Sendable, Equatable {
    public var queryID: String
    public var customerID: Int64?
    public var identityKind: String?
    public var identityValue: String?

    public init(queryID: String, customerID: Int64) {
        self.queryID = queryID
        self.customerID = customerID
    }

    public init(queryID: String, identityKind: String, identityValue: String) {
        self.queryID = queryID
        self.identityKind = identityKind
        self.identityValue = identityValue
    }
}

/// The hub's answer to QUERY (hub → worker): the customer's whole record, or `found` false.
public struct QueryResult: Sendable, Equatable {
    public var queryID: String
    public var customer: JSONValue?

    public init(queryID: String, customer: JSONValue?) {
        self.queryID = queryID
        self.customer = customer
    }
}

/// The hub's answer to READY: registered, and how often to send heartbeats (hub → worker).
public struct Welcome: Sendable, Equatable {
    public var workerID: String
    public var heartbeatMs: Int

    public init(workerID: String, heartbeatMs: Int) {
        self.workerID = workerID
        self.heartbeatMs = heartbeatMs
    }
}

/// One unit of work offered to a worker, with everything needed to handle it (hub → worker).
public struct TaskOffer: Sendable, Equatable {
    public var deliveryID: Int64
    public var attempt: Int
    /// The service-level deadline, Unix milliseconds.
    public var deadline: Int64
    public var queue: String
    public var priority: Int
    /// The interaction's fields (id, channel, occurred_at, …) as a JSON object.
    public var interaction: JSONValue
    /// Customer context: profile, identities, recent history, as a JSON object.
    public var customer: JSONValue
    public var body: [UInt8]

    public init(
        deliveryID: Int64, attempt: Int, deadline: Int64, queue: String, priority: Int, interaction: JSONValue, customer: JSONValue, body: [UInt8]
    ) {
        self.deliveryID = deliveryID
        self.attempt = attempt
        self.deadline = deadline
        self.queue = queue
        self.priority = priority
        self.interaction = interaction
        self.customer = customer
        self.body = body
    }
}

/// A worker finished a task (worker → hub).
public struct Done: Sendable, Equatable {
    public var deliveryID: Int64
    public var outcome: String
    public var notes: String?
    /// How the customer's matter was resolved; it closes the complaint the task's message opened
    /// (or `complaintID`).
    public var resolution: String?
    /// An open complaint of the same customer this DONE resolves (with `resolution`).
    public var complaintID: Int64?
    /// What the customer said of us during the contact.
    public var feedback: Feedback?
    /// What the worker learned of the customer.
    public var customer: CustomerUpdate?
    /// Closes the task's conversation (a resolution closes it too).
    public var closeConversation: Bool

    public init(
        deliveryID: Int64, outcome: String, notes: String? = nil, resolution: String? = nil, complaintID: Int64? = nil,
        feedback: Feedback? = nil, customer: CustomerUpdate? = nil, closeConversation: Bool = false
    ) {
        self.deliveryID = deliveryID
        self.outcome = outcome
        self.notes = notes
        self.resolution = resolution
        self.complaintID = complaintID
        self.feedback = feedback
        self.customer = customer
        self.closeConversation = closeConversation
    }

    /// The DONE's report beyond its outcome and notes, as the store writes it; nil when it has none
    /// (most DONEs).
    public var report: JSONValue? {
        var members: [String: JSONValue] = [:]
        if let resolution { members["resolution"] = .string(resolution) }
        if let complaintID { members["complaint_id"] = .integer(complaintID) }
        if let feedback { members["feedback"] = feedback.json }
        if let customer, !customer.isEmpty { members["customer"] = customer.json }
        if closeConversation { members["close_conversation"] = .bool(true) }
        return members.isEmpty ? nil : .object(members)
    }
}

/// A worker could not finish a task: retry it later, or reject it for good (worker → hub).
public struct Fail: Sendable, Equatable {
    public enum Disposition: Sendable, Equatable {
        case retryAfter(milliseconds: Int)
        /// Offer it again after the hub's backoff: exponential in the attempts made, with jitter.
        case retryWithBackoff
        case reject(reason: String)
    }

    public var deliveryID: Int64
    public var disposition: Disposition

    public init(deliveryID: Int64, disposition: Disposition) {
        self.deliveryID = deliveryID
        self.disposition = disposition
    }
}

/// The hub stored a worker's DONE or FAIL; `state` is the delivery's state now (hub → worker).
public struct Confirm: Sendable, Equatable {
    public var deliveryID: Int64
    public var state: String
    /// True when this answers a DONE or FAIL the same worker's earlier one had already settled
    /// (it was re-sent after a hub restart): the work counted once.
    public var repeated: Bool

    public init(deliveryID: Int64, state: String, repeated: Bool = false) {
        self.deliveryID = deliveryID
        self.state = state
        self.repeated = repeated
    }
}

/// The hub refused a worker's command (hub → worker).
public struct WorkerError: Sendable, Equatable {
    public enum Code: String, Sendable, CaseIterable {
        /// The command was malformed; `detail` has the protocol error code.
        case invalid
        /// DONE/FAIL named a delivery this worker does not hold (never offered, re-offered, or settled).
        case notHeld = "not_held"
        /// A task command came before READY.
        case notReady = "not_ready"
        /// The hub cannot reach its database; retry after `retry_after_ms`.
        case unavailable
    }

    public var code: Code
    public var detail: String
    public var reason: String
    public var deliveryID: Int64?

    public init(code: Code, detail: String, reason: String, deliveryID: Int64? = nil) {
        self.code = code
        self.detail = detail
        self.reason = reason
        self.deliveryID = deliveryID
    }
}

/// Every SWB/1 command, in both directions and for both roles.
public enum Command: Sendable, Equatable {
    case publish(Publish)
    case ack(Ack)
    case nack(Nack)
    case ping
    case pong
    case ready(Ready)
    case welcome(Welcome)
    case task(TaskOffer)
    case accept(Accept)
    case reject(Reject)
    case transfer(Transfer)
    case done(Done)
    case fail(Fail)
    case confirm(Confirm)
    case query(CustomerQuery)
    case result(QueryResult)
    case error(WorkerError)
    case heartbeat
    case bye
    case reply(Reply)
    case replied(Replied)
    case hello(Hello)
    case deliver(Deliver)
    case sent(Sent)
    case undeliverable(Undeliverable)
    case status(StatusQuery)
    case openContacts(OpenContacts)

    /// The command's name in the command frame.
    public var name: String {
        switch self {
        case .publish: "PUBLISH"
        case .ack: "ACK"
        case .nack: "NACK"
        case .ping: "PING"
        case .pong: "PONG"
        case .ready: "READY"
        case .welcome: "WELCOME"
        case .task: "TASK"
        case .accept: "ACCEPT"
        case .reject: "REJECT"
        case .transfer: "TRANSFER"
        case .done: "DONE"
        case .fail: "FAIL"
        case .confirm: "CONFIRM"
        case .query: "QUERY"
        case .result: "RESULT"
        case .error: "ERROR"
        case .heartbeat: "HEARTBEAT"
        case .bye: "BYE"
        case .reply: "REPLY"
        case .replied: "REPLIED"
        case .hello: "HELLO"
        case .deliver: "DELIVER"
        case .sent: "SENT"
        case .undeliverable: "UNDELIVERABLE"
        case .status: "STATUS"
        case .openContacts: "OPEN_CONTACTS"
        }
    }
}
