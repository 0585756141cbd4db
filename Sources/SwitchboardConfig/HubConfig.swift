import Foundation
import SwitchboardCore
import SwitchboardProtocol
import Yams

/// Whether peers must authenticate. `curve` is the packaged default; `off` must be asked for.
public enum SecurityMode: String, Sendable, Codable {
    case curve
    case off
}

/// The hub's configuration: one YAML file, with environment variables overriding single keys.
public struct HubConfig: Sendable {
    /// libpq connection string of the database (env `SWITCHBOARD_DATABASE`).
    public var database: String = "dbname=switchboard"
    /// Where gateways connect (env `SWITCHBOARD_GATEWAY_ENDPOINT`).
    public var gatewayEndpoint: String = "tcp://*:5570"
    /// Where workers connect (env `SWITCHBOARD_WORKER_ENDPOINT`).
    public var workerEndpoint: String = "tcp://*:5571"
    /// The events socket (PUB, protocols/events.md); nil: off.
    public var eventsEndpoint: String? = "tcp://*:5572"
    /// This hub's name in lease rows and logs (env `SWITCHBOARD_HUB_NAME`).
    public var hubName: String = ProcessInfo.processInfo.hostName
    public var maxBodyBytes: Int = 1 << 20
    /// Channels beyond the standard eight that gateways may use.
    public var extraChannels: [String] = []
    /// Country calling code for national phone numbers, e.g. "98"; unset refuses them.
    public var defaultCountryCode: String?
    /// The most messages stored in one transaction.
    public var batchMax: Int = 512
    /// The most un-ACKed messages one gateway may have in flight; more get NACK overloaded.
    public var gatewayWindow: Int = 1000
    /// The most messages of all gateways together waiting for their commit; more get NACK overloaded.
    public var maxUncommitted: Int = 20_000
    /// The most bytes of messages of all gateways together waiting for their commit, and separately
    /// of refused input waiting to be quarantined: what bounds memory when PostgreSQL is slow.
    public var maxUncommittedBytes: Int = 64 << 20
    /// How often each queue's pending backlog is read again from PostgreSQL (replays, other writers).
    public var rescanMs: Int64 = 5000
    /// How long this hub's lease in the database lasts unrenewed (`hub_lease_ms`; renewed every
    /// third of it): past it, another hub sharing the database adopts its unfinished work, and
    /// this hub offers nothing more until it has renewed.
    public var hubLeaseMs: Int64 = 3000
    /// How long delivery transitions (offers, DONE, FAIL, retries) may wait to share one commit
    /// with those that follow; 0 writes each batch as soon as the one before it has committed.
    public var transitionWaitMs: Int64 = 10
    /// Messages libzmq queues for one worker connection (its SNDHWM); beyond them the hub keeps
    /// the worker's messages itself until it reads, for up to `heartbeat_timeout_ms` without progress.
    public var workerSendQueue: Int = 1000
    /// On SIGTERM: how long the hub waits for workers to answer the tasks they hold (and for
    /// messages in flight to commit) before it stops; new messages are refused meanwhile.
    public var drainTimeoutMs: Int64 = 20_000
    /// How many days back a TASK's `recent` list reaches; nil (the default) for all of the
    /// customer's history. With it, a context read skips the monthly partitions before those days.
    public var contextRecentDays: Int?
    /// Message bodies older than this many days are removed every hour, as erasure removes them; nil keeps them.
    public var retentionBodyDays: Int?
    /// Interactions (their monthly partitions) that ended this many whole months before this month
    /// are dropped every hour; nil keeps them.
    public var retentionMonths: Int?
    /// RFM value tiers, recomputed on a schedule into customers.value_tier; nil: tiers are left as
    /// imports and analysts set them.
    public var valueTiers: ValueTierSettings?
    /// Implicit feedback (repeat contacts, silence after a complaint, churn risk), drawn every hour.
    public var signals = SignalSettings()
    /// When customers one message linked merge at once; otherwise they wait for review.
    public var merges = MergeSettings()
    /// Replies and campaign messages through gateways, conversations, campaign rules (`outbound`).
    public var outbound = OutboundSettings()
    /// `curve` (the default) requires every peer to authenticate with an allowed key; `off` must be
    /// set explicitly and is logged loudly at start.
    public var security: SecurityMode = .curve
    /// The hub's own key pair (`switchboard keygen`), whose public half gateways and workers know.
    public var serverKeyFile: String?
    /// Allow-lists of gateway and worker public keys, read at start and on SIGHUP.
    public var gatewayKeysFile: String?
    public var workerKeysFile: String?
    /// Keys of downstream subscribers to the events socket, besides the workers' (optional).
    public var subscriberKeysFile: String?
    /// `host:port` of the HTTP probes (/healthz, /readyz, /metrics); nil turns them off
    /// (`http_endpoint: off`; env `SWITCHBOARD_HTTP_ENDPOINT`).
    public var httpEndpoint: String? = "127.0.0.1:9570"
    public var dispatch = DispatchConfig()
    public var routing: RoutingRules = .standard

