import Testing

@testable import SwitchboardProtocol

@Suite("SWB/1 codec")
struct CodecTests {
    static let publish = Publish(
        messageID: "ivr-1-0001", channel: "phone", occurredAt: 1_790_000_000_000,
        hints: IdentityHints(phone: "۰۹۱۲ ۳۴۵ ۶۷۸۹", email: "a@b.example", externalID: "CRM-1", deviceID: "cookie-9", name: "Sara"),
        intent: "billing", process: .support, priority: 7, language: "fa", body: Array("سلام، مشکل دارم".utf8),
        attributes: ["ivr_path": "1-3-2"])

    static let commands: [Command] = [
        .publish(publish),
        .publish(Publish(messageID: "m", channel: "fax", occurredAt: 0, contentType: "image/tiff", body: [0, 1, 2, 255])),
        .publish(
            Publish(
                messageID: "p", channel: "chat", occurredAt: 0,
                hints: IdentityHints(fax: "+98 21 8888 1234", chat: "livechat:v-1", social: "telegram:@sara", kind: .partner), body: [])),
        .ack(Ack(messageID: "m", interactionID: 1, customerID: 2, queue: "support", duplicate: false)),
        .nack(Nack(messageID: "m", code: .overloaded, detail: "gateway_window", reason: "too many", retryAfterMs: 100)),
        .nack(Nack(messageID: nil, code: .invalid, detail: "malformed_frames", reason: "x")),
        .ping, .pong, .heartbeat, .bye,
        .ready(Ready(workerID: "w1", queues: ["sales", "support"], capacity: 4, skills: ["billing"], languages: ["fa", "ru"])),
        .ready(Ready(workerID: "w2", queues: ["support"], capacity: 1, accepts: true)),
        .accept(Accept(deliveryID: 9)),
        .reject(Reject(deliveryID: 9, reason: "not my language")),
        .reject(Reject(deliveryID: 9)),
        .reject(Reject(deliveryID: 9, reason: "at capacity", busy: true)),
        .transfer(Transfer(deliveryID: 9, queue: "field_service", reason: "needs a site visit")),
        .welcome(Welcome(workerID: "w1", heartbeatMs: 1000)),
        .task(
            TaskOffer(
                deliveryID: 9, attempt: 2, deadline: 5, queue: "sales", priority: 3, interaction: ["id": 1], customer: ["id": 2, "identities": []],
                body: [1, 2])),
        .done(Done(deliveryID: 9, outcome: "resolved", notes: "called back")),
        .done(
            Done(
                deliveryID: 9, outcome: "refund_issued", resolution: "refunded", complaintID: 4, feedback: Feedback(kind: .nps, score: 0),
                customer: CustomerUpdate(name: "Sara", segment: "smb", consent: ["sms": true], attributes: ["plan": "fiber"]))),
        .fail(Fail(deliveryID: 9, disposition: .retryAfter(milliseconds: 500))),
        .fail(Fail(deliveryID: 9, disposition: .retryWithBackoff)),
        .fail(Fail(deliveryID: 9, disposition: .reject(reason: "spam"))),
        .confirm(Confirm(deliveryID: 9, state: "done")),
        .query(CustomerQuery(queryID: "q-1", customerID: 17)),
        .query(CustomerQuery(queryID: "q-2", identityKind: "email", identityValue: "sara@example.com")),
        .result(QueryResult(queryID: "q-1", customer: ["id": 17, "identities": [["kind": "email", "value": "sara@example.com"]]])),
        .result(QueryResult(queryID: "q-2", customer: nil)),
        .error(WorkerError(code: .notHeld, detail: "not_held", reason: "no", deliveryID: 9)),
        .done(Done(deliveryID: 9, outcome: "resolved", closeConversation: true)),
        .publish(Publish(messageID: "m-t", channel: "email", occurredAt: 1, body: Array("re: parcel".utf8), thread: "<root@example.com>")),
        .reply(Reply(deliveryID: 9, replyID: "r-1", body: Array("سلام، پیگیری شد".utf8))),
        .reply(Reply(deliveryID: 9, replyID: "r-2", contentType: "application/pdf", body: [0, 1, 2], close: true)),
        .replied(Replied(deliveryID: 9, replyID: "r-1", outboundID: 4, conversationID: 88, repeated: true)),
        .hello(Hello(channels: ["sms", "email"])),
        .hello(Hello(channels: ["sms"], heartbeatMs: 1000)),
        .deliver(
            Deliver(
                outboundID: 4, idempotencyKey: "3f1c9a2e-5b7d-4e0a-9c61-2d8f0b7a4e13", channel: "sms", to: ["phone": "+989123456789"],
                conversationID: 88, thread: "t-1", inReplyTo: "m-1", language: "fa", attempt: 2, expiresAt: 1_795_516_800_000, campaignID: 3,
                body: Array("پاسخ".utf8))),
        .sent(Sent(outboundID: 4, reference: "provider-991")),
        .sent(Sent(outboundID: 4)),
        .undeliverable(Undeliverable(outboundID: 4, reason: "number not in service")),
        .undeliverable(Undeliverable(outboundID: 4, reason: "throttled", retryAfterMs: 5000)),
        .status(StatusQuery(queryID: "s-1", customerID: 17)),
        .status(StatusQuery(queryID: "s-2", identityKind: "phone", identityValue: "09123456789")),
        .openContacts(OpenContacts(queryID: "s-1", customerID: 17, contacts: [["delivery_id": 5, "position": 2, "state": "waiting"]])),
        .openContacts(OpenContacts(queryID: "s-2", customerID: nil, contacts: [])),
    ]

