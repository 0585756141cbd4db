/// `signals`: how the implicit feedback is drawn from the contacts, each maintenance pass (hourly)
/// by `swb_compute_signals` (docs/analytics.md): repeat contacts, silence after a complaint, and
/// each customer's experience score and churn risk.
public struct SignalSettings: Sendable, Equatable, Codable {
    /// A contact on the process and intent of one within this many days repeats it.
    public var repeatDays: Int = 7
    /// No contact for this many days after a complaint is silence.
    public var silenceDays: Int = 30
    /// A churn risk (0 to 1) at or above this raises a `churn_risk` signal.
    public var churnThreshold: Double = 0.5
    /// The customers' experience is computed over their contacts of this many days.
    public var windowDays: Int = 365

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case repeatDays = "repeat_days"
        case silenceDays = "silence_days"
        case churnThreshold = "churn_threshold"
        case windowDays = "window_days"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SignalSettings()
        repeatDays = try container.decodeIfPresent(Int.self, forKey: .repeatDays) ?? defaults.repeatDays
        silenceDays = try container.decodeIfPresent(Int.self, forKey: .silenceDays) ?? defaults.silenceDays
        churnThreshold = try container.decodeIfPresent(Double.self, forKey: .churnThreshold) ?? defaults.churnThreshold
        windowDays = try container.decodeIfPresent(Int.self, forKey: .windowDays) ?? defaults.windowDays
        guard repeatDays > 0, silenceDays > 0, windowDays > 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .repeatDays, in: container, debugDescription: "repeat_days, silence_days and window_days must be positive")
        }
        guard churnThreshold > 0, churnThreshold <= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .churnThreshold, in: container, debugDescription: "churn_threshold must be in (0, 1]")
        }
    }
}
