import SwitchboardProtocol
import ZeroMQ

extension Socket {
    /// Sends `frames` once there is a connection with room to queue them on, or throws
    /// `timedOut(what)` after `timeoutMs` (0: only if it can go at once). A send that blocks would
    /// wait for ever where there is no connection: the hub refused this client's key, and libzmq
    /// does not try that connection again.
    func send(_ frames: [[UInt8]], timeoutMs: Int, what: String) throws {
        let deadline = monotonicMs() + Int64(timeoutMs)
        while true {
            do {
                return try send(frames, dontWait: true)
            } catch let error as ZeroMQError where error.wouldBlock {
                let left = deadline - monotonicMs()
                guard left > 0 else { throw ClientError.timedOut(what) }
                var poller = Poller()
                poller.add(self, forSending: true)
                _ = try poller.wait(timeoutMilliseconds: Int(left))
            }
        }
    }

    /// The next SWB/1 command from the hub, or nil after `timeoutMs`; unreadable input is a `ClientError`.
    func receiveCommand(timeoutMs: Int) throws -> Command? {
        var poller = Poller()
        poller.add(self)
        guard try poller.wait(timeoutMilliseconds: timeoutMs)[0] else { return nil }
        return try receiveArrivedCommand()
    }

    /// The next SWB/1 command that has arrived already, or nil at once.
    func receiveArrivedCommand() throws -> Command? {
        guard let message = try receive(dontWait: true) else { return nil }
        do {
            return try Codec.decode(message.frames, limits: .client)
        } catch {
            throw ClientError.protocolViolation(error)
        }
    }
}
