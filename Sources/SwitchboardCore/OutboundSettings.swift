import Foundation

/// `outbound`: how the hub sends replies and campaign messages through gateways
/// (docs/two-way.md), and the rules every campaign contact obeys.
public struct OutboundSettings: Sendable, Equatable, Codable {
    /// How long a DELIVER may go unanswered (no SENT, no UNDELIVERABLE) before it is retried.
    public var deliverTimeoutMs = 30_000
    /// A reply not sent within this time is dead (expired); a campaign message expires at the
    /// end of its target's contact window.
    public var expireAfterMs: Int64 = 86_400_000
    /// DELIVERs of one message at most; then it is dead.
    public var maxAttempts = 8
    /// Backoff between attempts: doubling from the base up to the most.
    public var retryBaseMs = 1000
    public var retryMaxMs = 300_000
    /// DELIVERs one hub has in flight at most.
    public var window = 256
    /// No campaign contact in these hours of the customer's local time ("21:00"-"08:00" wraps midnight); nil: none.
    public var quietHours: ClockRange? = ClockRange(start: "21:00", end: "08:00")
    /// At most this many campaign contacts per customer in `frequencyCapDays`, over every campaign.
    public var frequencyCapCount = 2
    public var frequencyCapDays = 7
    /// How often running campaigns contact their next targets and attribute responses.
    public var campaignEveryMs = 10_000
    /// A campaign task's deadline from when it is filed.
    public var campaignTaskDeadlineMs: Int64 = 86_400_000
    /// An open conversation with no message for this long closes.
    public var conversationIdleMinutes = 1440

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case deliverTimeoutMs = "deliver_timeout_ms"
        case expireAfterMs = "expire_after_ms"
        case maxAttempts = "max_attempts"
        case retryBaseMs = "retry_base_ms"
        case retryMaxMs = "retry_max_ms"
        case window
        case quietHours = "quiet_hours"
        case frequencyCap = "frequency_cap"
        case campaignEveryMs = "campaign_every_ms"
        case campaignTaskDeadlineMs = "campaign_task_deadline_ms"
        case conversationIdleMinutes = "conversation_idle_minutes"
    }

    struct FrequencyCap: Codable {
        var count: Int
        var days: Int
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable & Comparable>(_ key: CodingKeys, _ fallback: T, atLeast minimum: T) throws -> T {
            let given = try container.decodeIfPresent(T.self, forKey: key) ?? fallback
            guard given >= minimum else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(key.stringValue) must be at least \(minimum)")
            }
            return given
        }
        deliverTimeoutMs = try value(.deliverTimeoutMs, 30_000, atLeast: 100)
        expireAfterMs = try value(.expireAfterMs, 86_400_000, atLeast: 1000)
        maxAttempts = try value(.maxAttempts, 8, atLeast: 1)
        retryBaseMs = try value(.retryBaseMs, 1000, atLeast: 10)
        retryMaxMs = try value(.retryMaxMs, 300_000, atLeast: retryBaseMs)
        window = try value(.window, 256, atLeast: 1)
        if container.contains(.quietHours), try container.decodeNil(forKey: .quietHours) {
            quietHours = nil
        } else if let range = try container.decodeIfPresent(String.self, forKey: .quietHours) {
            guard let parsed = ClockRange(range) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .quietHours, in: container, debugDescription: "quiet_hours must be \"HH:MM-HH:MM\" (or null for none), got '\(range)'")
            }
            quietHours = parsed
        }
        if let cap = try container.decodeIfPresent(FrequencyCap.self, forKey: .frequencyCap) {
            guard cap.count >= 1, cap.days >= 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .frequencyCap, in: container, debugDescription: "frequency_cap needs count and days of at least 1")
            }
            frequencyCapCount = cap.count
            frequencyCapDays = cap.days
        }
        campaignEveryMs = try value(.campaignEveryMs, 10_000, atLeast: 100)
        campaignTaskDeadlineMs = try value(.campaignTaskDeadlineMs, 86_400_000, atLeast: 1000)
        conversationIdleMinutes = try value(.conversationIdleMinutes, 1440, atLeast: 1)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(deliverTimeoutMs, forKey: .deliverTimeoutMs)
        try container.encode(expireAfterMs, forKey: .expireAfterMs)
        try container.encode(maxAttempts, forKey: .maxAttempts)
        try container.encode(retryBaseMs, forKey: .retryBaseMs)
        try container.encode(retryMaxMs, forKey: .retryMaxMs)
        try container.encode(window, forKey: .window)
        try container.encode(quietHours.map { "\($0.start)-\($0.end)" }, forKey: .quietHours)
        try container.encode(FrequencyCap(count: frequencyCapCount, days: frequencyCapDays), forKey: .frequencyCap)
        try container.encode(campaignEveryMs, forKey: .campaignEveryMs)
        try container.encode(campaignTaskDeadlineMs, forKey: .campaignTaskDeadlineMs)
        try container.encode(conversationIdleMinutes, forKey: .conversationIdleMinutes)
    }
}

/// Hours of a day as "HH:MM" to "HH:MM"; an end before the start wraps past midnight.
public struct ClockRange: Sendable, Equatable {
    public var start: String
    public var end: String

    public init(start: String, end: String) {
        self.start = start
        self.end = end
    }

    /// "21:00-08:00"; nil unless both ends are valid times of day.
    public init?(_ text: String) {
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, Self.isTime(parts[0]), Self.isTime(parts[1]) else { return nil }
        start = parts[0]
        end = parts[1]
    }

    public static func isTime(_ text: String) -> Bool {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let hour = Int(parts[0]), let minute = Int(parts[1]) else { return false }
        return (0...23).contains(hour) && (0...59).contains(minute)
    }
}
