import ArgumentParser
import Foundation
import Histogram
import Postgres
import SwitchboardClient
import SwitchboardProtocol
import SwitchboardStore

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench",
        abstract: "Measure the hub against its ceilings (PostgreSQL alone, ZeroMQ alone) in one run; print a table, write JSON.",
        discussion: """
            Creates its own databases next to --database (dropped and made again each run), starts the \
            'switchboard' binary beside this one ('serve', or SWITCHBOARD_HUB_BIN) as a child process per \
            scenario, and drives it over real ZeroMQ sockets. \
            The full run seeds 1 M pending deliveries, 10 M backlog rows and 10 M customers: expect \
            tens of minutes and several GiB of disk. --quick scales every size down for a run of a few minutes.
            """)

    @Option(help: "libpq connection string of a database on the server to measure (default: SWITCHBOARD_DATABASE).")
    var database = ProcessInfo.processInfo.environment["SWITCHBOARD_DATABASE"] ?? "dbname=switchboard"
    @Flag(help: "Small sizes: a few minutes instead of tens.") var quick = false
    @Option(help: "Where to write the JSON results.") var output = ".run/bench.json"
    @Option(help: "Gateways driving the hub.") var gateways = 4
    @Option(help: "Workers per CRM queue in the latency runs.") var workersPerQueue = 2
    @Option(
        help:
            "Scenarios to run, comma-separated: ceilings (ZeroMQ, commit latency, the hub's statement per call), ingest (with customer counts, alternating with PostgreSQL's ceiling), latency, recovery."
    )
    var sections = "ceilings,ingest,latency,recovery"
    @Option(
        help:
            "With 2 or more: also the end-to-end maximum with 1 hub and with this many hubs on one database, side by side in alternating rounds (section 'hubs'; --sections hubs runs it alone)."
    )
    var hubs = 1
    @Option(help: "Paced loads of the latency runs, as fractions of the end-to-end maximum, comma-separated (0.5 is the target's).")
    var loads = "0.1,0.25,0.5,0.9"
    @Option(help: "Log level of the measured hub (one log per scenario, .run/bench-hub-*.log); debug logs each store request's duration.")
    var hubLogLevel = "warning"
    @Option(
        help:
            "Messages per ingest run and rows of the PostgreSQL ceiling (default: 200000, or 20000 with --quick); more gives a profiler a longer steady stretch."
    )
    var messages: Int?

    func run() throws {
        var sizes = BenchSizes(quick: quick)
        if let messages { sizes.ingestMessages = max(1000, messages) }
        let base = database
        let runDirectory = URL(fileURLWithPath: output).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        var report = BenchReport(mode: quick ? "quick" : "full", gateways: gateways)
        func step(_ text: String) { FileHandle.standardError.write(Data("bench: \(text)\n".utf8)) }

        let connection = try Connection(base)
        let settings = try connection.query("SELECT current_setting('fsync'), current_setting('synchronous_commit')")
        report.durability = "fsync=\((settings.rows.first?[0] ?? nil) ?? "?") synchronous_commit=\((settings.rows.first?[1] ?? nil) ?? "?")"
        let meter = CPUMeter(connection: connection)
        let chosen = Set(sections.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        if chosen.contains("ceilings") { try ceilingRuns(&report, base: base, sizes: sizes, step: step) }
        if chosen.contains("ingest") { try ingestRuns(&report, base: base, runDirectory: runDirectory, sizes: sizes, meter: meter, step: step) }
        if chosen.contains("latency") {
            try latencyRuns(&report, base: base, runDirectory: runDirectory, sizes: sizes, meter: meter, step: step)
        }
        if chosen.contains("recovery") { try recoveryRuns(&report, base: base, runDirectory: runDirectory, sizes: sizes, step: step) }
        if hubs > 1 || chosen.contains("hubs") {
            try hubRuns(&report, base: base, runDirectory: runDirectory, sizes: sizes, meter: meter, step: step)
        }

        print(report.table)
        try report.json.write(toFile: output, atomically: true, encoding: .utf8)
        print("JSON: \(output)")
    }

    private func ceilingRuns(_ report: inout BenchReport, base: String, sizes: BenchSizes, step: (String) -> Void) throws {
        step("ZeroMQ ceiling (\(sizes.zeroMQMessages) round trips)")
        report.zeroMQRate = try BenchCeilings.zeroMQ(messages: sizes.zeroMQMessages)

        let commitsDatabase = try BenchDatabase(base: base, name: "switchboard_bench_commits")
        step("PostgreSQL commit latency (\(sizes.commitProbes) commits)")
        report.commitLatency = LatencyFigures(try BenchCeilings.commitLatency(conninfo: commitsDatabase.conninfo, count: sizes.commitProbes))

        // The hub's statement at the batch sizes light and moderate loads make, on the idle machine,
        // every message's customer known (as in steady traffic): what the hub's path starts from
        // before any queue, beside the single commit above.
        let callsDatabase = try BenchDatabase(base: base, name: "switchboard_bench_statement_calls")
        try BenchSeed.customers(try Connection(callsDatabase.conninfo), count: 10_000)
        let statement = try HubStatementRun(conninfo: callsDatabase.conninfo)
        for messages in sizes.statementCallBatches {
            step("the hub's statement, \(sizes.statementCalls) calls of \(messages) message\(messages == 1 ? "" : "s") each")
            report.statementCalls.append(
                StatementCallFigure(messages: messages, latency: LatencyFigures(try statement.timeCalls(of: messages, calls: sizes.statementCalls))))
        }
        // The same with every message's customer context read in its batch, at the sizes where the
        // hub does that (a worker free for each task): what a TASK starts from.
        for messages in sizes.statementCallBatches where messages <= 32 {
            step("the hub's statement with contexts, \(sizes.statementCalls) calls of \(messages) message\(messages == 1 ? "" : "s") each")
            let latency = try statement.timeCalls(of: messages, calls: sizes.statementCalls, withContexts: true)
            report.statementCalls.append(StatementCallFigure(messages: messages, withContexts: true, latency: LatencyFigures(latency)))
        }
    }

    /// Maximum ingest without workers, once per customer count; the first (empty database) is the
    /// maximum. Every measurement alternates with the others, round by round (ceiling, statement,
    /// hub on each customer count, then again): a shared machine's speed drifts by the minute. A
    /// ceiling measured once, minutes before the hub, moved the ratio by half between two runs of
    /// the same code; and with each customer count measured once, one after the other, two full
    /// runs of one build lost 33 % and 17 % from 0 to 10 M customers. So every count's database is
    /// seeded and its hub started before the first round, and each round runs them all.
    private func ingestRuns(
        _ report: inout BenchReport, base: String, runDirectory: URL, sizes: BenchSizes, meter: CPUMeter, step: (String) -> Void
    ) throws {
        // The ceiling in each of its forms (how the rows go, how many a commit), each in a database
        // of its own: the fastest is "the fastest path", whichever it is on the day (512 rows a
        // statement, the hub's batch, was 4-6 % slower than 8,192 in quick runs here).
        let ceilings = try sizes.ceilingForms.map { form in
            try PostgresCeiling(
                conninfo: try BenchDatabase(base: base, name: "switchboard_bench_ceiling_\(form.method)_\(form.batch)").conninfo,
                method: form.method, batch: form.batch)
        }
        let statement = try HubStatementRun(conninfo: try BenchDatabase(base: base, name: "switchboard_bench_statement").conninfo)
        var levels: [IngestLevel] = []
        defer { levels.forEach { $0.hub.stop() } }
        for customers in sizes.customerLevels {
            let database = try BenchDatabase(base: base, name: "switchboard_bench_customers_\(customers)")
            step("seeding \(customers) customers")
            try BenchSeed.customers(try Connection(database.conninfo), count: customers)
            let hub = try BenchHub(
                scenario: "ingest-\(customers)", database: database.conninfo, runDirectory: runDirectory, logLevel: hubLogLevel)
            try hub.waitUntilServing()
            let driver = LoadDriver(endpoint: hub.gatewayEndpoint, gateways: gateways, customers: customers == 0 ? 10_000 : customers)
            levels.append(IngestLevel(customers: customers, hub: hub, driver: driver))
        }
        guard let emptyHub = levels.first?.hub else { return }
        report.rssIdle = emptyHub.residentBytes
        let sampler = PeakSampler { emptyHub.residentBytes }
        var ceilingCPU = Array(repeating: CPUUse(), count: ceilings.count)
        var statementCPU = CPUUse()
        var hubCPU = CPUUse()
        for round in 0..<sizes.ceilingRounds {
            let rounds = sizes.ceilingRounds
            let share = sizes.ingestMessages / rounds + (round < sizes.ingestMessages % rounds ? 1 : 0)
            var figures = IngestRound()
            for (index, ceiling) in ceilings.enumerated() {
                step("PostgreSQL ceiling by \(ceiling.method), \(ceiling.batch) rows a commit, round \(round + 1) of \(rounds): \(share) rows")
                let ceilingBefore = ceiling.seconds
                try meter.measure(&ceilingCPU[index]) { try ceiling.insert(rows: share) }
                figures.ceilingRate = max(figures.ceilingRate, Double(share) / (ceiling.seconds - ceilingBefore))
            }
            step("the hub's statement alone, round \(round + 1) of \(rounds): \(share) messages")
            let statementBefore = statement.seconds
            try meter.measure(&statementCPU) { try statement.insert(messages: share) }
            figures.statementRate = Double(share) / (statement.seconds - statementBefore)
            for index in levels.indices {
                step("hub ingest with \(levels[index].customers) customers, round \(round + 1) of \(rounds): \(share) messages, no workers")
                let level = levels[index]
                let run = { try level.driver.run(tag: "c\(level.customers)r\(round)", messages: share) }
                // The maximum's CPU: the hub on the empty database, the figure the ceiling is compared with.
                let result = index == 0 ? try meter.measure(&hubCPU, hub: level.hub.processIdentifier, run) : try run()
                if index == 0 { figures.hubRate = result.rate }
                levels[index].total.add(result)
            }
            report.ingestRounds.append(figures)
        }
        report.rssPeak = sampler.stop()
        report.ceilingForms = zip(ceilings, ceilingCPU).map {
            CeilingFigure(method: $0.method.rawValue, batch: $0.batch, rate: $0.rate, rows: sizes.ingestMessages, cpu: $1)
        }
        report.statementRate = statement.rate
        report.statementCPU = statementCPU
        report.statementMessages = sizes.ingestMessages
        report.hubCPU = hubCPU
        report.hubMessages = levels[0].total.acked
        report.hubRate = levels[0].total.rate
        report.ackLatencyAtMax = LatencyFigures(levels[0].total.ackLatency)
        report.ingestByCustomers = levels.map { CustomerFigure(customers: $0.customers, rate: $0.total.rate) }
    }

    /// The end-to-end maximum (workers taking every task), then PUBLISH → ACK and PUBLISH → TASK
    /// at 50 % and 90 % of it, then re-offer after disconnect. Paced from the ingest maximum
    /// instead, half load would be more than the hub, its workers and PostgreSQL can carry
    /// together on a small machine (each message also costs an offer, a DONE and a customer
    /// context), and the figures would measure a queue growing, not the hand-over.
    private func latencyRuns(
        _ report: inout BenchReport, base: String, runDirectory: URL, sizes: BenchSizes, meter: CPUMeter, step: (String) -> Void
    ) throws {
        let database = try BenchDatabase(base: base, name: "switchboard_bench_latency")
        let probeDatabase = try BenchDatabase(base: base, name: "switchboard_bench_commits_loaded")
        let hub = try BenchHub(scenario: "latency", database: database.conninfo, runDirectory: runDirectory, logLevel: hubLogLevel)
        defer { hub.stop() }
        try hub.waitUntilServing()
        step("end-to-end maximum: \(sizes.ingestMessages) messages, with workers")
        do {
            // Unpaced: nothing is timed, so no send times to record or look up.
            let workers = try BenchWorkers(endpoint: hub.workerEndpoint, perQueue: workersPerQueue, capacity: 64, sendTimes: nil)
            let driver = LoadDriver(endpoint: hub.gatewayEndpoint, gateways: gateways, customers: 10_000)
            let start = DispatchTime.now().uptimeNanoseconds
            let result = try driver.run(tag: "e2e", messages: sizes.ingestMessages)
            let deadline = Date().addingTimeInterval(120)
            while workers.completed < result.acked && Date() < deadline { usleep(1_000) }
            report.endToEndRate = Double(workers.completed) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            workers.stop()
        }
        for load in loads.split(separator: ",").compactMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) where load > 0 {
            let rate = report.endToEndRate * load
            let messages = max(1000, Int(rate * sizes.latencySeconds))
            step("latency at \(Int(load * 100)) % of the maximum: \(Int(rate)) msg/s for \(Int(sizes.latencySeconds)) s, with workers")
            let sendTimes = SendTimes()
            let origin = DispatchTime.now().uptimeNanoseconds
            let timeline = SharedTimeline(origin: origin)
            let workers = try BenchWorkers(
                endpoint: hub.workerEndpoint, perQueue: workersPerQueue, capacity: 64, sendTimes: sendTimes, timeline: timeline)
            let driver = LoadDriver(endpoint: hub.gatewayEndpoint, gateways: gateways, customers: 10_000)
            let probe = CommitProbe(conninfo: probeDatabase.conninfo)
            let disk = StallWatch(origin: origin)
            var cpu = CPUUse()
            let result = try meter.measure(&cpu, hub: hub.processIdentifier) {
                try driver.run(tag: "l\(Int(load * 100))", messages: messages, rate: rate, sendTimes: sendTimes)
            }
            let stalls = disk?.stop()
            let commits = try probe.stop()
            let deadline = Date().addingTimeInterval(30)
            while workers.completed < result.acked && Date() < deadline { usleep(10_000) }
            workers.stop()
            report.latency.append(
                LoadLatency(
                    load: load, offeredRate: rate, achievedRate: result.rate, ack: LatencyFigures(result.ackLatency),
                    task: LatencyFigures(workers.taskLatency.snapshot), commit: LatencyFigures(commits.probed),
                    commitCorrected: LatencyFigures(commits.corrected), cpu: cpu, io: stalls,
                    slowestTaskByBucket: timeline.snapshot))
        }
        step("re-offer after a worker disconnects (\(sizes.reofferRounds) rounds)")
        report.reoffer = LatencyFigures(try BenchReoffer.measure(hub: hub, rounds: sizes.reofferRounds))
    }

    /// The end-to-end maximum (workers taking every task) with one hub, then with `hubs` hubs on
    /// one database, each gateway and worker connected to all of them; round by round, alternating,
    /// so that both meet the same moments of the machine.
    private func hubRuns(
        _ report: inout BenchReport, base: String, runDirectory: URL, sizes: BenchSizes, meter: CPUMeter, step: (String) -> Void
    ) throws {
        let counts = [1, max(hubs, 2)]
        var groups: [(count: Int, hubs: [BenchHub], database: Connection)] = []
        defer { groups.forEach { $0.hubs.forEach { $0.stop() } } }
        for count in counts {
            let database = try BenchDatabase(base: base, name: "switchboard_bench_hubs_\(count)")
            let started = try (1...count).map {
                try BenchHub(
                    scenario: "hubs-\(count)-\($0)", database: database.conninfo, runDirectory: runDirectory, logLevel: hubLogLevel,
                    name: "bench-\($0)")
            }
            for hub in started { try hub.waitUntilServing() }
            groups.append((count, started, try Connection(database.conninfo)))
        }
        var figures = counts.map { HubScalingFigure(hubs: $0, rate: 0, messages: 0, commits: 0, deadlocks: 0, cpu: CPUUse()) }
        var seconds = counts.map { _ in 0.0 }
        let rounds = sizes.ceilingRounds
        for round in 0..<rounds {
            for (index, group) in groups.enumerated() {
                let share = sizes.ingestMessages / rounds
                step(
                    "end to end with \(group.count) hub\(group.count == 1 ? "" : "s"), round \(round + 1) of \(rounds): \(share) messages, with workers"
                )
                let workers = try BenchWorkers(
                    endpoint: group.hubs.map(\.workerEndpoint).joined(separator: ","), perQueue: workersPerQueue, capacity: 64, sendTimes: nil)
                let driver = LoadDriver(endpoint: group.hubs.map(\.gatewayEndpoint).joined(separator: ","), gateways: gateways, customers: 10_000)
                let start = DispatchTime.now().uptimeNanoseconds
                let (commitsBefore, deadlocksBefore) = try Self.commits(group.database)
                try meter.measure(&figures[index].cpu, hubs: group.hubs.map(\.processIdentifierValue)) {
                    let result = try driver.run(tag: "h\(group.count)r\(round)", messages: share)
                    let deadline = Date().addingTimeInterval(120)
                    while workers.completed < result.acked && Date() < deadline { usleep(1_000) }
                }
                seconds[index] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let (commitsAfter, deadlocksAfter) = try Self.commits(group.database)
                figures[index].commits += commitsAfter - commitsBefore
                figures[index].deadlocks += deadlocksAfter - deadlocksBefore
                figures[index].messages += workers.completed
                workers.stop()
            }
        }
        for index in figures.indices { figures[index].rate = Double(figures[index].messages) / max(seconds[index], 1e-9) }
        report.hubScaling = figures
    }

    /// Transactions committed in the database so far, and deadlocks (its statistics, flushed first).
    private static func commits(_ connection: Connection) throws -> (commits: Int, deadlocks: Int) {
        _ = try connection.query("SELECT pg_stat_force_next_flush()")
        let row = try connection.query("SELECT xact_commit, deadlocks FROM pg_stat_database WHERE datname = current_database()").rows.first
        return (Int((row?[0] ?? nil) ?? "0") ?? 0, Int((row?[1] ?? nil) ?? "0") ?? 0)
    }

    /// Restart with a backlog: time to serve and to the first task; memory with a large backlog.
    private func recoveryRuns(
        _ report: inout BenchReport, base: String, runDirectory: URL, sizes: BenchSizes, step: (String) -> Void
    ) throws {
        for (pending, isRecovery) in [(sizes.recoveryPending, true), (sizes.backlogRows, false)]
        where isRecovery || sizes.backlogRows != sizes.recoveryPending {
            let database = try BenchDatabase(base: base, name: "switchboard_bench_backlog")
            step("seeding \(pending) pending deliveries")
            try BenchSeed.backlog(try Connection(database.conninfo), count: pending)
            step("hub restart with \(pending) pending")
            let hub = try BenchHub(
                scenario: "restart-\(pending)", database: database.conninfo, runDirectory: runDirectory, logLevel: hubLogLevel)
            defer { hub.stop() }
            let serving = try hub.waitUntilServing()
            let worker = try WorkerClient(
                registration: Ready(workerID: "bench-recovery", queues: ["sales"], capacity: 1), endpoint: hub.workerEndpoint)
            try worker.ready(timeoutMs: 600_000)
            guard case .task? = try worker.next(timeoutMs: 600_000) else { throw BenchError("no task after restart: \(hub.output)") }
            let firstTask = Double(DispatchTime.now().uptimeNanoseconds - hub.startedAt) / 1e9
            sleep(2)
            let figure = RecoveryFigure(pending: pending, secondsToServe: serving, secondsToFirstTask: firstTask, rss: hub.residentBytes)
            if isRecovery { report.recovery = figure }
            if pending == sizes.backlogRows { report.backlog = figure }
            hub.stop()
        }
    }
}

