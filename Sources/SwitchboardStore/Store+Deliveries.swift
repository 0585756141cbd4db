import Postgres
import SwitchboardCore
import SwitchboardProtocol

/// Recovery and refill: the deliveries a hub loads into memory, and its own start and stop.
extension Store {
    /// What a refill found of a queue's most urgent pending deliveries.
    public struct PendingPage: Sendable, Equatable {
        /// How many there were, up to the limit asked for: fewer means the store holds no more.
        public let found: Int
        /// Those the caller did not hold already, in dispatch order, ready for the dispatcher.
        public let tasks: [DispatchTask]
    }

    /// The `limit` most urgent pending deliveries of a queue. Those in `held`, which the caller's
    /// memory has already, are only counted: their ids are read from the dispatch index and they
    /// are not loaded again. A periodic rescan of a full window holds nearly all it finds, and
    /// loading each whole (its interaction, body and attributes) had taken about 80 ms a queue for
    /// a window of 10,000 (`switchboard-bench --hub-log-level debug`), every few seconds, only for
    /// the hub to set them aside.
    public func loadPending(queue: String, limit: Int, skipping held: Set<Int64> = []) throws -> PendingPage {
        let ids = try connection.queryPrepared(
            "swb_pending_ids", "SELECT swb_pending_ids($1, $2, $3)", [.text(queue), .init(limit), .text(owner)]
        ).rows.compactMap { $0[0].flatMap { Int64($0) } }
        let missing = ids.filter { !held.contains($0) }
        guard !missing.isEmpty else { return PendingPage(found: ids.count, tasks: []) }
        // Still pending now: another hub, or a replay, may have moved one since its id was read.
        return PendingPage(found: ids.count, tasks: try tasks(missing, states: ["pending"]).map(\.task))
    }

    /// Who last completed a contact of each customer, from the latest `limit` completions, oldest
    /// first: sticky routing's memory after a restart.
    public func lastWorkers(limit: Int) throws -> [(customer: Int64, worker: String)] {
        try connection.query(
            """
            SELECT customer_id, worker FROM (
                SELECT DISTINCT ON (d.customer_id) d.customer_id, e.worker, e.id
                  FROM (SELECT delivery_id, worker, id FROM delivery_events WHERE kind = 'done' ORDER BY id DESC LIMIT $1) e
                  JOIN deliveries d ON d.id = e.delivery_id
                 ORDER BY d.customer_id, e.id DESC) latest
             ORDER BY id
            """, [.init(limit)]
        ).rows.compactMap { row in
            guard let customer = row[0].flatMap({ Int64($0) }), let worker = row[1] else { return nil }
            return (customer, worker)
        }
    }

    /// How this hub's previous run ended, as its start found it.
    public struct PreviousRun: Sendable, Equatable {
        /// It ended without a clean stop: offers it made may not have been written.
        public var crashed: Bool
        /// The hub that took its unfinished deliveries over, if one did (they are not this run's).
        public var adoptedBy: String?
    }

    /// Records this hub's start with its lease (`leaseMs` from now), and how its previous run
    /// ended. The update takes the hub's row lock: a hub adopting this one's previous run either
    /// finished first (its adoption is seen here) or sees this start and adopts nothing.
    public func recordStart(leaseMs: Int64) throws -> PreviousRun {
        let rows = try connection.query(
            """
            WITH previous AS (SELECT stopped_at IS NULL AS crashed, adopted_by FROM hubs WHERE name = $1 FOR UPDATE),
                 started AS (
                     INSERT INTO hubs (name, started_at, seen_at, lease_ms) VALUES ($1, now(), clock_timestamp(), $2)
                     ON CONFLICT (name) DO UPDATE SET started_at = now(), stopped_at = NULL, seen_at = clock_timestamp(), lease_ms = $2,
                                                      adopted_by = NULL, adopted_at = NULL)
            SELECT crashed, adopted_by FROM previous
            """, [.text(owner), .init(leaseMs)]
        ).rows
        guard let row = rows.first else { return PreviousRun(crashed: false, adoptedBy: nil) }
        return PreviousRun(crashed: row[0] == "t", adoptedBy: row[1])
    }

    /// Renews this hub's lease for `leaseMs`; false if another hub adopted it meanwhile (its lease
    /// had run out): what it holds in memory is that hub's now.
    public func renewLease(leaseMs: Int64) throws -> Bool {
        !(try connection.query(
            "UPDATE hubs SET seen_at = clock_timestamp(), lease_ms = $2 WHERE name = $1 AND adopted_by IS NULL AND stopped_at IS NULL RETURNING 1",
            [.text(owner), .init(leaseMs)]
        ).rows.isEmpty)
    }

