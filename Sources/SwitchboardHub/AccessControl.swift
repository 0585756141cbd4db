import Foundation
import Logging
import SwitchboardConfig
import ZeroMQ

/// The public keys allowed in one role, each with the name its holder goes by
/// (a gateway's name in the database, a worker's name in logs).
///
/// File format, one entry per line: `<40-character Z85 public key> <name>`; blank lines and lines
/// starting with `#` are ignored. `switchboard keygen` writes a `.pub` file holding one such line.
public struct AllowList: Sendable, Equatable {
    public private(set) var names: [String: String] = [:]

    public init(entries: [String: String] = [:]) { names = entries }

    /// Parses an allow-list; an unreadable line is an error naming the file and line, not a skip.
    public static func parse(_ text: String, file: String) throws -> AllowList {
        var list = AllowList()
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true).map(String.init)
            guard fields.count == 2, Curve.isKey(fields[0]) else {
                throw ConfigError(reason: "\(file):\(index + 1): expected '<40-character Z85 public key> <name>', got '\(line.prefix(80))'")
            }
            let name = fields[1].trimmingCharacters(in: .whitespaces)
            guard (1...128).contains(name.utf8.count), name.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw ConfigError(reason: "\(file):\(index + 1): name '\(name)' must be 1 to 128 printable ASCII characters without spaces")
            }
            list.names[fields[0]] = name
        }
        return list
    }

    public static func load(path: String) throws -> AllowList {
        do {
            return try parse(String(contentsOfFile: path, encoding: .utf8), file: path)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(reason: "cannot read allow-list \(path): \(error.localizedDescription)")
        }
    }
}

/// The hub's ZAP policy: a gateway key may connect to the gateway socket only, a worker key to the
/// worker socket only; anything else is refused. Reloaded from its files on SIGHUP.
final class AccessControl {
    private let gatewayFile: String
    private let workerFile: String
    private let subscriberFile: String?
    private(set) var gateways: AllowList
    private(set) var workers: AllowList
    private(set) var subscribers: AllowList

    static let gatewayDomain = "gateway"
    static let workerDomain = "worker"
    /// The events socket: a subscriber's key, or a worker's (workers see more than events carry).
    static let eventsDomain = "events"

    init(gatewayFile: String, workerFile: String, subscriberFile: String? = nil) throws {
        self.gatewayFile = gatewayFile
        self.workerFile = workerFile
        self.subscriberFile = subscriberFile
        gateways = try AllowList.load(path: gatewayFile)
        workers = try AllowList.load(path: workerFile)
        subscribers = try subscriberFile.map(AllowList.load(path:)) ?? AllowList()
    }

    /// Reads the files again. If any fails, all lists stay as they were and the error is thrown.
    func reload() throws {
        let newGateways = try AllowList.load(path: gatewayFile)
        let newWorkers = try AllowList.load(path: workerFile)
        let newSubscribers = try subscriberFile.map(AllowList.load(path:)) ?? AllowList()
        gateways = newGateways
        workers = newWorkers
        subscribers = newSubscribers
    }

    /// The name to accept the peer as, or nil and why not.
    func authorize(_ request: ZapRequest) -> (name: String?, reason: String) {
        guard request.mechanism == "CURVE", let key = request.clientKey else {
            return (nil, "mechanism \(request.mechanism) refused: CURVE required")
        }
        let list: AllowList
        switch request.domain {
        case Self.gatewayDomain: list = gateways
        case Self.workerDomain: list = workers
        case Self.eventsDomain: list = AllowList(entries: workers.names.merging(subscribers.names) { _, subscriber in subscriber })
        default: return (nil, "unknown domain '\(request.domain)'")
        }
        guard let name = list.names[key] else { return (nil, "key \(key) is not allowed as a \(request.domain)") }
        return (name, "OK")
    }
}
