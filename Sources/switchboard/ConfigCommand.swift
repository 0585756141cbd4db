import ArgumentParser
import Foundation
import SwitchboardConfig
import SwitchboardProtocol

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a configuration file before a hub starts or reloads with it.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file without a running hub: exit 0 and a summary, or FILE:LINE:COLUMN: the problem.",
            discussion: """
                Reads the file as 'switchboard serve' and a reload (SIGHUP, systemctl reload) do: YAML \\
                syntax, every key known, every value in range, the routing rules compiled (queues \\
                that exist, rules that can match). The key files it names must be readable. Nothing \\
                is connected to: no database, no socket.
                """)
        @Argument(help: "The configuration file.") var file: String

        func run() throws {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ValidationError("\(file): cannot be read: \(error.localizedDescription)")
            }
            let config: HubConfig
            do {
                config = try RulesFile.configuration(yaml: text)
            } catch {
                print("\(file):\(error.line):\(error.column): \(error.message)")
                throw ExitCode(1)
            }
            var problems: [String] = []
            for (key, path) in [
                ("server_key_file", config.serverKeyFile), ("gateway_keys_file", config.gatewayKeysFile), ("worker_keys_file", config.workerKeysFile),
                ("subscriber_keys_file", config.subscriberKeysFile),
            ] {
                if let path, !FileManager.default.isReadableFile(atPath: path) { problems.append("\(file): \(key) \(path) cannot be read") }
            }
            guard problems.isEmpty else {
                problems.forEach { print($0) }
                throw ExitCode(1)
            }
            let routing = config.routing
            print(
                "\(file): ok — security \(config.security.rawValue), \(routing.queueNames.count) queues, \(routing.rules.count) rules, "
                    + "channels \(config.channels.sorted().joined(separator: ", ")), max_body_bytes \(config.maxBodyBytes)")
        }
    }
}
