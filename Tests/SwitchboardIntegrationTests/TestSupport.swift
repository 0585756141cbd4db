import Foundation
import Logging
import Postgres
import SwitchboardClient
import SwitchboardConfig
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Synchronization
import Testing
import ZeroMQ

/// A fresh, migrated database in the test cluster (`make test` sets SWITCHBOARD_TEST_DATABASE).
struct TestDatabase {
    let conninfo: String

    init() throws {
        guard let admin = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_DATABASE"] else {
            throw TestSetupError("SWITCHBOARD_TEST_DATABASE is not set: run the tests with 'make test', which starts PostgreSQL")
        }
        let name = "swb_test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        let connection = try Connection(admin)
        try connection.execute(script: "CREATE DATABASE \(name)")
        conninfo = Self.conninfo(admin, database: name)
        try Migrator.migrate(try Connection(conninfo))
    }

    /// An already migrated database.
    init(existing conninfo: String) { self.conninfo = conninfo }

    /// Another database of the same cluster (say, one a command made next to this one).
    func sibling(_ name: String) -> TestDatabase { TestDatabase(existing: Self.conninfo(conninfo, database: name)) }

    /// `conninfo` with its database replaced by `database`.
    static func conninfo(_ conninfo: String, database: String) -> String {
        conninfo.split(separator: " ").filter { !$0.hasPrefix("dbname=") }.joined(separator: " ") + " dbname=\(database)"
    }

    func connect() throws -> Connection { try Connection(conninfo) }

    /// The single value of a query, as text.
    func value(_ sql: String, _ parameters: [PostgresValue] = []) throws -> String? {
        try connect().query(sql, parameters).rows.first?.first ?? nil
    }

    func count(_ sql: String, _ parameters: [PostgresValue] = []) throws -> Int {
        Int(try value(sql, parameters) ?? "0") ?? 0
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A hub running in this process on its own thread, on ephemeral loopback ports.
final class RunningHub: Sendable {
    let endpoints: HubEndpoints
    private let stop = StopSignal()
    private let finished = StopSignal()

    static func config(_ database: TestDatabase) -> HubConfig {
        var config = HubConfig()
        config.database = database.conninfo
        config.gatewayEndpoint = "tcp://127.0.0.1:*"
        config.workerEndpoint = "tcp://127.0.0.1:*"
        config.eventsEndpoint = "tcp://127.0.0.1:*"
        config.hubName = "test-hub"
        config.security = .off
        config.httpEndpoint = "127.0.0.1:0"
        config.defaultCountryCode = "98"
        config.maxBodyBytes = 4096
        config.dispatch.heartbeatMs = 100
        config.dispatch.heartbeatTimeoutMs = 600
        // These hubs test other promises: they stop at once, as before draining (DrainTests test it).
        config.drainTimeoutMs = 0
        return config
    }

    init(_ config: HubConfig) throws {
        let ready = Mutex<Result<HubEndpoints, TestSetupError>?>(nil)
        let stop = self.stop
        let finished = self.finished
        let thread = Thread {
            defer { finished.raise() }
            var logger = Logger(label: "test.hub")
            logger.logLevel = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_LOG"] == "debug" ? .debug : .warning
            do {
                try Hub(config: config, logger: logger).run(stop: stop, onReady: { endpoints in ready.withLock { $0 = .success(endpoints) } })
            } catch {
                ready.withLock { $0 = .failure(TestSetupError("hub failed: \(error)")) }
            }
        }
        thread.start()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let result = ready.withLock({ $0 }) {
                endpoints = try result.get()
                return
            }
            usleep(5000)
        }
        throw TestSetupError("hub did not start within 15 s")
    }

    /// False once the hub's loop has returned or thrown.
    var isRunning: Bool { !finished.isRaised }

    /// Stops the hub gracefully and waits for its thread.
    func shutdown() {
        stop.raise()
        let deadline = Date().addingTimeInterval(15)
        while !finished.isRaised && Date() < deadline { usleep(5000) }
    }

    deinit { if !finished.isRaised { shutdown() } }
}

/// Builds PUBLISH messages with unique ids.
enum Messages {
    static func publish(
        _ id: String, _ text: String = "My internet is not working, please help", channel: String = "email",
        hints: IdentityHints = IdentityHints(email: "sara@example.com"), priority: Int = 0, process: CRMProcess? = nil
    ) -> Publish {
        Publish(
            messageID: id, channel: channel, occurredAt: 1_790_000_000_000, hints: hints, process: process,
            priority: priority, body: Array(text.utf8))
    }
}

extension WorkerClient {
    /// Waits for the next TASK, skipping other events.
    func nextTask(timeoutMs: Int = 5000) throws -> TaskOffer? {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while Date() < deadline {
            if case .task(let task) = try next(timeoutMs: 50) { return task }
        }
        return nil
    }

    /// The next `count` events of any kind, in arrival order.
    func events(count: Int, timeoutMs: Int = 5000) throws -> [Event] {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        var events: [Event] = []
        while events.count < count && Date() < deadline {
            if let event = try next(timeoutMs: 50) { events.append(event) }
        }
        return events
    }

    /// Waits for the next event that is not a task.
    func nextAnswer(timeoutMs: Int = 5000) throws -> Event? {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while Date() < deadline {
            if let event = try next(timeoutMs: 50) {
                if case .task = event { continue }
                return event
            }
        }
        return nil
    }
}

/// Waits until `condition` holds or the time runs out; returns whether it held.
func eventually(timeoutMs: Int = 5000, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// A bare DEALER for speaking the protocol by hand; a receive gives up after a second.
func rawDealer(_ context: Context, _ endpoint: String) throws -> Socket {
    let socket = try context.socket(.dealer)
    try socket.setReceiveTimeout(1000)
    try socket.connect(endpoint)
    return socket
}
