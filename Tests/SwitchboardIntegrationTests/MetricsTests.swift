import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("/metrics for an on-call: Prometheus names, types and labels, read by Prometheus's own parser")
struct MetricsTests {
    /// /metrics parsed by prometheus_client: each sample as "family type name{labels} value", one per line.
    static let parser = """
        import sys, urllib.request
        from prometheus_client.parser import text_string_to_metric_families
        text = urllib.request.urlopen("http://" + sys.argv[1] + "/metrics").read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                print(family.name, family.type, sample.name + "{" + labels + "}", sample.value)
        """

    @Test(
        "received by channel, NACKed by code, ACK and PUBLISH→TASK latency histograms, per-queue depth, oldest wait, at risk, breached, dead and eligible workers, store lane batch sizes and times"
    )
    func onCallMetrics() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        // The worker below sends no heartbeat while the parser runs (a loaded machine takes its
        // time): it stays connected, and holds its tasks, all the same.
        config.dispatch.heartbeatMs = 5000
        config.dispatch.heartbeatTimeoutMs = 60_000
        config.dispatch.leaseMs = 120_000
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        let gateway = try GatewayClient(name: "omni", endpoint: hub.endpoints.gateway)
        for (index, channel) in ["sms", "sms", "email", "chat"].enumerated() {
            _ = try gateway.publish(Messages.publish("m-\(index)", channel: channel))
        }
        _ = try gateway.publish(Messages.publish("s-1", "I want to buy", channel: "web", process: .sales))
        do {
            _ = try gateway.publish(Messages.publish("bad", channel: "pager"))
        } catch ClientError.refused {}
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 10), endpoint: hub.endpoints.worker)
        try worker.ready()
        var offered = 0
        while offered < 4, let task = try worker.nextTask(timeoutMs: 3000) {
            offered += 1
            if offered == 1 { try worker.done(task.deliveryID, outcome: "handled") }
        }
        #expect(offered == 4)

        var samples: [String] = []
        // The queues' figures are read from the database every few seconds.
        #expect(
            eventually(timeoutMs: 8000) {
                guard let run = try? runProgram("/usr/bin/env", ["python3", "-c", Self.parser, http]), run.status == 0 else { return false }
                samples = run.output.split(separator: "\n").map(String.init)
                return samples.contains { $0.hasPrefix("switchboard_queue_depth gauge switchboard_queue_depth{queue=sales} 1") }
            }, "\(samples.joined(separator: "\n"))")
        func has(_ line: String) -> Bool { samples.contains(line) }
        func value(_ prefix: String) -> Double? {
            samples.first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(value("switchboard_messages_received counter switchboard_messages_received_total{channel=sms}") == 2.0)
        #expect(value("switchboard_messages_received counter switchboard_messages_received_total{channel=email}") == 1.0)
        #expect(value("switchboard_acked counter switchboard_acked_total{}") == 5.0)
        #expect(value("switchboard_messages_nacked counter switchboard_messages_nacked_total{code=invalid,detail=unknown_channel}") == 1.0)
        #expect(value("switchboard_quarantined counter switchboard_quarantined_total{}") == 1.0)
        #expect(value("switchboard_ack_latency_seconds histogram switchboard_ack_latency_seconds_count{}") == 5.0)
        #expect(value("switchboard_ack_latency_seconds histogram switchboard_ack_latency_seconds_bucket{le=+Inf}") == 5.0)
        #expect(value("switchboard_publish_to_task_seconds histogram switchboard_publish_to_task_seconds_count{}") == 4.0)
        #expect(value("switchboard_queue_depth gauge switchboard_queue_depth{queue=support}") == 0.0)
        #expect(value("switchboard_queue_held gauge switchboard_queue_held{queue=support}") == 3.0)
        #expect(value("switchboard_queue_eligible_workers gauge switchboard_queue_eligible_workers{queue=support}") == 1.0)
        #expect(value("switchboard_queue_eligible_workers gauge switchboard_queue_eligible_workers{queue=sales}") == 0.0)
        #expect((value("switchboard_queue_oldest_wait_seconds gauge switchboard_queue_oldest_wait_seconds{queue=sales}") ?? 0) > 0)
        #expect(value("switchboard_queue_at_risk gauge switchboard_queue_at_risk{queue=sales}") == 0.0)
        #expect(value("switchboard_queue_breached gauge switchboard_queue_breached{queue=sales}") == 0.0)
        #expect(value("switchboard_queue_dead gauge switchboard_queue_dead{queue=support}") == 0.0)
        #expect(value("switchboard_workers gauge switchboard_workers{}") == 1.0)
        #expect((value("switchboard_store_batch_size histogram switchboard_store_batch_size_count{lane=ingest}") ?? 0) >= 5)
        #expect((value("switchboard_store_request_seconds histogram switchboard_store_request_seconds_sum{lane=ingest}") ?? 0) > 0)
        #expect(value("switchboard_database_up gauge switchboard_database_up{}") == 1.0)
        // A histogram's buckets rise, in the order written, up to +Inf (the parser does not check it).
        let buckets = samples.filter { $0.hasPrefix("switchboard_ack_latency_seconds histogram switchboard_ack_latency_seconds_bucket{") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }
        #expect(buckets.count >= 10 && buckets == buckets.sorted() && buckets.last == 5, "\(buckets)")
    }
}
