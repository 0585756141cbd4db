import ArgumentParser
import Foundation
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore

struct Queues: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each queue: depth, oldest wait, at risk, breached, dead, and the hub's workers for it.",
        discussion: """
            Depth and times come from the database. Workers, their free capacity and the tasks no \
            connected worker qualifies for (skills, language) come from the running hub's /metrics \
            at http_endpoint; when it does not answer they are shown as '-'. At risk: open and in \
            the last fifth of its service-level time; breached: open and past its deadline.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "The hub's HTTP endpoint (host:port); default: http_endpoint of the configuration.") var http: String?
    @Flag(help: "Print a JSON array, one object per queue.") var json = false

    func run() throws {
        let config = try options.loadConfig()
        let store = try Store(conninfo: config.database, owner: "switchboard-queues")
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        // Queues the configuration no longer names are listed too while deliveries wait in them.
        let stray = try store.queuesWithPendingWork().filter { config.routing.settings(ofQueue: $0) == nil }
        let summaries = try store.queueSummaries(queues: config.routing.queueNames + stray, nowMs: nowMs)
        let live = (http ?? config.httpEndpoint).flatMap { HealthProbe.get($0, "/metrics") }.map { LiveQueues(metrics: $0.body) }
        if json {
            print(JSONWriter.string(.array(summaries.map { Self.object($0, live: live) })))
            return
        }
        let header = ["queue", "pending", "offered", "in_progress", "oldest_wait", "at_risk", "breached", "dead", "workers", "free", "unservable"]
        var rows = [header]
        for summary in summaries {
            let waited = summary.oldestWaitMs.map { Self.duration($0) } ?? "-"
            let liveFigures = [live?.workers[summary.queue], live?.free[summary.queue], live.map { $0.unservable[summary.queue] ?? 0 }].map {
                $0.map(String.init) ?? "-"
            }
            rows.append(
                [
                    summary.queue, "\(summary.pending)", "\(summary.offered)", "\(summary.inProgress)", waited, "\(summary.atRisk)",
                    "\(summary.breached)",
                    "\(summary.dead)",
                ] + liveFigures)
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows { print(zip(row, widths).map { $0.padding(toLength: $1 + 2, withPad: " ", startingAt: 0) }.joined()) }
        if live == nil { print("\n(the hub's /metrics did not answer: workers not shown)") }
    }

    static func object(_ summary: QueueSummary, live: LiveQueues?) -> JSONValue {
        var object: [String: JSONValue] = [
            "queue": .string(summary.queue), "pending": .integer(Int64(summary.pending)), "offered": .integer(Int64(summary.offered)),
            "in_progress": .integer(Int64(summary.inProgress)), "oldest_wait_ms": summary.oldestWaitMs.map(JSONValue.integer) ?? .null,
            "at_risk": .integer(Int64(summary.atRisk)), "breached": .integer(Int64(summary.breached)), "dead": .integer(Int64(summary.dead)),
        ]
        if let live {
            object["workers"] = .integer(Int64(live.workers[summary.queue] ?? 0))
            object["free_capacity"] = .integer(Int64(live.free[summary.queue] ?? 0))
            object["unservable"] = .integer(Int64(live.unservable[summary.queue] ?? 0))
        }
        return .object(object)
    }

    static func duration(_ milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        return "\(seconds / 3600)h"
    }
}

/// The per-queue gauges of a hub's /metrics.
struct LiveQueues {
    var workers: [String: Int] = [:]
    var free: [String: Int] = [:]
    var unservable: [String: Int] = [:]

    init(metrics: String) {
        for line in metrics.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            // Prometheus writes gauges as floats ("2.0").
            guard parts.count == 2, let number = Double(parts[1]), let open = parts[0].firstIndex(of: "{") else { continue }
            let value = Int(number)
            let name = parts[0][..<open]
            let labels = parts[0][open...]
            guard let start = labels.range(of: "queue=\""), let end = labels[start.upperBound...].firstIndex(of: "\"") else { continue }
            let queue = String(labels[start.upperBound..<end])
            switch name {
            case "switchboard_queue_workers": workers[queue] = value
            case "switchboard_queue_free_capacity": free[queue] = value
            case "switchboard_deliveries_unservable": unservable[queue] = value
            default: break
            }
        }
    }
}
