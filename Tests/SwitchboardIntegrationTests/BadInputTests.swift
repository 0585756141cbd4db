import Foundation
import SwitchboardClient
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Testing
import ZeroMQ

@Suite("Bad input is answered, logged, quarantined, and harms no one else")
struct BadInputTests {
    static let header = #"{"message_id":"bad-1","channel":"sms","occurred_at":1}"#

    static func frames(_ command: String, _ header: String, body: [UInt8]? = nil) -> [[UInt8]] {
        [Array("SWB/1".utf8), Array(command.utf8), Array(header.utf8)] + (body.map { [$0] } ?? [])
    }

    static let gatewayCases: [(name: String, frames: [[UInt8]], detail: String)] = [
        ("a single frame", [Array("SWB/1".utf8)], "malformed_frames"),
        ("a wrong protocol version", [Array("SWB/9".utf8), Array("PUBLISH".utf8), Array(header.utf8), []], "unsupported_version"),
        ("an unknown command", frames("SHOUT", "{}"), "unknown_command"),
        ("a worker command on the gateway socket", frames("READY", #"{"worker_id":"w","queues":["sales"],"capacity":1}"#), "unknown_command"),
        ("a header that is not JSON", frames("PUBLISH", "{\"message_id\":", body: []), "malformed_header"),
        ("an unknown channel", frames("PUBLISH", #"{"message_id":"bad-1","channel":"pager","occurred_at":1}"#, body: []), "unknown_channel"),
        ("an oversized body", frames("PUBLISH", header, body: [UInt8](repeating: 0x41, count: 5000)), "body_too_large"),
        ("invalid UTF-8 in a text body", frames("PUBLISH", header, body: [0xE2, 0x28, 0xA1]), "invalid_text"),
        (
            "a customer kind that is neither consumer nor partner",
            frames("PUBLISH", #"{"message_id":"bad-1","channel":"sms","occurred_at":1,"hints":{"kind":"reseller"}}"#, body: []), "invalid_field"
        ),
        (
            "an occurred_at of the wrong type", frames("PUBLISH", #"{"message_id":"bad-1","channel":"sms","occurred_at":"yesterday"}"#, body: []),
            "invalid_field"
        ),
    ]

    @Test(
        "each bad gateway input gets NACK invalid with its detail, its raw frames are kept, a good gateway is still served",
        arguments: gatewayCases)
    func gatewayInput(_ name: String, _ frames: [[UInt8]], _ detail: String) throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let hostile = try GatewayClient(name: "hostile", endpoint: hub.endpoints.gateway)
        try hostile.sendRaw(frames)
        guard case .nack(let nack) = try #require(try hostile.receive(timeoutMs: 5000)) else {
            Issue.record("\(name): no NACK")
            return
        }
        #expect(nack.code == .invalid, "\(name)")
        #expect(nack.detail == detail, "\(name): \(nack.reason)")
        #expect(!nack.reason.isEmpty)
        #expect(try eventually { try database.count("SELECT count(*) FROM quarantine WHERE peer = 'hostile' AND code = $1", [.text(detail)]) == 1 })
        let raw = try database.value("SELECT encode(raw, 'hex') FROM quarantine WHERE peer = 'hostile'") ?? ""
        #expect(QuarantineEntry.frames(fromRaw: hexBytes(raw)) == frames)
        // The hub kept serving: a well-behaved gateway, and the hostile one with a good message.
        let ack = try GatewayClient(name: "polite", endpoint: hub.endpoints.gateway).publish(Messages.publish("ok-1"))
        #expect(ack.queue == "support")
        #expect(try hostile.publish(Messages.publish("ok-2")).interactionID > 0)
        #expect(try database.count("SELECT count(*) FROM interactions") == 2)
    }

    @Test("a flood of bad input from one gateway is answered and quarantined in full, but only its first refusals reach the log")
    func floodIsNotLoggedLineByLine() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        let hostile = try GatewayClient(name: "hostile", endpoint: hub.endpoints.gateway)
        let flood = 200
        for _ in 0..<flood { try hostile.sendRaw(Self.frames("SHOUT", "{}")) }
        var refused = 0
        while refused < flood, case .nack(let nack)? = try hostile.receive(timeoutMs: 5000) {
            #expect(nack.detail == "unknown_command")
            refused += 1
        }
        #expect(refused == flood)
        #expect(try eventually { try database.count("SELECT count(*) FROM quarantine WHERE peer = 'hostile'") == flood })
        // The default share is 20 lines per peer in 10 s; the rest are counted, not written.
        let leftOut = flood - RefusalLogLimiter().burst
        #expect(
            eventually { httpGet(http, "/metrics")?.body.contains("switchboard_refusals_not_logged_total \(leftOut)") ?? false },
            "\(httpGet(http, "/metrics")?.body ?? "no answer")")
        // Another gateway's refusal is still logged and answered.
        let other = try GatewayClient(name: "other", endpoint: hub.endpoints.gateway)
        try other.sendRaw(Self.frames("SHOUT", "{}"))
        guard case .nack(let nack)? = try other.receive(timeoutMs: 5000) else {
            Issue.record("no NACK for the other gateway")
            return
        }
        #expect(nack.detail == "unknown_command")
        #expect(eventually { httpGet(http, "/metrics")?.body.contains("switchboard_quarantined_total \(flood + 1)") ?? false })
        #expect(httpGet(http, "/metrics")?.body.contains("switchboard_refusals_not_logged_total \(leftOut)") == true)
    }

    @Test("a gateway without a routing id is told to set one")
    func anonymousGateway() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let context = Context()
        let socket = try rawDealer(context, hub.endpoints.gateway)
        try socket.send(Codec.encode(.publish(Messages.publish("anon-1"))))
        let reply = try #require(try socket.receive())
        guard case .nack(let nack) = try Codec.decode(reply.frames, limits: .client) else { Issue.record("no NACK"); return }
        #expect(nack.detail == "anonymous_gateway")
        #expect(nack.messageID == "anon-1")
    }

    @Test("bad worker input: malformed, before READY, unknown queue, a task it does not hold")
    func workerInput() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let context = Context()
        let socket = try rawDealer(context, hub.endpoints.worker)
        func exchange(_ frames: [[UInt8]]) throws -> WorkerError? {
            try socket.send(frames)
            for _ in 0..<20 {
                guard let message = try socket.receive() else { continue }
                switch try Codec.decode(message.frames, limits: .client) {
                case .error(let error): return error
                default: continue
                }
            }
            return nil
        }
        #expect(try exchange(Self.frames("DONE", #"{"delivery_id":1,"outcome":"ok"}"#))?.code == .notReady)
        #expect(try exchange(Self.frames("QUERY", #"{"query_id":"q","customer_id":1}"#))?.code == .notReady)
        #expect(try exchange(Self.frames("READY", #"{"worker_id":"w","queues":["sales"],"capacity":0}"#))?.detail == "invalid_field")
        #expect(try exchange(Self.frames("READY", #"{"worker_id":"w","queues":["payroll"],"capacity":1}"#))?.detail == "unknown_queue")
        try socket.send(Codec.encode(.ready(Ready(workerID: "w", queues: ["sales"], capacity: 1))))
        let notHeld = try exchange(Codec.encode(.done(Done(deliveryID: 424242, outcome: "ok"))))
        #expect(notHeld?.code == .notHeld)
        #expect(notHeld?.deliveryID == 424242)
        #expect(try exchange(Codec.encode(.publish(Messages.publish("p"))))?.detail == "unknown_command")
        #expect(try eventually { try database.count("SELECT count(*) FROM quarantine WHERE role = 'worker'") >= 3 })
        // The worker is still registered and served.
        _ = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway).publish(Messages.publish("s-1", "buy", process: .sales))
        var task: TaskOffer?
        for _ in 0..<50 where task == nil {
            guard let message = try socket.receive() else { continue }
            if case .task(let offer) = try Codec.decode(message.frames, limits: .client) { task = offer }
        }
        #expect(task?.queue == "sales")
    }
}

func hexBytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex, let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) {
        bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
        index = next
    }
    return bytes
}
