import Foundation
import Glibc
import SwitchboardClient
import ZeroMQ

/// The hub under measurement: the `switchboard` binary beside this one (or SWITCHBOARD_HUB_BIN)
/// running `serve` as a child process, so that its memory is its own and its CPU is not shared
/// with the load generators' threads.
final class BenchHub: @unchecked Sendable {
    let gatewayEndpoint: String
    let workerEndpoint: String
    let startedAt = DispatchTime.now().uptimeNanoseconds
    var processIdentifierValue: Int32 { process.processIdentifier }
    private let process = Process()
    private let log: URL

    init(scenario: String, database: String, runDirectory: URL, logLevel: String = "warning", name: String = "bench") throws {
        gatewayEndpoint = try Self.freeEndpoint()
        workerEndpoint = try Self.freeEndpoint()
        // A file per scenario: hubs of several scenarios start one right after the other, each
        // before the one before it may have read its configuration.
        let config = runDirectory.appendingPathComponent("bench-hub-\(scenario).yaml")
        // Security off: the load runs on loopback in one machine, and CURVE's cost is not what is measured.
        try """
        security: off
        http_endpoint: off
        database: "\(database)"
        gateway_endpoint: "\(gatewayEndpoint)"
        worker_endpoint: "\(workerEndpoint)"
        events_endpoint: "tcp://127.0.0.1:*"
        hub_name: \(name)
        default_country_code: "98"
        max_uncommitted: 50000
        drain_timeout_ms: 0
        """.write(to: config, atomically: true, encoding: .utf8)
        // One log per scenario, so that an early scenario's log is still there after a full run.
        log = runDirectory.appendingPathComponent("bench-hub-\(scenario).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = Self.binary
        process.arguments = ["serve", "--config", config.path, "--log-level", logLevel]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        process.environment = environment
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// The hub's binary: SWITCHBOARD_HUB_BIN, else `switchboard` in this binary's folder.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["SWITCHBOARD_HUB_BIN"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("switchboard")
    }

    /// Waits until the hub answers PING; returns the seconds since the process started.
    @discardableResult
    func waitUntilServing(timeoutSeconds: Double = 600) throws -> Double {
        let gateway = try GatewayClient(name: "bench-probe", endpoint: gatewayEndpoint)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            guard process.isRunning else { throw BenchError("the hub exited: \(output)") }
            if try gateway.ping(timeoutMs: 100) { return Double(DispatchTime.now().uptimeNanoseconds - startedAt) / 1e9 }
        }
        throw BenchError("the hub did not serve within \(Int(timeoutSeconds)) s: \(output)")
    }

    /// The hub process's id, for reading its CPU time (`CPUMeter`).
    var processIdentifier: Int32 { process.processIdentifier }

    /// Resident set size of the hub process, bytes.
    var residentBytes: Int { Self.residentBytes(statm: try? String(contentsOfFile: "/proc/\(process.processIdentifier)/statm", encoding: .utf8)) }

    /// The resident set from a process's `/proc/PID/statm` (its second field, in pages: what `VmRSS`
    /// in `/proc/PID/status` gives in kB). Sampled every 20 ms during the hub's maximum ingest,
    /// where `status`, a page of text the kernel writes and the bench splits into lines, cost the
    /// load generator a twentieth of its CPU.
    static func residentBytes(statm: String?) -> Int {
        guard let statm, let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    static func freeEndpoint() throws -> String {
        let context = Context()
        let socket = try context.socket(.router)
        try socket.bind("tcp://127.0.0.1:*")
        let endpoint = socket.lastEndpoint
        socket.close()
        return endpoint
    }
}

/// A benchmark that could not run, with the reason.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Samples a process's RSS on a background thread and keeps the peak.
final class PeakSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var running = true

    init(_ sample: @escaping @Sendable () -> Int) {
        Thread { [self] in
            while lock.withLock({ running }) {
                let value = sample()
                lock.withLock { peak = max(peak, value) }
                usleep(20_000)
            }
        }.start()
    }

    func stop() -> Int {
        lock.withLock {
            running = false
            return peak
        }
    }
}
