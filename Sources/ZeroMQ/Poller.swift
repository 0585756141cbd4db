import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// Waits on several sockets at once (zmq_poll) for readability, or for room to send.
public struct Poller {
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds a socket; its index in `wait`'s answer is the order of adding. With `forSending`, the
    /// socket is ready when a message can be sent without blocking instead of when one has arrived.
    public mutating func add(_ socket: Socket, forSending: Bool = false) {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(forSending ? ZMQ_POLLOUT : ZMQ_POLLIN), revents: 0))
    }

    /// Adds a plain file descriptor (a database connection's socket), ready when readable.
    public mutating func add(fd: Int32) {
        items.append(zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0))
    }

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns which sockets are ready.
    public mutating func wait(timeoutMilliseconds: Int) throws -> [Bool] {
        let count = Int32(items.count)
        let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, count, timeoutMilliseconds) }
        if rc < 0 {
            let error = ZeroMQError.last("zmq_poll")
            if error.errno == EINTR { return Array(repeating: false, count: items.count) }
            throw error
        }
        return items.map { $0.revents & $0.events != 0 }
    }
}