    public init() {}

    /// Messages libzmq may queue per gateway connection before the hub reads them (its RCVHWM):
    /// sized so that one connection full of largest bodies stays within `maxUncommittedBytes`.
    public var gatewayReceiveQueue: Int { max(16, min(1000, maxUncommittedBytes / max(1, maxBodyBytes))) }

    public var channels: Set<String> { DecodingLimits.standardChannels.union(extraChannels) }
    public var decodingLimits: DecodingLimits { DecodingLimits(channels: channels, maxBodyBytes: maxBodyBytes) }

    /// Reads a YAML file (or none) and applies environment overrides.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> HubConfig {
        var config = HubConfig()
        if let path {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            do {
                config = try RulesFile.configuration(yaml: text)
            } catch {
                throw ConfigError(reason: "\(path):\(error.line):\(error.column): \(error.message)")
            }
        }
        if let value = environment["SWITCHBOARD_DATABASE"] { config.database = value }
        if let value = environment["SWITCHBOARD_GATEWAY_ENDPOINT"] { config.gatewayEndpoint = value }
        if let value = environment["SWITCHBOARD_WORKER_ENDPOINT"] { config.workerEndpoint = value }
        if let value = environment["SWITCHBOARD_EVENTS_ENDPOINT"] { config.eventsEndpoint = value == "off" ? nil : value }
        if let value = environment["SWITCHBOARD_HUB_NAME"] { config.hubName = value }
        if let value = environment["SWITCHBOARD_HTTP_ENDPOINT"] { config.httpEndpoint = value == "off" ? nil : value }
        if let value = environment["SWITCHBOARD_SERVER_KEY_FILE"] { config.serverKeyFile = value }
        if let value = environment["SWITCHBOARD_GATEWAY_KEYS_FILE"] { config.gatewayKeysFile = value }
        if let value = environment["SWITCHBOARD_WORKER_KEYS_FILE"] { config.workerKeysFile = value }
        if let value = environment["SWITCHBOARD_SUBSCRIBER_KEYS_FILE"] { config.subscriberKeysFile = value }
        return config
    }

    /// Parses the YAML text of a configuration file; unknown keys are errors, so typos do not pass silently.
    public static func parse(yaml: String) throws -> HubConfig {
        let file = try YAMLDecoder().decode(ConfigFile.self, from: yaml)
        var config = HubConfig()
        if let value = file.database { config.database = value }
        if let value = file.gatewayEndpoint { config.gatewayEndpoint = value }
        if let value = file.workerEndpoint { config.workerEndpoint = value }
        if let value = file.eventsEndpoint { config.eventsEndpoint = value == "off" ? nil : value }
        if let value = file.hubName { config.hubName = value }
        if let value = file.maxBodyBytes { config.maxBodyBytes = try positive(value, "max_body_bytes") }
        if let value = file.extraChannels { config.extraChannels = value }
        config.defaultCountryCode = file.defaultCountryCode
        if let value = file.batchMax { config.batchMax = try positive(value, "batch_max") }
        if let value = file.gatewayWindow { config.gatewayWindow = try positive(value, "gateway_window") }
        if let value = file.maxUncommitted { config.maxUncommitted = try positive(value, "max_uncommitted") }
        if let value = file.maxUncommittedBytes { config.maxUncommittedBytes = try positive(value, "max_uncommitted_bytes") }
        if let value = file.rescanMs { config.rescanMs = Int64(try positive(value, "rescan_ms")) }
        if let value = file.hubLeaseMs {
            guard value >= 300 else { throw ConfigError(reason: "hub_lease_ms must be 300 or more, got \(value)") }
            config.hubLeaseMs = Int64(value)
        }
        if let value = file.transitionWaitMs {
            guard value >= 0 else { throw ConfigError(reason: "transition_wait_ms must be 0 or more, got \(value)") }
            config.transitionWaitMs = Int64(value)
        }
        if let value = file.workerSendQueue { config.workerSendQueue = try positive(value, "worker_send_queue") }
        if let value = file.drainTimeoutMs {
            guard value >= 0 else { throw ConfigError(reason: "drain_timeout_ms must be 0 or more, got \(value)") }
            config.drainTimeoutMs = Int64(value)
        }
        if let value = file.contextRecentDays { config.contextRecentDays = try positive(value, "context_recent_days") }
        if let value = file.retentionBodyDays { config.retentionBodyDays = try positive(value, "retention_body_days") }
        if let value = file.retentionMonths { config.retentionMonths = try positive(value, "retention_months") }
        if let value = file.valueTiers { config.valueTiers = value }
        if let value = file.signals { config.signals = value }
        if let value = file.merges { config.merges = value }
        if let value = file.outbound { config.outbound = value }
        if let value = file.maxAttempts { config.dispatch.maxAttempts = try positive(value, "max_attempts") }
        if let value = file.heartbeatMs { config.dispatch.heartbeatMs = Int64(try positive(value, "heartbeat_ms")) }
        if let value = file.heartbeatTimeoutMs { config.dispatch.heartbeatTimeoutMs = Int64(try positive(value, "heartbeat_timeout_ms")) }
        if let value = file.leaseMs { config.dispatch.leaseMs = Int64(try positive(value, "lease_ms")) }
        if let value = file.windowPerQueue { config.dispatch.windowPerQueue = try positive(value, "window_per_queue") }
        if let value = file.retryBaseMs { config.dispatch.retryBackoff.baseMs = Int64(try positive(value, "retry_base_ms")) }
        if let value = file.retryMaxMs { config.dispatch.retryBackoff.maxMs = Int64(try positive(value, "retry_max_ms")) }
        if let value = file.offerTimeoutMs { config.dispatch.offerTimeoutMs = Int64(try positive(value, "offer_timeout_ms")) }
        if let value = file.stickyWaitMs {
            guard value >= 0 else { throw ConfigError(reason: "sticky_wait_ms must be 0 or more, got \(value)") }
            config.dispatch.stickyWaitMs = Int64(value)
        }
        guard config.dispatch.retryBackoff.maxMs >= config.dispatch.retryBackoff.baseMs else {
            throw ConfigError(
                reason: "retry_max_ms (\(config.dispatch.retryBackoff.maxMs)) must be at least retry_base_ms (\(config.dispatch.retryBackoff.baseMs))"
            )
        }
        if let value = file.routing { config.routing = value }
        if let value = file.security { config.security = value }
        if let value = file.httpEndpoint { config.httpEndpoint = value == "off" ? nil : value }
        config.serverKeyFile = file.serverKeyFile
        config.gatewayKeysFile = file.gatewayKeysFile
        config.workerKeysFile = file.workerKeysFile
        config.subscriberKeysFile = file.subscriberKeysFile
        if let code = config.defaultCountryCode, code.isEmpty || code.count > 3 || !code.allSatisfy(\.isASCII) || Int(code) == nil {
            throw ConfigError(reason: "default_country_code '\(code)' must be 1 to 3 digits, like \"98\" or \"1\"")
        }
        return config
    }

    private static func positive(_ value: Int, _ key: String) throws -> Int {
        guard value > 0 else { throw ConfigError(reason: "\(key) must be positive, got \(value)") }
        return value
    }
}

