import Postgres
import SwitchboardCore
import SwitchboardProtocol

/// A merge the hub's merge pass made: what a `customer.merged` event says.
public struct CustomerMerge: Sendable, Equatable {
    public var mergeID: Int64
    public var survivorID: Int64
    public var absorbedID: Int64
    public var reason: String
    public var atMs: Int64
    /// Who merged: `hub` for the merge pass, else the operator.
    public var actor: String
    /// When it was undone, if it was.
    public var unmergedAtMs: Int64?

    public init(mergeID: Int64, survivorID: Int64, absorbedID: Int64, reason: String, atMs: Int64, actor: String = "hub", unmergedAtMs: Int64? = nil)
    {
        self.mergeID = mergeID
        self.survivorID = survivorID
        self.absorbedID = absorbedID
        self.reason = reason
        self.atMs = atMs
        self.actor = actor
        self.unmergedAtMs = unmergedAtMs
    }

    /// The `customer.merged` event (protocols/events.md).
    public var eventJSON: [UInt8] {
        var object = JSONObjectWriter()
        object.field("absorbed_id", absorbedID)
        object.field("actor", actor)
        object.field("at", atMs)
        object.field("event", "customer.merged")
        object.field("merge_id", mergeID)
        object.field("reason", reason)
        object.field("survivor_id", survivorID)
        object.field("unmerged_at", unmergedAtMs)
        return object.finish()
    }
}

/// A pair waiting for an operator's decision (`switchboard customer review`).
public struct MergeCandidate: Sendable {
    public var id: Int64
    public var customerA: Int64
    public var customerB: Int64
    public var gateway: String?
    public var interactionID: Int64?
    public var detectedAtMs: Int64
    /// Both customers side by side, as JSON: name, kind, segment, tier, identities, contacts.
    public var sides: JSONValue
}

extension Store {
    /// The hub's merge pass (`swb_process_merge_candidates`): the merges it made.
    public func processMergeCandidates(_ settings: MergeSettings, limit: Int = 20) throws -> [CustomerMerge] {
        try connection.query(
            "SELECT o_merge_id, o_survivor, o_absorbed, o_reason, o_at FROM swb_process_merge_candidates($1::boolean, $2::text[], $3::integer)",
            [.init(settings.sameName), .text(Store.textArrayLiteral(settings.gateways)), .init(limit)]
        ).rows.compactMap { row in
            guard let merge = row[0].flatMap({ Int64($0) }), let survivor = row[1].flatMap({ Int64($0) }),
                let absorbed = row[2].flatMap({ Int64($0) }), let at = row[4].flatMap({ Int64($0) })
            else { return nil }
            return CustomerMerge(mergeID: merge, survivorID: survivor, absorbedID: absorbed, reason: row[3] ?? "", atMs: at)
        }
    }

    /// Every merge above `mergeID`, oldest first, as `customer.merged` events (an undone one says when).
    public func merges(after mergeID: Int64, limit: Int) throws -> [CustomerMerge] {
        try connection.query(
            """
            SELECT id, survivor_id, absorbed_id, reason, \(Store.ms("merged_at")), actor, \(Store.ms("unmerged_at"))
              FROM customer_merges WHERE id > $1::bigint ORDER BY id LIMIT $2::integer
            """, [.init(mergeID), .init(limit)]
        ).rows.map { row in
            CustomerMerge(
                mergeID: Int64(row[0] ?? "") ?? 0, survivorID: Int64(row[1] ?? "") ?? 0, absorbedID: Int64(row[2] ?? "") ?? 0, reason: row[3] ?? "",
                atMs: Int64(row[4] ?? "") ?? 0, actor: row[5] ?? "", unmergedAtMs: row[6].flatMap { Int64($0) })
        }
    }

