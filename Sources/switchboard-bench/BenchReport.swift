import Foundation
import Histogram
import SwitchboardProtocol

/// p50, p99, p99.9 and max of a latency distribution, in milliseconds.
struct LatencyFigures {
    var count: UInt64 = 0
    var p50 = 0.0
    var p99 = 0.0
    var p999 = 0.0
    var max = 0.0

    init() {}

    init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        guard count > 0 else { return }
        p50 = Double(histogram.valueAtPercentile(50)) / 1000
        p99 = Double(histogram.valueAtPercentile(99)) / 1000
        p999 = Double(histogram.valueAtPercentile(99.9)) / 1000
        max = Double(histogram.max) / 1000
    }

    var cells: String { String(format: "p50 %8.2f  p99 %8.2f  p99.9 %8.2f  max %8.2f ms  (n=%d)", p50, p99, p999, max, count) }
    var json: JSONValue {
        .object(["count": .integer(Int64(count)), "p50_ms": .double(p50), "p99_ms": .double(p99), "p999_ms": .double(p999), "max_ms": .double(max)])
    }
}

struct LoadLatency {
    var load: Double
    var offeredRate: Double
    var achievedRate: Double
    var ack: LatencyFigures
    var task: LatencyFigures
    /// PostgreSQL's single commit, probed now and then during the run (`CommitProbe`), and with
    /// each commit also counted as the probes it held up would have been.
    var commit: LatencyFigures
    var commitCorrected: LatencyFigures
    /// Whose CPU the run's paced stretch took.
    var cpu: CPUUse
    /// How long the disk held tasks up meanwhile; nil where the kernel does not say.
    var io: Stalls?
    /// The slowest PUBLISH → TASK of the messages sent in each tenth of a second, in microseconds.
    var slowestTaskByBucket: [UInt64] = []

    /// The tenths of a second that hold the run's TASKs over its p99, how many of those follow a
    /// stall of the disk (a tenth in which some task waited 20 ms or more on I/O, where a commit's
    /// own wait is a few milliseconds a tenth at these loads), how many follow a burst of the
    /// kernel's writeback (`writebackBurstMiB` or more in a tenth: other tenths come to 2–40 MiB
    /// at these loads, while the pages the tables grew by over some 30 s go at once), and how many
    /// are in or just after a tenth in which some task waited `cpuWaitMs` or more for a core
    /// (half of each tenth is usual at half load on two cores): whether the tail is the disk's or
    /// the cores', and why.
    /// Such waits for a core are common at these loads, so beside them: how many of all the tenths are so.
    var tail: TailPlacement? {
        guard !slowestTaskByBucket.isEmpty else { return nil }
        let limit = task.p99 * 1000
        let slow = slowestTaskByBucket.indices.filter { Double(slowestTaskByBucket[$0]) > limit }
        /// Of `among`, the tenths in or within `tenths` after one of `byTenth` at `threshold` or more; nil where not measured.
        func following(_ byTenth: [Double]?, atLeast threshold: Double, within tenths: Int, among: [Int]) -> Int? {
            byTenth.map { byTenth in
                among.filter { tenth in (max(0, tenth - tenths)...tenth).contains { $0 < byTenth.count && byTenth[$0] >= threshold } }.count
            }
        }
        let cpu = io?.cpuSome?.byTenth
        return TailPlacement(
            tenths: slow.count, of: slowestTaskByBucket.count, afterDiskWait: following(io?.ioSome?.byTenth, atLeast: 20, within: 5, among: slow),
            afterWriteback: following(io?.written?.byTenth, atLeast: Self.writebackBurstMiB, within: 5, among: slow),
            withCPUWait: following(cpu, atLeast: Self.cpuWaitMs, within: 1, among: slow),
            allWithCPUWait: following(cpu, atLeast: Self.cpuWaitMs, within: 1, among: Array(slowestTaskByBucket.indices)))
    }

    static let cpuWaitMs = 75.0
    static let writebackBurstMiB = 64.0
}

