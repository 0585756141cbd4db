import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain where an interaction was routed and why, with the rules it was routed by, and what happened to it since.",
        discussion: """
            Routes the stored message again with the rule set version recorded for it and prints \
            the decision, each step of the rules (why it did or did not decide), what the task \
            needs of a worker, then its deliveries and their history (delivery_events).
            """)

    @OptionGroup var options: CommonOptions
    @Argument(help: "The interaction id (an ACK's interaction_id).") var interaction: Int64

    func run() throws {
        let config = try options.loadConfig()
        let store = try Store(conninfo: config.database, owner: "switchboard-explain")
        guard let record = try store.interactionRecord(interaction) else { throw ValidationError("no interaction \(interaction)") }
        let rules: RoutingRules
        if let recorded = record.rules {
            rules = try JSONDecoder().decode(RoutingRules.self, from: Data(recorded))
            print(
                "interaction \(interaction): \(record.publish.channel) from \(record.publish.messageID), rule set version \(record.routingVersion ?? 0)"
            )
        } else {
            rules = config.routing
            print("interaction \(interaction): its rule set version is not recorded; explained with this configuration's rules")
        }
        let customer = record.customer
        print(
            "customer: kind \(customer.kind), tier \(customer.tier), segment \(customer.segment ?? "none")"
                + (customer.attributes.isEmpty
                    ? "" : ", attributes " + customer.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
                + " (as now; the route was chosen by what it was then)")
        for line in Router(rules: rules).explain(record.publish, now: record.receivedAt, customer: customer) { print(line) }
        let times = ISO8601DateFormatter()
        for delivery in record.deliveries {
            print(
                "delivery \(delivery.id): queue \(delivery.queue), \(delivery.state), \(delivery.attempts) offers, worker \(delivery.worker ?? "-"); routed: \(delivery.reason)\(delivery.rule.map { " (rule \($0))" } ?? "")"
            )
            for event in record.events where event.deliveryID == delivery.id {
                let time = times.string(from: Date(timeIntervalSince1970: Double(event.at) / 1000))
                print("  \(time)  \(event.kind)  \(event.worker ?? "")  \(event.detail ?? "")".trimmingCharacters(in: .whitespaces))
            }
        }
    }
}