    /// Merges `absorbed` into `survivor` (`swb_merge_customers`); `take` names the conflicting
    /// fields whose absorbed value wins. Returns the merge's id, conflicts and moved rows.
    public func mergeCustomers(survivor: Int64, absorbed: Int64, actor: String, reason: String = "operator", take: [String] = []) throws
        -> JSONValue
    {
        try jsonAnswer(
            "SELECT swb_merge_customers($1::bigint, $2::bigint, $3, $4, $5::text[])::text",
            [.init(survivor), .init(absorbed), .init(actor), .init(reason), .text(Store.textArrayLiteral(take))])
    }

    /// Undoes a merge exactly (`swb_unmerge_customers`). Returns what went back.
    public func unmergeCustomers(mergeID: Int64, actor: String) throws -> JSONValue {
        try jsonAnswer("SELECT swb_unmerge_customers($1::bigint, $2)::text", [.init(mergeID), .init(actor)])
    }

    /// The latest merge still in force that absorbed this customer, if any.
    public func activeMerge(absorbing customerID: Int64) throws -> Int64? {
        try connection.query(
            "SELECT id FROM customer_merges WHERE absorbed_id = $1::bigint AND unmerged_at IS NULL ORDER BY id DESC LIMIT 1", [.init(customerID)]
        ).rows.first?.first.flatMap { $0 }.flatMap { Int64($0) }
    }

    /// The pairs waiting for review, oldest first, each with both customers side by side.
    public func mergeCandidatesForReview(limit: Int = 50) throws -> [MergeCandidate] {
        try connection.query(
            """
            SELECT m.id, m.customer_a, m.customer_b, m.gateway, m.interaction_id, \(Store.ms("m.detected_at")),
                   json_build_object('a', swb_merge_side(m.customer_a), 'b', swb_merge_side(m.customer_b))::text
              FROM customer_merge_candidates m
             WHERE m.status = 'review'
             ORDER BY m.id
             LIMIT $1::integer
            """, [.init(limit)]
        ).rows.map { row in
            MergeCandidate(
                id: Int64(row[0] ?? "") ?? 0, customerA: Int64(row[1] ?? "") ?? 0, customerB: Int64(row[2] ?? "") ?? 0, gateway: row[3],
                interactionID: row[4].flatMap { Int64($0) }, detectedAtMs: Int64(row[5] ?? "") ?? 0,
                sides: (try? JSONParser.parse(Array((row[6] ?? "{}").utf8), maxDepth: 8)) ?? .object([:]))
        }
    }

    /// A pair in review, by its candidate id: nil when there is none waiting.
    public func reviewCandidate(_ id: Int64) throws -> (customerA: Int64, customerB: Int64)? {
        guard
            let row = try connection.query(
                "SELECT customer_a, customer_b FROM customer_merge_candidates WHERE id = $1::bigint AND status = 'review'", [.init(id)]
            ).rows.first, let a = row[0].flatMap({ Int64($0) }), let b = row[1].flatMap({ Int64($0) })
        else { return nil }
        return (a, b)
    }

    /// Declares a pair in review distinct: never proposed again. False when it is not waiting.
    public func dismissCandidate(_ id: Int64, actor: String) throws -> Bool {
        try connection.query(
            """
            WITH dismissed AS (
                UPDATE customer_merge_candidates SET status = 'dismissed', decided_at = now(), decided_by = $2, reason = 'dismissed'
                 WHERE id = $1::bigint AND status = 'review'
                RETURNING customer_a, customer_b
            )
            INSERT INTO customer_audit (customer_id, action, actor, detail)
            SELECT x.customer, 'dismissed', $2, jsonb_build_object('candidate', $1::bigint, 'other', x.other)
              FROM dismissed d CROSS JOIN LATERAL (VALUES (d.customer_a, d.customer_b), (d.customer_b, d.customer_a)) x (customer, other)
            RETURNING 1
            """, [.init(id), .init(actor)]
        ).rows.count == 2
    }

    private func jsonAnswer(_ sql: String, _ parameters: [PostgresValue]) throws -> JSONValue {
        let text = try connection.query(sql, parameters).rows.first?.first ?? nil
        return try text.map { try JSONParser.parse(Array($0.utf8), maxDepth: 8) } ?? .object([:])
    }
}