/// Where a latency run's slowest tenths of a second were (`LoadLatency.tail`); each count nil where
/// its counter is not measured on this kernel.
struct TailPlacement {
    var tenths: Int
    var of: Int
    var afterDiskWait: Int?
    var afterWriteback: Int?
    var withCPUWait: Int?
    var allWithCPUWait: Int?

    /// The counts by their JSON keys, all null where the run has no timeline.
    static func json(_ tail: TailPlacement?) -> [String: JSONValue] {
        func count(_ value: Int?) -> JSONValue { value.map { .integer(Int64($0)) } ?? .null }
        return [
            "tenths_with_a_task_over_p99": count(tail?.tenths), "of_them_after_a_disk_wait": count(tail?.afterDiskWait),
            "of_them_after_a_writeback": count(tail?.afterWriteback), "of_them_with_a_cpu_wait": count(tail?.withCPUWait),
            "tenths_with_a_cpu_wait": count(tail?.allWithCPUWait),
        ]
    }
}

/// One form of PostgreSQL's ceiling (`PostgresCeiling`): how the rows went, how many a commit, how fast.
struct CeilingFigure {
    var method: String
    var batch: Int
    var rate: Double
    var rows: Int
    var cpu: CPUUse
}

/// One round of the ingest section: the ceiling's fastest form, the statement alone and the hub's
/// maximum (on the empty database), each over that round's rows. The ratios of one run's rounds
/// show how far the machine moved them while the totals were measured.
struct IngestRound {
    var ceilingRate = 0.0
    var statementRate = 0.0
    var hubRate = 0.0
    var hubRatio: Double { ceilingRate > 0 ? hubRate / ceilingRate : 0 }
    var statementRatio: Double { ceilingRate > 0 ? statementRate / ceilingRate : 0 }

    var json: JSONValue {
        .object([
            "postgres_ceiling_rows_per_s": .double(ceilingRate), "hub_statement_alone_per_s": .double(statementRate),
            "hub_ingest_per_s": .double(hubRate), "hub_to_postgres_ratio": .double(hubRatio),
            "statement_to_postgres_ratio": .double(statementRatio),
        ])
    }
}

/// The hub's ingest statement, one call at a time with `messages` in each (`HubStatementRun.timeCalls`).
struct StatementCallFigure {
    var messages: Int
    /// Each message's customer context read in the batch (`swb_ingest_rounds_with_contexts`).
    var withContexts = false
    var latency: LatencyFigures
}

struct CustomerFigure {
    var customers: Int
    var rate: Double
}

struct RecoveryFigure {
    var pending: Int
    var secondsToServe: Double
    var secondsToFirstTask: Double
    var rss: Int
}

/// Everything one `switchboard-bench` run measured, with its targets side by side.
struct BenchReport {
    var mode: String
    var gateways: Int
    /// PostgreSQL's durability settings during the run (the same for the hub and the ceiling).
    var durability = ""
    var zeroMQRate = 0.0
    /// PostgreSQL's ceiling in each of its forms.
    var ceilingForms: [CeilingFigure] = []
    /// The ceiling: the fastest of `ceilingForms`.
    var postgresRate: Double { ceilingForms.map(\.rate).max() ?? 0 }
    /// The hub's ingest statement run straight from one connection, no hub process (`HubStatementRun`).
    var statementRate = 0.0
    var statementCPU = CPUUse()
    var statementMessages = 0
    var commitLatency = LatencyFigures()
    var statementCalls: [StatementCallFigure] = []
    var hubRate = 0.0
    /// The ingest section round by round.
    var ingestRounds: [IngestRound] = []
    /// The maximum ingest's CPU (the hub on the empty database, every round).
    var hubCPU = CPUUse()
    var hubMessages = 0
    /// PUBLISH to DONE confirmed with workers taking every task: what the latency runs are paced from.
    var endToEndRate = 0.0
    /// The end-to-end maximum with one hub and with several on one database (`--hubs N`).
    var hubScaling: [HubScalingFigure] = []
    var ackLatencyAtMax = LatencyFigures()
    var latency: [LoadLatency] = []
    var reoffer = LatencyFigures()
    var ingestByCustomers: [CustomerFigure] = []
    var recovery: RecoveryFigure?
    var backlog: RecoveryFigure?
    var rssIdle = 0
    var rssPeak = 0

