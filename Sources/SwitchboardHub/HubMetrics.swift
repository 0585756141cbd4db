import CoreMetrics
import Foundation
import Metrics
import Prometheus
import SwitchboardStore
import Synchronization

/// The hub's metrics for Prometheus (`GET /metrics`), through swift-metrics onto a registry of
/// this hub's own (a process may run several hubs, as the tests do, and swift-metrics' global
/// system is bootstrapped once). Names follow Prometheus's conventions, units in the name.
///
/// The loop's counters stay plain integers in `HubStats` (a counter touched per message is a cost
/// on the hot path); `sync` carries what they gained since the last call into the Prometheus
/// counters, and sets the gauges. Latencies and store requests are recorded as they happen.
final class HubMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    /// Counters by name and labels, made on first use; and what each had at the last `sync`.
    private let counters = Mutex<[String: (counter: CoreMetrics.Counter, synced: Int)]>([:])
    private let gauges = Mutex<[String: CoreMetrics.Gauge]>([:])
    /// PUBLISH taken → ACK sent; PUBLISH received → its first TASK sent.
    let ackLatency: CoreMetrics.Timer
    let publishToTask: CoreMetrics.Timer

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let latency: [Duration] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        factory.durationHistogramBuckets = ["switchboard_ack_latency_seconds": latency, "switchboard_publish_to_task_seconds": latency]
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]
        self.factory = factory
        ackLatency = CoreMetrics.Timer(label: "switchboard_ack_latency_seconds", dimensions: [], factory: factory)
        publishToTask = CoreMetrics.Timer(label: "switchboard_publish_to_task_seconds", dimensions: [], factory: factory)
    }

    /// A store lane's recorders: the items (messages, transitions) in each request, and its time.
    func laneRecorders(_ lane: String) -> (batchSize: CoreMetrics.Recorder, duration: CoreMetrics.Timer) {
        (
            CoreMetrics.Recorder(label: "switchboard_store_batch_size", dimensions: [("lane", lane)], aggregate: true, factory: factory),
            CoreMetrics.Timer(label: "switchboard_store_request_seconds", dimensions: [("lane", lane)], factory: factory)
        )
    }

    /// Carries a cumulative count into its Prometheus counter (by the difference since the last call).
    func count(_ name: String, _ labels: [(String, String)] = [], _ total: Int) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        counters.withLock { counters in
            var entry = counters[key] ?? (CoreMetrics.Counter(label: name, dimensions: labels, factory: factory), 0)
            if total > entry.synced { entry.counter.increment(by: Int64(total - entry.synced)) }
            entry.synced = max(entry.synced, total)
            counters[key] = entry
        }
    }

    func gauge(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let gauge = gauges.withLock { gauges in
            if let known = gauges[key] { return known }
            let made = CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
            gauges[key] = made
            return made
        }
        gauge.record(value)
    }

    /// Everything the loop counts, as of now, and the queues' figures as last read.
    func sync(_ snapshot: HealthSnapshot) {
        let stats = snapshot.stats
        count("switchboard_received_total", [], stats.received)
        for (channel, total) in stats.receivedByChannel { count("switchboard_messages_received_total", [("channel", channel)], total) }
        count("switchboard_acked_total", [], stats.acked)
        count("switchboard_duplicates_total", [], stats.duplicates)
        count("switchboard_nacked_total", [], stats.nacked)
        for (key, total) in stats.nackedByCode {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            count("switchboard_messages_nacked_total", [("code", parts[0]), ("detail", parts.count > 1 ? parts[1] : "")], total)
        }
        count("switchboard_overloaded_total", [], stats.overloaded)
        count("switchboard_quarantined_total", [], stats.quarantined)
        count("switchboard_quarantine_dropped_total", [], stats.quarantineDropped)
        count("switchboard_refusals_not_logged_total", [], stats.refusalsNotLogged)
        count("switchboard_auth_refused_total", [], stats.authRefused)
        count("switchboard_offered_total", [], stats.offered)
        count("switchboard_completed_total", [], stats.completed)
        count("switchboard_failed_total", [], stats.failed)
        count("switchboard_dead_total", [], stats.dead)
        count("switchboard_requeued_total", [], stats.requeued)
        count("switchboard_escalated_total", [], stats.escalated)
        count("switchboard_batches_total", [], stats.batches)
        count("switchboard_repeated_answers_confirmed_total", [], stats.repeatedAnswersConfirmed)
        count("switchboard_workers_not_reading_total", [], stats.workersNotReading)
        count("switchboard_events_not_published_total", [], stats.eventsNotPublished)
        count("switchboard_replies_total", [], stats.replies)
        count("switchboard_outbound_delivered_total", [], stats.outboundDelivered)
        count("switchboard_outbound_sent_total", [], stats.outboundSent)
        count("switchboard_outbound_undeliverable_total", [], stats.outboundUndeliverable)
        count("switchboard_campaign_contacts_total", [], stats.campaignContacts)
        count("switchboard_outbound_answers_dropped_total", [], stats.outboundAnswersDropped)
        gauge("switchboard_outbound_in_flight", [], Double(stats.outboundInFlight))
        count("switchboard_hubs_adopted_total", [], stats.hubsAdopted)
        count("switchboard_deliveries_adopted_total", [], stats.deliveriesAdopted)
        gauge("switchboard_hub_lease_held", [], stats.leaseHeld ? 1 : 0)
        gauge("switchboard_gateways_sending", [], Double(stats.sendingGateways))
        for (detail, total) in stats.workerRefusals { count("switchboard_worker_refusals_total", [("detail", detail)], total) }
        for (queue, total) in stats.routed { count("switchboard_routed_total", [("queue", queue)], total) }
        for (lane, figures) in stats.lanes {
            count("switchboard_store_requests_total", [("lane", lane)], figures.requests)
            count("switchboard_store_items_total", [("lane", lane)], figures.items)
            count("switchboard_store_microseconds_total", [("lane", lane)], figures.microseconds)
        }
        gauge("switchboard_workers", [], Double(stats.workers))
        gauge("switchboard_workers_with_free_capacity", [], Double(stats.workersWithFreeCapacity))
        gauge("switchboard_deliveries_ready", [], Double(stats.deliveriesReady))
        gauge("switchboard_in_flight", [], Double(stats.inFlight))
        gauge("switchboard_worker_outbox_messages", [], Double(stats.outboxWaiting))
        gauge("switchboard_uncommitted_bytes", [], Double(snapshot.uncommittedBytes))
        gauge("switchboard_database_up", [], snapshot.databaseUp ? 1 : 0)
        for (queue, count) in stats.queueWorkers { gauge("switchboard_queue_workers", [("queue", queue)], Double(count)) }
        for (queue, count) in stats.queueFreeCapacity { gauge("switchboard_queue_free_capacity", [("queue", queue)], Double(count)) }
        for (queue, count) in stats.deliveriesUnservable { gauge("switchboard_deliveries_unservable", [("queue", queue)], Double(count)) }
        for summary in snapshot.queues {
            let labels = [("queue", summary.queue)]
            gauge("switchboard_queue_depth", labels, Double(summary.pending))
            gauge("switchboard_queue_held", labels, Double(summary.offered + summary.inProgress))
            gauge("switchboard_queue_oldest_wait_seconds", labels, Double(summary.oldestWaitMs ?? 0) / 1000)
            gauge("switchboard_queue_at_risk", labels, Double(summary.atRisk))
            gauge("switchboard_queue_breached", labels, Double(summary.breached))
            gauge("switchboard_queue_dead", labels, Double(summary.dead))
            gauge("switchboard_queue_eligible_workers", labels, Double(stats.queueWorkers[summary.queue] ?? 0))
        }
    }

    /// The Prometheus text exposition.
    func exposition() -> [UInt8] { registry.emitToBuffer() }
}
