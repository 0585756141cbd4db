/// What the decoder accepts beyond the grammar: configured by the hub, fixed defaults for clients.
public struct DecodingLimits: Sendable {
    /// The channels gateways may publish on; the hub's configuration extends the standard set.
    public var channels: Set<String>
    /// The largest body a PUBLISH may carry, in bytes.
    public var maxBodyBytes: Int
    /// The largest header frame, in bytes: room for every field at its limit (64 attributes of
    /// 1 KiB), not for megabytes of fields nobody reads.
    public var maxHeaderBytes: Int

    public static let standardChannels: Set<String> = ["phone", "email", "web", "chat", "sms", "mail", "fax", "in_person"]

    public init(channels: Set<String> = DecodingLimits.standardChannels, maxBodyBytes: Int = 1 << 20, maxHeaderBytes: Int = 128 << 10) {
        self.channels = channels
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// Limits for a client reading the hub's answers: any channel, bodies up to 64 MiB, headers
    /// (a TASK's customer context) up to 16 MiB.
    public static let client = DecodingLimits(channels: [], maxBodyBytes: 64 << 20, maxHeaderBytes: 16 << 20)
}
