/// `merges`: when two customers one message linked are merged at once rather than put in the
/// review queue (docs/analytics.md). One of them anonymous is always reason enough.
public struct MergeSettings: Sendable, Equatable, Codable {
    /// Two known customers with the same display name (any case, outer spaces aside) merge at once.
    public var sameName = false
    /// A link made by a message from one of these gateways merges at once: gateways whose
    /// customers are signed in (a portal, the CRM's own sync).
    public var gateways: [String] = []
    /// How often the hub decides new candidates, in milliseconds.
    public var everyMs = 1000

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sameName = "same_name"
        case gateways
        case everyMs = "every_ms"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sameName = try container.decodeIfPresent(Bool.self, forKey: .sameName) ?? false
        gateways = try container.decodeIfPresent([String].self, forKey: .gateways) ?? []
        everyMs = try container.decodeIfPresent(Int.self, forKey: .everyMs) ?? 1000
        guard everyMs >= 10 else {
            throw DecodingError.dataCorruptedError(forKey: .everyMs, in: container, debugDescription: "every_ms must be at least 10")
        }
    }
}
