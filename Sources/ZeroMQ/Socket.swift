import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// One ZeroMQ socket. Not thread-safe: the thread that creates it is its only user.
///
/// Messages are multipart: an array of frames, each a byte array.
public final class Socket {
    let handle: UnsafeMutableRawPointer
    private let context: Context
    private var closed = false
    /// Frames that most messages carry as they are (a protocol's version and command names): a
    /// received frame equal to one of them is handed over as that array, not copied into a new
    /// one. At most a few, each short: every frame of a message is compared with them.
    public var sharedFrames: [[UInt8]] = []
    #if DEBUG
        private let ownerThread = pthread_self()
    #endif

    init(context: Context, type: SocketType) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZeroMQError.last("zmq_socket")
        }
        self.handle = handle
        self.context = context
        try setOption(ZMQ_LINGER, 0)
    }

    deinit { close() }

    /// Closes the socket; later calls fail. Safe to call twice.
    public func close() {
        guard !closed else { return }
        closed = true
        zmq_close(handle)
    }

    @inline(__always) private func checkOwner() {
        #if DEBUG
            precondition(pthread_equal(ownerThread, pthread_self()) != 0, "a ZeroMQ socket was used off its owning thread")
        #endif
    }

    public func bind(_ endpoint: String) throws {
        checkOwner()
        guard zmq_bind(handle, endpoint) == 0 else { throw ZeroMQError.last("bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws {
        checkOwner()
        guard zmq_connect(handle, endpoint) == 0 else { throw ZeroMQError.last("connect \(endpoint)") }
    }

    /// The endpoint the socket last bound to, with a wildcard port resolved (`tcp://127.0.0.1:41234`).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Options

    public func setOption(_ option: Int32, _ value: Int32) throws {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) == 0 else {
            throw ZeroMQError.last("setsockopt \(option)")
        }
    }

    /// A SUB socket receives messages whose first frame starts with `prefix` (empty: all).
    public func subscribe(_ prefix: [UInt8] = []) throws { try setOption(ZMQ_SUBSCRIBE, bytes: prefix) }

    public func setOption(_ option: Int32, bytes: [UInt8]) throws {
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw ZeroMQError.last("setsockopt \(option)") }
    }

    /// Makes a ROUTER fail with EHOSTUNREACH instead of silently dropping a message to an unknown peer.
    public func setRouterMandatory(_ on: Bool) throws { try setOption(ZMQ_ROUTER_MANDATORY, on ? 1 : 0) }
    /// Sets the identity a DEALER presents to a ROUTER.
    public func setRoutingID(_ id: [UInt8]) throws { try setOption(ZMQ_ROUTING_ID, bytes: id) }
    /// Caps the size of one inbound message; larger ones drop the connection (libzmq's ZMQ_MAXMSGSIZE).
    public func setMaxMessageSize(_ bytes: Int64) throws {
        var value = bytes
        guard zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size) == 0 else {
            throw ZeroMQError.last("setsockopt ZMQ_MAXMSGSIZE")
        }
    }
    /// Caps how many inbound messages libzmq queues per connection before it stops reading from it.
    public func setReceiveHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_RCVHWM, messages) }

    /// How many messages libzmq queues per peer before a send would block (ZMQ_SNDHWM).
    public func setSendHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_SNDHWM, messages) }
    /// The kernel's receive buffer for this socket's connections, in bytes (set before connecting).
    public func setKernelReceiveBuffer(_ bytes: Int32) throws { try setOption(ZMQ_RCVBUF, bytes) }
    /// Makes a blocking receive give up after `milliseconds` (it then returns nil).
    public func setReceiveTimeout(_ milliseconds: Int32) throws { try setOption(ZMQ_RCVTIMEO, milliseconds) }

    // MARK: Send and receive

    /// Sends a multipart message. With `dontWait`, throws EAGAIN instead of blocking.
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws {
        checkOwner()
        for (index, frame) in frames.enumerated() { try send(frame: frame, more: index < frames.count - 1, dontWait: dontWait) }
    }

    /// Sends a multipart message to one peer of a ROUTER socket: its routing id, then `frames`
    /// (no new array of them all, on the hub's path of every ACK and TASK).
    public func send(to routingID: [UInt8], _ frames: [[UInt8]], dontWait: Bool = false) throws {
        checkOwner()
        try send(frame: routingID, more: !frames.isEmpty, dontWait: dontWait)
        for (index, frame) in frames.enumerated() { try send(frame: frame, more: index < frames.count - 1, dontWait: dontWait) }
    }

    private func send(frame: [UInt8], more: Bool, dontWait: Bool) throws {
        var flags: Int32 = more ? ZMQ_SNDMORE : 0
        if dontWait { flags |= ZMQ_DONTWAIT }
        let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
        guard rc >= 0 else { throw ZeroMQError.last("send") }
    }

    /// Receives one multipart message, or nil when `dontWait` is set and nothing is waiting.
    public func receive(dontWait: Bool = false) throws -> ReceivedMessage? {
        checkOwner()
        var frames: [[UInt8]] = []
        var sourceDescriptor: Int32 = -1
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        repeat {
            let rc = zmq_msg_recv(&message, handle, dontWait && frames.isEmpty ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                let error = ZeroMQError.last("receive")
                if error.wouldBlock && frames.isEmpty { return nil }
                throw error
            }
            // Room for a ROUTER's message of SWB/1 (routing id, version, command, header, body)
            // without growing, made once a frame is in: most reads of a loop's turn find none.
            if frames.isEmpty { frames.reserveCapacity(6) }
            let size = zmq_msg_size(&message)
            let data = zmq_msg_data(&message)!
            let bytes = UnsafeRawBufferPointer(start: data, count: size)
            frames.append(sharedFrames.first { $0.count == size && $0.withUnsafeBytes { $0.elementsEqual(bytes) } } ?? Array(bytes))
            // A ROUTER's first frame (the routing id) is made by libzmq and carries no descriptor:
            // take it from the first frame that came off the wire.
            if sourceDescriptor < 0 { sourceDescriptor = zmq_msg_get(&message, ZMQ_SRCFD) }
        } while zmq_msg_more(&message) != 0
        // Set by the ZAP handler that accepted the peer (CURVE); libzmq keeps it on every message.
        let userID = zmq_msg_gets(&message, "User-Id").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        return ReceivedMessage(frames: frames, sourceDescriptor: sourceDescriptor, userID: userID)
    }

    // MARK: Monitoring

    /// Publishes this socket's connection events on an inproc PAIR endpoint (see `SocketEvent`).
    public func monitor(endpoint: String, events: MonitorEvents = [.accepted, .disconnected]) throws {
        guard zmq_socket_monitor(handle, endpoint, events.rawValue) == 0 else { throw ZeroMQError.last("zmq_socket_monitor") }
    }
}

