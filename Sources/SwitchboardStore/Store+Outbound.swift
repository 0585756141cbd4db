import Postgres
import SwitchboardCore
import SwitchboardProtocol

/// A REPLY as stored (`swb_store_reply`).
public struct StoredReply: Sendable, Equatable {
    public var outboundID: Int64
    public var conversationID: Int64
    public var interactionID: Int64
    public var repeated: Bool
}

/// An outbound message leased to this hub, to DELIVER to a gateway of its channel.
public struct OutboundMessage: Sendable, Equatable {
    public var id: Int64
    public var customerID: Int64
    /// The gateway the customer wrote through: tried first.
    public var preferredGateway: String?
    public var deliver: Deliver
}

/// What became of a DELIVER, for `swb_outbound_results`.
public struct OutboundResult: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case sent, retry, undeliverable
    }

    public var id: Int64
    public var outcome: Outcome
    public var gateway: String?
    public var error: String?
    public var retryAfterMs: Int?
    public var reference: String?

    public init(id: Int64, outcome: Outcome, gateway: String? = nil, error: String? = nil, retryAfterMs: Int? = nil, reference: String? = nil) {
        self.id = id
        self.outcome = outcome
        self.gateway = gateway
        self.error = error
        self.retryAfterMs = retryAfterMs
        self.reference = reference
    }
}

extension Store {
    /// Stores a worker's REPLY on a delivery (`swb_store_reply`).
    public func storeReply(_ reply: Reply, worker: String, expireAfterMs: Int64) throws -> StoredReply {
        let text = Publish.isText(reply.contentType) ? String(decoding: reply.body, as: UTF8.self) : nil
        let rows = try connection.query(
            """
            SELECT o_outbound_id, o_conversation_id, o_interaction_id, o_repeated
              FROM swb_store_reply($1::bigint, $2, $3, $4, $5, $6::bytea, $7::boolean, $8::bigint)
            """,
            [
                .init(reply.deliveryID), .init(worker), .init(reply.replyID), .init(reply.contentType), .init(text),
                text == nil ? .bytes(reply.body) : .null, .init(reply.close), .init(expireAfterMs),
            ]
        ).rows
        guard let row = rows.first, let outbound = row[0].flatMap({ Int64($0) }), let conversation = row[1].flatMap({ Int64($0) }),
            let interaction = row[2].flatMap({ Int64($0) })
        else { throw PostgresError(code: .unexpectedResult, message: "swb_store_reply answered nothing") }
        return StoredReply(outboundID: outbound, conversationID: conversation, interactionID: interaction, repeated: row[3] == "t")
    }

    /// Leases the next outbound messages of `channels` to `owner` (`swb_claim_outbound`); with no
    /// channel it only expires what is past its time.
    public func claimOutbound(owner: String, channels: [String], limit: Int, leaseMs: Int, maxAttempts: Int) throws -> [OutboundMessage] {
        let rows = try connection.query(
            """
            SELECT o_id, o_key, o_customer_id, o_conversation_id, o_channel, o_preferred_gateway, o_in_reply_to, o_thread, o_language,
                   o_content_type, o_body_text, o_body_hex, o_attempts, o_expires_at, o_campaign_id, o_to
              FROM swb_claim_outbound($1, $2::text[], $3::integer, $4::integer, $5::integer)
            """,
            [.init(owner), .text(Store.textArrayLiteral(channels)), .init(limit), .init(leaseMs), .init(maxAttempts)]
        ).rows
        return try rows.map { row in
            func int(_ index: Int) -> Int64? { row[index].flatMap { Int64($0) } }
            var to: [String: String] = [:]
            if case .object(let members) = try parseJSON(row[15]) {
                for (key, value) in members { if case .string(let text) = value { to[key] = text } }
            }
            let body = row[10].map { Array($0.utf8) } ?? Hex.decode(row[11] ?? "")
            let deliver = Deliver(
                outboundID: int(0) ?? 0, idempotencyKey: row[1] ?? "", channel: row[4] ?? "", to: to, conversationID: int(3), thread: row[7],
                inReplyTo: row[6], language: row[8], contentType: row[9] ?? Publish.defaultContentType, attempt: Int(int(12) ?? 1),
                expiresAt: int(13) ?? 0, campaignID: int(14), body: body)
            return OutboundMessage(id: deliver.outboundID, customerID: int(2) ?? 0, preferredGateway: row[5], deliver: deliver)
        }
    }

    /// Records what gateways answered (`swb_outbound_results`); answers each message's state now.
    @discardableResult
    public func recordOutboundResults(_ results: [OutboundResult], owner: String, settings: OutboundSettings) throws -> [Int64: String] {
        guard !results.isEmpty else { return [:] }
        var ids = PostgresArray<Int64>(), outcomes = PostgresArray<String>(), gateways = PostgresArray<String>()
        var errors = PostgresArray<String>(), retries = PostgresArray<Int64>(), references = PostgresArray<String>()
        for result in results {
            ids.append(result.id)
            outcomes.append(result.outcome.rawValue)
            gateways.append(result.gateway)
            errors.append(result.error)
            retries.append(result.retryAfterMs.map(Int64.init))
            references.append(result.reference)
        }
        let rows = try connection.query(
            """
            SELECT o_id, o_state FROM swb_outbound_results($1, $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],
                                                         $8::integer, $9::integer, $10::integer)
            """,
            [
                .init(owner), ids.parameter(), outcomes.parameter(), gateways.parameter(), errors.parameter(), retries.parameter(),
                references.parameter(), .init(settings.maxAttempts), .init(settings.retryBaseMs), .init(settings.retryMaxMs),
            ]
        ).rows
        var states: [Int64: String] = [:]
        for row in rows { if let id = row[0].flatMap({ Int64($0) }), let state = row[1] { states[id] = state } }
        return states
    }

