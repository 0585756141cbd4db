import Postgres
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Testing

@Suite("Schema and migrations")
struct SchemaTests {
    @Test("migrate is idempotent: a second run applies nothing and changes nothing")
    func migrateTwice() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        #expect(try Migrator.migrate(connection) == [])
        #expect(
            try Migrator.appliedVersions(connection) == [
                "0001_schema", "0002_functions", "0003_analytics", "0004_set_based_ingest", "0005_ingest_each", "0006_partition_repair",
                "0007_faster_ingest", "0008_ingest_rounds", "0009_ingest_columns", "0010_batch_in_one_statement",
                "0011_task_context_as_json", "0012_rounds_in_order", "0013_identity_probe_by_hash",
                "0014_plan_once", "0015_contexts_with_ingest", "0016_identity_probe_by_hash_always",
                "0017_offer_and_done_at_once",
                "0018_round_by_subscript", "0019_rounds_as_arrays", "0020_recent_within_days",
                "0021_hub_runs", "0022_context_of_each_task",
            ])
        #expect(try database.count("SELECT count(*) FROM schema_migrations") == 22)
    }

    /// Left to plan_cache_mode auto, each call of a small batch would plan these functions'
    /// statements again (0014, and 0015's); their plans do not depend on the batch's size.
    @Test("the functions on the hub's hot paths plan their statements once per connection")
    func hotFunctionsPlanOnce() throws {
        let database = try TestDatabase()
        let planningOnce = try database.value(
            """
            SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
             WHERE p.proname IN ('swb_ingest_rounds', 'swb_ingest_rounds_arrays', 'swb_ingest_round', 'swb_apply_batch',
                                 'swb_task_contexts', 'swb_ingest_rounds_with_contexts')
               AND 'plan_cache_mode=force_generic_plan' = ANY (p.proconfig)
            """)
        #expect(
            planningOnce
                == "swb_apply_batch swb_ingest_round swb_ingest_rounds swb_ingest_rounds_arrays swb_ingest_rounds_with_contexts swb_task_contexts")
    }

    @Test("rows written before their month's partition existed are moved into it, and the hub still starts")
    func partitionCreatedAfterRowsArrived() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        _ = try connection.query(
            """
            INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, process, priority, content_type)
            SELECT '2031-05-10T12:00:00Z'::timestamptz + n * interval '1 hour', 1, 'early', 'early-' || n, 'email', now(), 'support', 0, 'text/plain'
            FROM generate_series(1, 3) AS n
            """)
        #expect(try database.count("SELECT count(*) FROM interactions_default") == 3)
        _ = try connection.query("SELECT swb_ensure_interaction_partition('2031-05-20T00:00:00Z')")
        #expect(try database.count("SELECT count(*) FROM interactions_2031_05") == 3)
        #expect(try database.count("SELECT count(*) FROM interactions_default") == 0)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'early'") == 3)
        // This month's rows in the default partition no longer keep the hub from starting.
        _ = try connection.query(
            """
            INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, process, priority, content_type)
            VALUES (now(), 1, 'early', 'now-1', 'email', now(), 'support', 0, 'text/plain')
            """)
        let hub = try RunningHub(RunningHub.config(database))
        hub.shutdown()
        #expect(try database.count("SELECT count(*) FROM interactions_default") == 0)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE message_id = 'now-1'") == 1)
    }

    @Test("interactions are partitioned by month and the hub creates this month's and next month's partitions")
    func partitions() throws {
        let database = try TestDatabase()
        #expect(try database.value("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'interactions'::regclass") == "r")
        let hub = try RunningHub(RunningHub.config(database))
        hub.shutdown()
        let monthly = try database.count(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'interactions'::regclass AND inhrelid::regclass::text ~ '^interactions_[0-9]{4}_[0-9]{2}$'"
        )
        #expect(monthly == 2)
    }

    @Test("the hub refuses to start on a database that is not migrated, and says what to run")
    func unmigratedDatabase() throws {
        let database = try TestDatabase()
        try database.connect().execute(script: "DELETE FROM schema_migrations WHERE version = '\(Migrator.latestVersion)'")
        do {
            _ = try RunningHub(RunningHub.config(database))
            Issue.record("the hub started on an old schema")
        } catch {
            #expect("\(error)".contains("switchboard migrate"))
        }
    }

    @Test("the analytics views count what the hub stored: volume, service level, worker load, customer activity")
    func analyticsViews() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway)
        let ack = try gateway.publish(Messages.publish("a-1", "help", channel: "chat"))
        _ = try gateway.publish(Messages.publish("a-2", "help again", channel: "chat"))
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask())
        try worker.done(task.deliveryID, outcome: "resolved")
        #expect(try worker.nextAnswer() != nil)
        #expect(try database.value("SELECT sum(interactions) FROM analytics_volume_daily WHERE channel = 'chat' AND process = 'support'") == "2")
        let level = try database.connect().query(
            "SELECT deliveries, done, open, done_within_target FROM analytics_service_level WHERE queue = 'support'")
        #expect(level.rows == [["2", "1", "1", "1"]])
        #expect(try database.value("SELECT completed FROM analytics_worker_load WHERE worker = 'agent'") == "1")
        #expect(try database.value("SELECT contacts FROM analytics_customer_activity WHERE customer_id = $1", [.init(ack.customerID)]) == "2")
    }
}