    @Test("every command decodes to itself and re-encodes to the same frames", arguments: commands)
    func roundTrip(_ command: Command) throws {
        let frames = Codec.encode(command)
        let decoded = try Codec.decode(frames, limits: DecodingLimits())
        #expect(decoded == command)
        #expect(Codec.encode(decoded) == frames)
    }

    static func frames(_ command: String, _ header: String, body: [UInt8]? = nil) -> [[UInt8]] {
        [Array("SWB/1".utf8), Array(command.utf8), Array(header.utf8)] + (body.map { [$0] } ?? [])
    }

    static let valid = #"{"message_id":"m1","channel":"sms","occurred_at":1}"#

    static let rejections: [(String, [[UInt8]], ProtocolError.Code)] = [
        ("one frame", [Array("SWB/1".utf8)], .malformedFrames),
        ("wrong version", [Array("SWB/2".utf8), Array("PING".utf8), []], .unsupportedVersion),
        ("unknown command", frames("PUBLISHX", "{}"), .unknownCommand),
        ("missing body frame", frames("PUBLISH", valid), .malformedFrames),
        ("extra frame", frames("PING", "{}") + [[1]], .malformedFrames),
        ("header not JSON", frames("PUBLISH", "{oops", body: []), .malformedHeader),
        ("header is an array", frames("PUBLISH", "[]", body: []), .malformedHeader),
        ("missing message id", frames("PUBLISH", #"{"channel":"sms","occurred_at":1}"#, body: []), .missingField),
        ("message id with a space", frames("PUBLISH", #"{"message_id":"a b","channel":"sms","occurred_at":1}"#, body: []), .invalidField),
        ("message id with U+00A0", frames("PUBLISH", #"{"message_id":"a\u00a0b","channel":"sms","occurred_at":1}"#, body: []), .invalidField),
        ("message id with U+0085", frames("PUBLISH", #"{"message_id":"a\u0085b","channel":"sms","occurred_at":1}"#, body: []), .invalidField),
        ("message id with U+3000", frames("PUBLISH", #"{"message_id":"a\u3000b","channel":"sms","occurred_at":1}"#, body: []), .invalidField),
        ("message id with U+2028", frames("PUBLISH", #"{"message_id":"a\u2028b","channel":"sms","occurred_at":1}"#, body: []), .invalidField),
        (
            "integer beyond 64 bits", frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":9223372036854775808}"#, body: []),
            .malformedHeader
        ),
        (
            "header over 128 KiB",
            frames(
                "PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"x":""# + String(repeating: "x", count: 131_072) + #""}"#, body: []),
            .headerTooLarge
        ),
        ("unknown channel", frames("PUBLISH", #"{"message_id":"m1","channel":"pager","occurred_at":1}"#, body: []), .unknownChannel),
        ("REPLY without its body frame", frames("REPLY", #"{"delivery_id":1,"reply_id":"r"}"#), .malformedFrames),
        ("REPLY text that is not UTF-8", frames("REPLY", #"{"delivery_id":1,"reply_id":"r"}"#, body: [0xC3, 0x28]), .invalidText),
        ("REPLY without a reply id", frames("REPLY", #"{"delivery_id":1}"#, body: []), .missingField),
        ("HELLO without channels", frames("HELLO", "{}"), .missingField),
        ("HELLO with a channel with a space", frames("HELLO", #"{"channels":["s ms"]}"#), .invalidField),
        ("UNDELIVERABLE without a reason", frames("UNDELIVERABLE", #"{"outbound_id":1}"#), .missingField),
        ("SENT for outbound id 0", frames("SENT", #"{"outbound_id":0}"#), .invalidField),
        ("STATUS with neither id nor identity", frames("STATUS", #"{"query_id":"q"}"#), .invalidField),
        (
            "STATUS with both id and identity", frames("STATUS", #"{"query_id":"q","customer_id":1,"identity":{"kind":"phone","value":"1"}}"#),
            .invalidField
        ),
        ("occurred_at as string", frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":"now"}"#, body: []), .invalidField),
        ("priority out of range", frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"priority":12}"#, body: []), .invalidField),
        ("unknown process", frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"process":"hr"}"#, body: []), .invalidField),
        ("unknown hint", frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"hints":{"pager":"1"}}"#, body: []), .invalidField),
        (
            "attribute not a string", frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"attributes":{"a":1}}"#, body: []),
            .invalidField
        ),
        ("body too large", frames("PUBLISH", valid, body: [UInt8](repeating: 65, count: 1025)), .bodyTooLarge),
        ("invalid UTF-8 text body", frames("PUBLISH", valid, body: [0xC3, 0x28]), .invalidText),
        ("NUL in text body", frames("PUBLISH", valid, body: [0x41, 0x00]), .invalidText),
        ("READY with no queues", frames("READY", #"{"worker_id":"w","queues":[],"capacity":1}"#), .invalidField),
        ("READY with negative capacity", frames("READY", #"{"worker_id":"w","queues":["sales"],"capacity":-1}"#), .invalidField),
        ("FAIL with both dispositions", frames("FAIL", #"{"delivery_id":1,"retry_after_ms":1,"reject":"x"}"#), .invalidField),
        ("DONE with delivery id 0", frames("DONE", #"{"delivery_id":0,"outcome":"ok"}"#), .invalidField),
        ("DONE naming a complaint without a resolution", frames("DONE", #"{"delivery_id":1,"outcome":"ok","complaint_id":3}"#), .missingField),
        ("DONE with a CSAT out of range", frames("DONE", #"{"delivery_id":1,"outcome":"ok","feedback":{"type":"csat","score":0}}"#), .invalidField),
        ("DONE with consent not a boolean", frames("DONE", #"{"delivery_id":1,"outcome":"ok","customer":{"consent":{"sms":"yes"}}}"#), .invalidField),
        ("DONE with an unknown customer member", frames("DONE", #"{"delivery_id":1,"outcome":"ok","customer":{"tier":"gold"}}"#), .invalidField),
        (
            "survey without answers",
            frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"feedback":{"type":"survey"}}"#, body: []), .missingField
        ),
        (
            "answers on a score",
            frames(
                "PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"feedback":{"type":"nps","score":1,"answers":{"a":1}}}"#, body: []),
            .invalidField
        ),
        (
            "feedback not an object", frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"feedback":"great"}"#, body: []),
            .invalidField
        ),
    ]

    @Test("headers written field by field are the canonical JSON of their object (sorted keys, compact)", arguments: commands)
    func canonicalHeader(_ command: Command) throws {
        let header = Codec.encode(command)[2]
        #expect(JSONWriter.bytes(try JSONParser.parse(header)) == header, "\(String(decoding: header, as: UTF8.self))")
    }

    @Test("a TASK with its objects given as JSON text carries them as they are")
    func taskWithEncodedObjects() throws {
        // PostgreSQL's jsonb text: spaces, and its own key order.
        let customer = Array(#"{"id": 17, "kind": "person", "recent": [{"channel": "sms", "interaction_id": 4}]}"#.utf8)
        let interaction = Array(#"{"id":4,"channel":"sms"}"#.utf8)
        let frames = Codec.taskFrames(
            deliveryID: 9, attempt: 1, deadline: 5, queue: "support", priority: 2, interaction: interaction, customer: customer, body: [7])
        guard case .task(let task) = try Codec.decode(frames) else {
            Issue.record("not a TASK")
            return
        }
        #expect(task.customer == (try JSONParser.parse(customer)))
        #expect(task.interaction == (try JSONParser.parse(interaction)))
        #expect(task.deliveryID == 9 && task.queue == "support" && task.priority == 2 && task.body == [7])
    }

    @Test("refuses bad input with the documented code", arguments: rejections)
    func rejects(_ name: String, _ frames: [[UInt8]], _ code: ProtocolError.Code) {
        do {
            _ = try Codec.decode(frames, limits: DecodingLimits(maxBodyBytes: 1024))
            Issue.record("\(name) was accepted")
        } catch {
            #expect(error.code == code, "\(name): \(error.reason)")
            #expect(!error.reason.isEmpty)
        }
    }

    @Test("a body is text for every text/* content type in any case, and is checked as UTF-8 only then")
    func textContentTypes() {
        for (type, isText) in [
            ("text/plain; charset=utf-8", true), ("Text/HTML", true), ("TEXT/", true), ("text/x-\u{017F}", true),
            ("application/json", false), ("text", false), ("tex/plain", false), (" text/plain", false), ("text\u{0F}", false),
            ("texT\u{2215}", false), ("", false),
        ] {
            #expect(Publish(messageID: "m", channel: "sms", occurredAt: 0, contentType: type, body: []).isText == isText, "\(type)")
        }
        let binary = Self.frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"content_type":"image/png"}"#, body: [0xC3, 0x28])
        #expect((try? Codec.decode(binary)) != nil)
        let upper = Self.frames("PUBLISH", #"{"message_id":"m1","channel":"sms","occurred_at":1,"content_type":"TEXT/PLAIN"}"#, body: [0xC3, 0x28])
        #expect(throws: ProtocolError.self) { try Codec.decode(upper) }
    }

    @Test("a text body's stored bytes are the body itself when valid, else its UTF-8 with U+FFFD for each bad sequence")
    func textBytes() {
        let valid = Publish(messageID: "m", channel: "sms", occurredAt: 0, body: Array("сломался 😀".utf8))
        #expect(valid.textBytes == valid.body)
        let invalid = Publish(messageID: "m", channel: "sms", occurredAt: 0, body: [0x61, 0xC3, 0x28])
        #expect(invalid.textBytes == Array("a\u{FFFD}(".utf8))
        #expect(Publish(messageID: "m", channel: "sms", occurredAt: 0, contentType: "application/pdf", body: [0xC3]).textBytes == nil)
    }

    @Test("message ids may be in any script", arguments: ["پیام-۱۲", "сообщение-1", "メッセージ", "a_b.c:d/e", "😀"])
    func messageIDsInAnyScript(id: String) throws {
        let command = try Codec.decode(Self.frames("PUBLISH", #"{"message_id":"\#(id)","channel":"sms","occurred_at":1}"#, body: []))
        guard case .publish(let publish) = command else { Issue.record("not a PUBLISH: \(command)"); return }
        #expect(publish.messageID == id)
    }

    @Test("a refused PUBLISH still names its message id so the NACK can")
    func refusalCarriesMessageID() {
        let frames = Self.frames("PUBLISH", #"{"message_id":"m7","channel":"pager","occurred_at":1}"#, body: [])
        do {
            _ = try Codec.decode(frames)
            Issue.record("unknown channel was accepted")
        } catch {
            #expect(error.code == .unknownChannel)
            #expect(error.messageID == "m7")
        }
    }

    @Test("every protocol error maps to the wire code invalid")
    func wireCodes() {
        for code in ProtocolError.Code.allCases { #expect(ProtocolError(code, "x").wireCode == .invalid) }
    }
}
