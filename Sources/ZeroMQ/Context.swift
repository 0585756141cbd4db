import CZeroMQ

/// A libzmq context: the owner of I/O threads and the namespace for `inproc://` endpoints.
///
/// A context is thread-safe; the sockets it creates are not.
public final class Context: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public init() {
        guard let handle = zmq_ctx_new() else { fatalError("zmq_ctx_new failed: out of memory") }
        self.handle = handle
    }

    /// Creates a socket of the given type, owned by the calling thread.
    public func socket(_ type: SocketType) throws -> Socket {
        try Socket(context: self, type: type)
    }

    /// Terminates the context; blocked calls on its sockets fail with ETERM.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    deinit {
        zmq_ctx_term(handle)
    }

    /// The libzmq version this process linked against, as "major.minor.patch".
    public static var libraryVersion: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}
