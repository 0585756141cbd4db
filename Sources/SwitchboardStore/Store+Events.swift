import Postgres
import SwitchboardCore
import SwitchboardProtocol

/// One row of `delivery_events`, as the events socket publishes it and `switchboard events` prints it.
public struct StoredEvent: Sendable, Equatable {
    public var id: Int64
    public var deliveryID: Int64
    public var interactionID: Int64?
    public var kind: String
    public var queue: String
    public var worker: String?
    public var hub: String?
    public var attempt: Int?
    public var detail: String?
    /// Unix milliseconds.
    public var at: Int64

    public init(
        id: Int64, deliveryID: Int64, interactionID: Int64?, kind: String, queue: String, worker: String?, hub: String?, attempt: Int?,
        detail: String?, at: Int64
    ) {
        self.id = id
        self.deliveryID = deliveryID
        self.interactionID = interactionID
        self.kind = kind
        self.queue = queue
        self.worker = worker
        self.hub = hub
        self.attempt = attempt
        self.detail = detail
        self.at = at
    }

    /// From columns id, delivery_id, interaction_id, kind, queue, worker, attempt, detail, at (ms).
    init(row: [String?], hub: String?) throws {
        guard let id = row[0].flatMap({ Int64($0) }), let deliveryID = row[1].flatMap({ Int64($0) }), let kind = row[3], let queue = row[4],
            let at = row[8].flatMap({ Int64($0) })
        else { throw PostgresError(code: .unexpectedResult, message: "an event row without its id, delivery, kind, queue or time") }
        self.init(
            id: id, deliveryID: deliveryID, interactionID: row[2].flatMap { Int64($0) }, kind: kind, queue: queue, worker: row[5], hub: hub,
            attempt: row[6].flatMap { Int($0) }, detail: row[7], at: at)
    }

    /// A row of `Store.eventColumns`.
    init(eventRow row: [String?]) throws { try self.init(row: Array(row[0..<9]), hub: row[9]) }

    /// The topic frame of its message on the events socket (protocols/events.md): `delivery.` and the kind.
    public var topic: String { "delivery.\(kind)" }

    /// The event as the JSON object of protocols/events.md; members without a value are left out.
    public var json: [UInt8] {
        var object = JSONObjectWriter(reservingCapacity: 192)
        object.field("at", at)
        object.field("attempt", attempt)
        object.field("delivery_id", deliveryID)
        object.field("detail", detail)
        object.field("event", topic)
        object.field("hub", hub)
        object.field("id", id)
        object.field("interaction_id", interactionID)
        object.field("queue", queue)
        object.field("worker", worker)
        return object.finish()
    }
}

/// `interaction.received`: a message stored, with its first delivery (protocols/events.md). Its
/// place in the stream is its delivery id: a subscriber resumes these by the last one it saw.
public struct ReceivedEvent: Sendable, Equatable {
    public var deliveryID: Int64
    public var interactionID: Int64
    public var customerID: Int64
    public var gateway: String
    public var messageID: String
    public var channel: String
    public var queue: String
    public var language: String?
    /// Unix milliseconds.
    public var at: Int64

    public init(
        deliveryID: Int64, interactionID: Int64, customerID: Int64, gateway: String, messageID: String, channel: String, queue: String,
        language: String?, at: Int64
    ) {
        self.deliveryID = deliveryID
        self.interactionID = interactionID
        self.customerID = customerID
        self.gateway = gateway
        self.messageID = messageID
        self.channel = channel
        self.queue = queue
        self.language = language
        self.at = at
    }

    public static let topic = "interaction.received"

    public var json: [UInt8] {
        var object = JSONObjectWriter(reservingCapacity: 256)
        object.field("at", at)
        object.field("channel", channel)
        object.field("customer_id", customerID)
        object.field("delivery_id", deliveryID)
        object.field("event", Self.topic)
        object.field("gateway", gateway)
        object.field("interaction_id", interactionID)
        object.field("language", language)
        object.field("message_id", messageID)
        object.field("queue", queue)
        return object.finish()
    }
}

extension Store {
    /// The `interaction.received` events of deliveries above `afterDelivery` (first legs only: a
    /// transfer's leg is no new message), oldest first, at most `limit`.
    public func receivedEvents(afterDelivery: Int64, limit: Int) throws -> [ReceivedEvent] {
        try connection.query(
            """
            SELECT d.id, i.id, d.customer_id, i.gateway, i.message_id, i.channel, d.queue, d.language, \(Self.ms("i.received_at"))
              FROM deliveries d JOIN interactions i ON i.id = d.interaction_id AND i.received_at = d.interaction_received_at
             WHERE d.id > $1 AND d.transferred_from IS NULL ORDER BY d.id LIMIT $2
            """, [.init(afterDelivery), .init(limit)]
        ).rows.compactMap { row in
            guard let delivery = row[0].flatMap({ Int64($0) }), let interaction = row[1].flatMap({ Int64($0) }),
                let customer = row[2].flatMap({ Int64($0) }), let at = row[8].flatMap({ Int64($0) })
            else { return nil }
            return ReceivedEvent(
                deliveryID: delivery, interactionID: interaction, customerID: customer, gateway: row[3] ?? "", messageID: row[4] ?? "",
                channel: row[5] ?? "", queue: row[6] ?? "", language: row[7], at: at)
        }
    }