/// One customer count of the ingest runs: its hub (on a database seeded with that many
/// customers), the gateways that drive it, and what its rounds measured so far.
private struct IngestLevel {
    let customers: Int
    let hub: BenchHub
    let driver: LoadDriver
    var total = LoadResult(ackLatency: SharedHistogram.empty)
}

/// Sizes of the full and the quick run.
struct BenchSizes {
    var zeroMQMessages: Int
    var ingestMessages: Int
    var commitProbes: Int
    /// Batch sizes the hub's statement is timed at, one call at a time, and calls per size.
    var statementCallBatches = [1, 8, 32, 512]
    var statementCalls: Int
    /// Rounds of the ingest runs: each has PostgreSQL's ceiling, the hub's statement alone, and the
    /// hub's maximum ingest at every customer count.
    var ceilingRounds: Int
    /// The forms of the PostgreSQL ceiling (how, rows per commit), each measured in every round.
    var ceilingForms: [(method: PostgresCeiling.Method, batch: Int)] = [
        (.insert, 512), (.insert, 2048), (.insert, 8192), (.copy, 2048), (.copy, 8192),
    ]
    var customerLevels: [Int]
    var latencySeconds: Double
    var reofferRounds: Int
    var recoveryPending: Int
    var backlogRows: Int

    init(quick: Bool) {
        zeroMQMessages = quick ? 100_000 : 1_000_000
        ingestMessages = quick ? 20_000 : 200_000
        commitProbes = quick ? 1000 : 5000
        statementCalls = quick ? 100 : 500
        ceilingRounds = quick ? 2 : 4
        customerLevels = quick ? [0, 100_000] : [0, 1_000_000, 10_000_000]
        latencySeconds = quick ? 8 : 30
        reofferRounds = quick ? 20 : 100
        recoveryPending = quick ? 100_000 : 1_000_000
        backlogRows = quick ? 100_000 : 10_000_000
    }
}

