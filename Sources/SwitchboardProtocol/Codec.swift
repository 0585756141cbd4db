#if canImport(Glibc)
    import Glibc
#endif

/// Frames ⇄ commands for SWB/1 (see protocols/gateway.md and protocols/worker.md).
///
/// A message is `version, command, header [, body]`: the version frame is `SWB/1`, the command
/// frame an upper-case ASCII name, the header a JSON object (an empty frame means `{}`), and
/// PUBLISH and TASK carry one more frame, the body, as raw bytes.
public enum Codec {
    /// Encodes a command as its frames (without any ROUTER routing id).
    public static func encode(_ command: Command) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        frames.reserveCapacity(4)
        frames.append(versionFrame)
        frames.append(commandFrames[command.name] ?? Array(command.name.utf8))
        frames.append(header(of: command))
        switch command {
        case .publish(let publish): frames.append(publish.body)
        case .task(let task): frames.append(task.body)
        case .reply(let reply): frames.append(reply.body)
        case .deliver(let deliver): frames.append(deliver.body)
        default: break
        }
        return frames
    }

    /// A TASK's frames with its interaction and customer objects given as JSON text: the hub
    /// writes the interaction once and passes the customer context on as PostgreSQL wrote it,
    /// with no tree of values per offer.
    public static func taskFrames(
        deliveryID: Int64, attempt: Int, deadline: Int64, queue: String, priority: Int, interaction: [UInt8], customer: [UInt8], body: [UInt8]
    ) -> [[UInt8]] {
        [
            versionFrame, commandFrames["TASK"] ?? Array("TASK".utf8),
            taskHeader(
                deliveryID: deliveryID, attempt: attempt, deadline: deadline, queue: queue, priority: priority, interaction: interaction,
                customer: customer),
            body,
        ]
    }

    private static func taskHeader(
        deliveryID: Int64, attempt: Int, deadline: Int64, queue: String, priority: Int, interaction: [UInt8], customer: [UInt8]
    ) -> [UInt8] {
        var header = JSONObjectWriter(reservingCapacity: 96 + interaction.count + customer.count)
        header.field("attempt", attempt)
        header.field("customer", encoded: customer)
        header.field("deadline", deadline)
        header.field("delivery_id", deliveryID)
        header.field("interaction", encoded: interaction)
        header.field("priority", priority)
        header.field("queue", queue)
        return header.finish()
    }

    /// Commands a gateway sends to the hub, and commands a worker sends to the hub.
    public static let gatewayCommands: Set<String> = ["PUBLISH", "PING", "HELLO", "SENT", "UNDELIVERABLE", "STATUS"]
    public static let workerCommands: Set<String> = [
        "READY", "ACCEPT", "REJECT", "TRANSFER", "DONE", "FAIL", "QUERY", "HEARTBEAT", "BYE", "REPLY",
    ]

    /// Decodes and validates frames; every refusal is a `ProtocolError` whose reason names the fault.
    /// With `accepting`, any other command is `unknown_command` before its header is read.
    public static func decode(
        _ frames: [[UInt8]], limits: DecodingLimits = DecodingLimits(), accepting: Set<String>? = nil
    ) throws(ProtocolError) -> Command {
        guard frames.count >= 2 else {
            throw ProtocolError(.malformedFrames, "expected at least 2 frames (version, command), got \(frames.count)")
        }
        guard frames[0].elementsEqual(protocolVersion.utf8) else {
            let shown = String(decoding: frames[0].prefix(16), as: UTF8.self)
            throw ProtocolError(.unsupportedVersion, "version frame is '\(shown)', this hub speaks \(protocolVersion)")
        }
        let name = String(decoding: frames[1].prefix(16), as: UTF8.self)
        guard let shape = shapes[name], frames[1].count <= 16 else {
            throw ProtocolError(.unknownCommand, "unknown command '\(name)'; known: \(shapes.keys.sorted().joined(separator: ", "))")
        }
        if let accepting, !accepting.contains(name) {
            throw ProtocolError(.unknownCommand, "\(name) is not accepted here; send \(accepting.sorted().joined(separator: ", "))")
        }
        let expectedFrames = shape ? 4 : 3
        guard frames.count == expectedFrames else {
            throw ProtocolError(.malformedFrames, "\(name) takes \(expectedFrames) frames, got \(frames.count)")
        }
        guard frames[2].count <= limits.maxHeaderBytes else {
            throw ProtocolError(.headerTooLarge, "\(name) header is \(frames[2].count) bytes, the limit is \(limits.maxHeaderBytes)")
        }
        var header = try HeaderReader(command: name, header: frames[2])
        switch name {
        case "PUBLISH":
            header.messageID = try? header.identifier("message_id")
            return .publish(try decodePublish(header, body: frames[3], limits: limits))
        case "ACK":
            return .ack(
                Ack(
                    messageID: try header.string("message_id"), interactionID: try header.integer("interaction_id", in: 1...Int64.max),
                    customerID: try header.integer("customer_id", in: 1...Int64.max), queue: try header.identifier("queue"),
                    duplicate: try header.bool("duplicate", default: false)))
        case "NACK":
            let code = try header.string("code")
            guard let nackCode = NackCode(rawValue: code) else { throw header.failure(.invalidField, "NACK code '\(code)' is unknown") }
            return .nack(
                Nack(
                    messageID: try header.optionalString("message_id"), code: nackCode, detail: try header.string("detail"),
                    reason: try header.string("reason", maxBytes: 4096),
                    retryAfterMs: try header.optionalInteger("retry_after_ms", in: 0...86_400_000).map(Int.init)))
        case "PING": return .ping
        case "PONG": return .pong
        case "HEARTBEAT": return .heartbeat
        case "BYE": return .bye
        case "READY": return .ready(try decodeReady(header))
        case "WELCOME":
            return .welcome(
                Welcome(workerID: try header.string("worker_id"), heartbeatMs: Int(try header.integer("heartbeat_ms", in: 1...3_600_000))))
        case "TASK": return .task(try decodeTask(header, body: frames[3]))
        case "DONE":
            return .done(try decodeDone(header))
        case "FAIL": return .fail(try decodeFail(header))
        case "ACCEPT": return .accept(Accept(deliveryID: try header.integer("delivery_id", in: 1...Int64.max)))
        case "REJECT":
            return .reject(
                Reject(
                    deliveryID: try header.integer("delivery_id", in: 1...Int64.max), reason: try header.optionalString("reason", maxBytes: 4096),
                    busy: try header.bool("busy", default: false)))
        case "TRANSFER":
            return .transfer(
                Transfer(
                    deliveryID: try header.integer("delivery_id", in: 1...Int64.max), queue: try header.identifier("queue"),
                    reason: try header.string("reason", maxBytes: 4096)))
        case "REPLY": return .reply(try decodeReply(header, body: frames[3], limits: limits))
        case "REPLIED":
            return .replied(
                Replied(
                    deliveryID: try header.integer("delivery_id", in: 1...Int64.max), replyID: try header.identifier("reply_id", maxBytes: 128),
                    outboundID: try header.integer("outbound_id", in: 1...Int64.max),
                    conversationID: try header.integer("conversation_id", in: 1...Int64.max), repeated: try header.bool("repeat", default: false)))
        case "HELLO":
            let channels = try header.stringArray("channels", maxCount: 64, required: true)
            for channel in channels {
                guard !channel.isEmpty, channel.utf8.count <= 32 else { throw header.failure(.invalidField, "a HELLO channel has 1 to 32 bytes") }
                try header.checkIdentifier(channel, field: "channels")
            }
            return .hello(Hello(channels: channels, heartbeatMs: try header.optionalInteger("heartbeat_ms", in: 1...3_600_000).map(Int.init)))
        case "DELIVER": return .deliver(try decodeDeliver(header, body: frames[3]))
        case "SENT":
            return .sent(
                Sent(
                    outboundID: try header.integer("outbound_id", in: 1...Int64.max), reference: try header.optionalString("reference", maxBytes: 256)
                ))
        case "UNDELIVERABLE":
            return .undeliverable(
                Undeliverable(
                    outboundID: try header.integer("outbound_id", in: 1...Int64.max), reason: try header.string("reason", maxBytes: 4096),
                    retryAfterMs: try header.optionalInteger("retry_after_ms", in: 0...86_400_000).map(Int.init)))
        case "STATUS": return .status(try customerQuery(header, command: name))
        case "OPEN_CONTACTS":
            let found = try header.bool("found", default: false)
            var contacts: [JSONValue] = []
            if case .array(let elements)? = header.members["contacts"] { contacts = elements }
            return .openContacts(
                OpenContacts(
                    queryID: try header.identifier("query_id", maxBytes: 64),
                    customerID: found ? try header.integer("customer_id", in: 1...Int64.max) : nil, contacts: contacts))
        case "QUERY": return .query(try customerQuery(header, command: name))
        case "RESULT":
            let found = try header.bool("found", default: false)
            return .result(QueryResult(queryID: try header.identifier("query_id", maxBytes: 64), customer: found ? header.members["customer"] : nil))
        case "CONFIRM":
            return .confirm(
                Confirm(
                    deliveryID: try header.integer("delivery_id", in: 1...Int64.max), state: try header.identifier("state"),
                    repeated: try header.bool("repeat", default: false)))
        case "ERROR":
            let code = try header.string("code")
            guard let errorCode = WorkerError.Code(rawValue: code) else { throw header.failure(.invalidField, "ERROR code '\(code)' is unknown") }
            return .error(
                WorkerError(
                    code: errorCode, detail: try header.string("detail"), reason: try header.string("reason", maxBytes: 4096),
                    deliveryID: try header.optionalInteger("delivery_id", in: 1...Int64.max)))
        default:
            throw ProtocolError(.unknownCommand, "unknown command '\(name)'")
        }
    }

    /// The version frame and each command's name frame, made once and shared by every message
    /// encoded: the hub encodes an ACK for every message.
    private static let versionFrame = Array(protocolVersion.utf8)
    private static let commandFrames: [String: [UInt8]] = Dictionary(uniqueKeysWithValues: shapes.keys.map { ($0, Array($0.utf8)) })

    /// The version frame and the name frames of `commands`, as the encoder shares them: what a
    /// socket receiving those commands can hand over without a copy per message.
    public static func sharedFrames(_ commands: Set<String>) -> [[UInt8]] {
        [versionFrame] + commands.sorted().compactMap { commandFrames[$0] }
    }

    /// Command names and whether they carry a body frame.
    private static let shapes: [String: Bool] = [
        "PUBLISH": true, "ACK": false, "NACK": false, "PING": false, "PONG": false, "READY": false, "WELCOME": false,
        "TASK": true, "ACCEPT": false, "REJECT": false, "TRANSFER": false, "DONE": false, "FAIL": false, "CONFIRM": false, "ERROR": false,
        "QUERY": false, "RESULT": false,
        "HEARTBEAT": false, "BYE": false,
        "REPLY": true, "REPLIED": false, "HELLO": false, "DELIVER": true, "SENT": false, "UNDELIVERABLE": false, "STATUS": false,
        "OPEN_CONTACTS": false,
    ]

    private static func decodePublish(_ header: HeaderReader, body: [UInt8], limits: DecodingLimits) throws(ProtocolError) -> Publish {
        // Read already, for the refusal's message id, unless it is missing or invalid: then this says why.
        let messageID: String
        if let known = header.messageID { messageID = known } else { messageID = try header.identifier("message_id") }
        let channel = try header.identifier("channel", maxBytes: 32)
        guard limits.channels.contains(channel) else {
            throw header.failure(
                .unknownChannel, "channel '\(channel)' is not configured; expected one of \(limits.channels.sorted().joined(separator: ", "))")
        }
        guard body.count <= limits.maxBodyBytes else {
            throw header.failure(.bodyTooLarge, "body is \(body.count) bytes, the limit is \(limits.maxBodyBytes)")
        }
        var process: CRMProcess?
        if let name = try header.optionalString("process") {
            guard let known = CRMProcess(rawValue: name) else {
                throw header.failure(
                    .invalidField, "process '\(name)' is unknown; expected one of \(CRMProcess.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            process = known
        }
        var hints = IdentityHints()
        if let value = header.members["hints"], value != .null {
            guard case .object(let members) = value else {
                throw header.failure(.invalidField, "PUBLISH field 'hints' must be an object, got \(value.typeName)")
            }
            if let unknown = members.keys.first(where: { !Self.hintNames.contains($0) }) {
                throw header.failure(
                    .invalidField, "PUBLISH hint '\(unknown)' is unknown; expected \(Self.hintNames.sorted().joined(separator: ", "))")
            }
            let reader = HeaderReader(command: "PUBLISH hints", members: members, messageID: messageID)
            var kind: CustomerKind?
            if let name = try reader.optionalString("kind", maxBytes: 16) {
                guard let known = CustomerKind(rawValue: name) else {
                    throw header.failure(.invalidField, "PUBLISH hint 'kind' is '\(name)'; expected consumer or partner")
                }
                kind = known
            }
            hints = IdentityHints(
                phone: try reader.optionalString("phone", maxBytes: 64), email: try reader.optionalString("email", maxBytes: 254),
                externalID: try reader.optionalString("external_id", maxBytes: 128), deviceID: try reader.optionalString("device_id", maxBytes: 128),
                name: try reader.optionalString("name", maxBytes: 256), fax: try reader.optionalString("fax", maxBytes: 64),
                chat: try reader.optionalString("chat", maxBytes: 128), social: try reader.optionalString("social", maxBytes: 128), kind: kind)
        }
        let publish = Publish(
            messageID: messageID, channel: channel, occurredAt: try header.integer("occurred_at", in: 0...253_402_300_799_999),
            hints: hints, intent: try header.optionalString("intent", maxBytes: 64), process: process,
            priority: Int(try header.optionalInteger("priority", in: 0...9) ?? 0), language: try header.optionalString("language", maxBytes: 16),
            contentType: try header.optionalString("content_type", maxBytes: 128) ?? Publish.defaultContentType, body: body,
            attributes: try header.stringMap("attributes", maxCount: 64), feedback: try feedback(header),
            thread: try header.optionalString("thread", maxBytes: 512))
        if publish.isText {
            guard UTF8Validation.isValid(body) else {
                throw header.failure(.invalidText, "body is declared '\(publish.contentType)' but is not valid UTF-8")
            }
            // memchr, not a generic `contains`: bodies run to megabytes and this is the hub's hot path.
            guard body.withUnsafeBytes({ bytes in bytes.baseAddress.map { memchr($0, 0, bytes.count) } ?? nil }) == nil else {
                throw header.failure(.invalidText, "text body contains a NUL byte; send it as application/octet-stream")
            }
        }
        return publish
    }

    private static func feedback(_ header: HeaderReader) throws(ProtocolError) -> Feedback? {
        guard let value = header.members["feedback"], value != .null else { return nil }
        return try Feedback.read(value, in: header)
    }

    private static let hintNames: Set<String> = ["phone", "email", "external_id", "device_id", "name", "fax", "chat", "social", "kind"]

    private static func decodeDone(_ header: HeaderReader) throws(ProtocolError) -> Done {
        let resolution = try header.optionalString("resolution", maxBytes: 4096)
        let complaintID = try header.optionalInteger("complaint_id", in: 1...Int64.max)
        if complaintID != nil, resolution == nil { throw header.failure(.missingField, "DONE with 'complaint_id' needs 'resolution'") }
        var feedback: Feedback?
        if let value = header.members["feedback"], value != .null { feedback = try Feedback.read(value, in: header) }
        var customer: CustomerUpdate?
        if let value = header.members["customer"], value != .null { customer = try CustomerUpdate.read(value, in: header) }
        return Done(
            deliveryID: try header.integer("delivery_id", in: 1...Int64.max), outcome: try header.identifier("outcome", maxBytes: 64),
            notes: try header.optionalString("notes", maxBytes: 4096, allowEmpty: true), resolution: resolution, complaintID: complaintID,
            feedback: feedback, customer: customer, closeConversation: try header.bool("close_conversation", default: false))
    }

    /// QUERY's and STATUS's header: a query id and a customer, by id or by identity {kind, value}.
    private static func customerQuery(_ header: HeaderReader, command: String) throws(ProtocolError) -> CustomerQuery {
        let queryID = try header.identifier("query_id", maxBytes: 64)
        switch (try header.optionalInteger("customer_id", in: 1...Int64.max), header.members["identity"]) {
        case (let id?, nil): return CustomerQuery(queryID: queryID, customerID: id)
        case (nil, .object(let members)?):
            let reader = HeaderReader(command: "\(command) identity", members: members, messageID: nil)
            return CustomerQuery(
                queryID: queryID, identityKind: try reader.identifier("kind", maxBytes: 16), identityValue: try reader.string("value", maxBytes: 254))
        default:
            throw header.failure(.invalidField, "\(command) needs customer_id or identity {kind, value}, one of them")
        }
    }

    private static func decodeReply(_ header: HeaderReader, body: [UInt8], limits: DecodingLimits) throws(ProtocolError) -> Reply {
        guard body.count <= limits.maxBodyBytes else {
            throw header.failure(.bodyTooLarge, "REPLY body is \(body.count) bytes, the limit is \(limits.maxBodyBytes)")
        }
        let reply = Reply(
            deliveryID: try header.integer("delivery_id", in: 1...Int64.max), replyID: try header.identifier("reply_id", maxBytes: 128),
            contentType: try header.optionalString("content_type", maxBytes: 128) ?? Publish.defaultContentType, body: body,
            close: try header.bool("close", default: false))
        if Publish.isText(reply.contentType) {
            guard UTF8Validation.isValid(body), !body.contains(0) else {
                throw header.failure(.invalidText, "REPLY body is declared '\(reply.contentType)' but is not valid UTF-8 without NUL bytes")
            }
        }
        return reply
    }

    private static func decodeDeliver(_ header: HeaderReader, body: [UInt8]) throws(ProtocolError) -> Deliver {
        Deliver(
            outboundID: try header.integer("outbound_id", in: 1...Int64.max), idempotencyKey: try header.string("idempotency_key", maxBytes: 64),
            channel: try header.identifier("channel", maxBytes: 32), to: try header.stringMap("to", maxCount: 16),
            conversationID: try header.optionalInteger("conversation_id", in: 1...Int64.max),
            thread: try header.optionalString("thread", maxBytes: 512),
            inReplyTo: try header.optionalString("in_reply_to", maxBytes: 256), language: try header.optionalString("language", maxBytes: 16),
            contentType: try header.optionalString("content_type", maxBytes: 128) ?? Publish.defaultContentType,
            attempt: Int(try header.integer("attempt", in: 1...1_000_000)), expiresAt: try header.integer("expires_at", in: 0...Int64.max),
            campaignID: try header.optionalInteger("campaign_id", in: 1...Int64.max), body: body)
    }

    private static func decodeReady(_ header: HeaderReader) throws(ProtocolError) -> Ready {
        Ready(
            workerID: try header.identifier("worker_id"), queues: try header.stringArray("queues", maxCount: 64, required: true),
            capacity: Int(try header.integer("capacity", in: 1...10_000)), skills: try header.stringArray("skills", maxCount: 64, required: false),
            languages: try header.stringArray("languages", maxCount: 64, required: false),
            holding: try header.integerArray("holding", maxCount: 10_000), accepts: try header.bool("accepts", default: false))
    }

    private static func decodeTask(_ header: HeaderReader, body: [UInt8]) throws(ProtocolError) -> TaskOffer {
        TaskOffer(
            deliveryID: try header.integer("delivery_id", in: 1...Int64.max), attempt: Int(try header.integer("attempt", in: 1...1_000_000)),
            deadline: try header.integer("deadline", in: 0...Int64.max), queue: try header.identifier("queue"),
            priority: Int(try header.integer("priority", in: 0...9)), interaction: try header.object("interaction"),
            customer: try header.object("customer"), body: body)
    }

    private static func decodeFail(_ header: HeaderReader) throws(ProtocolError) -> Fail {
        let deliveryID = try header.integer("delivery_id", in: 1...Int64.max)
        let retryAfter = try header.optionalInteger("retry_after_ms", in: 0...86_400_000)
        let reject = try header.optionalString("reject", maxBytes: 4096)
        switch (retryAfter, reject) {
        case (let milliseconds?, nil): return Fail(deliveryID: deliveryID, disposition: .retryAfter(milliseconds: Int(milliseconds)))
        case (nil, let reason?): return Fail(deliveryID: deliveryID, disposition: .reject(reason: reason))
        case (nil, nil): return Fail(deliveryID: deliveryID, disposition: .retryWithBackoff)
        default: throw header.failure(.invalidField, "FAIL takes at most one of 'retry_after_ms' or 'reject'")
        }
    }

    /// A command's header, written field by field with its keys in sorted order: the same bytes
    /// `JSONWriter` makes of the header as a JSON object (tested), without building one.
    static func header(of command: Command) -> [UInt8] {
        var header = JSONObjectWriter()
        switch command {
        case .publish(let publish):
            if !publish.attributes.isEmpty { header.field("attributes", publish.attributes) }
            header.field("channel", publish.channel)
            if publish.contentType != Publish.defaultContentType { header.field("content_type", publish.contentType) }
            if let feedback = publish.feedback { header.field("feedback", encoded: JSONWriter.bytes(feedback.json)) }
            let hints = publish.hints
            if !hints.isEmpty {
                var members = JSONObjectWriter()
                members.field("chat", hints.chat)
                members.field("device_id", hints.deviceID)
                members.field("email", hints.email)
                members.field("external_id", hints.externalID)
                members.field("fax", hints.fax)
                members.field("kind", hints.kind?.rawValue)
                members.field("name", hints.name)
                members.field("phone", hints.phone)
                members.field("social", hints.social)
                header.field("hints", encoded: members.finish())
            }
            header.field("intent", publish.intent)
            header.field("language", publish.language)
            header.field("message_id", publish.messageID)
            header.field("occurred_at", publish.occurredAt)
            if publish.priority != 0 { header.field("priority", publish.priority) }
            header.field("process", publish.process?.rawValue)
            header.field("thread", publish.thread)
        case .ack(let ack):
            header.field("customer_id", ack.customerID)
            header.field("duplicate", ack.duplicate)
            header.field("interaction_id", ack.interactionID)
            header.field("message_id", ack.messageID)
            header.field("queue", ack.queue)
        case .nack(let nack):
            header.field("code", nack.code.rawValue)
            header.field("detail", nack.detail)
            header.field("message_id", nack.messageID)
            header.field("reason", nack.reason)
            header.field("retry_after_ms", nack.retryAfterMs)
        case .ready(let ready):
            if ready.accepts { header.field("accepts", true) }
            header.field("capacity", ready.capacity)
            if !ready.holding.isEmpty { header.field("holding", ready.holding) }
            if !ready.languages.isEmpty { header.field("languages", ready.languages) }
            header.field("queues", ready.queues)
            if !ready.skills.isEmpty { header.field("skills", ready.skills) }
            header.field("worker_id", ready.workerID)
        case .welcome(let welcome):
            header.field("heartbeat_ms", welcome.heartbeatMs)
            header.field("worker_id", welcome.workerID)
        case .task(let task):
            return taskHeader(
                deliveryID: task.deliveryID, attempt: task.attempt, deadline: task.deadline, queue: task.queue, priority: task.priority,
                interaction: JSONWriter.bytes(task.interaction), customer: JSONWriter.bytes(task.customer))
        case .done(let done):
            if done.closeConversation { header.field("close_conversation", true) }
            header.field("complaint_id", done.complaintID)
            if let customer = done.customer, !customer.isEmpty { header.field("customer", encoded: JSONWriter.bytes(customer.json)) }
            header.field("delivery_id", done.deliveryID)
            if let feedback = done.feedback { header.field("feedback", encoded: JSONWriter.bytes(feedback.json)) }
            header.field("notes", done.notes)
            header.field("outcome", done.outcome)
            header.field("resolution", done.resolution)
        case .accept(let accept):
            header.field("delivery_id", accept.deliveryID)
        case .reject(let reject):
            if reject.busy { header.field("busy", true) }
            header.field("delivery_id", reject.deliveryID)
            header.field("reason", reject.reason)
        case .transfer(let transfer):
            header.field("delivery_id", transfer.deliveryID)
            header.field("queue", transfer.queue)
            header.field("reason", transfer.reason)
        case .fail(let fail):
            header.field("delivery_id", fail.deliveryID)
            switch fail.disposition {
            case .reject(let reason): header.field("reject", reason)
            case .retryAfter(let milliseconds): header.field("retry_after_ms", milliseconds)
            case .retryWithBackoff: break
            }
        case .query(let query), .status(let query):
            header.field("customer_id", query.customerID)
            if let kind = query.identityKind, let value = query.identityValue {
                var members = JSONObjectWriter()
                members.field("kind", kind)
                members.field("value", value)
                header.field("identity", encoded: members.finish())
            }
            header.field("query_id", query.queryID)
        case .result(let result):
            if let customer = result.customer { header.field("customer", encoded: JSONWriter.bytes(customer)) }
            header.field("found", result.customer != nil)
            header.field("query_id", result.queryID)
        case .confirm(let confirm):
            header.field("delivery_id", confirm.deliveryID)
            header.field("repeat", confirm.repeated)
            header.field("state", confirm.state)
        case .error(let error):
            header.field("code", error.code.rawValue)
            header.field("delivery_id", error.deliveryID)
            header.field("detail", error.detail)
            header.field("reason", error.reason)
        case .reply(let reply):
            if reply.close { header.field("close", true) }
            if reply.contentType != Publish.defaultContentType { header.field("content_type", reply.contentType) }
            header.field("delivery_id", reply.deliveryID)
            header.field("reply_id", reply.replyID)
        case .replied(let replied):
            header.field("conversation_id", replied.conversationID)
            header.field("delivery_id", replied.deliveryID)
            header.field("outbound_id", replied.outboundID)
            header.field("repeat", replied.repeated)
            header.field("reply_id", replied.replyID)
        case .hello(let hello):
            header.field("channels", hello.channels)
            header.field("heartbeat_ms", hello.heartbeatMs)
        case .deliver(let deliver):
            header.field("attempt", deliver.attempt)
            header.field("campaign_id", deliver.campaignID)
            header.field("channel", deliver.channel)
            if deliver.contentType != Publish.defaultContentType { header.field("content_type", deliver.contentType) }
            header.field("conversation_id", deliver.conversationID)
            header.field("expires_at", deliver.expiresAt)
            header.field("idempotency_key", deliver.idempotencyKey)
            header.field("in_reply_to", deliver.inReplyTo)
            header.field("language", deliver.language)
            header.field("outbound_id", deliver.outboundID)
            header.field("thread", deliver.thread)
            header.field("to", deliver.to)
        case .sent(let sent):
            header.field("outbound_id", sent.outboundID)
            header.field("reference", sent.reference)
        case .undeliverable(let undeliverable):
            header.field("outbound_id", undeliverable.outboundID)
            header.field("reason", undeliverable.reason)
            header.field("retry_after_ms", undeliverable.retryAfterMs)
        case .openContacts(let open):
            header.field("contacts", encoded: JSONWriter.bytes(.array(open.contacts)))
            header.field("customer_id", open.customerID)
            header.field("found", open.found)
            header.field("query_id", open.queryID)
        case .ping, .pong, .heartbeat, .bye:
            break
        }
        return header.finish()
    }
}
