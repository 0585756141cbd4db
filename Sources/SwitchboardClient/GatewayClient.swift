import Glibc
import SwitchboardProtocol
import ZeroMQ

/// A channel gateway's connection to the hub (DEALER socket, SWB/1 gateway protocol).
///
/// Not thread-safe: use it from the thread that created it. `publish` waits for the answer;
/// `send` and `receive` let a gateway keep a window of messages in flight.
public final class GatewayClient {
    public let name: String
    private let context: Context
    private let socket: Socket
    /// Answers that arrived for other messages while `publish` waited for its own.
    private var early: [String: Result<Ack, Nack>] = [:]
    /// Commands for the gateway itself (DELIVER, OPEN_CONTACTS) that arrived while it waited for
    /// something else: `receive` returns them first.
    private var kept: [Command] = []

    /// Connects as gateway `name` (its routing id, which the hub uses as the gateway's name when
    /// security is off; with `security`, the hub names the gateway after its key's allow-list entry,
    /// which must then be `name` too).
    public convenience init(name: String, endpoint: String, security: ClientSecurity? = nil, context: Context = Context()) throws {
        try self.init(name: name, endpoints: [endpoint], security: security, context: context)
    }

    /// Connects to several hubs sharing one database: each message goes to one of them in turn
    /// (a re-sent one perhaps to another), and any may answer; a message id is stored once
    /// whichever hubs it reaches.
    public init(name: String, endpoints: [String], security: ClientSecurity? = nil, context: Context = Context()) throws {
        self.name = name
        self.context = context
        socket = try context.socket(.dealer)
        try security?.apply(to: socket)
        try socket.setRoutingID(Array(name.utf8))
        for endpoint in endpoints { try socket.connect(endpoint) }
    }

    /// Publishes and waits for ACK; retries `overloaded` and `unavailable` after the hub's retry-after,
    /// re-sending the same message id (the hub stores it once).
    public func publish(_ message: Publish, timeoutMs: Int = 10_000, retries: Int = 5) throws -> Ack {
        var attempt = 0
        let frames = Codec.encode(.publish(message))
        while true {
            try socket.send(frames, timeoutMs: timeoutMs, what: "PUBLISH of '\(message.messageID)'")
            switch try awaitAnswer(for: message.messageID, timeoutMs: timeoutMs) {
            case .success(let ack):
                return ack
            case .failure(let nack) where (nack.code == .overloaded || nack.code == .unavailable) && attempt < retries:
                attempt += 1
                usleep(UInt32(max(nack.retryAfterMs ?? 100, 10) * 1000 * attempt))
            case .failure(let nack):
                throw ClientError.refused(nack)
            }
        }
    }

    /// Sends without waiting for the answer; pair with `receive`. Waits up to `timeoutMs` for room
    /// to queue it (the hub's window is full, or there is no connection), then throws `timedOut`.
    public func send(_ message: Publish, timeoutMs: Int = 10_000) throws {
        try socket.send(Codec.encode(.publish(message)), timeoutMs: timeoutMs, what: "room to send PUBLISH of '\(message.messageID)'")
    }

    /// Sends a PUBLISH encoded already (`Codec.encode(.publish(…))`), as `send` does: a gateway that
    /// keeps its messages' frames, to re-send them unchanged or made ahead of time, need not encode
    /// them again.
    public func send(encoded frames: [[UInt8]], timeoutMs: Int = 10_000) throws {
        try socket.send(frames, timeoutMs: timeoutMs, what: "room to send a PUBLISH")
    }

    /// Closes the connection; the client cannot be used after.
    public func close() { socket.close() }

    /// Sends raw frames (for tests of the hub's input checks).
    public func sendRaw(_ frames: [[UInt8]]) throws {
        try socket.send(frames)
    }

    /// The next command from the hub (ACK, NACK, PONG, DELIVER, ...), or nil after `timeoutMs`.
    public func receive(timeoutMs: Int) throws -> Command? {
        if !kept.isEmpty { return kept.removeFirst() }
        return try socket.receiveCommand(timeoutMs: timeoutMs)
    }

