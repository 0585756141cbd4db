import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SwitchboardStore
import Synchronization

/// What the HTTP endpoints report, written by the hub loop and read by the HTTP server's threads.
struct HealthSnapshot: Sendable {
    /// The loop's last turn, Unix milliseconds: /healthz fails when it stops turning.
    var loopBeatMs: Int64 = 0
    /// Sockets bound, recovery requested, not draining.
    var serving = false
    /// The last store request that reached PostgreSQL succeeded (false after a connection loss).
    var databaseUp = false
    var stats = HubStats()
    var uncommittedBytes = 0
    /// Each queue's figures from the database, as last read (every few seconds).
    var queues: [QueueSummary] = []
}

/// The hub's HTTP endpoints, on Hummingbird: the dashboard (`GET /`, its data at `/api/overview`
/// and live at `/api/stream`), `GET /healthz` (the loop is turning), `GET /readyz` (serving and
/// PostgreSQL reachable) and `GET /metrics` (Prometheus text, `HubMetrics`). It runs
/// on Hummingbird's own threads; the hub loop only hands it a snapshot now and then.
final class HTTPServer: Sendable {
    let port: Int
    private let snapshot: SnapshotBox
    private let task: Task<Void, any Error>
    private let group: ServiceGroup
    private let finished = StopSignal()
    /// Raised at shutdown: open event streams end, so the graceful shutdown need not wait for them.
    private let stopping = StopSignal()
    private let executor = ThreadExecutor(name: "switchboard-http")

    final class SnapshotBox: Sendable {
        let value = Mutex(HealthSnapshot())
        /// The dashboard's overview JSON, made by the hub loop once a second.
        let overview = Mutex<[UInt8]>(Array("{}".utf8))
    }

    /// The port the server bound, or why it could not: set once, by the server's task.
    final class Binding: Sendable {
        let value = Mutex<Result<Int, HubError>?>(nil)
    }

    /// Binds `host:port` (port 0 picks a free one); the hub fails to start if it cannot.
    init(endpoint: String, metrics: HubMetrics, logger: Logger) throws {
        let parts = endpoint.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = Int(parts[1]), (0...65535).contains(port) else {
            throw HubError(reason: "http_endpoint '\(endpoint)' must be HOST:PORT, e.g. 127.0.0.1:9570")
        }
        let host = parts[0].isEmpty || parts[0] == "*" ? "0.0.0.0" : String(parts[0])
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else {
            throw HubError(reason: "http_endpoint '\(endpoint)': '\(host)' is not an IPv4 address")
        }
        let snapshot = SnapshotBox()
        self.snapshot = snapshot
        let stopping = self.stopping
        let router = Router()
        let text = "text/plain; charset=utf-8"
        @Sendable func reply(_ status: HTTPResponse.Status, _ body: String, type: String = text) -> Response {
            Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("healthz") { _, _ in
            let beat = snapshot.value.withLock { $0.loopBeatMs }
            let stalled = Clock.nowMs() - beat
            return stalled < 5000 ? reply(.ok, "ok\n") : reply(.serviceUnavailable, "hub loop stalled for \(stalled) ms\n")
        }
        router.get("readyz") { _, _ in
            let (serving, databaseUp) = snapshot.value.withLock { ($0.serving, $0.databaseUp) }
            if !serving { return reply(.serviceUnavailable, "not serving (starting or draining)\n") }
            if !databaseUp { return reply(.serviceUnavailable, "PostgreSQL unreachable: messages are NACKed unavailable\n") }
            return reply(.ok, "ready\n")
        }
        router.get("/") { _, _ in reply(.ok, Dashboard.page, type: "text/html; charset=utf-8") }
        router.get("api/overview") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: snapshot.overview.withLock { $0 })))
        }
        // Server-sent events: the overview once a second, until the page goes away.
        router.get("api/stream") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: ResponseBody { writer in
                    while !Task.isCancelled && !stopping.isRaised {
                        let overview = snapshot.overview.withLock { $0 }
                        try await writer.write(ByteBuffer(bytes: Array("data: ".utf8) + overview + Array("\n\n".utf8)))
                        try await Task.sleep(for: .seconds(1))
                    }
                    try await writer.finish(nil)
                })
        }
        router.get("metrics") { _, _ in
            metrics.sync(snapshot.value.withLock { $0 })
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        let bound = Binding()
        // Hummingbird's own log says "error" for a keep-alive connection closed at shutdown; what
        // matters (the bind) is reported by this class, and the probes show the rest.
        var quiet = logger
        quiet.logLevel = .critical
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in bound.value.withLock { $0 = .success(channel.localAddress?.port ?? 0) } }, logger: quiet)
        let finished = self.finished
        // Its own service group, without signal handlers (the hub handles SIGTERM), so that a
        // shutdown is graceful: the listener closes, requests in progress finish.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: quiet))
        self.group = group
        task = Task(executorPreference: executor) {
            defer { finished.raise() }
            do {
                try await group.run()
            } catch {
                bound.value.withLock { if $0 == nil { $0 = .failure(HubError(reason: "cannot listen on http_endpoint \(endpoint): \(error)")) } }
                throw error
            }
        }
        let deadline = Date().addingTimeInterval(10)
        var outcome: Result<Int, HubError>?
        while outcome == nil, Date() < deadline {
            outcome = bound.value.withLock { $0 }
            if outcome == nil { usleep(2000) }
        }
        switch outcome {
        case .success(let port)?: self.port = port
        case .failure(let error)?:
            task.cancel()
            executor.stop()
            throw error
        case nil:
            task.cancel()
            executor.stop()
            throw HubError(reason: "http_endpoint \(endpoint): the server did not start within 10 s")
        }
        logger.info("HTTP on \(host):\(self.port): the dashboard at /, /healthz /readyz /metrics")
    }

    func update(_ snapshot: HealthSnapshot) { self.snapshot.value.withLock { $0 = snapshot } }

    func updateOverview(_ overview: [UInt8]) { snapshot.overview.withLock { $0 = overview } }

    /// Stops the server (graceful: requests in progress finish) and waits up to two seconds for it;
    /// then it is cancelled.
    func shutdown() {
        stopping.raise()
        let group = self.group
        Task(executorPreference: executor) { await group.triggerGracefulShutdown() }
        for _ in 0..<200 where !finished.isRaised { usleep(10_000) }
        if !finished.isRaised {
            task.cancel()
            for _ in 0..<100 where !finished.isRaised { usleep(10_000) }
        }
        executor.stop()
    }
}