/// A configuration value that parses but makes no sense.
public struct ConfigError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "configuration: \(reason)" }
    public init(reason: String) { self.reason = reason }
}

/// The file's shape; every key optional, unknown keys refused.
struct ConfigFile: Decodable {
    var database: String?
    var gatewayEndpoint: String?
    var workerEndpoint: String?
    var eventsEndpoint: String?
    var hubName: String?
    var maxBodyBytes: Int?
    var extraChannels: [String]?
    var defaultCountryCode: String?
    var batchMax: Int?
    var gatewayWindow: Int?
    var maxUncommitted: Int?
    var maxUncommittedBytes: Int?
    var rescanMs: Int?
    var hubLeaseMs: Int?
    var transitionWaitMs: Int?
    var workerSendQueue: Int?
    var drainTimeoutMs: Int?
    var contextRecentDays: Int?
    var retentionBodyDays: Int?
    var retentionMonths: Int?
    var valueTiers: ValueTierSettings?
    var signals: SignalSettings?
    var merges: MergeSettings?
    var outbound: OutboundSettings?
    var maxAttempts: Int?
    var heartbeatMs: Int?
    var heartbeatTimeoutMs: Int?
    var leaseMs: Int?
    var windowPerQueue: Int?
    var retryBaseMs: Int?
    var offerTimeoutMs: Int?
    var stickyWaitMs: Int?
    var retryMaxMs: Int?
    var routing: RoutingRules?
    var security: SecurityMode?
    var httpEndpoint: String?
    var serverKeyFile: String?
    var gatewayKeysFile: String?
    var workerKeysFile: String?
    var subscriberKeysFile: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case database
        case gatewayEndpoint = "gateway_endpoint"
        case workerEndpoint = "worker_endpoint"
        case eventsEndpoint = "events_endpoint"
        case hubName = "hub_name"
        case maxBodyBytes = "max_body_bytes"
        case extraChannels = "extra_channels"
        case defaultCountryCode = "default_country_code"
        case batchMax = "batch_max"
        case gatewayWindow = "gateway_window"
        case maxUncommitted = "max_uncommitted"
        case maxUncommittedBytes = "max_uncommitted_bytes"
        case rescanMs = "rescan_ms"
        case hubLeaseMs = "hub_lease_ms"
        case transitionWaitMs = "transition_wait_ms"
        case workerSendQueue = "worker_send_queue"
        case drainTimeoutMs = "drain_timeout_ms"
        case contextRecentDays = "context_recent_days"
        case retentionBodyDays = "retention_body_days"
        case retentionMonths = "retention_months"
        case valueTiers = "value_tiers"
        case signals
        case merges
        case outbound
        case maxAttempts = "max_attempts"
        case heartbeatMs = "heartbeat_ms"
        case heartbeatTimeoutMs = "heartbeat_timeout_ms"
        case leaseMs = "lease_ms"
        case windowPerQueue = "window_per_queue"
        case retryBaseMs = "retry_base_ms"
        case offerTimeoutMs = "offer_timeout_ms"
        case stickyWaitMs = "sticky_wait_ms"
        case retryMaxMs = "retry_max_ms"
        case routing
        case security
        case httpEndpoint = "http_endpoint"
        case serverKeyFile = "server_key_file"
        case gatewayKeysFile = "gateway_keys_file"
        case workerKeysFile = "worker_keys_file"
        case subscriberKeysFile = "subscriber_keys_file"
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = keys.first(where: { !known.contains($0) }) {
            throw ConfigError(reason: "unknown key '\(unknown)'; known keys: \(known.sorted().joined(separator: ", "))")
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        database = try container.decodeIfPresent(String.self, forKey: .database)
        gatewayEndpoint = try container.decodeIfPresent(String.self, forKey: .gatewayEndpoint)
        workerEndpoint = try container.decodeIfPresent(String.self, forKey: .workerEndpoint)
        eventsEndpoint = try container.decodeIfPresent(String.self, forKey: .eventsEndpoint)
        hubName = try container.decodeIfPresent(String.self, forKey: .hubName)
        maxBodyBytes = try container.decodeIfPresent(Int.self, forKey: .maxBodyBytes)
        extraChannels = try container.decodeIfPresent([String].self, forKey: .extraChannels)
        defaultCountryCode = try container.decodeIfPresent(String.self, forKey: .defaultCountryCode)
        batchMax = try container.decodeIfPresent(Int.self, forKey: .batchMax)
        gatewayWindow = try container.decodeIfPresent(Int.self, forKey: .gatewayWindow)
        maxUncommitted = try container.decodeIfPresent(Int.self, forKey: .maxUncommitted)
        maxUncommittedBytes = try container.decodeIfPresent(Int.self, forKey: .maxUncommittedBytes)
        rescanMs = try container.decodeIfPresent(Int.self, forKey: .rescanMs)
        hubLeaseMs = try container.decodeIfPresent(Int.self, forKey: .hubLeaseMs)
        transitionWaitMs = try container.decodeIfPresent(Int.self, forKey: .transitionWaitMs)
        workerSendQueue = try container.decodeIfPresent(Int.self, forKey: .workerSendQueue)
        drainTimeoutMs = try container.decodeIfPresent(Int.self, forKey: .drainTimeoutMs)
        contextRecentDays = try container.decodeIfPresent(Int.self, forKey: .contextRecentDays)
        retentionBodyDays = try container.decodeIfPresent(Int.self, forKey: .retentionBodyDays)
        retentionMonths = try container.decodeIfPresent(Int.self, forKey: .retentionMonths)
        valueTiers = try container.decodeIfPresent(ValueTierSettings.self, forKey: .valueTiers)
        signals = try container.decodeIfPresent(SignalSettings.self, forKey: .signals)
        merges = try container.decodeIfPresent(MergeSettings.self, forKey: .merges)
        outbound = try container.decodeIfPresent(OutboundSettings.self, forKey: .outbound)
        maxAttempts = try container.decodeIfPresent(Int.self, forKey: .maxAttempts)
        heartbeatMs = try container.decodeIfPresent(Int.self, forKey: .heartbeatMs)
        heartbeatTimeoutMs = try container.decodeIfPresent(Int.self, forKey: .heartbeatTimeoutMs)
        leaseMs = try container.decodeIfPresent(Int.self, forKey: .leaseMs)
        windowPerQueue = try container.decodeIfPresent(Int.self, forKey: .windowPerQueue)
        retryBaseMs = try container.decodeIfPresent(Int.self, forKey: .retryBaseMs)
        offerTimeoutMs = try container.decodeIfPresent(Int.self, forKey: .offerTimeoutMs)
        stickyWaitMs = try container.decodeIfPresent(Int.self, forKey: .stickyWaitMs)
        retryMaxMs = try container.decodeIfPresent(Int.self, forKey: .retryMaxMs)
        routing = try container.decodeIfPresent(RoutingRules.self, forKey: .routing)
        do {
            security = try container.decodeIfPresent(SecurityMode.self, forKey: .security)
        } catch {
            throw ConfigError(reason: "security must be 'curve' or 'off'")
        }
        httpEndpoint = try container.decodeIfPresent(String.self, forKey: .httpEndpoint)
        serverKeyFile = try container.decodeIfPresent(String.self, forKey: .serverKeyFile)
        gatewayKeysFile = try container.decodeIfPresent(String.self, forKey: .gatewayKeysFile)
        workerKeysFile = try container.decodeIfPresent(String.self, forKey: .workerKeysFile)
        subscriberKeysFile = try container.decodeIfPresent(String.self, forKey: .subscriberKeysFile)
    }
}

