/// Every `detail` the hub sends with a NACK or an ERROR (gateway.md §6, worker.md §3): the precise
/// cause under the wire code, one case each, so that the hub switches on cases and never spells
/// one twice. Peers still read `detail` as a string: a newer hub may send one this list lacks.
public enum RefusalDetail: String, Sendable, CaseIterable {
    // The decoder's (ProtocolError.Code), on either socket.
    case malformedFrames = "malformed_frames"
    case unsupportedVersion = "unsupported_version"
    case unknownCommand = "unknown_command"
    case malformedHeader = "malformed_header"
    case headerTooLarge = "header_too_large"
    case missingField = "missing_field"
    case invalidField = "invalid_field"
    case unknownChannel = "unknown_channel"
    case bodyTooLarge = "body_too_large"
    case invalidText = "invalid_text"
    // Gateways'.
    case anonymousGateway = "anonymous_gateway"
    case identityMismatch = "identity_mismatch"
    case messageIDReused = "message_id_reused"
    case storeRejected = "store_rejected"
    case gatewayWindow = "gateway_window"
    case hubIngestLimit = "hub_ingest_limit"
    case databaseUnavailable = "database_unavailable"
    case hubDraining = "hub_draining"
    case queryLimit = "query_limit"
    // Workers'.
    case unknownQueue = "unknown_queue"
    case duplicateReady = "duplicate_ready"
    case notReady = "not_ready"
    case heldElsewhere = "held_elsewhere"
    case settled
    case unknownDelivery = "unknown_delivery"
    // Two-way.
    /// SENT or UNDELIVERABLE for an outbound message this gateway was not given (or answered already).
    case notDelivering = "not_delivering"

    /// The detail of a decoder's refusal.
    public init(_ code: ProtocolError.Code) { self = RefusalDetail(rawValue: code.rawValue)! }
}

extension Nack {
    public init(messageID: String?, code: NackCode, detail: RefusalDetail, reason: String, retryAfterMs: Int? = nil) {
        self.init(messageID: messageID, code: code, detail: detail.rawValue, reason: reason, retryAfterMs: retryAfterMs)
    }
}

extension WorkerError {
    public init(code: Code, detail: RefusalDetail, reason: String, deliveryID: Int64? = nil) {
        self.init(code: code, detail: detail.rawValue, reason: reason, deliveryID: deliveryID)
    }
}
