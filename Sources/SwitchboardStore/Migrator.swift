import Postgres

/// Brings a database to this build's schema, the way mature migration tools split the work:
/// **versioned** migrations (`V0001__baseline.sql`, …: tables, columns, indexes) are applied once,
/// in order, and never edited once released; **repeatable** ones (`R__function__NAME.sql`,
/// `R__view__NAME.sql`: one SQL function or view each) are applied again whenever their text
/// changes. All of it runs in one transaction, under an advisory lock, and is recorded in
/// `schema_migrations` with each file's checksum.
public enum Migrator {
    /// One migration file of this build.
    struct Migration {
        enum Kind: Equatable {
            /// Applied once; never edited after release.
            case versioned(String)
            /// A function or view: re-created by dropping every object of that name first, so that
            /// a changed signature or column list leaves no old definition behind.
            case function(String)
            case view(String)
        }

        let kind: Kind
        let sql: [UInt8]
        var checksum: String { Checksum.fnv1a64(sql) }

        /// The file's name without `.sql`, which is what `schema_migrations` records.
        var version: String {
            switch kind {
            case .versioned(let name): name
            case .function(let name): "R__function__\(name)"
            case .view(let name): "R__view__\(name)"
            }
        }

        static func versioned(_ name: String, _ sql: [UInt8]) -> Migration { Migration(kind: .versioned(name), sql: sql) }
        static func function(_ name: String, _ sql: [UInt8]) -> Migration { Migration(kind: .function(name), sql: sql) }
        static func view(_ name: String, _ sql: [UInt8]) -> Migration { Migration(kind: .view(name), sql: sql) }
    }