/// A received multipart message and the file descriptor of the connection it came on.
public struct ReceivedMessage: Sendable {
    public var frames: [[UInt8]]
    /// The peer connection's descriptor (libzmq's ZMQ_SRCFD), matched against monitor events; -1 if unknown.
    public var sourceDescriptor: Int32
    /// The user id the ZAP handler gave the peer when it authenticated it, or nil without security.
    public var userID: String? = nil

    /// Takes the first frame off (a ROUTER's routing id of the peer), in place: the other frames
    /// are not copied to a new array. Nil when there are no frames.
    public mutating func removeRoutingID() -> [UInt8]? { frames.isEmpty ? nil : frames.removeFirst() }
}

/// Which connection events a monitor publishes.
public struct MonitorEvents: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let accepted = MonitorEvents(rawValue: ZMQ_EVENT_ACCEPTED)
    public static let disconnected = MonitorEvents(rawValue: ZMQ_EVENT_DISCONNECTED)
    /// A peer's handshake failed before authentication could be asked: another security
    /// mechanism (a client without CURVE), a wrong server key, a malformed handshake.
    public static let handshakeFailedProtocol = MonitorEvents(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
    /// A connection closed during its handshake. Each side of a mechanism mismatch sees it; when
    /// the client closes first, this is all the hub sees of it.
    public static let handshakeFailedNoDetail = MonitorEvents(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    /// Both kinds of failed handshake.
    public static let handshakeFailures: MonitorEvents = [.handshakeFailedProtocol, .handshakeFailedNoDetail]
}

/// A connection event read from a monitor socket.
public struct SocketEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case accepted, disconnected, handshakeFailedProtocol, handshakeFailedNoDetail, other(UInt16) }
    public var kind: Kind
    /// For accepted and disconnected: the connection's file descriptor; for a failed handshake, libzmq's protocol error.
    public var value: Int32

    /// Whether this is a failed handshake of either kind.
    public var isHandshakeFailure: Bool { kind == .handshakeFailedProtocol || kind == .handshakeFailedNoDetail }

    /// For a failed handshake, what went wrong, in words an operator can act on.
    public var handshakeFailure: String {
        if kind == .handshakeFailedNoDetail {
            return "the peer closed the connection during the handshake (a client without CURVE, or with another server key)"
        }
        return switch value {
        case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            "the peer speaks another security mechanism (a client without CURVE, or CURVE against a hub with security off)"
        case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: "the peer's CURVE handshake did not decrypt (a wrong server public key?)"
        default: "the peer's handshake was malformed (libzmq protocol error 0x\(String(UInt32(bitPattern: value), radix: 16)))"
        }
    }

    /// Decodes libzmq's two-frame monitor message (16-bit event, 32-bit value; then the endpoint).
    public init?(frames: [[UInt8]]) {
        guard let first = frames.first, first.count >= 6 else { return nil }
        let event = UInt16(first[0]) | UInt16(first[1]) << 8
        value = Int32(bitPattern: UInt32(first[2]) | UInt32(first[3]) << 8 | UInt32(first[4]) << 16 | UInt32(first[5]) << 24)
        switch Int32(event) {
        case ZMQ_EVENT_ACCEPTED: kind = .accepted
        case ZMQ_EVENT_DISCONNECTED: kind = .disconnected
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: kind = .handshakeFailedProtocol
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: kind = .handshakeFailedNoDetail
        default: kind = .other(event)
        }
    }
}