extension RoutingRules {
    /// The rules as `Store.registerRouting` records them (the version each routed row names).
    /// With them, `answer_targets`: each queue's speed-of-answer targets as its settings come to
    /// (`answer_ms`, and per value tier), which the analytics views read without knowing how a
    /// queue's settings are laid over its process's.
    public func registration() throws -> JSONValue {
        guard case .object(var members) = try JSONParser.parse(Array(try JSONEncoder().encode(self)), maxDepth: 32) else {
            throw ConfigError(reason: "the routing rules did not encode as an object")
        }
        var targets: [String: JSONValue] = [:]
        for queue in queueNames {
            guard let settings = settings(ofQueue: queue) else { continue }
            var entry: [String: JSONValue] = [:]
            if !settings.answerMs.isEmpty { entry["answer_ms"] = .object(settings.answerMs.mapValues(JSONValue.integer)) }
            let tiers = settings.tiers.compactMapValues { $0.answerMs.map { JSONValue.object($0.mapValues(JSONValue.integer)) } }
            if !tiers.isEmpty { entry["tiers"] = .object(tiers) }
            if !entry.isEmpty { targets[queue] = .object(entry) }
        }
        members["answer_targets"] = .object(targets)
        return .object(members)
    }
}

/// `value_tiers`: how customers are scored by recency, frequency and monetary value, and into
/// which tiers (docs/analytics.md).
public struct ValueTierSettings: Sendable, Equatable, Codable {
    /// Contacts received in this many days before now are scored.
    public var windowDays: Int = 365
    /// The attribute (of interactions, and of the customer as imported) holding money spent.
    public var monetaryAttribute: String = "order_value"
    /// How often the tiers are computed again.
    public var everyHours: Int = 24
    /// Tiers by their least score (3 to 15), highest first.
    public var tiers: [Tier] = [
        Tier(name: "platinum", minScore: 13), Tier(name: "gold", minScore: 10), Tier(name: "silver", minScore: 7),
        Tier(name: "bronze", minScore: 3),
    ]

