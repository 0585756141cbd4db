import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

/// How a gateway's PUBLISH becomes a record to store: its hints normalized and its route decided
/// under the configuration, stamped with the version its routing rules are registered under. The
/// hub and `switchboard quarantine replay` share it, so that a replayed message is taken in
/// exactly as a sent one.
///
/// A class: the hub takes every message in through it, and a struct stored in the hub was copied
/// out for each call, its rules and router retained and released (`perf record` of the hub).
final class PublishIntake {
    private let rules: RoutingRules
    private let router: Router
    private let normalizer: IdentityNormalizer
    private(set) var routingVersion = 0

    init(config: HubConfig) {
        rules = config.routing
        router = Router(rules: config.routing)
        normalizer = IdentityNormalizer(defaultCountryCode: config.defaultCountryCode)
    }

    /// Registers the routing rules (a version is made once per distinct rule set) and stamps records with it.
    func register(in store: Store) throws {
        routingVersion = try store.registerRouting(try rules.registration())
    }

    /// The record to store: a hint that does not normalize is kept unverified, never refused. A
    /// feedback message without an intent is routed and stored with its feedback's type as intent
    /// (`complaint`, `csat`, ...), as the analytics and the rules read it.
    func record(_ publish: Publish, gateway: String, now: Int64) -> IngestRecord {
        var publish = publish
        if publish.intent == nil, let feedback = publish.feedback { publish.intent = feedback.kind.rawValue }
        let optOut = OptOut.requested(by: publish)
        if optOut, publish.intent == nil { publish.intent = OptOut.intent }
        let (identities, unverified) = normalizer.normalize(publish.hints)
        return IngestRecord(
            gateway: gateway, publish: publish, identities: identities, unverified: unverified, route: router.route(publish, now: now),
            routingVersion: routingVersion, optOut: optOut)
    }

    /// The refusal of a message id stored before with other content.
    static func reused(_ messageID: String, storedAs interactionID: Int64) -> IntakeRefusal {
        IntakeRefusal(
            detail: .messageIDReused,
            reason:
                "message id '\(messageID)' was stored before (interaction \(interactionID)) with different content; use a new id for a new message")
    }
}

/// Why a gateway's message is refused: the NACK's detail and reason.
struct IntakeRefusal: Error {
    let detail: RefusalDetail
    let reason: String
}
