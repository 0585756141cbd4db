import SwitchboardCore
import SwitchboardProtocol

/// One routed message to store: what the gateway sent, who it is about, where it goes.
///
/// A class, not a struct: it is handed from the hub's loop to a store lane's thread and read there by
/// several steps, and each copy of a struct of this many strings and arrays retained and released
/// every one of them (an item of its own in a `perf record -p` of the hub at full ingest); a copy
/// of a reference is one count. It is never changed once made.
public final class IngestRecord: Sendable {
    public let gateway: String
    public let publish: Publish
    public let identities: [NormalizedIdentity]
    /// Hints that did not normalize, kept as given and never matched.
    public let unverified: [UnverifiedIdentity]
    public let route: RouteDecision
    public let routingVersion: Int
    /// The message asks for no more marketing contact (an inbound STOP): stored with it.
    public let optOut: Bool

    public init(
        gateway: String, publish: Publish, identities: [NormalizedIdentity], unverified: [UnverifiedIdentity] = [], route: RouteDecision,
        routingVersion: Int, optOut: Bool = false
    ) {
        self.gateway = gateway
        self.publish = publish
        self.identities = identities
        self.unverified = unverified
        self.route = route
        self.routingVersion = routingVersion
        self.optOut = optOut
    }
}

/// What storing one message came to.
public enum IngestOutcome: Sendable, Equatable {
    /// Newly stored: the ACK to send and the delivery to dispatch.
    case stored(Ack, DispatchTask)
    /// The same (gateway, message id) and content were stored before: the original ACK.
    case duplicate(Ack)
    /// The same (gateway, message id) was stored before with other content.
    case conflict(messageID: String, original: Ack)
}

/// A refused input to keep for inspection and replay.
public struct QuarantineEntry: Sendable {
    public var role: String
    public var peer: String
    public var messageID: String?
    public var code: String
    public var reason: String
    public var frames: [[UInt8]]

    public init(role: String, peer: String, messageID: String?, code: String, reason: String, frames: [[UInt8]]) {
        self.role = role
        self.peer = peer
        self.messageID = messageID
        self.code = code
        self.reason = reason
        self.frames = frames
    }

    /// The frames as stored in `quarantine.raw`: each a 4-byte big-endian length, then its bytes.
    public var raw: [UInt8] {
        var bytes: [UInt8] = []
        for frame in frames {
            let length = UInt32(frame.count)
            bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            bytes += frame
        }
        return bytes
    }

    /// Splits `quarantine.raw` back into frames (for replay).
    public static func frames(fromRaw raw: [UInt8]) -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var index = 0
        while index < raw.count {
            guard index + 4 <= raw.count else { return nil }
            let length = Int(raw[index]) << 24 | Int(raw[index + 1]) << 16 | Int(raw[index + 2]) << 8 | Int(raw[index + 3])
            index += 4
            guard index + length <= raw.count else { return nil }
            frames.append(Array(raw[index..<index + length]))
            index += length
        }
        return frames
    }
}

/// Refused input as the quarantine table keeps it, read back for inspection or replay.
public struct QuarantinedInput: Sendable, Equatable {
    public let id: Int64
    /// Unix milliseconds.
    public let receivedAt: Int64
    public let role: String
    public let peer: String
    public let messageID: String?
    public let code: String
    public let reason: String
    /// The frames as received; nil if the stored bytes do not split into frames.
    public let frames: [[UInt8]]?
    public let replayed: Bool

    public init(
        id: Int64, receivedAt: Int64, role: String, peer: String, messageID: String?, code: String, reason: String, frames: [[UInt8]]?,
        replayed: Bool
    ) {
        self.id = id
        self.receivedAt = receivedAt
        self.role = role
        self.peer = peer
        self.messageID = messageID
        self.code = code
        self.reason = reason
        self.frames = frames
        self.replayed = replayed
    }
}

/// Which quarantine entries to read: every condition given must hold.
public struct QuarantineSelection: Sendable {
    public var ids: [Int64] = []
    public var code: String?
    public var peer: String?
    /// Entries replayed before are left out unless this is set.
    public var includeReplayed = false
    /// Only entries after this id (to read page by page).
    public var afterID: Int64 = 0
    public var limit = 1000

    public init(ids: [Int64] = [], code: String? = nil, peer: String? = nil, includeReplayed: Bool = false, limit: Int = 1000) {
        self.ids = ids
        self.code = code
        self.peer = peer
        self.includeReplayed = includeReplayed
        self.limit = limit
    }
}
