import Postgres
import SwitchboardCore
import SwitchboardProtocol

/// What the retention settings keep: message bodies for so many days, interactions (their monthly
/// partitions) for so many months; nil keeps them for good.
public struct Retention: Sendable, Equatable {
    public var bodyDays: Int?
    public var months: Int?

    public init(bodyDays: Int? = nil, months: Int? = nil) {
        self.bodyDays = bodyDays
        self.months = months
    }

    public var isEmpty: Bool { bodyDays == nil && months == nil }
}

/// What a retention pass did.
public struct RetentionResult: Sendable, Equatable {
    public var bodiesRemoved: Int
    public var partitionsDropped: [String]

    public init(bodiesRemoved: Int, partitionsDropped: [String]) {
        self.bodiesRemoved = bodiesRemoved
        self.partitionsDropped = partitionsDropped
    }
}

extension Store {
    /// The customer that has this normalized identity, if any.
    public func customer(with identity: NormalizedIdentity) throws -> Int64? {
        let value =
            try connection.query(
                "SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2", [.init(identity.kind.rawValue), .init(identity.value)]
            ).rows.first?.first ?? nil
        return value.flatMap { Int64($0) }
    }

    /// Erases the customer's personal data (`swb_erase_customer`) and returns what it did, as JSON.
    public func eraseCustomer(_ id: Int64, actor: String) throws -> String {
        guard let detail = try connection.query("SELECT swb_erase_customer($1, $2)::text", [.init(id), .init(actor)]).rows.first?.first ?? nil
        else { throw PostgresError(code: .unexpectedResult, message: "swb_erase_customer answered nothing") }
        return detail
    }

    /// Removes bodies and drops partitions past `retention`, as of `nowMs` (`swb_apply_retention`):
    /// at most `limit` bodies a pass, months counted in whole months back from this one.
    @discardableResult
    public func applyRetention(_ retention: Retention, nowMs: Int64, limit: Int = 100_000) throws -> RetentionResult {
        guard !retention.isEmpty else { return RetentionResult(bodiesRemoved: 0, partitionsDropped: []) }
        let row = try connection.query(
            """
            SELECT o_bodies_removed, array_to_string(o_partitions_dropped, ',')
              FROM swb_apply_retention(to_timestamp($1::bigint / 1000.0) - make_interval(days => $2::integer),
                                       date_trunc('month', to_timestamp($1::bigint / 1000.0) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                                           - make_interval(months => $3::integer),
                                       $4::integer)
            """, [.init(nowMs), .init(retention.bodyDays.map(String.init)), .init(retention.months.map(String.init)), .init(limit)]
        ).rows.first
        let dropped = (row?[1] ?? nil).map { $0.split(separator: ",").map(String.init) } ?? []
        return RetentionResult(bodiesRemoved: (row?[0] ?? nil).flatMap { Int($0) } ?? 0, partitionsDropped: dropped)
    }
}

extension Store {
    /// Imports rows of external customer data in one transaction (`swb_import_customers`) and
    /// returns its answer as JSON: the counts, the problems that kept it from being written, or
    /// the earlier import of the same rows from the same source (by the digest of the rows).
    public func importCustomers(_ rows: [CustomerImport.Row], source: String) throws -> JSONValue {
        let payload = JSONValue.array(
            rows.map { row in
                .object([
                    "line": .integer(Int64(row.line)),
                    "identities": .array(row.identities.map { .object(["kind": .string($0.kind.rawValue), "value": .string($0.value)]) }),
                    "fields": .object(row.fields.mapValues(JSONValue.string)),
                ])
            })
        guard
            let text = try connection.query(
                "SELECT swb_import_customers($1, md5($2), $2::jsonb)::text", [.init(source), .init(JSONWriter.string(payload))]
            ).rows.first?.first ?? nil
        else { throw PostgresError(code: .unexpectedResult, message: "swb_import_customers answered nothing") }
        return try JSONParser.parse(Array(text.utf8), maxDepth: 8)
    }
}

/// How value tiers are computed (`swb_compute_value_tiers`), and how often.
public struct ValueTierPlan: Sendable, Equatable {
    public var windowDays: Int
    /// The interaction (and customer) attribute that holds money spent, e.g. `order_value`.
    public var monetaryAttribute: String
    /// Tiers by their least score (3 to 15), highest first.
    public var tiers: [(name: String, minScore: Int)]
    public var everyHours: Int

    public init(windowDays: Int, monetaryAttribute: String, tiers: [(name: String, minScore: Int)], everyHours: Int) {
        self.windowDays = windowDays
        self.monetaryAttribute = monetaryAttribute
        self.tiers = tiers
        self.everyHours = everyHours
    }

    public static func == (lhs: ValueTierPlan, rhs: ValueTierPlan) -> Bool {
        lhs.windowDays == rhs.windowDays && lhs.monetaryAttribute == rhs.monetaryAttribute && lhs.everyHours == rhs.everyHours
            && lhs.tiers.map(\.name) == rhs.tiers.map(\.name) && lhs.tiers.map(\.minScore) == rhs.tiers.map(\.minScore)
    }
}