    /// At start: what this hub had sent a DELIVER for when it last stopped goes back to pending;
    /// the gateway's idempotency key keeps a message it did send from going out twice.
    @discardableResult
    public func releaseOutbound(owner: String) throws -> Int {
        try connection.query(
            "UPDATE outbound_messages SET state = 'pending', owner = NULL, lease_until = NULL WHERE state = 'sending' AND owner = $1",
            [.init(owner)]
        ).affected
    }

    /// "Where is my request?" (`swb_contact_status`): the customer's open contacts as JSON, nil
    /// when no customer has that id or identity.
    public func contactStatus(customerID: Int64?, identity: NormalizedIdentity?) throws -> (customerID: Int64, contacts: [JSONValue])? {
        let text =
            try connection.query(
                "SELECT swb_contact_status($1::bigint, $2, $3)::text",
                [.init(customerID.map(String.init)), .init(identity?.kind.rawValue), .init(identity?.value)]
            ).rows.first?.first ?? nil
        guard case .object(let members) = try parseJSON(text), case .integer(let id)? = members["customer_id"] else { return nil }
        guard case .array(let contacts)? = members["contacts"] else { return (id, []) }
        return (id, contacts)
    }

    /// Closes conversations idle for `minutes` (`swb_close_idle_conversations`).
    @discardableResult
    public func closeIdleConversations(minutes: Int) throws -> Int {
        let value = try connection.query("SELECT swb_close_idle_conversations($1::integer)", [.init(minutes)]).rows.first?.first ?? nil
        return value.flatMap { Int($0) } ?? 0
    }

    /// One pass of the running campaigns as of `nowMs` (`swb_run_campaigns`): what it did, as JSON.
    @discardableResult
    public func runCampaigns(nowMs: Int64, settings: OutboundSettings) throws -> JSONValue {
        let text =
            try connection.query(
                "SELECT swb_run_campaigns(to_timestamp($1::bigint / 1000.0), $2::time, $3::time, $4::integer, $5::integer, $6::bigint)::text",
                [
                    .init(nowMs), .init(settings.quietHours?.start), .init(settings.quietHours?.end), .init(settings.frequencyCapCount),
                    .init(settings.frequencyCapDays), .init(settings.campaignTaskDeadlineMs),
                ]
            ).rows.first?.first ?? nil
        return try parseJSON(text)
    }
}

/// An outbound message as `switchboard outbound` lists it.
public struct OutboundRecord: Sendable, Equatable {
    public var id: Int64
    public var customerID: Int64
    public var channel: String
    public var state: String
    public var attempts: Int
    public var author: String
    public var gateway: String?
    public var lastError: String?
    public var createdAt: String
}

extension Store {
    /// Outbound messages, newest first; `state` picks one state (dead: the dead letters).
    public func outboundMessages(state: String?, limit: Int) throws -> [OutboundRecord] {
        try connection.query(
            """
            SELECT id, customer_id, channel, state, attempts, author, gateway, last_error, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
              FROM outbound_messages WHERE $1::text IS NULL OR state = $1 ORDER BY id DESC LIMIT $2
            """, [.init(state), .init(limit)]
        ).rows.map { row in
            OutboundRecord(
                id: row[0].flatMap { Int64($0) } ?? 0, customerID: row[1].flatMap { Int64($0) } ?? 0, channel: row[2] ?? "", state: row[3] ?? "",
                attempts: row[4].flatMap { Int($0) } ?? 0, author: row[5] ?? "", gateway: row[6], lastError: row[7], createdAt: row[8] ?? "")
        }
    }

    /// Dead outbound messages back to pending, their attempts from zero and their expiry
    /// `expireAfterMs` from now: the given ids, or every dead one. Answers how many.
    public func replayOutbound(ids: [Int64]?, expireAfterMs: Int64) throws -> Int {
        try connection.query(
            """
            UPDATE outbound_messages
               SET state = 'pending', attempts = 0, not_before = NULL, dead_at = NULL, owner = NULL, lease_until = NULL,
                   expires_at = now() + $2::bigint * interval '1 millisecond',
                   last_error = coalesce(last_error || '; ', '') || 'replayed'
             WHERE state = 'dead' AND ($1::bigint[] IS NULL OR id = ANY ($1::bigint[]))
            """, [ids.map { .text("{" + $0.map(String.init).joined(separator: ",") + "}") } ?? .null, .init(expireAfterMs)]
        ).affected
    }
}
