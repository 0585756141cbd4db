import Postgres

/// Applies the numbered SQL migrations in `Migrations/`, each in its own transaction, once.
public enum Migrator {
    /// Every migration, in order. A new file in Migrations/ is added here too.
    static let migrations: [(version: String, sql: [UInt8])] = [
        ("0001_schema", PackageResources.V0001__schema_sql),
        ("0002_functions", PackageResources.V0002__functions_sql),
        ("0003_analytics", PackageResources.V0003__analytics_sql),
        ("0004_set_based_ingest", PackageResources.V0004__set_based_ingest_sql),
        ("0005_ingest_each", PackageResources.V0005__ingest_each_sql),
        ("0006_partition_repair", PackageResources.V0006__partition_repair_sql),
        ("0007_faster_ingest", PackageResources.V0007__faster_ingest_sql),
        ("0008_ingest_rounds", PackageResources.V0008__ingest_rounds_sql),
        ("0009_ingest_columns", PackageResources.V0009__ingest_columns_sql),
        ("0010_batch_in_one_statement", PackageResources.V0010__batch_in_one_statement_sql),
        ("0011_task_context_as_json", PackageResources.V0011__task_context_as_json_sql),
        ("0012_rounds_in_order", PackageResources.V0012__rounds_in_order_sql),
        ("0013_identity_probe_by_hash", PackageResources.V0013__identity_probe_by_hash_sql),
        ("0014_plan_once", PackageResources.V0014__plan_once_sql),
        ("0015_contexts_with_ingest", PackageResources.V0015__contexts_with_ingest_sql),
        ("0016_identity_probe_by_hash_always", PackageResources.V0016__identity_probe_by_hash_always_sql),
        ("0017_offer_and_done_at_once", PackageResources.V0017__offer_and_done_at_once_sql),
        ("0018_round_by_subscript", PackageResources.V0018__round_by_subscript_sql),
        ("0019_rounds_as_arrays", PackageResources.V0019__rounds_as_arrays_sql),
        ("0020_recent_within_days", PackageResources.V0020__recent_within_days_sql),
        ("0021_hub_runs", PackageResources.V0021__hub_runs_sql),
        ("0022_context_of_each_task", PackageResources.V0022__context_of_each_task_sql),
    ]

    /// The newest version this build knows.
    public static var latestVersion: String { migrations.last!.version }

    /// Applies what is missing and returns the versions applied now (empty when up to date).
    /// Safe to run concurrently: an advisory lock serializes migrators.
    @discardableResult
    public static func migrate(_ connection: Connection) throws -> [String] {
        try connection.execute(script: "SET client_min_messages = warning")
        try connection.execute(
            script: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        var applied: [String] = []
        try connection.transaction {
            try connection.query("SELECT pg_advisory_xact_lock(hashtext('switchboard.migrate'))")
            let done = Set(try connection.query("SELECT version FROM schema_migrations").rows.compactMap { $0[0] })
            for migration in migrations where !done.contains(migration.version) {
                try connection.execute(script: String(decoding: migration.sql, as: UTF8.self))
                try connection.query("INSERT INTO schema_migrations (version) VALUES ($1)", [.text(migration.version)])
                applied.append(migration.version)
            }
        }
        return applied
    }

    /// The versions a database has applied, oldest first.
    public static func appliedVersions(_ connection: Connection) throws -> [String] {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL").scalar()
        guard exists == "t" else { return [] }
        return try connection.query("SELECT version FROM schema_migrations ORDER BY version").rows.compactMap { $0[0] }
    }
}
