import Foundation
import Postgres
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Synchronization
import Testing
import ZeroMQ

/// One hostile input and the documented answer to it (protocols/gateway.md §6, worker.md §6).
struct HostileInput: Sendable, CustomStringConvertible {
    enum Socket: Sendable { case gateway, worker }
    enum Answer: Sendable, Equatable {
        /// NACK with this code and detail; the raw frames are quarantined.
        case nack(NackCode, String)
        /// ERROR with this code and detail; the raw frames are quarantined.
        case error(WorkerError.Code, String)
        /// ERROR with this code and detail, a routine race rather than bad input: answered and
        /// counted, not quarantined.
        case routine(WorkerError.Code, String)
        /// libzmq drops the connection before the hub sees the message (over the size limit).
        case dropped
    }

    var description: String
    var socket: Socket
    /// Sent first on the same connection (each answered), e.g. READY or the original of a replay.
    var before: [[[UInt8]]] = []
    var frames: [[UInt8]]
    var answer: Answer
}

/// The catalogue of hostile inputs.
enum HostileCatalogue {
    static func frames(_ command: String, _ header: String, body: [UInt8]? = nil, version: String = "SWB/1") -> [[UInt8]] {
        [Array(version.utf8), Array(command.utf8), Array(header.utf8)] + (body.map { [$0] } ?? [])
    }
    static func publish(_ header: String, body: [UInt8] = Array("help".utf8)) -> [[UInt8]] { frames("PUBLISH", header, body: body) }
    static let good = #"{"message_id":"h-1","channel":"sms","occurred_at":1}"#
    static func with(_ fields: String) -> String { #"{"message_id":"h-1","channel":"sms","occurred_at":1,"# + fields + "}" }
    static let ready = frames("READY", #"{"worker_id":"hostile-w","queues":["marketing"],"capacity":1}"#)

    static func gateway(_ description: String, _ frames: [[UInt8]], _ detail: String, before: [[[UInt8]]] = []) -> HostileInput {
        HostileInput(description: description, socket: .gateway, before: before, frames: frames, answer: .nack(.invalid, detail))
    }
    static func worker(_ description: String, _ frames: [[UInt8]], _ code: WorkerError.Code, _ detail: String, ready: Bool = false) -> HostileInput {
        HostileInput(description: description, socket: .worker, before: ready ? [Self.ready] : [], frames: frames, answer: .error(code, detail))
    }
    static func routine(_ description: String, _ frames: [[UInt8]], _ code: WorkerError.Code, _ detail: String, ready: Bool = false)
        -> HostileInput
    {
        HostileInput(description: description, socket: .worker, before: ready ? [Self.ready] : [], frames: frames, answer: .routine(code, detail))
    }

    static let all: [HostileInput] = [
        // Framing
        gateway("one empty frame", [[]], "malformed_frames"),
        gateway("the version frame alone", [Array("SWB/1".utf8)], "malformed_frames"),
        gateway("version and command, no header", [Array("SWB/1".utf8), Array("PUBLISH".utf8)], "malformed_frames"),
        gateway("PUBLISH without its body frame", frames("PUBLISH", good), "malformed_frames"),
        gateway("PUBLISH with an extra frame", publish(good) + [[1, 2, 3]], "malformed_frames"),
        gateway("a thousand frames", publish(good) + Array(repeating: [0], count: 1000), "malformed_frames"),
        gateway("PING with a body frame", frames("PING", "{}", body: [1]), "malformed_frames"),
        // Version and command
        gateway("protocol version SWB/2", frames("PUBLISH", good, body: [], version: "SWB/2"), "unsupported_version"),
        gateway("an empty version frame", frames("PUBLISH", good, body: [], version: ""), "unsupported_version"),
        gateway("a lower-case version", frames("PUBLISH", good, body: [], version: "swb/1"), "unsupported_version"),
        gateway("an HTTP request line", [Array("GET / HTTP/1.1".utf8), Array("Host".utf8), Array("x".utf8)], "unsupported_version"),
        gateway("an unknown command", frames("SHOUT", "{}"), "unknown_command"),
        gateway("a lower-case command", frames("publish", good, body: []), "unknown_command"),
        gateway("a worker's READY on the gateway socket", ready, "unknown_command"),
        gateway("the hub's ACK sent back to it", frames("ACK", #"{"message_id":"x","interaction_id":1}"#), "unknown_command"),
        // Header JSON
        gateway("a header that is not JSON", publish("message_id=h-1"), "malformed_header"),
        gateway("a truncated header", publish(#"{"message_id":"h-1","chan"#), "malformed_header"),
        gateway("a JSON array header", publish(#"["h-1","sms"]"#), "malformed_header"),
        gateway("a NUL byte in the header", [Array("SWB/1".utf8), Array("PUBLISH".utf8), Array(good.utf8) + [0], []], "malformed_header"),
        gateway(
            "overlong UTF-8 in the header",
            [
                Array("SWB/1".utf8), Array("PUBLISH".utf8),
                Array(#"{"message_id":"h-"#.utf8) + [0xC0, 0xAF] + Array(#"","channel":"sms","occurred_at":1}"#.utf8), [],
            ], "malformed_header"),
        gateway("a header nested 10,000 deep", publish(String(repeating: "[", count: 10_000)), "malformed_header"),
        gateway("a key given twice", publish(#"{"message_id":"h-1","message_id":"h-2","channel":"sms","occurred_at":1}"#), "malformed_header"),
        gateway("trailing bytes after the header", publish(good + "{}"), "malformed_header"),
        // Fields
        gateway("no message_id", publish(#"{"channel":"sms","occurred_at":1}"#), "missing_field"),
        gateway("no channel", publish(#"{"message_id":"h-1","occurred_at":1}"#), "missing_field"),
        gateway("no occurred_at", publish(#"{"message_id":"h-1","channel":"sms"}"#), "missing_field"),
        gateway("an integer beyond 64 bits in an unknown field", publish(with(#""sequence":18446744073709551616"#)), "malformed_header"),
        gateway(
            "an occurred_at beyond 64 bits", publish(#"{"message_id":"h-1","channel":"sms","occurred_at":99999999999999999999}"#), "malformed_header"),
        gateway(
            "a 200,000-byte unknown header field", publish(with(#""padding":""# + String(repeating: "x", count: 200_000) + #"""#)), "header_too_large"
        ),
        gateway(
            "a message_id with a no-break space (U+00A0)", publish(#"{"message_id":"h\u00a01","channel":"sms","occurred_at":1}"#), "invalid_field"),
        gateway(
            "a message_id with NEXT LINE (U+0085), a control character", publish(#"{"message_id":"h\u00851","channel":"sms","occurred_at":1}"#),
            "invalid_field"),
        gateway(
            "a message_id with an ideographic space (U+3000)", publish(#"{"message_id":"h\u30001","channel":"sms","occurred_at":1}"#), "invalid_field"
        ),
        gateway("a numeric message_id", publish(#"{"message_id":17,"channel":"sms","occurred_at":1}"#), "invalid_field"),
        gateway("an empty message_id", publish(#"{"message_id":"","channel":"sms","occurred_at":1}"#), "invalid_field"),
        gateway(
            "a 10 KB message_id", publish(#"{"message_id":""# + String(repeating: "x", count: 10_000) + #"","channel":"sms","occurred_at":1}"#),
            "invalid_field"),
        gateway("occurred_at as text", publish(#"{"message_id":"h-1","channel":"sms","occurred_at":"yesterday"}"#), "invalid_field"),
        gateway("priority 10", publish(with(#""priority":10"#)), "invalid_field"),
        gateway("a negative priority", publish(with(#""priority":-1"#)), "invalid_field"),
        gateway("an unknown process", publish(with(#""process":"payroll""#)), "invalid_field"),
        gateway("hints that are a string", publish(with(#""hints":"sara@example.com""#)), "invalid_field"),
        gateway(
            "a hundred attributes", publish(with(#""attributes":{"# + (0..<100).map { #""a\#($0)":"v""# }.joined(separator: ",") + "}")),
            "invalid_field"),
        gateway("an unknown channel", publish(#"{"message_id":"h-1","channel":"pager","occurred_at":1}"#), "unknown_channel"),
        // Body and identity
        gateway("a body over max_body_bytes", publish(good, body: [UInt8](repeating: 0x41, count: 5000)), "body_too_large"),
        gateway("invalid UTF-8 in a text body", publish(good, body: [0xE2, 0x28, 0xA1]), "invalid_text"),
        gateway("overlong UTF-8 in a text body", publish(good, body: [0xC0, 0xAF]), "invalid_text"),
        gateway("a UTF-16 surrogate in a text body", publish(good, body: [0xED, 0xA0, 0x80]), "invalid_text"),
        gateway("a NUL byte in a text body", publish(good, body: Array("help\u{0}me".utf8)), "invalid_text"),
        gateway("an unknown hint", publish(with(#""hints":{"pager":"555"}"#)), "invalid_field"),
        gateway(
            "a replayed message id with other content",
            publish(#"{"message_id":"replay-1","channel":"sms","occurred_at":1}"#, body: Array("other".utf8)),
            "message_id_reused", before: [publish(#"{"message_id":"replay-1","channel":"sms","occurred_at":1}"#, body: Array("original".utf8))]),
        HostileInput(
            description: "a 100 MB body", socket: .gateway, frames: publish(good, body: [UInt8](repeating: 0x41, count: 100 << 20)), answer: .dropped),
        // Worker socket
        routine("DONE before READY", frames("DONE", #"{"delivery_id":1,"outcome":"ok"}"#), .notReady, "not_ready"),
        routine("BYE before READY", frames("BYE", ""), .notReady, "not_ready"),
        worker("capacity 0", frames("READY", #"{"worker_id":"w","queues":["sales"],"capacity":0}"#), .invalid, "invalid_field"),
        worker("a negative capacity", frames("READY", #"{"worker_id":"w","queues":["sales"],"capacity":-5}"#), .invalid, "invalid_field"),
        worker("queues that are a string", frames("READY", #"{"worker_id":"w","queues":"sales","capacity":1}"#), .invalid, "invalid_field"),
        worker("an unknown queue", frames("READY", #"{"worker_id":"w","queues":["payroll"],"capacity":1}"#), .invalid, "unknown_queue"),
        worker("READY twice", ready, .invalid, "duplicate_ready", ready: true),
        routine(
            "DONE for an unknown delivery id", frames("DONE", #"{"delivery_id":424242,"outcome":"ok"}"#), .notHeld, "unknown_delivery", ready: true),
        routine(
            "FAIL for an unknown delivery id", frames("FAIL", #"{"delivery_id":434343,"reason":"x","retry_after_ms":0}"#), .notHeld,
            "unknown_delivery", ready: true),
        worker("a delivery id as text", frames("DONE", #"{"delivery_id":"seven","outcome":"ok"}"#), .invalid, "invalid_field", ready: true),
        worker("a gateway's PUBLISH on the worker socket", publish(good), .invalid, "unknown_command", ready: true),
        worker("protocol version SWB/0 from a worker", frames("HEARTBEAT", "{}", version: "SWB/0"), .invalid, "unsupported_version"),
    ]
}

@Suite("Hostile input catalogue: every case answered as documented, kept, and a polite client served throughout")
struct HostileInputTests {
    @Test("the catalogue has at least 40 cases, gateway and worker")
    func catalogueSize() {
        #expect(HostileCatalogue.all.count >= 40)
        #expect(HostileCatalogue.all.contains { $0.socket == .worker })
    }

    @Test("all hostile inputs over real sockets, one hub, while a polite gateway and worker keep working")
    func catalogue() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        // Hostile workers send no heartbeats; on a loaded machine they must not be given up mid-case.
        config.dispatch.heartbeatTimeoutMs = 60_000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let polite = PoliteTraffic(hub.endpoints)
        defer { polite.stop() }

        let context = Context()
        for (index, input) in HostileCatalogue.all.enumerated() {
            let socket = try context.socket(.dealer)
            defer { socket.close() }
            try socket.setRoutingID(Array("hostile-\(index)".utf8))
            try socket.setReceiveTimeout(input.answer == .dropped ? 2000 : 15_000)
            try socket.connect(input.socket == .gateway ? hub.endpoints.gateway : hub.endpoints.worker)
            for setup in input.before {
                try socket.send(setup)
                _ = try #require(try socket.receive(), "\(input): no answer to its set-up")
            }
            try socket.send(input.frames)
            // A registered worker also gets the hub's HEARTBEATs; the answer is the first other command.
            var reply: Command?
            repeat {
                reply = try socket.receive().map { try Codec.decode($0.frames, limits: .client) }
            } while reply == .heartbeat
            switch (input.answer, reply) {
            case (.nack(let code, let detail), .nack(let nack)?):
                #expect(nack.code == code && nack.detail == detail, "\(input): got \(nack.code)/\(nack.detail): \(nack.reason)")
                #expect(!nack.reason.isEmpty)
            case (.error(let code, let detail), .error(let error)?), (.routine(let code, let detail), .error(let error)?):
                #expect(error.code == code && error.detail == detail, "\(input): got \(error.code)/\(error.detail): \(error.reason)")
            case (.dropped, nil):
                break
            default:
                Issue.record("\(input): expected \(input.answer), got \(String(describing: reply))")
            }
        }

        for input in HostileCatalogue.all {
            let detail: String
            switch input.answer {
            case .nack(_, let value), .error(_, let value): detail = value
            case .routine:
                let raw = QuarantineEntry(role: "", peer: "", messageID: nil, code: "", reason: "", frames: input.frames).raw
                #expect(try database.count("SELECT count(*) FROM quarantine WHERE raw = $1", [.bytes(raw)]) == 0, "\(input): quarantined")
                continue
            case .dropped: continue
            }
            let raw = QuarantineEntry(role: "", peer: "", messageID: nil, code: "", reason: "", frames: input.frames).raw
            #expect(
                try eventually {
                    try database.count("SELECT count(*) FROM quarantine WHERE code = $1 AND raw = $2", [.text(detail), .bytes(raw)]) >= 1
                },
                "\(input): its raw frames are not in the quarantine")
        }
        #expect(eventually(timeoutMs: 10_000) { polite.ackedSoFar >= 3 }, "the polite gateway is served after the catalogue")
        let served = polite.stop()
        #expect(served.acked == served.published, "every polite message is ACKed: \(polite.failures.withLock { $0 })")
        #expect(
            eventually(timeoutMs: 30_000) { polite.completed >= served.acked },
            "the polite worker completes every polite message: \(polite.completed) of \(served.acked)")
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'polite'") == served.acked)
    }
}

/// A well-behaved gateway and worker, each on its own thread, for the length of a test.
final class PoliteTraffic: Sendable {
    private let running = Atomic<Bool>(true)
    private let published = Atomic<Int>(0)
    private let acked = Atomic<Int>(0)
    private let completedCount = Atomic<Int>(0)
    private let gatewayFinished = Atomic<Bool>(false)
    let failures = Mutex<[String]>([])

    init(_ endpoints: HubEndpoints) {
        Thread { [self] in
            defer { gatewayFinished.store(true, ordering: .releasing) }
            guard let gateway = try? GatewayClient(name: "polite", endpoint: endpoints.gateway) else { return }
            var sequence = 0
            while running.load(ordering: .acquiring) {
                sequence += 1
                published.add(1, ordering: .relaxed)
                do {
                    _ = try gateway.publish(Messages.publish("polite-\(sequence)", "buy", process: .sales), timeoutMs: 30_000, retries: 20)
                    acked.add(1, ordering: .relaxed)
                } catch {
                    failures.withLock { $0.append("polite-\(sequence): \(error)") }
                }
                usleep(5000)
            }
        }.start()
        Thread { [self] in
            guard
                let worker = try? WorkerClient(registration: Ready(workerID: "polite-w", queues: ["sales"], capacity: 4), endpoint: endpoints.worker),
                (try? worker.ready()) != nil
            else { return }
            // Until the gateway has stopped (its last publish may still be waiting for its ACK) and all is done.
            while !gatewayFinished.load(ordering: .acquiring) || completedCount.load(ordering: .acquiring) < acked.load(ordering: .acquiring) {
                guard case .task(let task)? = try? worker.next(timeoutMs: 50) else { continue }
                if (try? worker.done(task.deliveryID, outcome: "ok")) != nil { completedCount.add(1, ordering: .releasing) }
            }
        }.start()
    }

    var completed: Int { completedCount.load(ordering: .acquiring) }
    var ackedSoFar: Int { acked.load(ordering: .acquiring) }

    /// Stops publishing and returns what was published and ACKed; the worker finishes what is left.
    @discardableResult
    func stop() -> (published: Int, acked: Int) {
        running.store(false, ordering: .releasing)
        // A publish in flight is let finish: what it returns is part of the record.
        for _ in 0..<6000 where !gatewayFinished.load(ordering: .acquiring) { usleep(10_000) }
        return (published.load(ordering: .acquiring), acked.load(ordering: .acquiring))
    }
}