    /// The columns of `delivery_events` a `StoredEvent` is read from (`init(eventRow:)`).
    static let eventColumns = "id, delivery_id, interaction_id, kind, queue, worker, attempt, detail, \(ms("at")), hub"

    /// The events of these deliveries at or after `sinceMs` (Unix ms), in id order.
    public func events(of deliveries: [Int64], sinceMs: Int64) throws -> [StoredEvent] {
        guard !deliveries.isEmpty else { return [] }
        return try connection.query(
            """
            SELECT \(Self.eventColumns)
              FROM delivery_events WHERE delivery_id = ANY($1::bigint[]) AND at >= to_timestamp($2::bigint / 1000.0) ORDER BY id
            """, [Self.bigintArray(deliveries), .init(sinceMs)]
        ).rows.map(StoredEvent.init(eventRow:))
    }

    /// Events with an id above `after`, oldest first, at most `limit`: what a subscriber that last
    /// saw event `after` missed.
    public func events(after: Int64, limit: Int) throws -> [StoredEvent] {
        try connection.query(
            """
            SELECT \(Self.eventColumns)
              FROM delivery_events WHERE id > $1 ORDER BY id LIMIT $2
            """, [.init(after), .init(limit)]
        ).rows.map(StoredEvent.init(eventRow:))
    }
}

/// What `switchboard explain` reads of one interaction: the message as routed, the rules it was
/// routed with, its deliveries and their history.
public struct InteractionRecord: Sendable {
    public var publish: Publish
    public var receivedAt: Int64
    public var routingVersion: Int?
    /// The rules as recorded in `routing_versions` (JSON), nil if the version is unknown.
    public var rules: [UInt8]?
    /// The customer as it is now: rules on the customer are checked against it.
    public var customer: CustomerFacts
    public var deliveries: [(id: Int64, queue: String, state: String, worker: String?, reason: String, attempts: Int, rule: String?)]
    public var events: [StoredEvent]
}

extension Store {
    /// The interaction `id` with its routing inputs, deliveries and events; nil if there is none.
    public func interactionRecord(_ id: Int64) throws -> InteractionRecord? {
        guard
            let row = try connection.query(
                """
                SELECT i.gateway, i.message_id, i.channel, i.intent, i.language, i.content_type, i.body_text, encode(i.body_bytes, 'hex'),
                       i.process, \(Self.ms("i.received_at")), i.routing_version, r.rules::text, \(Self.ms("i.occurred_at")),
                       i.priority, i.attributes::text, c.kind, c.segment, c.value_tier, c.attributes::text
                  FROM interactions i LEFT JOIN routing_versions r ON r.id = i.routing_version
                  LEFT JOIN customers c ON c.id = i.customer_id
                 WHERE i.id = $1
                """, [.init(id)]
            ).rows.first
        else { return nil }
        let deliveries = try connection.query(
            "SELECT id, queue, state, worker, route_reason, attempts, rule_id FROM deliveries WHERE interaction_id = $1 ORDER BY id", [.init(id)]
        ).rows.compactMap { row -> (Int64, String, String, String?, String, Int, String?)? in
            guard let delivery = row[0].flatMap({ Int64($0) }) else { return nil }
            return (delivery, row[1] ?? "", row[2] ?? "", row[3], row[4] ?? "", row[5].flatMap { Int($0) } ?? 0, row[6])
        }
        let events = try connection.query(
            """
            SELECT \(Self.eventColumns)
              FROM delivery_events WHERE delivery_id = ANY($1::bigint[]) ORDER BY id
            """, [Self.bigintArray(deliveries.map(\.0))]
        ).rows.map(StoredEvent.init(eventRow:))
        let body = row[6].map { Array($0.utf8) } ?? Hex.decode(row[7] ?? "")
        // The first delivery's reason says whether the gateway named the process itself.
        let explicit = deliveries.first?.4 == "explicit process" ? row[8].flatMap(CRMProcess.init(rawValue:)) : nil
        let publish = Publish(
            messageID: row[1] ?? "", channel: row[2] ?? "", occurredAt: row[12].flatMap { Int64($0) } ?? 0, intent: row[3], process: explicit,
            priority: row[13].flatMap { Int($0) } ?? 0, language: row[4], contentType: row[5] ?? Publish.defaultContentType, body: body,
            attributes: Self.stringMembers(row[14]))
        let customer = CustomerFacts(
            kind: row[15] ?? "consumer", segment: row[16], tier: row[17] ?? "standard", attributes: Self.stringMembers(row[18]))
        return InteractionRecord(
            publish: publish, receivedAt: row[9].flatMap { Int64($0) } ?? 0, routingVersion: row[10].flatMap { Int($0) },
            rules: row[11].map { Array($0.utf8) }, customer: customer,
            deliveries: deliveries.map { ($0.0, $0.1, $0.2, $0.3, $0.4, $0.5, $0.6) }, events: events)
    }

    /// The members of a JSON object (as text) whose values are strings.
    static func stringMembers(_ json: String?) -> [String: String] {
        json.flatMap { try? JSONParser.parse(Array($0.utf8)) }?.stringMembers ?? [:]
    }
}
