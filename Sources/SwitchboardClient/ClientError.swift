import SwitchboardProtocol

/// Why a client call did not succeed.
public enum ClientError: Error, Equatable, CustomStringConvertible {
    /// The hub refused the message; `nack.code` says whether to retry.
    case refused(Nack)
    /// The hub refused a worker command.
    case workerError(WorkerError)
    /// No answer within the timeout.
    case timedOut(String)
    /// The hub sent something this client cannot read.
    case protocolViolation(ProtocolError)
    /// A key file could not be read or does not hold what `switchboard keygen` writes.
    case badKeyFile(String)

    public var description: String {
        switch self {
        case .badKeyFile(let reason): "key file: \(reason)"
        case .refused(let nack): "NACK \(nack.code.rawValue)/\(nack.detail): \(nack.reason)"
        case .workerError(let error): "ERROR \(error.code.rawValue)/\(error.detail): \(error.reason)"
        case .timedOut(let what): "timed out waiting for \(what)"
        case .protocolViolation(let error): "unreadable reply from the hub: \(error)"
        }
    }
}