    public struct Tier: Sendable, Equatable, Codable {
        public var name: String
        public var minScore: Int

        public init(name: String, minScore: Int) {
            self.name = name
            self.minScore = minScore
        }

        enum CodingKeys: String, CodingKey {
            case name
            case minScore = "min_score"
        }
    }

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case windowDays = "window_days"
        case monetaryAttribute = "monetary_attribute"
        case everyHours = "every_hours"
        case tiers
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ValueTierSettings()
        windowDays = try container.decodeIfPresent(Int.self, forKey: .windowDays) ?? defaults.windowDays
        monetaryAttribute = try container.decodeIfPresent(String.self, forKey: .monetaryAttribute) ?? defaults.monetaryAttribute
        everyHours = try container.decodeIfPresent(Int.self, forKey: .everyHours) ?? defaults.everyHours
        tiers = try container.decodeIfPresent([Tier].self, forKey: .tiers) ?? defaults.tiers
        guard windowDays > 0, everyHours > 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .windowDays, in: container, debugDescription: "window_days and every_hours must be positive")
        }
        guard !tiers.isEmpty, zip(tiers, tiers.dropFirst()).allSatisfy({ $0.minScore > $1.minScore }) else {
            throw DecodingError.dataCorruptedError(forKey: .tiers, in: container, debugDescription: "tiers must be listed highest min_score first")
        }
    }
}