/// A database made fresh for one scenario and migrated.
struct BenchDatabase {
    let conninfo: String

    init(base: String, name: String) throws {
        let admin = try Connection(base)
        // A database that is not there yet is the usual case, not worth PostgreSQL's NOTICE on stderr.
        try admin.execute(script: "SET client_min_messages = warning")
        _ = try admin.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        _ = try admin.query("CREATE DATABASE \(name)")
        // libpq takes the last of repeated keywords, so this points the base connection string at the new database.
        conninfo = base.contains("://") ? Self.replacingDatabase(in: base, with: name) : "\(base) dbname=\(name)"
        try Migrator.migrate(try Connection(conninfo))
    }

    private static func replacingDatabase(in uri: String, with name: String) -> String {
        guard var components = URLComponents(string: uri) else { return uri }
        components.path = "/\(name)"
        return components.string ?? uri
    }
}

/// Worker-disconnect → re-offer latency: a worker takes the only task, a second waits, the first
/// closes its connection; measured until the second has the task.
enum BenchReoffer {
    static func measure(hub: BenchHub, rounds: Int) throws -> Histogram<UInt64> {
        var histogram = SharedHistogram.empty
        let gateway = try GatewayClient(name: "bench-reoffer", endpoint: hub.gatewayEndpoint)
        for round in 0..<rounds {
            let holder = try WorkerClient(
                registration: Ready(workerID: "holder-\(round)", queues: ["support"], capacity: 1), endpoint: hub.workerEndpoint)
            try holder.ready()
            var message = BenchTraffic.message(id: "reoffer-\(round)", customer: round, seed: 1)
            message.process = .support
            _ = try gateway.publish(message)
            guard case .task? = try holder.next(timeoutMs: 10_000) else { throw BenchError("the holder got no task") }
            let rescuer = try WorkerClient(
                registration: Ready(workerID: "rescuer-\(round)", queues: ["support"], capacity: 1), endpoint: hub.workerEndpoint)
            try rescuer.ready()
            let closedAt = DispatchTime.now().uptimeNanoseconds
            holder.close()
            var rescued: TaskOffer?
            let deadline = Date().addingTimeInterval(10)
            while rescued == nil && Date() < deadline {
                if case .task(let task)? = try rescuer.next(timeoutMs: 100) { rescued = task }
            }
            guard let rescued else { throw BenchError("the task was not offered again within 10 s") }
            _ = histogram.record((DispatchTime.now().uptimeNanoseconds - closedAt) / 1000)
            try rescuer.done(rescued.deliveryID, outcome: "handled")
            _ = try rescuer.next(timeoutMs: 1000)
            rescuer.close()
        }
        return histogram
    }
}
