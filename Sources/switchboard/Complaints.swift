import ArgumentParser
import Foundation
import SwitchboardConfig
import SwitchboardStore

struct Complaints: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List complaints, and resolve one by hand.", subcommands: [List.self, Resolve.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List complaints, newest first.")
        @OptionGroup var options: CommonOptions
        @Flag(help: "Only the open ones.") var open = false
        @Option(help: "Only this customer's.") var customer: Int64?
        @Option(help: "At most this many.") var limit = 50

        func run() throws {
            let config = try options.loadConfig()
            let store = try Store(conninfo: config.database, owner: "switchboard-complaints")
            let complaints = try store.complaints(openOnly: open, customerID: customer, limit: limit)
            guard !complaints.isEmpty else {
                print(open ? "no open complaints" : "no complaints")
                return
            }
            let formatter = ISO8601DateFormatter()
            func time(_ ms: Int64) -> String { formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000)) }
            print("id\tcustomer\tprocess\tcategory\tstatus\topened\tresolved\tby\tresolution")
            for complaint in complaints {
                let fields = [
                    String(complaint.id), String(complaint.customerID), complaint.process, complaint.category, complaint.status,
                    time(complaint.openedAtMs), complaint.resolvedAtMs.map(time) ?? "-", complaint.resolvedBy ?? "-", complaint.resolution ?? "-",
                ]
                print(fields.joined(separator: "\t"))
            }
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve an open complaint by hand (a worker's DONE with a resolution does it on the complaint's task).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The complaint id.") var complaint: Int64
        @Option(help: "How it was resolved.") var resolution: String
        @Option(help: "Who resolved it (recorded as resolved_by).") var actor = ProcessInfo.processInfo.environment["USER"] ?? "switchboard"

        func run() throws {
            guard !resolution.isEmpty else { throw ValidationError("--resolution must say how it was resolved") }
            let config = try options.loadConfig()
            let store = try Store(conninfo: config.database, owner: "switchboard-complaints")
            guard try store.resolveComplaint(id: complaint, resolution: resolution, actor: "cli:" + actor) else {
                throw ValidationError("no open complaint \(complaint)")
            }
            print("complaint \(complaint) resolved")
        }
    }
}
