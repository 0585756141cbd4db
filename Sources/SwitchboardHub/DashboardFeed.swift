import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

/// What the dashboard at `/` shows, kept by the hub loop: throughput and ACK latency second by
/// second over the last five minutes, each queue's service level today (deliveries done, and done
/// by their deadline, since midnight UTC), and the overview JSON the page reads, made once a
/// second.
struct DashboardFeed {
    /// Seconds kept in the series.
    static let window = 300

    struct Second {
        var received = 0
        var acked = 0
        var completed = 0
        var ackLatencyTotalMs = 0.0
        var ackLatencyMaxMs = 0.0
    }

    private(set) var seconds: [Second] = []
    private var current = Second()
    private var currentSecond: Int64 = 0
    private var lastStats = (received: 0, acked: 0, completed: 0)
    /// Per queue since midnight UTC: done, and done by the deadline.
    private(set) var today: [String: (done: Int, withinTarget: Int)] = [:]
    private var todayStartMs: Int64 = 0

    mutating func ackLatency(ms: Double) {
        current.ackLatencyTotalMs += ms
        current.ackLatencyMaxMs = max(current.ackLatencyMaxMs, ms)
    }

    /// A worker's DONE was taken for a delivery of `queue` due at `deadline`.
    mutating func done(queue: String, deadline: Int64, now: Int64) {
        rollDay(now)
        today[queue, default: (0, 0)].done += 1
        if now <= deadline { today[queue, default: (0, 0)].withinTarget += 1 }
    }

    private mutating func rollDay(_ now: Int64) {
        let start = now - now % 86_400_000
        if start != todayStartMs {
            todayStartMs = start
            today = [:]
        }
    }

    /// Closes the seconds that have passed, from the loop's counters; true when one closed.
    mutating func tick(now: Int64, stats: HubStats) -> Bool {
        let second = now / 1000
        guard second != currentSecond else { return false }
        current.received = stats.received - lastStats.received
        current.acked = stats.acked - lastStats.acked
        current.completed = stats.completed - lastStats.completed
        lastStats = (stats.received, stats.acked, stats.completed)
        if currentSecond != 0 {
            seconds.append(current)
            if seconds.count > Self.window { seconds.removeFirst(seconds.count - Self.window) }
        }
        current = Second()
        currentSecond = second
        rollDay(now)
        return true
    }

    /// The overview the page renders (GET /api/overview, and each event of /api/stream).
    func overview(
        now: Int64, hubName: String, processes: [String], queueNames: [String], queues: [QueueSummary], workers: [WorkerLoad],
        recentQuarantine: [RecentProblem], recentDead: [RecentProblem], databaseUp: Bool, serving: Bool
    ) -> [UInt8] {
        let byQueue = Dictionary(uniqueKeysWithValues: queues.map { ($0.queue, $0) })
        func queueJSON(_ name: String) -> JSONValue {
            let figures = byQueue[name] ?? QueueSummary(queue: name)
            let day = today[name] ?? (0, 0)
            var members: [String: JSONValue] = [
                "queue": .string(name), "depth": .integer(Int64(figures.pending)),
                "held": .integer(Int64(figures.offered + figures.inProgress)),
                "oldest_wait_s": .double(Double(figures.oldestWaitMs ?? 0) / 1000), "at_risk": .integer(Int64(figures.atRisk)),
                "breached": .integer(Int64(figures.breached)), "dead": .integer(Int64(figures.dead)),
                "done_today": .integer(Int64(day.done)), "within_target_today": .integer(Int64(day.withinTarget)),
                "workers": .integer(Int64(workers.filter { $0.queues.contains(name) }.count)),
            ]
            if day.done > 0 { members["service_level_today"] = .double((1000 * Double(day.withinTarget) / Double(day.done)).rounded() / 10) }
            return .object(members)
        }
        let processJSON: [JSONValue] = processes.map { process in
            .object([
                "process": .string(process),
                "queues": .array(queueNames.filter { $0 == process || $0.hasPrefix(process + ".") }.sorted().map(queueJSON)),
            ])
        }
        func problems(_ list: [RecentProblem]) -> JSONValue {
            .array(
                list.map {
                    .object(["id": .integer($0.id), "at": .integer($0.atMs), "place": .string($0.place), "what": .string($0.what)])
                })
        }
        let series: [JSONValue] = seconds.map { second in
            .array([
                .integer(Int64(second.received)), .integer(Int64(second.acked)), .integer(Int64(second.completed)),
                .double(second.acked > 0 ? (second.ackLatencyTotalMs / Double(second.acked) * 100).rounded() / 100 : 0),
                .double((second.ackLatencyMaxMs * 100).rounded() / 100),
            ])
        }
        let overview: JSONValue = .object([
            "hub": .string(hubName), "at": .integer(now), "database_up": .bool(databaseUp), "serving": .bool(serving),
            "processes": .array(processJSON),
            "workers": .array(
                workers.map {
                    .object([
                        "worker": .string($0.workerID), "queues": .array($0.queues.map(JSONValue.string)), "capacity": .integer(Int64($0.capacity)),
                        "held": .integer(Int64($0.held)), "draining": .bool($0.draining),
                    ])
                }),
            // Per second, oldest first: received, ACKed, completed, mean and max ACK latency (ms).
            "series": .array(series),
            "quarantine": problems(recentQuarantine), "dead_letters": problems(recentDead),
        ])
        return JSONWriter.bytes(overview)
    }
}
