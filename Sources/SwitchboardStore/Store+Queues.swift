import Postgres

/// What `switchboard queues` shows of each queue, from the database.
public struct QueueSummary: Sendable, Equatable {
    public var queue: String
    public var pending: Int
    public var offered: Int
    public var inProgress: Int
    /// How long the oldest pending delivery has waited, in milliseconds; nil when none waits.
    public var oldestWaitMs: Int64?
    /// Open deliveries within the last fifth of their service-level time, not yet past their deadline.
    public var atRisk: Int
    /// Open deliveries past their deadline.
    public var breached: Int
    public var dead: Int

    public init(
        queue: String, pending: Int = 0, offered: Int = 0, inProgress: Int = 0, oldestWaitMs: Int64? = nil, atRisk: Int = 0, breached: Int = 0,
        dead: Int = 0
    ) {
        self.queue = queue
        self.pending = pending
        self.offered = offered
        self.inProgress = inProgress
        self.oldestWaitMs = oldestWaitMs
        self.atRisk = atRisk
        self.breached = breached
        self.dead = dead
    }
}

extension Store {
    /// Each queue's open and dead deliveries at `nowMs`, by queue name; `queues` are listed even
    /// when they have none. Reads the open and dead deliveries only, through their partial indexes.
    public func queueSummaries(queues: [String], nowMs: Int64) throws -> [QueueSummary] {
        let rows = try connection.query(
            """
            SELECT d.queue,
                   count(*) FILTER (WHERE d.state = 'pending'),
                   count(*) FILTER (WHERE d.state = 'offered'),
                   count(*) FILTER (WHERE d.state = 'in_progress'),
                   (extract(epoch FROM n.now - min(d.created_at) FILTER (WHERE d.state = 'pending')) * 1000)::bigint,
                   count(*) FILTER (WHERE d.state <> 'dead' AND d.deadline > n.now AND d.deadline - n.now < (d.deadline - d.created_at) / 5),
                   count(*) FILTER (WHERE d.state <> 'dead' AND d.deadline <= n.now),
                   count(*) FILTER (WHERE d.state = 'dead')
              FROM deliveries d CROSS JOIN (SELECT to_timestamp($1::bigint / 1000.0) AS now) n
             WHERE d.state IN ('pending', 'offered', 'in_progress', 'dead')
             GROUP BY d.queue, n.now
            """, [.init(nowMs)]
        ).rows
        var byQueue = Dictionary(uniqueKeysWithValues: queues.map { ($0, QueueSummary(queue: $0)) })
        for row in rows {
            guard let queue = row[0] else { continue }
            func int(_ index: Int) -> Int { row[index].flatMap { Int($0) } ?? 0 }
            byQueue[queue] = QueueSummary(
                queue: queue, pending: int(1), offered: int(2), inProgress: int(3), oldestWaitMs: row[4].flatMap { Int64($0) }, atRisk: int(5),
                breached: int(6), dead: int(7))
        }
        return byQueue.values.sorted { $0.queue < $1.queue }
    }
}

extension Store {
    /// The queues that have pending deliveries, found by walking `deliveries_dispatch_order` from
    /// one queue to the next (a step per queue, however long the backlog).
    public func queuesWithPendingWork() throws -> [String] {
        try connection.query(
            """
            WITH RECURSIVE q (queue) AS (
                SELECT min(queue) FROM deliveries WHERE state = 'pending'
                UNION ALL
                SELECT (SELECT min(d.queue) FROM deliveries d WHERE d.state = 'pending' AND d.queue > q.queue) FROM q WHERE q.queue IS NOT NULL
            )
            SELECT queue FROM q WHERE queue IS NOT NULL
            """
        ).rows.compactMap { $0.first ?? nil }
    }
}

/// A recent refusal or dead letter, as the dashboard lists them.
public struct RecentProblem: Sendable, Equatable {
    public var id: Int64
    public var atMs: Int64
    /// The peer (quarantine) or the queue (dead letter).
    public var place: String
    /// The refusal's code, or the dead letter's last error.
    public var what: String

    public init(id: Int64, atMs: Int64, place: String, what: String) {
        self.id = id
        self.atMs = atMs
        self.place = place
        self.what = what
    }
}

extension Store {
    /// The latest refused inputs (quarantine), newest first.
    public func recentQuarantine(limit: Int) throws -> [RecentProblem] {
        try connection.query(
            "SELECT id, \(Store.ms("received_at")), role || ' ' || peer, code FROM quarantine ORDER BY received_at DESC LIMIT $1::integer",
            [.init(limit)]
        ).rows.map { RecentProblem(id: Int64($0[0] ?? "") ?? 0, atMs: Int64($0[1] ?? "") ?? 0, place: $0[2] ?? "", what: $0[3] ?? "") }
    }

    /// The latest dead letters, newest first (through the dead deliveries' partial index).
    public func recentDead(limit: Int) throws -> [RecentProblem] {
        try connection.query(
            """
            SELECT id, \(Store.ms("coalesce(completed_at, created_at)")), queue, coalesce(last_error, '')
              FROM deliveries WHERE state = 'dead' ORDER BY coalesce(completed_at, created_at) DESC LIMIT $1::integer
            """, [.init(limit)]
        ).rows.map { RecentProblem(id: Int64($0[0] ?? "") ?? 0, atMs: Int64($0[1] ?? "") ?? 0, place: $0[2] ?? "", what: $0[3] ?? "") }
    }
}
