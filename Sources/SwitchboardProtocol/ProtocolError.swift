/// Why a frame sequence was refused. The `code` maps to exactly one wire error (`wireCode`);
/// `reason` is a sentence an operator can act on.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// Too few or too many frames, or an empty command frame.
        case malformedFrames = "malformed_frames"
        /// The first frame is not a protocol version this hub speaks.
        case unsupportedVersion = "unsupported_version"
        /// The command frame names no known command, or one not allowed on this socket.
        case unknownCommand = "unknown_command"
        /// The header frame is not a JSON object (or breaks gateway.md §3's JSON rules).
        case malformedHeader = "malformed_header"
        /// The header frame is larger than the hub accepts (128 KiB).
        case headerTooLarge = "header_too_large"
        /// A required header field is absent.
        case missingField = "missing_field"
        /// A header field has the wrong JSON type or an out-of-range value.
        case invalidField = "invalid_field"
        /// The channel is not one the hub is configured to accept.
        case unknownChannel = "unknown_channel"
        /// The body is larger than the hub's configured limit.
        case bodyTooLarge = "body_too_large"
        /// A text body or field is not valid UTF-8 (or holds U+0000).
        case invalidText = "invalid_text"
    }

    public let code: Code
    public let reason: String
    /// The message id, when the header was readable enough to find one, so a NACK can name it.
    public var messageID: String?

    public init(_ code: Code, _ reason: String, messageID: String? = nil) {
        self.code = code
        self.reason = reason
        self.messageID = messageID
    }

    /// Every protocol error is the sender's fault: on the wire it is `invalid`, with `code` as detail.
    public var wireCode: NackCode { .invalid }

    public var description: String { "\(code.rawValue): \(reason)" }
}
