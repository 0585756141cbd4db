import Foundation
import Glibc
import Logging
import Synchronization

/// What the HTTP endpoints report, written by the hub loop and read by the HTTP thread.
struct HealthSnapshot: Sendable {
    /// The loop's last turn, Unix milliseconds: /healthz fails when it stops turning.
    var loopBeatMs: Int64 = 0
    /// Sockets bound, recovery requested, not draining.
    var serving = false
    /// The last store request that reached PostgreSQL succeeded (false after a connection loss).
    var databaseUp = false
    var stats = HubStats()
    var uncommittedBytes = 0
}

/// A deliberately small HTTP/1.1 responder for probes and scrapers: `GET /healthz` (the loop is
/// turning), `GET /readyz` (serving and PostgreSQL reachable) and `GET /metrics` (Prometheus text).
/// One thread, one request per connection, requests over 8 KiB or slower than 2 s are dropped.
final class HealthServer: Sendable {
    let port: UInt16
    private let listener: Int32
    private let snapshot: Mutex<HealthSnapshot>
    private let stop = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)

    /// Binds `host:port` (port 0 picks a free one); the hub fails to start if it cannot.
    init(endpoint: String, logger: Logger) throws {
        let parts = endpoint.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = UInt16(parts[1]) else {
            throw HubError(reason: "http_endpoint '\(endpoint)' must be HOST:PORT, e.g. 127.0.0.1:9570")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        let host = parts[0].isEmpty || parts[0] == "*" ? "0.0.0.0" : String(parts[0])
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw HubError(reason: "http_endpoint '\(endpoint)': '\(host)' is not an IPv4 address")
        }
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(listener)
            throw HubError(reason: "cannot listen on http_endpoint \(endpoint): \(reason)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        self.listener = listener
        self.port = UInt16(bigEndian: address.sin_port)
        snapshot = Mutex(HealthSnapshot())
        let thread = Thread { [self] in
            serve()
            finished.store(true, ordering: .releasing)
        }
        thread.name = "switchboard-http"
        thread.start()
        logger.info("HTTP probes on \(host):\(self.port): /healthz /readyz /metrics")
    }

    func update(_ snapshot: HealthSnapshot) { self.snapshot.withLock { $0 = snapshot } }

    /// Stops accepting and waits up to a second for the thread.
    func shutdown() {
        stop.store(true, ordering: .releasing)
        for _ in 0..<100 where !finished.load(ordering: .acquiring) { usleep(10_000) }
    }

    private func serve() {
        defer { close(listener) }
        while !stop.load(ordering: .acquiring) {
            var probe = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&probe, 1, 100) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            answer(connection)
            close(connection)
        }
    }

    private func answer(_ connection: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192, !request.containsHeaderEnd {
            let count = read(connection, &buffer, buffer.count)
            guard count > 0 else { return }
            request += buffer[0..<count]
        }
        let line = String(decoding: request.prefix(while: { $0 != 13 && $0 != 10 }), as: UTF8.self).split(separator: " ")
        let (status, body, type) = route(method: line.first.map(String.init) ?? "", path: line.count > 1 ? String(line[1]) : "")
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        let response = Array((head + body).utf8)
        _ = response.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private func route(method: String, path: String) -> (String, String, String) {
        let text = "text/plain; charset=utf-8"
        guard method == "GET" || method == "HEAD" else { return ("405 Method Not Allowed", "GET only\n", text) }
        let now = Clock.nowMs()
        let current = snapshot.withLock { $0 }
        switch path.split(separator: "?").first.map(String.init) ?? path {
        case "/healthz":
            let alive = now - current.loopBeatMs < 5000
            return alive ? ("200 OK", "ok\n", text) : ("503 Service Unavailable", "hub loop stalled for \(now - current.loopBeatMs) ms\n", text)
        case "/readyz":
            if !current.serving { return ("503 Service Unavailable", "not serving (starting or draining)\n", text) }
            if !current.databaseUp { return ("503 Service Unavailable", "PostgreSQL unreachable: messages are NACKed unavailable\n", text) }
            return ("200 OK", "ready\n", text)
        case "/metrics":
            return ("200 OK", Self.metrics(current), "text/plain; version=0.0.4; charset=utf-8")
        default:
            return ("404 Not Found", "endpoints: /healthz /readyz /metrics\n", text)
        }
    }

    /// Prometheus text exposition of the hub's counters and gauges.
    static func metrics(_ snapshot: HealthSnapshot) -> String {
        let stats = snapshot.stats
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: Int, labels: String = "") {
            if !lines.contains(where: { $0.hasPrefix("# TYPE switchboard_\(name) ") }) {
                lines.append("# HELP switchboard_\(name) \(help)")
                lines.append("# TYPE switchboard_\(name) \(type)")
            }
            lines.append("switchboard_\(name)\(labels) \(value)")
        }
        metric("received_total", "counter", "Gateway messages received.", stats.received)
        metric("acked_total", "counter", "Messages ACKed after commit (duplicates included).", stats.acked)
        metric("duplicates_total", "counter", "Re-sent messages answered with their original ACK.", stats.duplicates)
        metric("nacked_total", "counter", "Messages NACKed, any code.", stats.nacked)
        metric("overloaded_total", "counter", "NACK overloaded sent (gateway window or hub ingest limit).", stats.overloaded)
        metric("quarantined_total", "counter", "Refused inputs kept in the quarantine table.", stats.quarantined)
        metric("quarantine_dropped_total", "counter", "Refused inputs answered but not kept (flood beyond the buffer).", stats.quarantineDropped)
        metric(
            "refusals_not_logged_total", "counter", "Refused inputs answered and quarantined but left out of the log (a flood from one peer).",
            stats.refusalsNotLogged)
        metric("auth_refused_total", "counter", "Connections refused by CURVE authentication.", stats.authRefused)
        metric("offered_total", "counter", "Tasks offered to workers.", stats.offered)
        metric("completed_total", "counter", "Deliveries done.", stats.completed)
        metric("failed_total", "counter", "Deliveries failed by workers.", stats.failed)
        metric("dead_total", "counter", "Deliveries dead-lettered after max_attempts.", stats.dead)
        metric("requeued_total", "counter", "Deliveries offered again (worker gone, lease expired).", stats.requeued)
        metric("escalated_total", "counter", "Escalation steps applied to waiting deliveries.", stats.escalated)
        metric("batches_total", "counter", "Ingest transactions.", stats.batches)
        metric(
            "repeated_answers_confirmed_total", "counter", "DONE/FAIL re-sent for a delivery the same worker had settled, confirmed again.",
            stats.repeatedAnswersConfirmed)
        metric("workers_not_reading_total", "counter", "Workers given up on because they stopped reading.", stats.workersNotReading)
        for (detail, count) in stats.workerRefusals.sorted(by: { $0.key < $1.key }) {
            metric(
                "worker_refusals_total", "counter", "Worker commands answered not_ready or not_held, by detail (routine; not quarantined).", count,
                labels: "{detail=\"\(detail)\"}")
        }
        for (queue, count) in stats.routed.sorted(by: { $0.key < $1.key }) {
            metric("routed_total", "counter", "Messages stored per CRM queue.", count, labels: "{queue=\"\(queue)\"}")
        }
        for (lane, figures) in stats.lanes.sorted(by: { $0.key < $1.key }) {
            let labels = "{lane=\"\(lane)\"}"
            metric(
                "store_requests_total", "counter", "Requests run by a store lane (its own PostgreSQL connection).", figures.requests, labels: labels)
            metric("store_items_total", "counter", "Messages, transitions or customers in those requests.", figures.items, labels: labels)
            metric(
                "store_microseconds_total", "counter", "Time those requests took, PostgreSQL round trips included.", figures.microseconds,
                labels: labels)
        }
        metric("workers", "gauge", "Workers connected.", stats.workers)
        metric("workers_with_free_capacity", "gauge", "Workers that could take one more task now.", stats.workersWithFreeCapacity)
        metric("deliveries_ready", "gauge", "Deliveries the hub holds in memory ready or scheduled to be offered.", stats.deliveriesReady)
        for (queue, count) in stats.queueWorkers.sorted(by: { $0.key < $1.key }) {
            metric("queue_workers", "gauge", "Connected workers serving the queue.", count, labels: "{queue=\"\(queue)\"}")
        }
        for (queue, count) in stats.queueFreeCapacity.sorted(by: { $0.key < $1.key }) {
            metric("queue_free_capacity", "gauge", "Tasks the queue's connected workers could take now.", count, labels: "{queue=\"\(queue)\"}")
        }
        for (queue, count) in stats.deliveriesUnservable.sorted(by: { $0.key < $1.key }) {
            metric(
                "deliveries_unservable", "gauge", "Ready deliveries no connected worker qualifies for (queue, skills, language).", count,
                labels: "{queue=\"\(queue)\"}")
        }
        metric("worker_outbox_messages", "gauge", "Messages waiting in the hub for workers whose connection's queue is full.", stats.outboxWaiting)
        metric("in_flight", "gauge", "Tasks held by workers.", stats.inFlight)
        metric("uncommitted_bytes", "gauge", "Bytes of messages waiting for their commit.", snapshot.uncommittedBytes)
        metric("database_up", "gauge", "1 when the last PostgreSQL request succeeded.", snapshot.databaseUp ? 1 : 0)
        return lines.joined(separator: "\n") + "\n"
    }
}

extension [UInt8] {
    fileprivate var containsHeaderEnd: Bool {
        count >= 4 && indices.dropLast(3).contains { self[$0] == 13 && self[$0 + 1] == 10 && self[$0 + 2] == 13 && self[$0 + 3] == 10 }
    }
}
