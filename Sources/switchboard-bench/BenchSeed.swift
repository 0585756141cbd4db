import Foundation
import Postgres

/// Bulk rows for the benchmark's scenarios, written by PostgreSQL itself (generate_series), so
/// that seeding millions of rows takes seconds per million, not the hub's path.
enum BenchSeed {
    /// `count` known customers, each with the e-mail address `c<N>@bench.example` the traffic uses.
    static func customers(_ connection: Connection, count: Int) throws {
        guard count > 0 else { return }
        try connection.execute(
            script: """
                INSERT INTO customers (display_name, anonymous) SELECT 'Bench customer ' || n, false FROM generate_series(0, \(count - 1)) AS n;
                INSERT INTO customer_identities (kind, value, customer_id)
                    SELECT 'email', 'c' || (customers.id - first.id) || '@bench.example', customers.id
                    FROM customers, (SELECT min(id) AS id FROM customers WHERE display_name = 'Bench customer 0') AS first
                    WHERE customers.display_name LIKE 'Bench customer %';
                """)
        try settle(connection, tables: ["customers", "customer_identities"])
    }

    /// `count` pending deliveries spread over the four queues, as a hub stopped with a backlog leaves them.
    static func backlog(_ connection: Connection, count: Int) throws {
        guard count > 0 else { return }
        let customer = try connection.query("INSERT INTO customers (display_name) VALUES ('backlog') RETURNING id").scalar() ?? "1"
        // As a running hub would have: this month's partition exists before its rows arrive.
        _ = try connection.query("SELECT swb_ensure_interaction_partition(now())")
        try connection.execute(
            script: """
                WITH stored AS (
                    INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, process, priority,
                                              content_type, body_text)
                    SELECT now(), \(customer), 'backlog', 'backlog-' || n, 'email', now(),
                           (ARRAY['sales', 'marketing', 'field_service', 'support'])[1 + n % 4], n % 10, 'text/plain',
                           'Backlog message ' || n
                    FROM generate_series(0, \(count - 1)) AS n
                    RETURNING id, received_at, process, priority
                )
                INSERT INTO deliveries (interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason)
                SELECT id, received_at, \(customer), process, priority, now() + (id % 3600) * interval '1 second', 'backlog'
                FROM stored;
                """)
        try settle(connection, tables: ["interactions", "deliveries"])
    }

    /// Leaves the seeded tables as a database that has held them for a while would be: vacuumed
    /// and analyzed, their pages written out by a checkpoint, and in shared buffers. Without it the
    /// measured run paid for the seeding: the checkpoint that the seed's WAL set off ran during the
    /// run (the server log shows it starting while 10 M customers were written), the run's first
    /// reads of the fresh rows dirtied their pages again to set hint bits, and, since a bulk insert
    /// and VACUUM pass through a small ring of buffers, nearly every probe of the run read its
    /// index leaf and table page from the OS into shared buffers for the first time (the cluster
    /// is sized to hold them: `scripts/pg.sh start --bench`). CHECKPOINT needs superuser or
    /// pg_checkpoint and pg_prewarm an extension; without them the run goes on and says so.
    private static func settle(_ connection: Connection, tables: [String]) throws {
        try connection.execute(script: "VACUUM (ANALYZE) \(tables.joined(separator: ", "))")
        do {
            try connection.execute(script: "CHECKPOINT")
        } catch {
            FileHandle.standardError.write(Data("bench: no CHECKPOINT after seeding (\(error)); the run may pay for writing the seed\n".utf8))
        }
        do {
            // The tables, their partitions, and the indexes of both.
            let names = PostgresValue.text("{" + tables.joined(separator: ",") + "}")
            try connection.execute(script: "CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            _ = try connection.query(
                """
                WITH own AS (SELECT unnest($1::text[])::regclass AS oid),
                     stored AS (SELECT oid FROM own UNION SELECT inhrelid FROM pg_inherits WHERE inhparent IN (SELECT oid FROM own))
                SELECT sum(pg_prewarm(c.oid))
                  FROM pg_class c
                 WHERE c.relkind IN ('r', 'i')
                   AND (c.oid IN (SELECT oid FROM stored) OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM stored)))
                """, [names])
        } catch {
            FileHandle.standardError.write(Data("bench: seeded tables not loaded into shared buffers (\(error)); the run reads them cold\n".utf8))
        }
    }
}