extension Store {
    /// Computes every active customer's RFM value tier as of `nowMs` and returns the count per
    /// tier; with `onlyIfDue`, nothing is done (nil) when the last computation is younger than
    /// the plan's `everyHours`, so that hubs sharing a database compute once a period.
    @discardableResult
    public func computeValueTiers(_ plan: ValueTierPlan, nowMs: Int64, onlyIfDue: Bool = false) throws -> JSONValue? {
        let tiers = JSONValue.array(plan.tiers.map { .object(["name": .string($0.name), "min_score": .integer(Int64($0.minScore))]) })
        let text =
            try connection.query(
                """
                SELECT swb_compute_value_tiers(to_timestamp($1::bigint / 1000.0), $2::integer, $3, $4::jsonb)::text
                 WHERE NOT $5::boolean
                    OR coalesce((SELECT max(computed_at) FROM customer_value), '-infinity')
                       <= to_timestamp($1::bigint / 1000.0) - make_interval(hours => $6::integer)
                """,
                [
                    .init(nowMs), .init(plan.windowDays), .init(plan.monetaryAttribute), .init(JSONWriter.string(tiers)), .init(onlyIfDue),
                    .init(plan.everyHours),
                ]
            ).rows.first?.first ?? nil
        return try text.map { try JSONParser.parse(Array($0.utf8), maxDepth: 4) }
    }
}

extension Store {
    /// A customer's whole record (`swb_customer_360`), by id or by normalized identity, as JSON
    /// text; nil when there is no such customer.
    public func customerRecord(id: Int64?, identity: NormalizedIdentity?) throws -> [UInt8]? {
        let value =
            try connection.query(
                "SELECT swb_customer_360($1::bigint, $2, $3)::text",
                [.init(id.map(String.init)), .init(identity?.kind.rawValue), .init(identity?.value)]
            ).rows.first?.first ?? nil
        return value.map { Array($0.utf8) }
    }
}

/// A complaint as `switchboard complaints` lists it.
public struct ComplaintRecord: Sendable, Equatable {
    public var id: Int64
    public var customerID: Int64
    public var process: String
    public var category: String
    public var status: String
    public var openedAtMs: Int64
    public var resolvedAtMs: Int64?
    public var resolution: String?
    public var resolvedBy: String?
}

extension Store {
    /// Draws the implicit feedback as of `nowMs` (`swb_compute_signals`): repeat contacts, silence
    /// after complaints, the customers' experience and churn risk. Returns what it found.
    @discardableResult
    public func computeSignals(_ settings: SignalSettings, nowMs: Int64) throws -> JSONValue {
        let text =
            try connection.query(
                "SELECT swb_compute_signals(to_timestamp($1::bigint / 1000.0), $2::integer, $3::integer, $4::numeric, $5::integer)::text",
                [
                    .init(nowMs), .init(settings.repeatDays), .init(settings.silenceDays), .text(String(settings.churnThreshold)),
                    .init(settings.windowDays),
                ]
            ).rows.first?.first ?? nil
        return try text.map { try JSONParser.parse(Array($0.utf8), maxDepth: 4) } ?? .object([:])
    }

    /// Complaints, newest first: the open ones only with `openOnly`; of one customer with `customerID`.
    public func complaints(openOnly: Bool, customerID: Int64? = nil, limit: Int = 100) throws -> [ComplaintRecord] {
        try connection.query(
            """
            SELECT id, customer_id, process, category, status, \(Store.ms("opened_at")), \(Store.ms("resolved_at")),
                   resolution, resolved_by
              FROM complaints
             WHERE (NOT $1::boolean OR status = 'open') AND ($2::bigint IS NULL OR customer_id = $2::bigint)
             ORDER BY opened_at DESC, id DESC
             LIMIT $3::integer
            """,
            [.init(openOnly), .init(customerID.map(String.init)), .init(limit)]
        ).rows.map { row in
            ComplaintRecord(
                id: Int64(row[0] ?? "") ?? 0, customerID: Int64(row[1] ?? "") ?? 0, process: row[2] ?? "", category: row[3] ?? "",
                status: row[4] ?? "", openedAtMs: Int64(row[5] ?? "") ?? 0, resolvedAtMs: row[6].flatMap { Int64($0) }, resolution: row[7],
                resolvedBy: row[8])
        }
    }

    /// Resolves an open complaint by hand (`switchboard complaint resolve`); false when there is no
    /// such complaint open.
    public func resolveComplaint(id: Int64, resolution: String, actor: String) throws -> Bool {
        try connection.query(
            """
            UPDATE complaints SET status = 'resolved', resolved_at = now(), resolution = $2, resolved_by = $3
             WHERE id = $1::bigint AND status = 'open'
            RETURNING id
            """,
            [.init(id), .init(resolution), .init(actor)]
        ).rows.count == 1
    }
}
