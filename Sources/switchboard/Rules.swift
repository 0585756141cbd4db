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
                let queues = CRMProcess.allCases.map(\.rawValue).filter { rules.processes[$0] != nil }
                print("\(file): OK, rules for \(queues.joined(separator: ", ")); default \(rules.defaultProcess.rawValue)")
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
                required; intent, process, language, priority and content_type are optional. \
                Example: --message '{"channel":"sms","body":"Не работает интернет"}'
                """)
        @Argument(help: "The YAML file.") var file: String
        @Option(help: "The sample message (JSON).") var message: String

        func run() throws {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let rules: RoutingRules
            do {
                rules = try RulesFile.load(yaml: text)
            } catch {
                throw ValidationError("\(file):\(error.line):\(error.column): \(error.message)")
            }
            let sample = try Self.publish(from: message)
            for line in Router(rules: rules).explain(sample, now: Int64(Date().timeIntervalSince1970 * 1000)) { print(line) }
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
                body: Array(body.utf8))
        }
    }
}