    /// Every migration of this build, by its file. A new file in Migrations/ is added here too.
    static let migrations: [Migration] = [
        .versioned("V0001__baseline", PackageResources.V0001__baseline_sql),
        .versioned("V0002__routing", PackageResources.V0002__routing_sql),
        .versioned("V0003__customers", PackageResources.V0003__customers_sql),
        .versioned("V0004__feedback", PackageResources.V0004__feedback_sql),
        .versioned("V0005__merges", PackageResources.V0005__merges_sql),
        .versioned("V0006__two_way", PackageResources.V0006__two_way_sql),
        .versioned("V0007__active_active", PackageResources.V0007__active_active_sql),
        .function("swb_apply_batch", PackageResources.R__function__swb_apply_batch_sql),
        .function("swb_apply_retention", PackageResources.R__function__swb_apply_retention_sql),
        .function("swb_compute_signals", PackageResources.R__function__swb_compute_signals_sql),
        .function("swb_compute_value_tiers", PackageResources.R__function__swb_compute_value_tiers_sql),
        .function("swb_customer_360", PackageResources.R__function__swb_customer_360_sql),
        .function("swb_delivery_tasks", PackageResources.R__function__swb_delivery_tasks_sql),
        .function("swb_ensure_interaction_partition", PackageResources.R__function__swb_ensure_interaction_partition_sql),
        .function("swb_erase_customer", PackageResources.R__function__swb_erase_customer_sql),
        .function("swb_identity_winner", PackageResources.R__function__swb_identity_winner_sql),
        .function("swb_import_customers", PackageResources.R__function__swb_import_customers_sql),
        .function("swb_ingest_round", PackageResources.R__function__swb_ingest_round_sql),
        .function("swb_ingest_rounds_arrays", PackageResources.R__function__swb_ingest_rounds_arrays_sql),
        .function("swb_ingest_rounds_with_contexts", PackageResources.R__function__swb_ingest_rounds_with_contexts_sql),
        .function("swb_merge_move", PackageResources.R__function__swb_merge_move_sql),
        .function("swb_merge_side", PackageResources.R__function__swb_merge_side_sql),
        .function("swb_merge_customers", PackageResources.R__function__swb_merge_customers_sql),
        .function("swb_unmerge_customers", PackageResources.R__function__swb_unmerge_customers_sql),
        .function("swb_process_merge_candidates", PackageResources.R__function__swb_process_merge_candidates_sql),
        .function("swb_pending_ids", PackageResources.R__function__swb_pending_ids_sql),
        .function("swb_route_pick", PackageResources.R__function__swb_route_pick_sql),
        .function("swb_task_contexts", PackageResources.R__function__swb_task_contexts_sql),
        .function("swb_store_reply", PackageResources.R__function__swb_store_reply_sql),
        .function("swb_claim_outbound", PackageResources.R__function__swb_claim_outbound_sql),
        .function("swb_outbound_results", PackageResources.R__function__swb_outbound_results_sql),
        .function("swb_contact_status", PackageResources.R__function__swb_contact_status_sql),
        .function("swb_close_idle_conversations", PackageResources.R__function__swb_close_idle_conversations_sql),
        .function("swb_run_campaigns", PackageResources.R__function__swb_run_campaigns_sql),
        .function("swb_adopt_hubs", PackageResources.R__function__swb_adopt_hubs_sql),
        .view("analytics_customer_activity", PackageResources.R__view__analytics_customer_activity_sql),
        .view("analytics_delivery_timeline", PackageResources.R__view__analytics_delivery_timeline_sql),
        .view("analytics_contact_history", PackageResources.R__view__analytics_contact_history_sql),
        .view("analytics_service_level", PackageResources.R__view__analytics_service_level_sql),
        .view("analytics_service_level_by_worker", PackageResources.R__view__analytics_service_level_by_worker_sql),
        .view("analytics_touchpoint_journeys", PackageResources.R__view__analytics_touchpoint_journeys_sql),
        .view("analytics_value_distribution", PackageResources.R__view__analytics_value_distribution_sql),
        .view("analytics_feedback_daily", PackageResources.R__view__analytics_feedback_daily_sql),
        .view("analytics_complaint_trends", PackageResources.R__view__analytics_complaint_trends_sql),
        .view("analytics_dissatisfaction_by_process", PackageResources.R__view__analytics_dissatisfaction_by_process_sql),
        .view("analytics_value_at_risk", PackageResources.R__view__analytics_value_at_risk_sql),
        .view("analytics_campaign_responses", PackageResources.R__view__analytics_campaign_responses_sql),
        .view("analytics_volume_daily", PackageResources.R__view__analytics_volume_daily_sql),
        .view("analytics_worker_load", PackageResources.R__view__analytics_worker_load_sql),
    ]

    /// The SQL functions and views this build defines, one repeatable migration each.
    public static var functionNames: [String] { migrations.compactMap { if case .function(let name) = $0.kind { name } else { nil } } }
    public static var viewNames: [String] { migrations.compactMap { if case .view(let name) = $0.kind { name } else { nil } } }

    /// The newest versioned migration this build knows.
    public static var latestVersion: String { migrations.last { if case .versioned = $0.kind { true } else { false } }!.version }