    private static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
    private static func verdict(_ met: Bool) -> String { met ? "met" : "MISSED" }

    /// Each part's CPU per message (or row), e.g. "hub 20.1, PostgreSQL 30.2, load generator 15.0 µs CPU a message".
    private static func cpuPerItem(_ use: CPUUse, items: Int, unit: String = "message") -> String {
        parts(use, "%.1f", { use.microseconds($0, per: items) }) + " µs CPU a \(unit)"
    }

    /// Each part's cores on average, e.g. "hub 0.40, PostgreSQL 0.82, load generator 0.39 cores".
    private static func cores(_ use: CPUUse) -> String { parts(use, "%.2f", use.cores) + " cores" }

    /// The hub's figure (where it was measured), PostgreSQL's (where it is on this machine) and the
    /// load generator's, each as `figure` makes it from the part's CPU time.
    private static func parts(_ use: CPUUse, _ format: String, _ figure: (UInt64?) -> Double?) -> String {
        var parts = figure(use.hub).map { [String(format: "hub \(format)", $0)] } ?? []
        parts.append(figure(use.postgres).map { String(format: "PostgreSQL \(format)", $0) } ?? "PostgreSQL not on this machine")
        parts.append(String(format: "load generator \(format)", figure(use.loadGenerator) ?? 0))
        return parts.joined(separator: ", ")
    }

    private static func machine(_ use: CPUUse) -> String {
        String(
            format: "machine %.0f %% busy, %.1f %% stolen, of %d cores", use.machineBusy * 100, use.machineStolen * 100,
            ProcessInfo.processInfo.activeProcessorCount)
    }

    /// A commit waits for the disk; every message committed during a stall of it waits as long.
    private static func stalls(_ io: Stalls?) -> (String, String) {
        guard let io, let some = io.ioSome, let full = io.ioFull else { return ("not measured: this kernel has no /proc/pressure/io", "") }
        return (
            String(format: "some task %.0f ms, every task %.0f ms, of %.0f s", some.total, full.total, io.seconds),
            String(format: "most in any %.0f ms: some task %.0f ms, every task %.0f ms", io.windowMs, some.worst, full.worst)
        )
    }

    private static func cpuWaits(_ io: Stalls?) -> (String, String) {
        guard let io, let cpu = io.cpuSome else {
            return ("not measured: this kernel has no /proc/pressure/cpu", "")
        }
        return (
            String(format: "some task %.0f ms, of %.0f s", cpu.total, io.seconds),
            String(format: "most in any %.0f ms: %.0f ms", io.windowMs, cpu.worst)
        )
    }

    /// The pages the kernel wrote back: the WAL at each flush, and the tables' growth some 30 s late, a file's at once.
    private static func writeback(_ io: Stalls?) -> (String, String) {
        guard let io, let written = io.written else {
            return ("not measured: this kernel has no nr_written in /proc/vmstat", "")
        }
        return (
            String(format: "%.0f MiB of dirty pages written, of %.0f s", written.total, io.seconds),
            String(format: "most in any %.0f ms: %.0f MiB", io.windowMs, written.worst)
        )
    }

    var customerLoss: Double? {
        guard let first = ingestByCustomers.first, let last = ingestByCustomers.last, ingestByCustomers.count > 1, first.rate > 0 else { return nil }
        return 1 - last.rate / first.rate
    }

    /// The same, among runs where every message names a known customer (the empty database's run
    /// creates a customer per new address, a different workload).
    var knownCustomerLoss: Double? {
        let known = ingestByCustomers.filter { $0.customers > 0 }
        guard let first = known.first, let last = known.last, known.count > 1, first.rate > 0 else { return nil }
        return 1 - last.rate / first.rate
    }

