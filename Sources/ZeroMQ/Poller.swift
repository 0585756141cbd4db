import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// Waits on several sockets at once (zmq_poll) for readability.
public struct Poller {
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds a socket; its index in `wait`'s answer is the order of adding.
    public mutating func add(_ socket: Socket) {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
    }

    /// Adds a plain file descriptor (a database connection's socket), ready when readable.
    public mutating func add(fd: Int32) {
        items.append(zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0))
    }

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns which sockets are readable.
    public mutating func wait(timeoutMilliseconds: Int) throws -> [Bool] {
        let count = Int32(items.count)
        let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, count, timeoutMilliseconds) }
        if rc < 0 {
            let error = ZeroMQError.last("zmq_poll")
            if error.errno == EINTR { return Array(repeating: false, count: items.count) }
            throw error
        }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
