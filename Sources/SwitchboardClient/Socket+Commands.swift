import SwitchboardProtocol
import ZeroMQ

extension Socket {
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
