import Foundation
import Testing

/// `switchboard bench` is how the hub's figures are measured; its own accounting must be right for
/// any figure to mean something. This runs its latency section, small, against a hub it starts.
@Suite("The benchmark's own accounting")
struct BenchCommandTests {
    @Test("bench hands every message it had ACKed to a worker, times each once, and leaves every delivery done")
    func latencySectionAccounts() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let base = try TestDatabase()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("swb-bench-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: output) }

        let run = try runProgram(
            binary,
            [
                "bench", "--quick", "--sections", "latency", "--loads", "0.5", "--messages", "2000", "--database", base.conninfo,
                "--output", output.path,
            ])
        #expect(run.status == 0, "\(run.output)")

        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
        let latency = try #require((report["latency"] as? [[String: Any]])?.first)
        let acked = try #require((latency["publish_to_ack"] as? [String: Any])?["count"] as? Int)
        let tasked = try #require((latency["publish_to_task"] as? [String: Any])?["count"] as? Int)
        #expect(acked > 0)
        // Each ACKed message timed once at its first TASK: none missing, none counted twice.
        #expect(tasked == acked)
        #expect((report["reoffer_after_disconnect"] as? [String: Any])?["count"] as? Int == 20)

        // The bench's database sits next to the one it was given, as `make bench`'s do.
        let bench = base.sibling("switchboard_bench_latency")
        #expect(try bench.count("SELECT count(*) FROM interactions WHERE gateway LIKE 'bench-l50-%'") == acked)
        #expect(try bench.count("SELECT count(*) FROM interactions WHERE gateway LIKE 'bench-e2e-%'") == 2000)
        #expect(try bench.count("SELECT count(*) FROM deliveries WHERE state <> 'done'") == 0)
    }
}