    /// Applies what is missing or changed and returns those versions (empty when up to date).
    /// Refuses, changing nothing, a database that records a migration this build does not know
    /// or a versioned one whose file has changed since it was applied.
    @discardableResult
    public static func migrate(_ connection: Connection) throws -> [String] {
        try connection.execute(script: "SET client_min_messages = warning")
        try connection.execute(
            script: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    text PRIMARY KEY,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        var applied: [String] = []
        try connection.transaction {
            try connection.query("SELECT pg_advisory_xact_lock(hashtext('switchboard.migrate'))")
            let pending = try pending(connection)
            if pending.contains(where: { if case .view = $0.kind { true } else { false } }) {
                for name in viewNames.reversed() { try connection.query("DROP VIEW IF EXISTS \(name) CASCADE") }
            }
            for migration in pending {
                if case .function(let name) = migration.kind { try dropFunctions(named: name, connection) }
                try connection.execute(script: String(decoding: migration.sql, as: UTF8.self))
                try connection.query(
                    """
                    INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)
                    ON CONFLICT (version) DO UPDATE SET checksum = excluded.checksum, applied_at = now()
                    """, [.text(migration.version), .text(migration.checksum)])
                applied.append(migration.version)
            }
        }
        return applied
    }

    /// What `migrate` would apply now, in order; throws `MigrationError` where it would refuse.
    public static func pendingVersions(_ connection: Connection) throws -> [String] { try pending(connection).map(\.version) }

    static func pending(_ connection: Connection) throws -> [Migration] {
        let recorded = try recordedChecksums(connection)
        let known = Set(migrations.map(\.version))
        let unknown = recorded.keys.filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else { throw MigrationError.unknownVersions(unknown) }
        var pending: [Migration] = []
        for migration in migrations {
            guard let checksum = recorded[migration.version] else {
                pending.append(migration)
                continue
            }
            guard checksum != migration.checksum else { continue }
            if case .versioned = migration.kind { throw MigrationError.editedVersion(migration.version) }
            pending.append(migration)
        }
        // Views are built on tables and on each other: when a table may have changed, or one view
        // did, every view is made again, in this build's order (a view before those that read it).
        let viewsAgain = pending.contains {
            switch $0.kind {
            case .versioned, .view: true
            case .function: false
            }
        }
        if viewsAgain {
            pending = pending.filter { if case .view = $0.kind { false } else { true } }
            pending += migrations.filter { if case .view = $0.kind { true } else { false } }
        }
        return pending
    }

    /// The versions a database has applied, in this build's order (unknown ones last).
    public static func appliedVersions(_ connection: Connection) throws -> [String] {
        let recorded = try recordedChecksums(connection)
        let order = Dictionary(uniqueKeysWithValues: migrations.enumerated().map { ($1.version, $0) })
        return recorded.keys.sorted { (order[$0] ?? .max, $0) < (order[$1] ?? .max, $1) }
    }

    private static func recordedChecksums(_ connection: Connection) throws -> [String: String] {
        guard try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL").scalar() == "t" else { return [:] }
        guard
            try connection.query("SELECT count(*) FROM pg_attribute WHERE attrelid = 'schema_migrations'::regclass AND attname = 'checksum'").scalar()
                == "1"
        else {
            throw MigrationError.unknownVersions(try connection.query("SELECT version FROM schema_migrations ORDER BY 1").rows.compactMap { $0[0] })
        }
        var recorded: [String: String] = [:]
        for row in try connection.query("SELECT version, checksum FROM schema_migrations").rows {
            if let version = row[0], let checksum = row[1] { recorded[version] = checksum }
        }
        return recorded
    }

    /// Drops every function of this name, whatever its arguments (a repeatable file's previous definition).
    private static func dropFunctions(named name: String, _ connection: Connection) throws {
        for row in try connection.query(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname = $1 AND p.pronamespace = current_schema()::regnamespace",
            [.text(name)]
        ).rows {
            if let signature = row[0] { try connection.query("DROP FUNCTION \(signature)") }
        }
    }
}

/// Why `switchboard migrate` (or a starting hub) refuses a database.
public enum MigrationError: Error, Equatable, CustomStringConvertible {
    /// The database records migrations this build does not have (a newer build, or one later reverted).
    case unknownVersions([String])
    /// A versioned migration's file differs from the one applied: released migrations are never edited.
    case editedVersion(String)

    public var description: String {
        switch self {
        case .unknownVersions(let versions):
            "the database records migrations this build does not know (\(versions.joined(separator: ", "))): it was migrated by another build of switchboard; nothing was changed. Use the build that migrated it, or a new database"
        case .editedVersion(let version):
            "migration \(version) differs from the one applied to this database: a released migration is never edited; add a new one instead. Nothing was changed"
        }
    }
}

/// FNV-1a, 64 bits, as hex: enough to notice that a migration file changed (not a defence against tampering).
enum Checksum {
    static func fnv1a64(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
