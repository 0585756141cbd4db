import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Interaction summary in TASK")
struct InteractionSummaryTests {
    @Test("written straight to bytes, it is the canonical JSON of every field a worker reads")
    func encodedFields() throws {
        let full = InteractionSummary(
            id: 42, gateway: "ivr-1", messageID: "m \"7\"", channel: "phone", occurredAt: 1_790_000_000_000, receivedAt: 1_790_000_000_500,
            intent: "billing", language: "fa", contentType: "text/plain", attributes: ["ivr_path": "1-3", "note": "سلام\n"],
            routeReason: "keywords: invoice")
        let bare = InteractionSummary(
            id: 1, gateway: "fax", messageID: "f", channel: "fax", occurredAt: 0, receivedAt: 1, contentType: "image/tiff", routeReason: "default")
        for summary in [full, bare] {
            let bytes = summary.encoded
            let parsed = try JSONParser.parse(bytes)
            #expect(JSONWriter.bytes(parsed) == bytes)
            var expected: [String: JSONValue] = [
                "id": .integer(summary.id), "gateway": .string(summary.gateway), "message_id": .string(summary.messageID),
                "channel": .string(summary.channel), "occurred_at": .integer(summary.occurredAt), "received_at": .integer(summary.receivedAt),
                "content_type": .string(summary.contentType), "attributes": .object(summary.attributes.mapValues { .string($0) }),
                "route_reason": .string(summary.routeReason),
            ]
            if let intent = summary.intent { expected["intent"] = .string(intent) }
            if let language = summary.language { expected["language"] = .string(language) }
            #expect(parsed == .object(expected))
        }
    }
}