    /// One hub this hub adopted (`swb_adopt_hubs`).
    public struct Adoption: Sendable, Equatable {
        public var hub: String
        /// It had stopped cleanly: every offer it made is written.
        public var clean: Bool
        /// How long ago its lease ran out (none when it had stopped cleanly).
        public var leaseExpiredMs: Int64?
        /// Its unfinished deliveries, now this hub's.
        public var deliveries: Int64
    }

    /// Adopts every hub that stopped or whose lease ran out and that no hub adopted yet.
    public func adoptHubs() throws -> [Adoption] {
        try connection.query("SELECT * FROM swb_adopt_hubs($1)", [.text(owner)]).rows.map { row in
            Adoption(
                hub: row[0] ?? "", clean: row[1] == "t", leaseExpiredMs: row[2].flatMap { Int64($0) }, deliveries: row[3].flatMap { Int64($0) } ?? 0)
        }
    }

    /// Records that this hub stopped cleanly: every transition it decided is written. Another hub
    /// may adopt what it still owns at once.
    public func recordStop() throws {
        try connection.query("UPDATE hubs SET stopped_at = now() WHERE name = $1", [.text(owner)])
    }

    /// Those of these deliveries that are pending and this hub's (or no hub's, which it claims):
    /// what a returning worker says it holds, and the store still lists as waiting (the hub died
    /// before it wrote their offer). Another live hub's are left to it. Found by primary key,
    /// whatever the statistics say of pending deliveries: the state test is written `IS TRUE` so
    /// that it does not match the predicate of the partial index of pending deliveries, which a
    /// planner with stale statistics would otherwise read whole (as `swb_delivery_tasks` says).
    public func loadPending(ids: [Int64]) throws -> [DispatchTask] {
        guard !ids.isEmpty else { return [] }
        let owned = try connection.query(
            """
            UPDATE deliveries SET owner = $2
             WHERE id = ANY ($1::bigint[]) AND (state = 'pending') IS TRUE AND (owner IS NULL OR owner = $2)
            RETURNING id
            """, [Self.bigintArray(ids), .text(owner)]
        ).rows.compactMap { $0[0].flatMap { Int64($0) } }
        return try tasks(owned, states: ["pending"]).map(\.task)
    }

    /// This hub's deliveries held by workers: at start, those of its last run; after adopting a
    /// hub, that hub's too. With who held them and until when.
    public func loadOffered() throws -> [(task: DispatchTask, worker: String, leaseUntil: Int64)] {
        let ids = try connection.query(
            "SELECT id FROM deliveries WHERE state IN ('offered', 'in_progress') AND owner = $1 ORDER BY id", [.text(owner)]
        ).rows.compactMap {
            $0[0].flatMap { Int64($0) }
        }
        return try tasks(ids, states: ["offered", "in_progress"]).map { ($0.task, $0.worker ?? "", $0.leaseUntil ?? 0) }
    }

    /// The deliveries among `ids` in one of `states`, with their interactions, in dispatch order
    /// (`swb_delivery_tasks`: by primary key, whatever the statistics say).
    func tasks(_ ids: [Int64], states: [String]) throws -> [(task: DispatchTask, worker: String?, leaseUntil: Int64?)] {
        var stateArray = PostgresArray<String>()
        for state in states { stateArray.append(state) }
        let rows = try connection.queryPrepared(
            "swb_delivery_tasks", "SELECT * FROM swb_delivery_tasks($1::bigint[], $2::text[])", [Self.bigintArray(ids), stateArray.parameter()]
        ).rows
        return try rows.map { row in
            func int(_ index: Int) -> Int64 { row[index].flatMap { Int64($0) } ?? 0 }
            var attributes: [String: String] = [:]
            if case .object(let members) = try parseJSON(row[17]) {
                for (key, value) in members { if case .string(let text) = value { attributes[key] = text } }
            }
            let summary = InteractionSummary(
                id: int(8), gateway: row[9] ?? "", messageID: row[10] ?? "", channel: row[11] ?? "", occurredAt: int(12), receivedAt: int(13),
                intent: row[14], language: row[15], contentType: row[16] ?? Publish.defaultContentType, attributes: attributes,
                routeReason: row[18] ?? "", conversationID: row[26].flatMap { Int64($0) })
            let body = row[19].map { Array($0.utf8) } ?? Hex.decode(row[20] ?? "")
            var task = DispatchTask(
                deliveryID: int(0), queue: row[1] ?? "", priority: Int(int(2)), deadline: int(3), attempts: Int(int(4)),
                notBefore: row[5].flatMap { Int64($0) },
                payload: TaskPayload(
                    interaction: summary, customerID: int(21), body: body,
                    needs: TaskNeeds(language: row[22], skills: try Self.strings(json: row[23]), optionalSkills: try Self.strings(json: row[24])),
                    conversationOwner: row[27]))
            task.escalations = Int(int(25))
            return (task, row[6], row[7].flatMap { Int64($0) })
        }
    }
}
