import ArgumentParser
import Foundation
import Postgres
import SwitchboardConfig
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore

struct Customer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work on the customer database: merge, unmerge and review, erase a person, compute value tiers and feedback signals.",
        subcommands: [Merge.self, Unmerge.self, Review.self, Erase.self, Tiers.self, Signals.self])

    struct Signals: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw the implicit feedback now (signals of the configuration, or its defaults).",
            discussion: """
                Raises repeat_contact and silent_after_complaint signals (customer_signals), \
                recomputes every active customer's experience and churn risk (customer_experience) \
                and raises or clears churn_risk signals. A hub does this every hour by itself.
                """)
        @OptionGroup var options: CommonOptions

        func run() throws {
            let config = try options.loadConfig()
            let store = try Store(conninfo: config.database, owner: "switchboard-customer")
            let found = try store.computeSignals(config.signals, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            print("signals: \(JSONWriter.string(found))")
        }
    }

    struct Tiers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compute every active customer's RFM value tier now (value_tiers of the configuration, or its defaults).",
            discussion: """
                Scores recency, frequency and monetary value (value_tiers.monetary_attribute) of the \
                contacts in the last value_tiers.window_days, 1 to 5 each, and sets customers.value_tier \
                from their sum; the scores are kept in customer_value. A hub with value_tiers set does \
                this every value_tiers.every_hours by itself.
                """)
        @OptionGroup var options: CommonOptions

        func run() throws {
            let config = try options.loadConfig()
            let settings = config.valueTiers ?? ValueTierSettings()
            let store = try Store(conninfo: config.database, owner: "switchboard-customer")
            let counts = try store.computeValueTiers(settings.plan, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            print("customers scored, per tier: \(counts.map { JSONWriter.string($0) } ?? "{}")")
        }
    }

    struct Erase: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase a customer's personal data; the anonymized rows stay, so every report's totals stay the same.",
            discussion: """
                The customer is named by id, or by one of its identities as kind:value \
                (phone:+989123456789, email:sara@example.com, fax:…, social:telegram:sara_k, chat:…, \
                external:…, device:…), normalized as the hub normalizes hints. Its name, segment, \
                consent and attributes, its identities, its messages' bodies and attributes and its \
                deliveries' notes are removed; open deliveries end as failed ('erased'). No later \
                message links to it. The erasure is recorded in customer_audit.
                """)
        @OptionGroup var options: CommonOptions
        @Argument(help: "The customer id, or kind:value of one of its identities.") var customer: String
        @Option(help: "Who asks (recorded in customer_audit).") var actor = ProcessInfo.processInfo.environment["USER"] ?? "switchboard"

        func run() throws {
            let config = try options.loadConfig()
            let store = try Store(conninfo: config.database, owner: "switchboard-customer")
            let id: Int64
            if let number = Int64(customer) {
                id = number
            } else {
                let identity = try Self.identity(customer, normalizer: IdentityNormalizer(defaultCountryCode: config.defaultCountryCode))
                guard let found = try store.customer(with: identity) else {
                    throw ValidationError("no customer has \(identity.kind.rawValue) \(identity.value)")
                }
                id = found
            }
            do {
                print("customer \(id) erased: \(try store.eraseCustomer(id, actor: actor))")
            } catch let error as PostgresError where error.sqlState == "P0002" {
                throw ValidationError("no customer \(id)")
            } catch let error as PostgresError where error.sqlState == "55000" {
                throw ValidationError(error.message)
            }
        }

        /// `kind:value` as the normalized identity the hub would store for such a hint.
        static func identity(_ text: String, normalizer: IdentityNormalizer) throws -> NormalizedIdentity {
            guard let colon = text.firstIndex(of: ":"), let kind = NormalizedIdentity.Kind(rawValue: String(text[..<colon])) else {
                throw ValidationError(
                    "'\(text)' is neither a customer id nor kind:value with a kind of \(NormalizedIdentity.Kind.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            let value = String(text[text.index(after: colon)...])
            guard let identity = normalizer.normalize(kind, value) else {
                throw ValidationError("'\(value)' is not a \(kind.rawValue) identity")
            }
            return identity
        }
    }
}
