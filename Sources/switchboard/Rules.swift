import ArgumentParser
import Foundation
import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol

struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a routing rules file, or see where a sample message would go, before deploying it.",
        subcommands: [Check.self, Test.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a rules file (a hub configuration or its routing section); a problem is reported with its line and column.")
        @Argument(help: "The YAML file.") var file: String

        func run() throws {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            do {
                let rules = try RulesFile.load(yaml: text)
                print(
                    "\(file): OK, \(rules.rules.count) rules; queues \(rules.queueNames.joined(separator: ", ")); default \(rules.defaultProcess.rawValue)"
                )
            } catch {
                print("\(file):\(error.line):\(error.column): \(error.message)")
                throw ExitCode(1)
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show where a sample message would be routed by a rules file, and why.",
            discussion: """
                The message is a JSON object with PUBLISH's fields: channel and body (text) are \
                required; intent, process, language, priority, content_type and attributes are optional. \
                Example: --message '{"channel":"sms","body":"Не работает интернет"}'. Rules on the \
                customer are checked against --customer when given, e.g. --customer \
                '{"tier":"gold","kind":"partner","segment":"smb","attributes":{"region":"north"}}'; \
                without it, the decisions for each kind of customer are listed.
                """)
        @Argument(help: "The YAML file.") var file: String
        @Option(help: "The sample message (JSON).") var message: String
        @Option(help: "The customer the message resolves to (JSON): kind, segment, tier, attributes.") var customer: String?

        func run() throws {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let rules: RoutingRules
            do {
                rules = try RulesFile.load(yaml: text)
            } catch {
                throw ValidationError("\(file):\(error.line):\(error.column): \(error.message)")
            }
            let sample = try Self.publish(from: message)
            let facts = try customer.map(Self.customer(from:))
            for line in Router(rules: rules).explain(sample, now: Int64(Date().timeIntervalSince1970 * 1000), customer: facts) { print(line) }
        }

        static func publish(from json: String) throws -> Publish {
            let object: JSONValue
            do {
                object = try JSONParser.parse(Array(json.utf8))
            } catch {
                throw ValidationError("--message is not JSON: \(error)")
            }
            func string(_ key: String) -> String? { if case .string(let text)? = object[key] { text } else { nil } }
            guard let channel = string("channel"), let body = string("body") else {
                throw ValidationError("--message needs \"channel\" and \"body\" (text)")
            }
            var process: CRMProcess?
            if let name = string("process") {
                guard let known = CRMProcess(rawValue: name) else { throw ValidationError("process '\(name)' is not a queue") }
                process = known
            }
            var priority = 0
            if case .integer(let value)? = object["priority"] { priority = Int(value) }
            return Publish(
                messageID: string("message_id") ?? "sample", channel: channel, occurredAt: 0, intent: string("intent"), process: process,
                priority: priority, language: string("language"), contentType: string("content_type") ?? Publish.defaultContentType,
                body: Array(body.utf8), attributes: object["attributes"]?.stringMembers ?? [:])
        }

        static func customer(from json: String) throws -> CustomerFacts {
            guard case .object(let object) = try? JSONParser.parse(Array(json.utf8)) else {
                throw ValidationError("--customer is not a JSON object")
            }
            func string(_ key: String) -> String? { if case .string(let text)? = object[key] { text } else { nil } }
            return CustomerFacts(
                kind: string("kind") ?? "consumer", segment: string("segment"), tier: string("tier") ?? "standard",
                attributes: object["attributes"]?.stringMembers ?? [:])
        }
    }
}
