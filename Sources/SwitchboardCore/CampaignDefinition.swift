/// A campaign as `switchboard campaign create FILE` reads it (docs/campaigns.md).
public struct CampaignDefinition: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable {
        /// An outbound message through the channel per target.
        case message
        /// A task per target in `queue` (an outbound call for a sales agent).
        case task
    }

    /// Which customers it reaches; every rule given must hold.
    public struct Target: Sendable, Equatable, Codable {
        public var kind: CustomerKindRule?
        public var valueTier: [String]?
        public var segment: [String]?
        public var attributes: [String: String]?
        public var lastContactDays: DayRange?
        public var lifecycle: [Lifecycle]?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case kind
            case valueTier = "value_tier"
            case segment, attributes
            case lastContactDays = "last_contact_days"
            case lifecycle
        }
    }

    public enum CustomerKindRule: String, Sendable, Codable { case consumer, partner }

    /// new: first contact within 30 days; active: last within 90; lapsed: 90 to 365; dormant: longer or never.
    public enum Lifecycle: String, Sendable, Codable { case new, active, lapsed, dormant }

    public struct DayRange: Sendable, Equatable, Codable {
        public var min: Int?
        public var max: Int?
        public init(min: Int? = nil, max: Int? = nil) {
            self.min = min
            self.max = max
        }
    }

    /// When targets may be contacted, in their own time zone: ISO days (1 Monday … 7 Sunday) and hours.
    public struct Window: Sendable, Equatable, Codable {
        public var days: [Int] = [1, 2, 3, 4, 5]
        public var from = "09:00"
        public var to = "18:00"
        public init(days: [Int] = [1, 2, 3, 4, 5], from: String = "09:00", to: String = "18:00") {
            self.days = days
            self.from = from
            self.to = to
        }
    }

    public var name: String
    public var mode: Mode
    public var channel: String
    public var queue: String?
    public var target: Target
    /// The message (or the task's script) per language; `{name}` is the customer's name.
    public var templates: [String: String]
    public var defaultLanguage: String
    public var timeZone: String
    public var window: Window
    public var responseDays: Int
    public var conversionOutcomes: [String]
    public var batchSize: Int

    public init(
        name: String, mode: Mode = .message, channel: String, queue: String? = nil, target: Target = Target(), templates: [String: String],
        defaultLanguage: String, timeZone: String = "UTC", window: Window = Window(), responseDays: Int = 7,
        conversionOutcomes: [String] = ["converted", "sale"], batchSize: Int = 500
    ) {
        self.name = name
        self.mode = mode
        self.channel = channel
        self.queue = queue
        self.target = target
        self.templates = templates
        self.defaultLanguage = defaultLanguage
        self.timeZone = timeZone
        self.window = window
        self.responseDays = responseDays
        self.conversionOutcomes = conversionOutcomes
        self.batchSize = batchSize
    }

    enum CodingKeys: String, CodingKey {
        case name, mode, channel, queue, target, templates
        case defaultLanguage = "default_language"
        case timeZone = "time_zone"
        case window
        case responseDays = "response_days"
        case conversionOutcomes = "conversion_outcomes"
        case batchSize = "batch_size"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        mode = try container.decodeIfPresent(Mode.self, forKey: .mode) ?? .message
        channel = try container.decode(String.self, forKey: .channel)
        queue = try container.decodeIfPresent(String.self, forKey: .queue)
        target = try container.decodeIfPresent(Target.self, forKey: .target) ?? Target()
        templates = try container.decode([String: String].self, forKey: .templates)
        defaultLanguage = try container.decode(String.self, forKey: .defaultLanguage)
        timeZone = try container.decodeIfPresent(String.self, forKey: .timeZone) ?? "UTC"
        window = try container.decodeIfPresent(Window.self, forKey: .window) ?? Window()
        responseDays = try container.decodeIfPresent(Int.self, forKey: .responseDays) ?? 7
        conversionOutcomes = try container.decodeIfPresent([String].self, forKey: .conversionOutcomes) ?? ["converted", "sale"]
        batchSize = try container.decodeIfPresent(Int.self, forKey: .batchSize) ?? 500
    }

    /// What is wrong with it before any database is asked (the channel and queue are checked
    /// against the configuration, the time zone against PostgreSQL's list).
    public var problems: [String] {
        var problems: [String] = []
        if name.isEmpty || name.count > 64 || name.contains(where: { $0.isWhitespace }) {
            problems.append("name must be 1 to 64 characters without spaces")
        }
        if mode == .task && queue == nil { problems.append("a task campaign needs a queue") }
        if mode == .message && queue != nil { problems.append("a message campaign takes no queue") }
        if templates.isEmpty { problems.append("templates must give the message in at least one language") }
        if templates[defaultLanguage] == nil { problems.append("templates has no message in default_language '\(defaultLanguage)'") }
        if window.days.isEmpty || !window.days.allSatisfy({ (1...7).contains($0) }) { problems.append("window.days are ISO days, 1 (Monday) to 7") }
        if !ClockRange.isTime(window.from) || !ClockRange.isTime(window.to) || window.from >= window.to {
            problems.append("window.from and window.to are HH:MM, from before to")
        }
        if !(1...365).contains(responseDays) { problems.append("response_days is 1 to 365") }
        if !(1...100_000).contains(batchSize) { problems.append("batch_size is 1 to 100000") }
        return problems
    }
}
