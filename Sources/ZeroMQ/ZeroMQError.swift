import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// An error reported by libzmq, carrying its `errno` so callers can switch on it.
public struct ZeroMQError: Error, CustomStringConvertible, Sendable {
    /// The `errno` value libzmq reported.
    public let errno: Int32
    /// What the wrapper was doing when libzmq failed.
    public let operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    /// Captures `zmq_errno()` right after a failed call.
    static func last(_ operation: String) -> ZeroMQError {
        ZeroMQError(errno: zmq_errno(), operation: operation)
    }

    /// True when a non-blocking call had nothing to do (EAGAIN).
    public var wouldBlock: Bool { errno == EAGAIN }
    /// True when the context was terminated under a blocked call.
    public var contextTerminated: Bool { errno == ETERM }
    /// True when a ROUTER could not route to the addressed peer.
    public var hostUnreachable: Bool { errno == EHOSTUNREACH }

    public var description: String {
        "\(operation): \(String(cString: zmq_strerror(errno))) (errno \(errno))"
    }
}
