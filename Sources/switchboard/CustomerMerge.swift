import ArgumentParser
import Foundation
import Postgres
import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

extension Customer {
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge customer ABSORBED into customer SURVIVOR; undone exactly by 'customer unmerge'.",
            discussion: """
                Every identity, contact, delivery, feedback and complaint of ABSORBED moves to \
                SURVIVOR. Field by field the survivor keeps its name, segment and value tier, taking \
                the absorbed's where it has none; consent and attributes are merged key by key. A \
                conflict (both set, different) keeps the survivor's unless --take names it: \
                display_name, segment, value_tier, consent.KEY or attributes.KEY. The conflicts and \
                how each was decided are printed and kept with the merge; it is audited on both.
                """)
        @OptionGroup var options: CommonOptions
        @Argument(help: "The customer that stays.") var survivor: Int64
        @Argument(help: "The customer merged into it.") var absorbed: Int64
        @Option(help: "A conflicting field whose value is taken from ABSORBED (repeatable).") var take: [String] = []
        @Option(help: "Who asks (recorded with the merge).") var actor = ProcessInfo.processInfo.environment["USER"] ?? "switchboard"

        func run() throws {
            let store = try Store(conninfo: try options.loadConfig().database, owner: "switchboard-customer")
            let merged = try refusingTyped { try store.mergeCustomers(survivor: survivor, absorbed: absorbed, actor: actor, take: take) }
            print(describe(merged))
        }
    }

    struct Unmerge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo a merge exactly: the absorbed customer's rows go back, both customers are as they were before it.",
            discussion: """
                Names the merge by its id (customer merge prints it; customer_merges lists them) or, \
                with --customer, the merge in force that absorbed that customer. Contacts stored \
                under the survivor after the merge stay with it. The pair is then declared \
                distinct, so no message merges it again by itself.
                """)
        @OptionGroup var options: CommonOptions
        @Argument(help: "The merge id.") var merge: Int64?
        @Option(help: "Instead of a merge id: the absorbed customer.") var customer: Int64?
        @Option(help: "Who asks (recorded with the merge).") var actor = ProcessInfo.processInfo.environment["USER"] ?? "switchboard"

        func validate() throws {
            guard (merge == nil) != (customer == nil) else { throw ValidationError("name a merge id, or --customer, one of them") }
        }

        func run() throws {
            let store = try Store(conninfo: try options.loadConfig().database, owner: "switchboard-customer")
            var id = merge
            if let customer {
                guard let found = try store.activeMerge(absorbing: customer) else {
                    throw ValidationError("customer \(customer) is not merged into another")
                }
                id = found
            }
            guard let id else { return }
            let restored = try refusingTyped { try store.unmergeCustomers(mergeID: id, actor: actor) }
            print("merge \(id) undone: customer \(restored["absorbed"].map(JSONWriter.string) ?? "?") is itself again")
            print("moved back: \(restored["back"].map(JSONWriter.string) ?? "{}")")
        }
    }

    struct Review: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The pairs of customers one message linked that were not merged by themselves: list, merge or dismiss them.",
            discussion: """
                Without options, lists the pairs waiting, both customers side by side. --merge ID \
                merges a pair (the older customer survives unless --survivor names the other; \
                --take as in 'customer merge'); --dismiss ID declares the two distinct: the pair is \
                never proposed again.
                """)
        @OptionGroup var options: CommonOptions
        @Option(help: "Merge this pair.") var merge: Int64?
        @Option(help: "With --merge: the customer that stays.") var survivor: Int64?
        @Option(help: "With --merge: a conflicting field taken from the other customer (repeatable).") var take: [String] = []
        @Option(help: "Dismiss this pair: the two are different customers.") var dismiss: Int64?
        @Option(help: "Who decides (recorded).") var actor = ProcessInfo.processInfo.environment["USER"] ?? "switchboard"

        func validate() throws {
            if merge != nil && dismiss != nil { throw ValidationError("--merge or --dismiss, not both") }
            if survivor != nil && merge == nil { throw ValidationError("--survivor goes with --merge") }
        }

        func run() throws {
            let store = try Store(conninfo: try options.loadConfig().database, owner: "switchboard-customer")
            if let dismiss {
                guard try store.dismissCandidate(dismiss, actor: actor) else { throw ValidationError("no pair \(dismiss) waits for review") }
                print("pair \(dismiss) dismissed: the two are different customers")
                return
            }
            if let merge {
                guard let pair = try store.reviewCandidate(merge) else { throw ValidationError("no pair \(merge) waits for review") }
                let keep = survivor ?? min(pair.customerA, pair.customerB)
                guard keep == pair.customerA || keep == pair.customerB else {
                    throw ValidationError("--survivor must be \(pair.customerA) or \(pair.customerB)")
                }
                let other = keep == pair.customerA ? pair.customerB : pair.customerA
                let merged = try refusingTyped {
                    try store.mergeCustomers(survivor: keep, absorbed: other, actor: actor, reason: "review", take: take)
                }
                print(describe(merged))
                return
            }
            let pairs = try store.mergeCandidatesForReview()
            guard !pairs.isEmpty else {
                print("no pairs wait for review")
                return
            }
            for pair in pairs {
                print(
                    "pair \(pair.id): customers \(pair.customerA) and \(pair.customerB), linked by \(pair.gateway ?? "?") message \(pair.interactionID.map(String.init) ?? "?")"
                )
                for side in ["a", "b"] { print("  \(pair.sides[side].map(JSONWriter.string) ?? "{}")") }
            }
        }
    }
}

/// A merge's answer for a person: who into whom, the conflicts and how each went, what moved.
private func describe(_ merged: JSONValue) -> String {
    var lines = [
        "merge \(merged["merge_id"].map(JSONWriter.string) ?? "?"): customer \(merged["absorbed"].map(JSONWriter.string) ?? "?") merged into customer \(merged["survivor"].map(JSONWriter.string) ?? "?")"
    ]
    if case .object(let conflicts)? = merged["conflicts"], !conflicts.isEmpty {
        lines.append("conflicts:")
        for (field, conflict) in conflicts.sorted(by: { $0.key < $1.key }) {
            let kept = conflict["kept"].flatMap { if case .string(let side) = $0 { side } else { nil } } ?? "survivor"
            lines.append(
                "  \(field): survivor \(conflict["survivor"].map(JSONWriter.string) ?? "-"), absorbed \(conflict["absorbed"].map(JSONWriter.string) ?? "-"); kept the \(kept)'s"
            )
        }
    } else {
        lines.append("conflicts: none")
    }
    lines.append("moved: \(merged["moved"].map(JSONWriter.string) ?? "{}")")
    return lines.joined(separator: "\n")
}

/// Runs a merge or unmerge; PostgreSQL's refusals of them (no such customer, erased, merged
/// already, nothing to take) become the command's error, in their own words.
private func refusingTyped(_ body: () throws -> JSONValue) throws -> JSONValue {
    do {
        return try body()
    } catch let error as PostgresError where ["P0002", "22023", "55000"].contains(error.sqlState ?? "") {
        throw ValidationError(error.message)
    }
}
