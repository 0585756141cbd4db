import Foundation
import Synchronization
import Testing

/// `switchboard-bench` is how the hub's figures are measured; its own accounting must be right for
/// any figure to mean something. This runs its latency and ingest sections, small, against hubs it starts.
@Suite("The benchmark's own accounting")
struct BenchCommandTests {
    /// The bench binary, beside the `switchboard` that `make test` names.
    static func benchBinary() throws -> String {
        let hub = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        return URL(fileURLWithPath: hub).deletingLastPathComponent().appendingPathComponent("switchboard-bench").path
    }

    /// Runs `switchboard-bench --quick` with `arguments` next to a fresh test database; returns its JSON report and that database.
    func bench(_ arguments: [String]) throws -> (report: [String: Any], base: TestDatabase) {
        let binary = try Self.benchBinary()
        let base = try TestDatabase()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("swb-bench-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try runProgram(binary, ["--quick"] + arguments + ["--database", base.conninfo, "--output", output.path])
        #expect(run.status == 0, "\(run.output)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
        return (report, base)
    }

    /// Runs `switchboard-bench --quick` as `bench` does, and once its output has shown `marker`,
    /// runs `action` on a thread of its own while the bench goes on.
    func bench(
        _ arguments: [String], once marker: String, _ action: @escaping @Sendable (TestDatabase) throws -> Void
    ) throws -> (report: [String: Any], base: TestDatabase, output: String) {
        let binary = try Self.benchBinary()
        let base = try TestDatabase()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("swb-bench-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--quick"] + arguments + ["--database", base.conninfo, "--output", output.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        var text = ""
        var acted: Thread?
        let failure = Mutex<String?>(nil)
        while case let chunk = pipe.fileHandleForReading.availableData, !chunk.isEmpty {
            text += String(decoding: chunk, as: UTF8.self)
            if acted == nil, text.contains(marker) {
                let thread = Thread {
                    do { try action(base) } catch { failure.withLock { $0 = "\(error)" } }
                }
                thread.start()
                acted = thread
            }
        }
        process.waitUntilExit()
        #expect(acted != nil, "never saw \(marker): \(text)")
        #expect(process.terminationStatus == 0, "\(text)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
        if let failure = failure.withLock({ $0 }) { Issue.record("the action failed: \(failure)") }
        return (report, base, text)
    }

    @Test(
        "bench hands every message it had ACKed to a worker, times each once, and leaves every delivery done; a commit held up counts as the probes it held up"
    )
    func latencySectionAccounts() throws {
        // Once the paced run has begun, its commit probe's table is locked for 200 ms: one commit
        // is held up that long, where the probe would have made forty.
        let (report, base, _) = try bench(["--sections", "latency", "--loads", "0.5", "--messages", "2000"], once: "latency at 50 %") {
            base in
            let probed = base.sibling("switchboard_bench_commits_loaded")
            let deadline = Date().addingTimeInterval(20)
            while (try? probed.count("SELECT count(*) FROM bench_commits")) ?? 0 < 20 && Date() < deadline { usleep(10_000) }
            let connection = try probed.connect()
            try connection.execute(script: "BEGIN; LOCK TABLE bench_commits IN ACCESS EXCLUSIVE MODE")
            usleep(200_000)
            try connection.execute(script: "COMMIT")
        }
        let latency = try #require((report["latency"] as? [[String: Any]])?.first)
        let acked = try #require((latency["publish_to_ack"] as? [String: Any])?["count"] as? Int)
        let tasked = try #require((latency["publish_to_task"] as? [String: Any])?["count"] as? Int)
        #expect(acked > 0)
        // Each ACKed message timed once at its first TASK: none missing, none counted twice.
        #expect(tasked == acked)
        #expect((report["reoffer_after_disconnect"] as? [String: Any])?["count"] as? Int == 20)
        // PostgreSQL's commit was probed while the load ran, beside the figure it is read with.
        let probed = try #require(latency["postgres_commit_meanwhile"] as? [String: Any])
        let corrected = try #require(latency["postgres_commit_meanwhile_corrected"] as? [String: Any])
        let commits = try #require(probed["count"] as? Int)
        #expect(commits > 0)
        // The held commit waited most of the 200 ms (from when the probe sent it), and counts
        // again for each probe due every 5 ms that it held up.
        let held = try #require(probed["max_ms"] as? Double)
        #expect(held >= 150, "\(probed)")
        #expect(corrected["max_ms"] as? Double == held)
        #expect(corrected["count"] as? Int ?? 0 >= commits + Int(held / 5) - 1, "\(corrected) against \(probed)")
        #expect(corrected["p999_ms"] as? Double ?? 0 >= probed["p999_ms"] as? Double ?? .infinity)
        // Whose CPU the paced stretch took, each part once.
        try expectCPUAccounted(try #require(latency["cpu"] as? [String: Any]), items: acked, hub: true)
        try expectTailPlaced(latency)

        // The bench's database sits next to the one it was given, as `make bench`'s do.
        let bench = base.sibling("switchboard_bench_latency")
        #expect(try bench.count("SELECT count(*) FROM interactions WHERE gateway LIKE 'bench-l50-%'") == acked)
        #expect(try bench.count("SELECT count(*) FROM interactions WHERE gateway LIKE 'bench-e2e-%'") == 2000)
        #expect(try bench.count("SELECT count(*) FROM deliveries WHERE state <> 'done'") == 0)
    }

    @Test("bench's ingest section measures every customer count in every round, beside the ceiling and the statement alone")
    func ingestSectionAlternates() throws {
        let (report, base) = try bench(["--sections", "ingest", "--messages", "2000"])
        let levels = try #require(report["ingest_by_customers"] as? [[String: Any]])
        #expect(levels.compactMap { $0["customers"] as? Int } == [0, 100_000])
        #expect(levels.allSatisfy { ($0["per_s"] as? Double ?? 0) > 0 })
        #expect(report["hub_ingest_per_s"] as? Double == levels.first?["per_s"] as? Double)

        // The quick run has two rounds of 1,000 messages; each customer count's hub stored its
        // share of both, so no count was measured only at one moment of the run.
        for customers in [0, 100_000] {
            let database = base.sibling("switchboard_bench_customers_\(customers)")
            for round in 0..<2 {
                #expect(
                    try database.count("SELECT count(*) FROM interactions WHERE gateway LIKE 'bench-c\(customers)r\(round)-%'") == 1000,
                    "\(customers) customers, round \(round)")
            }
        }
        #expect(try base.sibling("switchboard_bench_statement").count("SELECT count(*) FROM interactions") == 2000)
        // Each form of the ceiling wrote all of its rows (a message's interaction, key and delivery),
        // and the ceiling is the fastest of them.
        let forms = try #require(report["postgres_ceiling_forms"] as? [[String: Any]])
        #expect(Set(forms.compactMap { $0["method"] as? String }) == ["insert", "copy"])
        for form in forms {
            let method = try #require(form["method"] as? String), batch = try #require(form["rows_per_commit"] as? Int)
            let ceiling = base.sibling("switchboard_bench_ceiling_\(method)_\(batch)")
            for table in ["interactions", "ingest_keys", "deliveries"] {
                #expect(try ceiling.count("SELECT count(*) FROM \(table)") == 2000, "\(method), \(batch) a commit: \(table)")
            }
            // As the hub makes them: a customer and its identity per address the traffic brought.
            #expect(
                try ceiling.count("SELECT count(*) FROM customers") == ceiling.count("SELECT count(DISTINCT customer_id) FROM interactions"))
            #expect(try ceiling.count("SELECT count(*) FROM customer_identities") == ceiling.count("SELECT count(*) FROM customers"))
        }
        for form in forms { try expectCPUAccounted(try #require(form["cpu"] as? [String: Any]), items: 2000, hub: false) }
        try expectCPUAccounted(try #require(report["hub_statement_alone_cpu"] as? [String: Any]), items: 2000, hub: false)
        try expectCPUAccounted(try #require(report["hub_ingest_cpu"] as? [String: Any]), items: 2000, hub: true)
        let fastest = forms.compactMap { $0["rows_per_s"] as? Double }.max()
        #expect(report["postgres_ceiling_rows_per_s"] as? Double == fastest)

        // Round by round: each round's rows over its own time, and the totals are those rounds'
        // rows over their times added up; each ratio is against that round's fastest ceiling.
        let rounds = try #require(report["ingest_rounds"] as? [[String: Any]])
        #expect(rounds.count == 2)
        for key in ["hub_ingest_per_s", "hub_statement_alone_per_s"] {
            let rates = rounds.compactMap { $0[key] as? Double }
            #expect(rates.count == 2 && rates.allSatisfy { $0 > 0 }, "\(key) by round: \(rates)")
            let overall = 2000 / rates.reduce(0) { $0 + 1000 / $1 }
            #expect(abs(overall - (report[key] as? Double ?? 0)) <= overall * 1e-9, "\(key): \(overall) from the rounds")
        }
        // A round's ceiling is its fastest form in that round, so over the rounds at least the run's fastest form.
        let roundCeilings = rounds.compactMap { $0["postgres_ceiling_rows_per_s"] as? Double }
        #expect(roundCeilings.count == 2)
        #expect(2000 / roundCeilings.reduce(0) { $0 + 1000 / $1 } >= (fastest ?? .infinity) * (1 - 1e-9))
        func close(_ a: Double?, _ b: Double?) -> Bool { if let a, let b { abs(a - b) <= abs(b) * 1e-9 } else { false } }
        for (round, ceiling) in zip(rounds, roundCeilings) {
            #expect(close(round["hub_to_postgres_ratio"] as? Double, (round["hub_ingest_per_s"] as? Double).map { $0 / ceiling }))
            #expect(close(round["statement_to_postgres_ratio"] as? Double, (round["hub_statement_alone_per_s"] as? Double).map { $0 / ceiling }))
        }
    }

    /// A scenario's CPU figures: PostgreSQL (on this machine here) and the load generator always
    /// worked, the hub when there was one; the parts together used no more than the machine's
    /// busy time (a process counted twice, or another process counted in, would pass it), within
    /// a clock tick a part and a stretch.
    /// The slowest TASK of each tenth of a second holds the run's slowest, and the disk's waits by
    /// tenth add up to the run's, where this kernel counts them.
    func expectTailPlaced(_ latency: [String: Any]) throws {
        let slowest = try #require(latency["slowest_task_ms_by_tenth_of_a_second"] as? [Double])
        let task = try #require(latency["publish_to_task"] as? [String: Any])
        let max = try #require(task["max_ms"] as? Double)
        #expect(!slowest.isEmpty)
        // The histogram keeps three significant digits.
        #expect(abs((slowest.max() ?? 0) - max) <= max * 0.002 + 0.001, "\(slowest.max() ?? 0) against \(max)")
        let p99 = try #require(task["p99_ms"] as? Double)
        #expect(latency["tenths_with_a_task_over_p99"] as? Int == slowest.filter { $0 > p99 }.count)
        guard FileManager.default.isReadableFile(atPath: "/proc/pressure/io") else {
            #expect(latency["io_stalls"] is NSNull)
            return
        }
        let io = try #require(latency["io_stalls"] as? [String: Any])
        let some = try #require(io["some_ms"] as? Double)
        let worst = try #require(io["worst_window_some_ms"] as? Double)
        let byTenth = try #require(io["some_ms_by_tenth_of_a_second"] as? [Double])
        #expect(0 <= worst && worst <= some && worst <= (io["window_ms"] as? Double ?? 0) * 1.1, "\(io)")
        #expect(abs(byTenth.reduce(0, +) - some) < 0.01 + some * 1e-9, "\(io)")
        let afterDiskWait = try #require(latency["of_them_after_a_disk_wait"] as? Int)
        #expect(afterDiskWait <= latency["tenths_with_a_task_over_p99"] as? Int ?? -1)
        // The waits for a core likewise, where the kernel counts them; some task waits at most all the time.
        if FileManager.default.isReadableFile(atPath: "/proc/pressure/cpu") {
            let waited = try #require(io["cpu_some_ms"] as? Double)
            let worstWait = try #require(io["worst_window_cpu_some_ms"] as? Double)
            let waitedByTenth = try #require(io["cpu_some_ms_by_tenth_of_a_second"] as? [Double])
            #expect(0 <= worstWait && worstWait <= waited && worstWait <= (io["window_ms"] as? Double ?? 0) * 1.1, "\(io)")
            #expect(waited <= (io["wall_seconds"] as? Double ?? 0) * 1000 * 1.1, "\(io)")
            #expect(abs(waitedByTenth.reduce(0, +) - waited) < 0.01 + waited * 1e-9, "\(io)")
            let withCPUWait = try #require(latency["of_them_with_a_cpu_wait"] as? Int)
            #expect(withCPUWait <= latency["tenths_with_a_task_over_p99"] as? Int ?? -1)
            // Of all the run's tenths, those in or just after a tenth of 75 ms or more waited for a core.
            let flagged = slowest.indices.filter { tenth in
                (Swift.max(0, tenth - 1)...tenth).contains { $0 < waitedByTenth.count && waitedByTenth[$0] >= 75 }
            }
            let allWithCPUWait = try #require(latency["tenths_with_a_cpu_wait"] as? Int)
            #expect(allWithCPUWait >= withCPUWait)
            #expect(allWithCPUWait == flagged.count, "of \(slowest.count) tenths")
        } else {
            #expect(io["cpu_some_ms"] is NSNull)
        }
        // The kernel's writeback, where /proc/vmstat counts it: by tenth, it adds up to the run's.
        let vmstat = (try? String(contentsOfFile: "/proc/vmstat", encoding: .utf8)) ?? ""
        guard vmstat.split(separator: "\n").contains(where: { $0.hasPrefix("nr_written ") }) else {
            #expect(io["written_back_mib"] is NSNull)
            #expect(latency["of_them_after_a_writeback"] is NSNull)
            return
        }
        let written = try #require(io["written_back_mib"] as? Double)
        let worstWritten = try #require(io["worst_window_written_back_mib"] as? Double)
        let writtenByTenth = try #require(io["written_back_mib_by_tenth_of_a_second"] as? [Double])
        #expect(0 <= worstWritten && worstWritten <= written, "\(io)")
        #expect(abs(writtenByTenth.reduce(0, +) - written) < 0.01 + written * 1e-9, "\(io)")
        let afterWriteback = try #require(latency["of_them_after_a_writeback"] as? Int)
        #expect(afterWriteback <= latency["tenths_with_a_task_over_p99"] as? Int ?? -1)
    }

    func expectCPUAccounted(_ cpu: [String: Any], items: Int, hub: Bool) throws {
        #expect(cpu["items"] as? Int == items, "\(cpu)")
        let postgres = try #require(cpu["postgres_cpu_seconds"] as? Double, "\(cpu)")
        let generator = try #require(cpu["load_generator_cpu_seconds"] as? Double, "\(cpu)")
        let hubSeconds = cpu["hub_cpu_seconds"] as? Double
        #expect(postgres > 0, "\(cpu)")
        #expect((cpu["postgres_us_per_item"] as? Double ?? 0) > 0, "\(cpu)")
        #expect(((hubSeconds ?? 0) > 0) == hub, "\(cpu)")
        let wall = try #require(cpu["wall_seconds"] as? Double), busy = try #require(cpu["machine_busy"] as? Double)
        let machineBusySeconds = busy * wall * Double(ProcessInfo.processInfo.activeProcessorCount)
        #expect(postgres + generator + (hubSeconds ?? 0) <= machineBusySeconds + 0.2, "\(cpu)")
    }

    @Test(
        "bench times the hub's statement call by call at each batch size, and with contexts at the small ones, every message naming a known customer")
    func statementCallsTimed() throws {
        let (report, base) = try bench(["--sections", "ceilings"])
        let calls = try #require(report["hub_statement_calls"] as? [[String: Any]])
        #expect(calls.compactMap { $0["messages_per_call"] as? Int } == [1, 8, 32, 512, 1, 8, 32])
        #expect(calls.compactMap { $0["with_contexts"] as? Bool } == [false, false, false, false, true, true, true])
        for call in calls {
            let latency = try #require(call["latency"] as? [String: Any])
            #expect(latency["count"] as? Int == 100, "\(call)")
            #expect((latency["p50_ms"] as? Double ?? 0) > 0, "\(call)")
        }
        let database = base.sibling("switchboard_bench_statement_calls")
        // Five untimed calls and 100 timed ones per size, each storing all its messages.
        #expect(try database.count("SELECT count(*) FROM interactions") == 105 * (1 + 8 + 32 + 512 + 1 + 8 + 32))
        // The seeded customers are all there is: every message found its customer.
        #expect(try database.count("SELECT count(*) FROM customers") == 10_000)
    }
}