    var table: String {
        var lines: [String] = []
        func line(_ name: String, _ value: String, _ comparison: String = "") {
            lines.append(
                name.padding(toLength: 44, withPad: " ", startingAt: 0) + value.padding(toLength: 76, withPad: " ", startingAt: 0) + comparison)
        }
        lines.append(
            "switchboard-bench (\(mode)): \(ProcessInfo.processInfo.activeProcessorCount) cores, \(gateways) gateways; PostgreSQL \(durability)")
        // Scenarios left out with --sections print nothing rather than zeros.
        if zeroMQRate > 0 {
            line("ZeroMQ round trips (transport ceiling)", String(format: "%10.0f msg/s", zeroMQRate))
            line("PostgreSQL single commit", commitLatency.cells)
        }
        for call in statementCalls {
            line(
                (call.withContexts ? "the statement with contexts, " : "the hub's statement, ") + "\(call.messages) msg a call", call.latency.cells,
                call.messages == 1 && !call.withContexts && commitLatency.p99 > 0
                    ? String(format: "p99 %.1f× the single commit's", call.latency.p99 / commitLatency.p99) : "")
        }
        if hubRate > 0 {
            line("PostgreSQL ceiling, its fastest form", String(format: "%10.0f rows/s", postgresRate), "in rounds alternating with the hub's")
            for form in ceilingForms {
                line(
                    "  by \(form.method), \(form.batch) rows a commit", String(format: "%10.0f rows/s", form.rate),
                    Self.cpuPerItem(form.cpu, items: form.rows, unit: "row"))
            }
            line(
                "the hub's statement alone, no hub", String(format: "%10.0f msg/s", statementRate),
                String(
                    format: "%.2f× PostgreSQL ceiling: what bounds the hub before its own costs", postgresRate > 0 ? statementRate / postgresRate : 0)
            )
            let ratio = postgresRate > 0 ? hubRate / postgresRate : 0
            line(
                "hub durable ingest (PUBLISH → ACK)", String(format: "%10.0f msg/s", hubRate),
                String(format: "%.2f× PostgreSQL ceiling (target ≥ 0.5: %@)", ratio, Self.verdict(ratio >= 0.5)))
            if ingestRounds.count > 1 {
                line(
                    "  round by round", String(format: "%.2f–%.2f×", ingestRounds.map(\.hubRatio).min()!, ingestRounds.map(\.hubRatio).max()!),
                    String(
                        format: "each round against that round's fastest ceiling (the statement alone %.2f–%.2f×)",
                        ingestRounds.map(\.statementRatio).min()!, ingestRounds.map(\.statementRatio).max()!))
            }
            line("  ACK latency at maximum", ackLatencyAtMax.cells)
            line("  CPU a message, the statement alone", Self.cpuPerItem(statementCPU, items: statementMessages), Self.machine(statementCPU))
            line("  CPU a message at maximum", Self.cpuPerItem(hubCPU, items: hubMessages), Self.machine(hubCPU))
        }
        if endToEndRate > 0 {
            line("hub end to end (PUBLISH → DONE), workers", String(format: "%10.0f msg/s", endToEndRate), "the latency runs' 100 %")
        }
        for figure in hubScaling {
            line(
                "end to end with \(figure.hubs) hub\(figure.hubs == 1 ? "" : "s") on one database", String(format: "%10.0f msg/s", figure.rate),
                String(format: "%.1f messages a commit, %d deadlocks; ", figure.messagesPerCommit, figure.deadlocks)
                    + "\(Self.cores(figure.cpu)); \(Self.machine(figure.cpu))")
        }
        if let bound = HubScalingFigure.bottleneck(hubScaling) { line("  what bounds it", bound) }
        for run in latency {
            let name = "\(Int(run.load * 100)) % load (\(Int(run.offeredRate)) msg/s)"
            line(name + " PUBLISH → ACK", run.ack.cells)
            var target = ""
            if run.load == 0.5 {
                // The commit p99 is measured by the ceilings section; without it there is nothing to compare with.
                target =
                    commitLatency.count == 0
                    ? "target p99 ≤ 2× commit p99: not judged, the ceilings section did not run"
                    : String(
                        format: "target p99 ≤ 2× commit p99 = %.2f ms: %@", 2 * commitLatency.p99,
                        Self.verdict(run.task.p99 <= 2 * commitLatency.p99))
            }
            line(name + " PUBLISH → TASK", run.task.cells, target)
            // For reading the figure above, not a second target: the target names the idle machine's commit.
            line(
                "  PostgreSQL single commit meanwhile", run.commit.cells,
                String(
                    format: "TASK p99 is %.1f× this p99 (the idle machine's: %@)", run.commit.p99 > 0 ? run.task.p99 / run.commit.p99 : 0,
                    commitLatency.p99 > 0 ? String(format: "%.1f×", run.task.p99 / commitLatency.p99) : "not measured"))
            line(
                "    each also as the probes it held up", run.commitCorrected.cells,
                String(
                    format: "TASK p99 is %.1f× this p99: every moment weighed alike, as the paced messages are",
                    run.commitCorrected.p99 > 0 ? run.task.p99 / run.commitCorrected.p99 : 0))
            line("  CPU meanwhile", Self.cores(run.cpu), Self.machine(run.cpu))
            let (waitedOnDisk, worstOnDisk) = Self.stalls(run.io)
            line("  waits on the disk meanwhile", waitedOnDisk, worstOnDisk)
            if run.io != nil {
                let (written, worst) = Self.writeback(run.io)
                line("  the kernel's writeback meanwhile", written, worst)
                let (waited, worstWait) = Self.cpuWaits(run.io)
                line("  waits for a core meanwhile", waited, worstWait)
            }
            if let tail = run.tail {
                var placed = tail.afterDiskWait.map { "\($0) of them within 0.5 s after the disk held some task ≥ 20 ms of a tenth" } ?? ""
                if let afterWriteback = tail.afterWriteback {
                    placed += String(format: ", %d after ≥ %.0f MiB written back in one", afterWriteback, LoadLatency.writebackBurstMiB)
                }
                if let withCPUWait = tail.withCPUWait, let allWithCPUWait = tail.allWithCPUWait {
                    placed += String(
                        format: ", %d in or just after one with some task ≥ %.0f ms waiting for a core (as %d of all %d were)", withCPUWait,
                        LoadLatency.cpuWaitMs, allWithCPUWait, tail.of)
                }
                line("  its slowest tenths of a second", "\(tail.tenths) of \(tail.of) with a TASK over its p99", placed)
            }
        }
        if reoffer.count > 0 {
            line("re-offer after worker disconnect", reoffer.cells, "target p99 ≤ 10 ms: \(Self.verdict(reoffer.p99 <= 10))")
        }
        for figure in ingestByCustomers {
            line("ingest with \(figure.customers) customers", String(format: "%10.0f msg/s", figure.rate))
        }
        if let loss = customerLoss {
            line("  throughput lost, 0 → most customers", String(format: "%.1f %%", loss * 100), "target ≤ 20 %: \(Self.verdict(loss <= 0.2))")
        }
        if let loss = knownCustomerLoss {
            line("  throughput lost, fewest → most known", String(format: "%.1f %%", loss * 100), "same target: \(Self.verdict(loss <= 0.2))")
        }
        if let recovery {
            line("restart with \(recovery.pending) pending: serving", String(format: "%.2f s", recovery.secondsToServe))
            line(
                "  first task offered", String(format: "%.2f s", recovery.secondsToFirstTask),
                "target ≤ 5 s: \(Self.verdict(recovery.secondsToFirstTask <= 5))")
        }
        if rssIdle > 0 {
            line("RSS idle", Self.mib(rssIdle))
            line("RSS peak during maximum ingest", Self.mib(rssPeak))
        }
        if let backlog {
            line(
                "RSS with \(backlog.pending) pending in PostgreSQL", Self.mib(backlog.rss),
                "target ≤ 256 MiB: \(Self.verdict(backlog.rss <= 256 << 20))")
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        func figureJSON(_ figure: RecoveryFigure?) -> JSONValue {
            guard let figure else { return .null }
            return .object([
                "pending": .integer(Int64(figure.pending)), "seconds_to_serve": .double(figure.secondsToServe),
                "seconds_to_first_task": .double(figure.secondsToFirstTask), "rss_bytes": .integer(Int64(figure.rss)),
            ])
        }
        let value: JSONValue = .object([
            "mode": .string(mode), "postgres_durability": .string(durability), "cores": .integer(Int64(ProcessInfo.processInfo.activeProcessorCount)),
            "gateways": .integer(Int64(gateways)),
            "zeromq_round_trips_per_s": .double(zeroMQRate), "postgres_ceiling_rows_per_s": .double(postgresRate),
            "postgres_ceiling_forms": .array(
                ceilingForms.map {
                    .object([
                        "method": .string($0.method), "rows_per_commit": .integer(Int64($0.batch)), "rows_per_s": .double($0.rate),
                        "cpu": $0.cpu.json(items: $0.rows),
                    ])
                }),
            "hub_statement_alone_per_s": .double(statementRate), "hub_statement_alone_cpu": statementCPU.json(items: statementMessages),
            "postgres_commit_latency": commitLatency.json,
            "hub_statement_calls": .array(
                statementCalls.map {
                    .object([
                        "messages_per_call": .integer(Int64($0.messages)), "with_contexts": .bool($0.withContexts), "latency": $0.latency.json,
                    ])
                }),
            "hub_ingest_per_s": .double(hubRate), "hub_ingest_cpu": hubCPU.json(items: hubMessages),
            "hub_to_postgres_ratio": .double(postgresRate > 0 ? hubRate / postgresRate : 0), "ack_latency_at_max": ackLatencyAtMax.json,
            "ingest_rounds": .array(ingestRounds.map(\.json)),
            "end_to_end_per_s": .double(endToEndRate),
            "end_to_end_by_hubs": .array(
                hubScaling.map {
                    .object([
                        "hubs": .integer(Int64($0.hubs)), "per_s": .double($0.rate), "messages_per_commit": .double($0.messagesPerCommit),
                        "deadlocks": .integer(Int64($0.deadlocks)),
                        "cpu": $0.cpu.json(items: $0.messages),
                    ])
                }),
            "latency": .array(
                latency.map { run in
                    let tail = TailPlacement.json(run.tail)
                    return .object(
                        [
                            "load": .double(run.load), "offered_per_s": .double(run.offeredRate), "achieved_per_s": .double(run.achievedRate),
                            "publish_to_ack": run.ack.json, "publish_to_task": run.task.json, "postgres_commit_meanwhile": run.commit.json,
                            "postgres_commit_meanwhile_corrected": run.commitCorrected.json,
                            "cpu": run.cpu.json(items: run.ack.count), "io_stalls": run.io?.json ?? .null,
                            "slowest_task_ms_by_tenth_of_a_second": .array(run.slowestTaskByBucket.map { .double(Double($0) / 1000) }),
                        ].merging(tail) { first, _ in first })
                }),
            "reoffer_after_disconnect": reoffer.json,
            "ingest_by_customers": .array(
                ingestByCustomers.map { .object(["customers": .integer(Int64($0.customers)), "per_s": .double($0.rate)]) }),
            "recovery": figureJSON(recovery), "backlog": figureJSON(backlog),
            "rss_idle_bytes": .integer(Int64(rssIdle)), "rss_peak_bytes": .integer(Int64(rssPeak)),
        ])
        return JSONWriter.string(value) + "\n"
    }
}

extension CPUUse {
    /// CPU seconds of each part (null where not measured) and the machine's shares, with each
    /// part's microseconds per item when `items` were handled meanwhile.
    func json(items: some BinaryInteger) -> JSONValue {
        func seconds(_ nanoseconds: UInt64?) -> JSONValue { nanoseconds.map { .double(Double($0) / 1e9) } ?? .null }
        func perItem(_ nanoseconds: UInt64?) -> JSONValue { microseconds(nanoseconds, per: Int(items)).map { .double($0) } ?? .null }
        return .object([
            "wall_seconds": .double(wallSeconds), "items": .integer(Int64(items)),
            "machine_busy": .double(machineBusy), "machine_stolen": .double(machineStolen),
            "hub_cpu_seconds": seconds(hub), "postgres_cpu_seconds": seconds(postgres), "load_generator_cpu_seconds": seconds(loadGenerator),
            "hub_us_per_item": perItem(hub), "postgres_us_per_item": perItem(postgres), "load_generator_us_per_item": perItem(loadGenerator),
        ])
    }
}

extension Stalls {
    var json: JSONValue {
        .object([
            "wall_seconds": .double(seconds), "window_ms": .double(windowMs),
            "some_ms": ioSome.map { .double($0.total) } ?? .null, "full_ms": ioFull.map { .double($0.total) } ?? .null,
            "worst_window_some_ms": ioSome.map { .double($0.worst) } ?? .null, "worst_window_full_ms": ioFull.map { .double($0.worst) } ?? .null,
            "some_ms_by_tenth_of_a_second": .array((ioSome?.byTenth ?? []).map { .double($0) }),
            "written_back_mib": written.map { .double($0.total) } ?? .null,
            "worst_window_written_back_mib": written.map { .double($0.worst) } ?? .null,
            "written_back_mib_by_tenth_of_a_second": .array((written?.byTenth ?? []).map { .double($0) }),
            "cpu_some_ms": cpuSome.map { .double($0.total) } ?? .null, "worst_window_cpu_some_ms": cpuSome.map { .double($0.worst) } ?? .null,
            "cpu_some_ms_by_tenth_of_a_second": .array((cpuSome?.byTenth ?? []).map { .double($0) }),
        ])
    }
}

/// The end-to-end maximum with `hubs` hubs on one database, over every round.
struct HubScalingFigure {
    var hubs: Int
    var rate: Double
    var messages: Int
    /// Transactions the database committed meanwhile: each costs a WAL flush.
    var commits: Int
    /// Deadlocks PostgreSQL broke meanwhile: hubs storing the same customers at once.
    var deadlocks: Int
    var cpu: CPUUse