    /// HELLO: this gateway sends on `channels`; the hub DELIVERs their outbound messages to it from
    /// now on. Answers the heartbeat the hub expects (PING at least that often).
    @discardableResult
    public func hello(channels: [String], timeoutMs: Int = 10_000) throws -> Int {
        try socket.send(Codec.encode(.hello(Hello(channels: channels))), timeoutMs: timeoutMs, what: "HELLO")
        let deadline = monotonicMs() + Int64(timeoutMs)
        while monotonicMs() < deadline {
            guard let command = try socket.receiveCommand(timeoutMs: Int(max(1, deadline - monotonicMs()))) else { break }
            switch command {
            case .hello(let answer): return answer.heartbeatMs ?? 1000
            case .nack(let nack) where nack.messageID == nil: throw ClientError.refused(nack)
            default: stash(command)
            }
        }
        throw ClientError.timedOut("HELLO")
    }

    /// HELLO without waiting for its answer: a sending gateway's heartbeat (the answer comes from `receive`).
    public func sendHello(channels: [String], timeoutMs: Int = 10_000) throws {
        try socket.send(Codec.encode(.hello(Hello(channels: channels))), timeoutMs: timeoutMs, what: "HELLO")
    }

    /// SENT: the outbound message went out (`reference`: the provider's id for it).
    public func sent(_ outboundID: Int64, reference: String? = nil, timeoutMs: Int = 10_000) throws {
        try socket.send(Codec.encode(.sent(Sent(outboundID: outboundID, reference: reference))), timeoutMs: timeoutMs, what: "SENT")
    }

    /// UNDELIVERABLE: for good, or to be tried again after `retryAfterMs`.
    public func undeliverable(_ outboundID: Int64, reason: String, retryAfterMs: Int? = nil, timeoutMs: Int = 10_000) throws {
        try socket.send(
            Codec.encode(.undeliverable(Undeliverable(outboundID: outboundID, reason: reason, retryAfterMs: retryAfterMs))), timeoutMs: timeoutMs,
            what: "UNDELIVERABLE")
    }

    /// STATUS and wait for OPEN_CONTACTS: "where is my request?".
    public func status(_ query: StatusQuery, timeoutMs: Int = 10_000) throws -> OpenContacts {
        try socket.send(Codec.encode(.status(query)), timeoutMs: timeoutMs, what: "STATUS")
        let deadline = monotonicMs() + Int64(timeoutMs)
        while monotonicMs() < deadline {
            guard let command = try socket.receiveCommand(timeoutMs: Int(max(1, deadline - monotonicMs()))) else { break }
            switch command {
            case .openContacts(let answer) where answer.queryID == query.queryID: return answer
            case .nack(let nack) where nack.messageID == nil: throw ClientError.refused(nack)
            default: stash(command)
            }
        }
        throw ClientError.timedOut("OPEN_CONTACTS of \(query.queryID)")
    }

    /// The next command that has arrived already, or nil at once: for reading a burst of answers
    /// without a poll per answer.
    public func receiveArrived() throws -> Command? {
        try socket.receiveArrivedCommand()
    }

    /// PING → PONG round trip; true if the hub answered in time. False too when the PING cannot
    /// even be queued: with no connection to send on (a hub that refused this client's key drops
    /// it), a blocking send would wait for one for ever.
    public func ping(timeoutMs: Int = 2000) throws -> Bool {
        let deadline = monotonicMs() + Int64(timeoutMs)
        do {
            try socket.send(Codec.encode(.ping), timeoutMs: timeoutMs, what: "PING")
        } catch ClientError.timedOut {
            return false
        }
        while monotonicMs() < deadline {
            guard let command = try receive(timeoutMs: Int(deadline - monotonicMs())) else { return false }
            if case .pong = command { return true }
            stash(command)
        }
        return false
    }

    private func awaitAnswer(for messageID: String, timeoutMs: Int) throws -> Result<Ack, Nack> {
        if let answer = early.removeValue(forKey: messageID) { return answer }
        let deadline = monotonicMs() + Int64(timeoutMs)
        while monotonicMs() < deadline {
            guard let command = try receive(timeoutMs: Int(max(1, deadline - monotonicMs()))) else { break }
            stash(command)
            if let answer = early.removeValue(forKey: messageID) { return answer }
        }
        throw ClientError.timedOut("ACK of '\(messageID)'")
    }

    private func stash(_ command: Command) {
        switch command {
        case .ack(let ack): early[ack.messageID] = .success(ack)
        case .nack(let nack): if let id = nack.messageID { early[id] = .failure(nack) } else { kept.append(command) }
        case .deliver, .openContacts, .hello: kept.append(command)
        default: break
        }
    }
}

/// Milliseconds from a monotonic clock, for timeouts.
func monotonicMs() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}
