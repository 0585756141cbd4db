import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Import external data into the customer database.", subcommands: [Customers.self])

    struct Customers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge a CSV file of customer data (credit rating, industry, region, consent, tier…) into customers by identity.",
            discussion: """
                The first row names the columns. Identity columns (phone, email, external_id, device_id, \
                fax, chat, social) find the customer, as the hub finds it for a message; a row that finds \
                none makes a new customer. name (when the customer has none), segment, value_tier, kind \
                (consumer or partner) and consent.<channel> (yes or no) set those fields; every other column \
                is an attribute (customers.attributes), and each value's source and date is kept in \
                customer_attribute_sources. All rows or none: every bad row is reported with its line \
                and nothing is written. The same rows from the same source are imported once.
                """)
        @OptionGroup var options: CommonOptions
        @Argument(help: "The CSV file (UTF-8).") var file: String
        @Option(help: "Where the data comes from (kept with each value), e.g. credit-bureau.") var source: String

        func run() throws {
            let config = try options.loadConfig()
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let (rows, problems) = CustomerImport.rows(csv: text, normalizer: IdentityNormalizer(defaultCountryCode: config.defaultCountryCode))
            guard problems.isEmpty else {
                for problem in problems { print("\(file):\(problem.line): \(problem.reason)") }
                print("nothing imported: \(problems.count) problems")
                throw ExitCode(1)
            }
            let store = try Store(conninfo: config.database, owner: "switchboard-import")
            let answer = try store.importCustomers(rows, source: source)
            if case .array(let found)? = answer["problems"] {
                for case .object(let problem) in found {
                    let line = problem["line"].map { JSONWriter.string($0) } ?? "?"
                    if case .string(let reason)? = problem["reason"] { print("\(file):\(line): \(reason)") }
                }
                print("nothing imported: \(found.count) problems")
                throw ExitCode(1)
            }
            if let earlier = answer["already_imported"] {
                print("\(file): these rows from \(source) were imported before (import \(JSONWriter.string(earlier))); nothing changed")
                return
            }
            print("\(file): imported from \(source): \(JSONWriter.string(answer))")
        }
    }
}