    var messagesPerCommit: Double { Double(messages) / Double(max(commits, 1)) }

    /// Where the bound sits with the most hubs: the machine's cores when they were nearly all
    /// busy, else whichever of the hubs and PostgreSQL used more cores.
    static func bottleneck(_ figures: [HubScalingFigure]) -> String? {
        guard let most = figures.max(by: { $0.hubs < $1.hubs }), figures.count > 1 else { return nil }
        let hubCores = most.cpu.cores(most.cpu.hub) ?? 0
        let postgresCores = most.cpu.cores(most.cpu.postgres) ?? 0
        let fewest = figures.min(by: { $0.hubs < $1.hubs })!
        if most.deadlocks > fewest.deadlocks && most.cpu.machineBusy < 0.9 {
            return String(
                format:
                    "lock waits between the hubs: %d deadlocks as they stored the same customers at once, each broken after PostgreSQL's deadlock_timeout and its batch stored again (machine %.0f %% busy)",
                most.deadlocks, most.cpu.machineBusy * 100)
        }
        if most.rate < fewest.rate * 1.1 && most.cpu.machineBusy < 0.9 && most.messagesPerCommit < fewest.messagesPerCommit * 0.8 {
            return String(
                format:
                    "PostgreSQL's commits: with %d hubs each commits its own smaller batches (%.1f messages a commit against %.1f), and the machine waits on WAL flushes (%.0f %% busy)",
                most.hubs, most.messagesPerCommit, fewest.messagesPerCommit, most.cpu.machineBusy * 100)
        }
        if most.cpu.machineBusy > 0.9 {
            return String(
                format: "the machine's cores (%.0f %% busy with %d hubs: hubs %.2f, PostgreSQL %.2f cores)", most.cpu.machineBusy * 100, most.hubs,
                hubCores, postgresCores)
        }
        return postgresCores >= hubCores
            ? String(format: "PostgreSQL (%.2f cores against the hubs' %.2f): more hubs add little", postgresCores, hubCores)
            : String(format: "the hubs (%.2f cores against PostgreSQL's %.2f): more hubs add capacity", hubCores, postgresCores)
    }
}
