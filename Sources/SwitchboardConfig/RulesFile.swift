import Foundation
import SwitchboardCore
import Yams

/// A routing rules file checked before it is deployed (`switchboard rules check`): either a whole
/// hub configuration (its `routing` section is read) or the routing section alone
/// (`default_process`, `processes`). Every problem names the line (and column) it is on.
public enum RulesFile {
    /// One problem of a rules file.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var line: Int
        public var column: Int
        public var message: String
        public var description: String { "line \(line), column \(column): \(message)" }
    }

    /// The rules of `yaml`, or the problem that keeps it from being used.
    public static func load(yaml: String) throws(Problem) -> RoutingRules {
        guard let root = try compose(yaml) else { throw Problem(line: 1, column: 1, message: "the file is empty") }
        // A whole configuration's other keys are checked too.
        if root["routing"] != nil { return try configuration(yaml: yaml).routing }
        do {
            return try YAMLDecoder().decode(RoutingRules.self, from: yaml)
        } catch let error as DecodingError {
            throw problem(of: error, in: root, prefix: [])
        } catch {
            throw Problem(line: 1, column: 1, message: "\(error)")
        }
    }

    /// The YAML's node tree, or its syntax problem on its line; nil for an empty file.
    private static func compose(_ yaml: String) throws(Problem) -> Node? {
        do {
            return try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw problem(of: error)
        } catch {
            throw Problem(line: 1, column: 1, message: "\(error)")
        }
    }

    /// A whole hub configuration (`switchboard config check`, `serve`, a reload), every problem
    /// placed on its line: YAML syntax, a value of the wrong type or range, an unknown key.
    public static func configuration(yaml: String) throws(Problem) -> HubConfig {
        guard let root = try compose(yaml) else { return try parse(yaml) }
        do {
            do {
                return try HubConfig.parse(yaml: yaml)
            } catch DecodingError.dataCorrupted(let context) where context.underlyingError is ConfigError {
                // The file's shape refused a key as it was decoded: its own error.
                throw context.underlyingError!
            }
        } catch let error as DecodingError {
            throw problem(of: error, in: root, prefix: [])
        } catch let error as ConfigError {
            // Such an error names its key first ("max_body_bytes must be positive, got 0",
            // "unknown key 'x'"): placed on that key's line.
            let marks: [(key: String, mark: Mark?)] =
                root.mapping.map { mapping in mapping.map { ($0.key.string ?? "", $0.key.mark) } } ?? []
            let named = marks.first { error.reason.hasPrefix($0.key + " ") || error.reason.contains("'\($0.key)'") }
            throw Problem(line: named?.mark?.line ?? 1, column: named?.mark?.column ?? 1, message: error.reason)
        } catch {
            throw Problem(line: 1, column: 1, message: "\(error)")
        }
    }

    private static func parse(_ yaml: String) throws(Problem) -> HubConfig {
        do {
            return try HubConfig.parse(yaml: yaml)
        } catch {
            throw Problem(line: 1, column: 1, message: "\(error)")
        }
    }

    private static func problem(of error: YamlError) -> Problem {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return Problem(line: mark.line, column: mark.column, message: (context.map { "\($0.text): " } ?? "") + problem)
        default:
            return Problem(line: 1, column: 1, message: "\(error)")
        }
    }

    /// The decoding error placed on the line of the deepest node its coding path reaches.
    private static func problem(of error: DecodingError, in root: Node, prefix: [String]) -> Problem {
        let (path, message): ([any CodingKey], String)
        switch error {
        case .dataCorrupted(let context): (path, message) = (context.codingPath, context.debugDescription)
        case .keyNotFound(let key, let context): (path, message) = (context.codingPath, "'\(key.stringValue)' is missing")
        case .typeMismatch(let type, let context): (path, message) = (context.codingPath, "expected \(type): \(context.debugDescription)")
        case .valueNotFound(let type, let context): (path, message) = (context.codingPath, "expected a value of \(type)")
        @unknown default: (path, message) = ([], "\(error)")
        }
        var node = root
        var keys = prefix
        for key in path {
            let next: Node?
            if let index = key.intValue, case .sequence(let sequence) = node, index < sequence.count {
                next = sequence[index]
            } else {
                next = node[key.stringValue]
            }
            guard let next else { break }
            node = next
            keys.append(key.intValue.map { "[\($0)]" } ?? key.stringValue)
        }
        let mark = node.mark
        let place = keys.isEmpty ? "" : "\(keys.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")): "
        return Problem(line: mark?.line ?? 1, column: mark?.column ?? 1, message: place + message)
    }
}

extension RulesFile {
    /// A campaign file (`switchboard campaign create`), its problems placed on their lines.
    public static func campaign(yaml: String) throws(Problem) -> CampaignDefinition {
        guard let root = try compose(yaml) else { throw Problem(line: 1, column: 1, message: "the file is empty") }
        // A misspelt rule must not widen the target to everyone: unknown keys are refused.
        let known: [String: Set<String>] = [
            "": [
                "name", "mode", "channel", "queue", "target", "templates", "default_language", "time_zone", "window", "response_days",
                "conversion_outcomes", "batch_size",
            ],
            "target": ["kind", "value_tier", "segment", "attributes", "last_contact_days", "lifecycle"],
            "window": ["days", "from", "to"],
            "last_contact_days": ["min", "max"],
        ]
        func check(_ node: Node, _ section: String) throws(Problem) {
            guard let mapping = node.mapping, let keys = known[section] else { return }
            for (key, value) in mapping {
                let name = key.string ?? ""
                guard keys.contains(name) else {
                    throw Problem(
                        line: key.mark?.line ?? 1, column: key.mark?.column ?? 1,
                        message:
                            "unknown key '\(name)'\(section.isEmpty ? "" : " in \(section)"); expected one of \(keys.sorted().joined(separator: ", "))"
                    )
                }
                try check(value, name)
            }
        }
        try check(root, "")
        do {
            return try YAMLDecoder().decode(CampaignDefinition.self, from: yaml)
        } catch let error as DecodingError {
            throw problem(of: error, in: root, prefix: [])
        } catch {
            throw Problem(line: 1, column: 1, message: "\(error)")
        }
    }
}
