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
                "V0001__baseline", "V0002__routing", "V0003__customers", "V0004__feedback", "V0005__merges", "V0006__two_way",
                "V0007__active_active",
                "R__function__swb_apply_batch", "R__function__swb_apply_retention", "R__function__swb_compute_signals",
                "R__function__swb_compute_value_tiers",
                "R__function__swb_customer_360",
                "R__function__swb_delivery_tasks",
                "R__function__swb_ensure_interaction_partition", "R__function__swb_erase_customer", "R__function__swb_identity_winner",
                "R__function__swb_import_customers",
                "R__function__swb_ingest_round", "R__function__swb_ingest_rounds_arrays",
                "R__function__swb_ingest_rounds_with_contexts", "R__function__swb_merge_move", "R__function__swb_merge_side",
                "R__function__swb_merge_customers",
                "R__function__swb_unmerge_customers", "R__function__swb_process_merge_candidates", "R__function__swb_pending_ids",
                "R__function__swb_route_pick",
                "R__function__swb_task_contexts", "R__function__swb_store_reply", "R__function__swb_claim_outbound",
                "R__function__swb_outbound_results", "R__function__swb_contact_status", "R__function__swb_close_idle_conversations",
                "R__function__swb_run_campaigns", "R__function__swb_adopt_hubs",
                "R__view__analytics_customer_activity", "R__view__analytics_delivery_timeline", "R__view__analytics_contact_history",
                "R__view__analytics_service_level", "R__view__analytics_service_level_by_worker", "R__view__analytics_touchpoint_journeys",
                "R__view__analytics_value_distribution", "R__view__analytics_feedback_daily", "R__view__analytics_complaint_trends",
                "R__view__analytics_dissatisfaction_by_process", "R__view__analytics_value_at_risk", "R__view__analytics_campaign_responses",
                "R__view__analytics_volume_daily",
                "R__view__analytics_worker_load",
            ])
    }

    @Test("each SQL function and view of the schema has exactly one file, and nothing else is defined")
    func oneDefinitionEach() throws {
        let database = try TestDatabase()
        let functions = try database.value(
            "SELECT string_agg(proname, ' ' ORDER BY proname) FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
        #expect(functions == Migrator.functionNames.sorted().joined(separator: " "))
        let views = try database.value("SELECT string_agg(viewname, ' ' ORDER BY viewname) FROM pg_views WHERE schemaname = 'public'")
        #expect(views == Migrator.viewNames.sorted().joined(separator: " "))
    }

    @Test("a view whose file changed is made again with every other view, the ones that read it included")
    func changedViewRebuildsAll() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        _ = try connection.query("UPDATE schema_migrations SET checksum = 'old' WHERE version = 'R__view__analytics_delivery_timeline'")
        let applied = try Migrator.migrate(connection)
        #expect(applied == Migrator.viewNames.map { "R__view__\($0)" })
        let views = try database.value("SELECT string_agg(viewname, ' ' ORDER BY viewname) FROM pg_views WHERE schemaname = 'public'")
        #expect(views == Migrator.viewNames.sorted().joined(separator: " "))
        #expect(try Migrator.migrate(connection) == [])
    }

    @Test("a function whose file changed is applied again, alone; its old definition does not stay beside it")
    func changedFunctionReapplied() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        // As a database migrated by a build with another text of this function (and another signature).
        _ = try connection.query("UPDATE schema_migrations SET checksum = 'older' WHERE version = 'R__function__swb_identity_winner'")
        _ = try connection.query("CREATE FUNCTION swb_identity_winner(p_only bigint) RETURNS bigint LANGUAGE sql AS $$ SELECT p_only $$")
        #expect(try Migrator.migrate(connection) == ["R__function__swb_identity_winner"])
        #expect(try database.count("SELECT count(*) FROM pg_proc WHERE proname = 'swb_identity_winner'") == 1)
        #expect(try Migrator.migrate(connection) == [])
    }

    @Test("migrate refuses, changing nothing, a database with a migration this build does not know or a released one edited")
    func foreignDatabasesRefused() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        _ = try connection.query("INSERT INTO schema_migrations (version, checksum) VALUES ('V0002__from_a_reverted_build', 'x')")
        #expect(throws: MigrationError.unknownVersions(["V0002__from_a_reverted_build"])) { try Migrator.migrate(connection) }
        do {
            _ = try RunningHub(RunningHub.config(database))
            Issue.record("the hub started on a database migrated by another build")
        } catch {
            #expect("\(error)".contains("another build"), "\(error)")
        }
        _ = try connection.query("DELETE FROM schema_migrations WHERE version = 'V0002__from_a_reverted_build'")
        _ = try connection.query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 'V0001__baseline'")
        #expect(throws: MigrationError.editedVersion("V0001__baseline")) { try Migrator.migrate(connection) }
    }

    @Test("identity resolution: a message whose hints name two customers goes to the lowest customer id, and its new hints with it")
    func lowestCustomerIDWins() throws {
        let database = try TestDatabase()
        #expect(try database.value("SELECT swb_identity_winner(NULL, 7, NULL, 3, NULL, 5, NULL)") == "3")
        #expect(try database.value("SELECT swb_identity_winner(NULL, NULL, NULL, NULL, NULL, NULL, NULL)") == nil)
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway)
        let first = try gateway.publish(Messages.publish("id-1", hints: IdentityHints(phone: "+79123456789")))
        let second = try gateway.publish(Messages.publish("id-2", hints: IdentityHints(email: "olga@example.com")))
        #expect(first.customerID < second.customerID)
        let linking = try gateway.publish(
            Messages.publish("id-3", hints: IdentityHints(phone: "+79123456789", email: "olga@example.com", deviceID: "cookie-1")))
        #expect(linking.customerID == first.customerID)
        #expect(
            try database.value("SELECT customer_id FROM customer_identities WHERE kind = 'device' AND value = 'cookie-1'") == "\(first.customerID)")
    }

    /// Left to plan_cache_mode auto, each call of a small batch would plan these functions'
    /// statements again; their plans do not depend on the batch's size.
    @Test("the functions on the hub's hot paths plan their statements once per connection")
    func hotFunctionsPlanOnce() throws {
        let database = try TestDatabase()
        let planningOnce = try database.value(
            """
            SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
             WHERE p.proname IN ('swb_ingest_rounds_arrays', 'swb_ingest_round', 'swb_apply_batch',
                                 'swb_task_contexts', 'swb_ingest_rounds_with_contexts')
               AND 'plan_cache_mode=force_generic_plan' = ANY (p.proconfig)
            """)
        #expect(planningOnce == "swb_apply_batch swb_ingest_round swb_ingest_rounds_arrays swb_ingest_rounds_with_contexts swb_task_contexts")
        // And none compiles its plan on each call: with JIT, a round of one message took some 170 ms.
        let compiling = try database.value(
            """
            SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
             WHERE p.proname IN ('swb_ingest_round', 'swb_apply_batch', 'swb_task_contexts', 'swb_delivery_tasks', 'swb_pending_ids')
               AND NOT coalesce('jit=off' = ANY (p.proconfig), false)
            """)
        #expect(compiling == nil)
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
        try database.connect().execute(script: "DELETE FROM schema_migrations WHERE version = 'R__function__swb_task_contexts'")
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
        var config = RunningHub.config(database)
        config.routing.processes["support"]?.answerMs = ["chat": 600_000]
        let hub = try RunningHub(config)
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
            """
            SELECT deliveries, done, open, done_within_target, median_speed_of_answer_seconds >= 0, median_handle_seconds >= 0
              FROM analytics_service_level WHERE queue = 'support' AND channel = 'chat' AND value_tier = 'standard'
            """)
        #expect(level.rows == [["2", "1", "1", "1", "t", "t"]])
        let timeline = try database.connect().query(
            """
            SELECT worker, offers, first_offered_at <= done_at, first_response_seconds >= speed_of_answer_seconds, resolved_within_target
              FROM analytics_delivery_timeline WHERE delivery_id = $1
            """, [.init(task.deliveryID)])
        #expect(timeline.rows == [["agent", "1", "t", "t", "t"]])
        // The speed-of-answer target comes from the rule set the delivery was routed by.
        #expect(
            try database.value(
                "SELECT answer_target_seconds::int || ':' || answered_within_target FROM analytics_delivery_timeline WHERE delivery_id = $1",
                [.init(task.deliveryID)]) == "600:true")
        #expect(try database.value("SELECT sum(answered_within_target) >= 1 FROM analytics_service_level WHERE queue = 'support'") == "t")
        // The second contact is offered to the agent once the first is done, and held.
        #expect(
            try eventually {
                try database.value("SELECT offered || ':' || completed || ':' || holding FROM analytics_worker_load WHERE worker = 'agent'")
                    == "2:1:1"
            })
        #expect(try database.value("SELECT contacts FROM analytics_customer_activity WHERE customer_id = $1", [.init(ack.customerID)]) == "2")
    }
}
