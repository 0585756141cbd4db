import Foundation
import Postgres
import SwitchboardClient
import SwitchboardConfig
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Testing

/// `context_recent_days` bounds a TASK's `recent` list in time (`swb_task_contexts`), so that a context
/// read need not probe every monthly partition of the history; unset, the list is all of it.
@Suite("A context's recent list, bounded in days")
struct ContextRecentBoundTests {
    @Test("with context_recent_days a context lists only those days' interactions and reads no older month's partition")
    func recentWithinDays() throws {
        let database = try TestDatabase()
        let unbounded = try Store(conninfo: database.conninfo, owner: "hub-a")
        _ = try unbounded.registerRouting(["rules": "test"])
        let record = IngestRecord(
            gateway: "gw", publish: Messages.publish("today"), identities: [NormalizedIdentity(kind: .phone, value: "+4915111222333")],
            route: StoreIngestTests.route, routingVersion: 1)
        guard case .stored(let ack, let todayTask) = try unbounded.ingest([record], receivedAtMs: Int64(Date().timeIntervalSince1970 * 1000))[0]
        else {
            Issue.record("the message was not stored")
            return
        }
        // The same customer's contact of 90 days ago, in its own month's partition.
        let connection = try database.connect()
        _ = try connection.query("SELECT swb_ensure_interaction_partition(now() - interval '90 days')")
        _ = try connection.query(
            """
            INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, process, priority, content_type)
            VALUES (now() - interval '90 days', $1, 'gw', 'long-ago', 'email', now() - interval '90 days', 'sales', 0, 'text/plain')
            """, [.init(ack.customerID)])
        let oldPartition = try #require(try database.value("SELECT 'interactions_' || to_char(now() - interval '90 days', 'YYYY_MM')"))
        func recent(_ store: Store, of key: Store.ContextKey) throws -> [String] {
            let context = try #require(try store.contexts(of: [key])[key.interactionID].map { try JSONParser.parse($0) })
            guard case .array(let list)? = context["recent"] else { return [] }
            return list.compactMap { if case .string(let process)? = $0["process"] { process } else { nil } }
        }
        // Each connection's counts, sent to the statistics before they are read.
        func oldPartitionScans(_ stores: Store...) throws -> Int {
            for store in stores { _ = try store.connection.query("SELECT pg_stat_force_next_flush()") }
            return try database.count("SELECT idx_scan FROM pg_stat_user_tables WHERE relname = $1", [.text(oldPartition)])
        }

        let today = Store.ContextKey(todayTask.payload)
        #expect(try recent(unbounded, of: today) == ["support", "sales"])

        let bounded = try Store(conninfo: database.conninfo, owner: "hub-b", contextRecentDays: 30)
        let scansBefore = try oldPartitionScans(unbounded, bounded)
        #expect(scansBefore > 0, "the unbounded read probed the older month's partition")
        #expect(try recent(bounded, of: today) == ["support"])
        // The contexts read with a batch are bounded the same way.
        let next = IngestRecord(
            gateway: "gw", publish: Messages.publish("later"), identities: record.identities, route: StoreIngestTests.route, routingVersion: 1)
        let answer = try bounded.ingest(
            Store.ingestStatement([next], receivedAtMs: Int64(Date().timeIntervalSince1970 * 1000), contextWanted: [true]))
        guard case .stored(let laterAck, let laterTask) = answer.outcomes[0] else {
            Issue.record("not stored: \(answer.outcomes)")
            return
        }
        let withBatch = try #require(answer.contexts[laterAck.interactionID].map { try JSONParser.parse($0) })
        guard case .array(let list)? = withBatch["recent"] else {
            Issue.record("no recent list in \(withBatch)")
            return
        }
        #expect(list.count == 2)
        #expect(try oldPartitionScans(unbounded, bounded) == scansBefore, "the older month's partition was read")
        #expect(try recent(unbounded, of: Store.ContextKey(laterTask.payload)) == ["support", "support", "sales"])
    }

    @Test("a hub with context_recent_days hands out TASKs whose recent lists leave older contacts out, read when offered or with the batch")
    func hubBoundsRecent() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.contextRecentDays = 30
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms-1", endpoint: hub.endpoints.gateway)
        let hints = IdentityHints(phone: "+98 912 000 1111")
        let first = try gateway.publish(Messages.publish("m-1", "help", channel: "sms", hints: hints))
        let connection = try database.connect()
        _ = try connection.query("SELECT swb_ensure_interaction_partition(now() - interval '90 days')")
        _ = try connection.query(
            """
            INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, process, priority, content_type)
            VALUES (now() - interval '90 days', $1, 'sms-1', 'long-ago', 'sms', now() - interval '90 days', 'sales', 0, 'text/plain')
            """, [.init(first.customerID)])
        func recentIDs(_ task: TaskOffer) -> [JSONValue] {
            guard case .array(let list)? = task.customer["recent"] else { return [] }
            return list.compactMap { $0["interaction_id"] }
        }
        let worker = try WorkerClient(registration: Ready(workerID: "w-1", queues: [first.queue], capacity: 2), endpoint: hub.endpoints.worker)
        try worker.ready()
        // Stored before any worker was there: its context is read when it is offered.
        let offered = try #require(try worker.nextTask())
        #expect(recentIDs(offered) == [.integer(first.interactionID)])
        // A worker is free for this one: its context is read in its batch's transaction.
        let second = try gateway.publish(Messages.publish("m-2", "help again", channel: "sms", hints: hints))
        let withBatch = try #require(try worker.nextTask())
        #expect(recentIDs(withBatch) == [.integer(second.interactionID), .integer(first.interactionID)])
    }

    @Test("context_recent_days comes from the configuration file, and must be a positive number of days")
    func configured() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swb-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func load(_ text: String) throws -> HubConfig {
            let file = directory.appendingPathComponent("switchboard.yaml")
            try Data(text.utf8).write(to: file)
            return try HubConfig.load(path: file.path, environment: [:])
        }
        #expect(try load("hub_name: a\n").contextRecentDays == nil)
        #expect(try load("context_recent_days: 365\n").contextRecentDays == 365)
        #expect(throws: ConfigError.self) { try load("context_recent_days: 0\n") }
    }
}
