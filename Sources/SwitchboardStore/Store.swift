import Postgres
import SwitchboardCore
import SwitchboardProtocol

/// The hub's access to PostgreSQL: one connection, used by one thread (a store lane's).
///
/// Every write is a server-side function (`swb_ingest_rounds_arrays`, `swb_apply_batch`) called once per
/// batch, one statement and so one transaction: a batch of many messages costs one commit.
public final class Store {
    public let connection: Connection
    /// This hub's name in lease rows (`deliveries.owner`).
    public let owner: String
    /// The days a TASK's `recent` list reaches back (`context_recent_days`); nil for all history.
    private let contextRecentDays: Int?
    /// Whether deliveries this connection writes belong to the hub `owner` (a hub's own lanes),
    /// rather than to no hub (a tool's, which any hub may claim).
    private let holdsWork: Bool

    public init(conninfo: String, owner: String, contextRecentDays: Int? = nil, holdsWork: Bool = false) throws {
        connection = try Connection(conninfo)
        self.owner = owner
        self.contextRecentDays = contextRecentDays
        self.holdsWork = holdsWork
        try configureSession()
    }

    /// Session settings of every connection: the context functions read the bound of `recent`
    /// (`swb_task_contexts`) from `switchboard.context_recent_days`; a hub's deliveries take their
    /// owner from `switchboard.hub` (the column's default, V0007).
    private func configureSession() throws {
        try connection.execute(script: "SET TIME ZONE 'UTC'; SET application_name = 'switchboard-hub'")
        if let days = contextRecentDays {
            _ = try connection.query("SELECT set_config('switchboard.context_recent_days', $1, false)", [.text(String(days))])
        }
        if holdsWork { _ = try connection.query("SELECT set_config('switchboard.hub', $1, false)", [.text(owner)]) }
    }

    /// Reconnects after a lost connection.
    public func reconnect() throws {
        try connection.reconnect()
        try configureSession()
    }

    /// Fails unless the database is at this build's schema: every migration applied, every
    /// function and view at its current text, nothing recorded that this build does not know.
    public func checkSchema() throws {
        let pending = try Migrator.pendingVersions(connection)
        guard pending.isEmpty else {
            throw PostgresError(
                code: .unexpectedResult,
                message:
                    "the database lacks \(pending.count) migrations of this build (\(pending.prefix(3).joined(separator: ", ")), …): run 'switchboard migrate'"
            )
        }
    }

    /// Creates this month's and next month's interaction partitions if they are missing.
    public func ensurePartitions(nowMs: Int64) throws {
        try connection.query(
            "SELECT swb_ensure_interaction_partition(to_timestamp($1::bigint / 1000.0)), swb_ensure_interaction_partition(to_timestamp($1::bigint / 1000.0) + interval '1 month')",
            [.init(nowMs)])
    }

    /// Records the routing rules in force and returns their version id (same rules, same id).
    /// Two hubs starting together may insert the same rules at once: the one that waited finds
    /// nothing inserted and, in its statement's snapshot, nothing there; it reads again.
    public func registerRouting(_ rules: JSONValue) throws -> Int {
        let text = JSONWriter.string(rules)
        for _ in 0..<3 {
            let rows = try connection.query(
                """
                WITH inserted AS (
                    INSERT INTO routing_versions (digest, rules) VALUES (md5($1), $1::jsonb)
                    ON CONFLICT (digest) DO NOTHING RETURNING id)
                SELECT id FROM inserted UNION ALL SELECT id FROM routing_versions WHERE digest = md5($1)
                """, [.text(text)])
            if let id = rows.rows.first?[0].flatMap({ Int($0) }) { return id }
        }
        throw PostgresError(code: .unexpectedResult, message: "routing version was not recorded")
    }

    // MARK: Ingest

    /// Stores a batch of routed messages in one statement, so in one transaction; the answers are
    /// in the batch's order.
    ///
    /// The batch is set-based (`swb_ingest_rounds_arrays`) in rounds: a message that shares a (gateway,
    /// message id) or an identity with an earlier one of the batch goes in the round after it, so
    /// within a round the messages are independent and the outcome is the same as storing them
    /// one by one in order. The function runs the rounds one after the other.
    public func ingest(_ records: [IngestRecord], receivedAtMs: Int64) throws -> [IngestOutcome] {
        try ingest(Self.ingestStatement(records, receivedAtMs: receivedAtMs)).outcomes
    }

    /// Stores a batch whose statement is built already.
    public func ingest(_ statement: IngestStatement) throws -> IngestAnswer {
        try send(statement)
        return try receive(statement)
    }

    /// A batch's ingest statement, ready to send: `ingest` in three steps, so that a caller with
    /// several batches can build the next one's while PostgreSQL runs this one (the ingest lane).
    public struct IngestStatement: Sendable {
        public let records: [IngestRecord]
        public let receivedAtMs: Int64
        /// By record: whether the customer's context is read with the batch, if the message is stored.
        public let contextWanted: [Bool]
        /// The records' indexes in the order the statement sends them (by round).
        let order: [Int]
        let parameters: [PostgresValue]
        var readsContexts: Bool { contextWanted.contains(true) }
    }

    /// What a batch's statement answered.
    public struct IngestAnswer: Sendable {
        /// One outcome per record, in the batch's order.
        public let outcomes: [IngestOutcome]
        /// The context (as a TASK carries it) of each customer whose stored message asked for it.
        public let contexts: [Int64: [UInt8]]
    }

    /// Splits the batch into rounds, orders it by round (stably) and writes its parameters; no I/O.
    ///
    /// `contextWanted` (by record, or empty for none) marks the messages whose customer's context
    /// the statement reads once they are stored (`swb_ingest_rounds_with_contexts`): those the
    /// caller will offer to a worker at once, whose TASK then needs no statement of its own.
    public static func ingestStatement(_ records: [IngestRecord], receivedAtMs: Int64, contextWanted: [Bool] = []) -> IngestStatement {
        let rounds = Self.rounds(records.count) { index in
            Self.roundKeys(records[index])
        }
        let order = records.indices.sorted { (rounds[$0], $0) < (rounds[$1], $1) }
        var ends: [Int32] = []
        for (position, index) in order.enumerated() where position + 1 == order.count || rounds[order[position + 1]] != rounds[index] {
            ends.append(Int32(position + 1))
        }
        var parameters = batchColumns(records, in: order, roundEnds: ends, receivedAtMs: receivedAtMs)
        if contextWanted.contains(true) {
            var wanted = PostgresArray<Bool>()
            for index in order { wanted.append(contextWanted.indices.contains(index) && contextWanted[index]) }
            parameters.insert(wanted.parameter(), at: 0)
        }
        return IngestStatement(records: records, receivedAtMs: receivedAtMs, contextWanted: contextWanted, order: order, parameters: parameters)
    }

    /// Sends the statement and returns while PostgreSQL runs it; `receive` must follow before the
    /// connection is used for anything else.
    public func send(_ statement: IngestStatement) throws {
        if statement.readsContexts {
            try connection.sendPrepared("swb_ingest_rounds_with_contexts", Self.ingestWithContextsSQL, statement.parameters)
        } else {
            try connection.sendPrepared("swb_ingest_rounds_arrays", Self.ingestSQL, statement.parameters)
        }
    }

    /// Waits for the statement's answers (it is committed once they are in) and reads them.
    public func receive(_ statement: IngestStatement) throws -> IngestAnswer {
        try Self.answer(statement, try connection.receiveResult())
    }

    /// Waits for the statement's answers (it is committed once they are in) without reading them:
    /// a caller with the next batch ready sends it first, then reads these with `answer`.
    public func receiveResult(_ statement: IngestStatement) throws -> PostgresResult {
        try connection.receiveResult()
    }

    /// The batch's outcomes, in its order, and the contexts read with it, from the function's
    /// answers, read from libpq's result in place (no array of strings per row).
    public static func answer(_ statement: IngestStatement, _ answer: PostgresResult) throws -> IngestAnswer {
        let records = statement.records
        guard answer.rowCount == records.count else {
            throw PostgresError(
                code: .unexpectedResult, message: "the ingest statement answered \(answer.rowCount) rows for \(records.count) messages")
        }
        // Each record's row in the answer, -1 until one answers it.
        var rowOf = [Int](repeating: -1, count: records.count)
        var contexts: [Int64: [UInt8]] = [:]
        let readsContexts = answer.columnCount > 9
        for row in 0..<answer.rowCount {
            guard let position = answer.int64(row, 0).map(Int.init), statement.order.indices.contains(position - 1) else {
                throw PostgresError(code: .unexpectedResult, message: "the ingest statement answered an unknown position")
            }
            rowOf[statement.order[position - 1]] = row
            if readsContexts, let context = answer.bytes(row, 9), let interaction = answer.int64(row, 2) { contexts[interaction] = context }
        }
        let outcomes = try records.indices.map { index in
            guard rowOf[index] >= 0 else {
                throw PostgresError(code: .unexpectedResult, message: "the ingest statement left a message unanswered")
            }
            return try Self.outcome(records[index], answer, row: rowOf[index], receivedAtMs: statement.receivedAtMs)
        }
        return IngestAnswer(outcomes: outcomes, contexts: contexts)
    }

    /// What two messages of one round must not share, hashed: its (gateway, message id) and each of
    /// its identities. Two different keys with the same hash only put a message a round later,
    /// which is as correct, so each key's text is hashed once here and not again in the lookups.
    private static func roundKeys(_ record: IngestRecord) -> [Int] {
        var keys: [Int] = []
        keys.reserveCapacity(1 + record.identities.count)
        var message = Hasher()
        message.combine(record.gateway)
        message.combine(record.publish.messageID)
        keys.append(message.finalize())
        for identity in record.identities {
            var hasher = Hasher()
            hasher.combine(identity.kind)
            hasher.combine(identity.value)
            keys.append(hasher.finalize())
        }
        return keys
    }

    /// Each element's round, from 1: one after the round of the last earlier element it shares a
    /// key with (so elements without shared keys are all in the first, and a key's n-th element is
    /// in the n-th round at the earliest).
    static func rounds<Key: Hashable>(_ count: Int, keys: (Int) -> [Key]) -> [Int] {
        var lastRound: [Key: Int] = [:]
        lastRound.reserveCapacity(count * 2)
        var rounds: [Int] = []
        rounds.reserveCapacity(count)
        for index in 0..<count {
            let keys = keys(index)
            let round = (keys.compactMap { lastRound[$0] }.max() ?? 0) + 1
            for key in keys { lastRound[key] = round }
            rounds.append(round)
        }
        return rounds
    }

    /// The statement of a batch: `swb_ingest_rounds_arrays` with one binary array per field, its
    /// answers unnested here into a row per message (one function call fewer than
    /// `swb_ingest_rounds`, which does the same).
    static let ingestSQL = """
        SELECT a.position, a.outcome, a.interaction_id, a.customer_id, a.queue, a.delivery_id, a.alternative, a.conversation_id, a.owner
          FROM swb_ingest_rounds_arrays($1::integer[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                                        $8::text[], $9::text[], $10::smallint[], $11::text[], $12::text[], $13::bytea[], $14::jsonb[],
                                        $15::bigint[], $16::text[], $17::integer[], $18::text[], $19::text[], $20::text[], $21::text[],
                                        $22::text[], $23::text[], $24::text[], $25::text[], $26::text[], $27::jsonb[],
                                        $28::text[], $29::text[], $30::text[], $31::jsonb[], $32::text[], $33::jsonb[],
                                        to_timestamp($34::bigint / 1000.0)) r
         CROSS JOIN LATERAL unnest(r.o_position, r.o_outcome, r.o_interaction_id, r.o_customer_id, r.o_queue, r.o_delivery_id,
                                   r.o_alternative, r.o_conversation_id, r.o_owner)
               AS a (position, outcome, interaction_id, customer_id, queue, delivery_id, alternative, conversation_id, owner)
        """

    /// The same, with the customers' contexts of the messages marked in $1 (`swb_ingest_rounds_with_contexts`).
    static let ingestWithContextsSQL = """
        SELECT o_position, o_outcome, o_interaction_id, o_customer_id, o_queue, o_delivery_id, o_alternative, o_conversation_id, o_owner,
               o_context
          FROM swb_ingest_rounds_with_contexts(
                   $1::boolean[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[],
                   $10::text[], $11::smallint[], $12::text[], $13::text[], $14::bytea[], $15::jsonb[], $16::bigint[], $17::text[],
                   $18::integer[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[],
                   $27::text[], $28::jsonb[], $29::text[], $30::text[], $31::text[], $32::jsonb[], $33::text[], $34::jsonb[],
                   to_timestamp($35::bigint / 1000.0))
        """

    /// The parameters of `swb_ingest_rounds`: where each round ends in `order` (the records'
    /// indexes by round), then each field as an array in PostgreSQL's binary format, one element per message,
    /// so nothing is escaped here or parsed there (this runs once per stored message).
    static func batchColumns(_ records: [IngestRecord], in order: [Int], roundEnds: [Int32], receivedAtMs: Int64) -> [PostgresValue] {
        var ends = PostgresArray<Int32>()
        for end in roundEnds { ends.append(end) }
        var columns = IngestColumns()
        for index in order { columns.append(records[index]) }
        return [ends.parameter()] + columns.parameters + [.init(receivedAtMs)]
    }

    /// The fields of `swb_ingest_rounds` after the round ends, one binary array each.
    private struct IngestColumns {
        var gateway = PostgresArray<String>(), messageID = PostgresArray<String>(), channel = PostgresArray<String>()
        var occurredAt = PostgresArray<Int64>(), name = PostgresArray<String>(), intent = PostgresArray<String>()
        var queue = PostgresArray<String>(), language = PostgresArray<String>(), priority = PostgresArray<Int16>()
        var contentType = PostgresArray<String>(), bodyText = PostgresArray<String>(), bodyBytes = PostgresArray<PostgresBytes>()
        var attributes = PostgresArray<PostgresJSONB>(), deadline = PostgresArray<Int64>(), routeReason = PostgresArray<String>()
        var routingVersion = PostgresArray<Int32>(), fingerprint = PostgresArray<String>(), phone = PostgresArray<String>()
        var email = PostgresArray<String>(), external = PostgresArray<String>(), device = PostgresArray<String>()
        var taskLanguage = PostgresArray<String>(), requiredSkills = PostgresArray<String>(), optionalSkills = PostgresArray<String>()
        var ruleID = PostgresArray<String>(), alternatives = PostgresArray<PostgresJSONB>()
        var fax = PostgresArray<String>(), chat = PostgresArray<String>(), social = PostgresArray<String>()
        var unverified = PostgresArray<PostgresJSONB>(), customerKind = PostgresArray<String>()
        var extra = PostgresArray<PostgresJSONB>()
        /// The last skill list written as a literal, and the literal: a batch's tasks share a few lists.
        var lastSkills: (skills: [String], literal: String)?

        mutating func literal(_ skills: [String]) -> String? {
            guard !skills.isEmpty else { return nil }
            if let last = lastSkills, last.skills == skills { return last.literal }
            let literal = Store.textArrayLiteral(skills)
            lastSkills = (skills, literal)
            return literal
        }

        mutating func append(_ record: IngestRecord) {
            gateway.append(record.gateway)
            messageID.append(record.publish.messageID)
            channel.append(record.publish.channel)
            occurredAt.append(record.publish.occurredAt)
            name.append(record.publish.hints.name)
            intent.append(record.publish.intent)
            queue.append(record.route.queue)
            language.append(record.publish.language)
            priority.append(Int16(clamping: record.route.priority))
            contentType.append(record.publish.contentType)
            // A text body as its bytes: the decoder checked them, so no string is made of them.
            let text = record.publish.textBytes
            bodyText.append(utf8: text)
            bodyBytes.append(text == nil ? PostgresBytes(record.publish.body) : nil)
            attributes.append(
                record.publish.attributes.isEmpty
                    ? nil : PostgresJSONB(JSONWriter.bytes(.object(record.publish.attributes.mapValues(JSONValue.string)))))
            deadline.append(record.route.deadline)
            routeReason.append(record.route.reason)
            routingVersion.append(Int32(clamping: record.routingVersion))
            MessageFingerprint.withFingerprint(of: record.publish, textBytes: text) { fingerprint.append(utf8: $0) }
            // One hint of each kind at most: the protocol has one field per kind.
            func hint(_ kind: NormalizedIdentity.Kind) -> String? { record.identities.first { $0.kind == kind }?.value }
            phone.append(hint(.phone))
            email.append(hint(.email))
            external.append(hint(.external))
            device.append(hint(.device))
            fax.append(hint(.fax))
            chat.append(hint(.chat))
            social.append(hint(.social))
            unverified.append(
                record.unverified.isEmpty
                    ? nil
                    : PostgresJSONB(
                        JSONWriter.bytes(
                            .object(Dictionary(record.unverified.map { ($0.kind.rawValue, JSONValue.string($0.value)) }) { first, _ in first }))))
            customerKind.append(record.publish.hints.kind?.rawValue)
            extra.append(Self.extra(record).map { PostgresJSONB(JSONWriter.bytes($0)) })
            let needs = record.route.needs
            taskLanguage.append(needs.language)
            // Each task's skills as one array literal, cast in the statement: PostgreSQL's arrays
            // of arrays must all have one length. None (most tasks) is NULL, and stays NULL in the row.
            requiredSkills.append(literal(needs.skills))
            optionalSkills.append(literal(needs.optionalSkills))
            ruleID.append(record.route.rule)
            alternatives.append(record.route.alternatives.isEmpty ? nil : PostgresJSONB(alternativesJSON(record.route.alternatives)))
        }

        /// A decision's alternatives as `swb_route_pick` reads them: each its conditions on the
        /// customer, and the route the ingest statement writes when the customer meets them.
        mutating func alternativesJSON(_ alternatives: [RouteDecision.Alternative]) -> [UInt8] {
            JSONWriter.bytes(
                .array(
                    alternatives.map { alternative in
                        let decision = alternative.decision
                        var members = alternative.condition.json
                        members["queue"] = .string(decision.queue)
                        members["priority"] = .integer(Int64(decision.priority))
                        members["deadline"] = .integer(decision.deadline)
                        members["reason"] = .string(decision.reason)
                        if let rule = decision.rule { members["rule"] = .string(rule) }
                        if let skills = literal(decision.needs.skills) { members["skills"] = .string(skills) }
                        if let skills = literal(decision.needs.optionalSkills) { members["optional_skills"] = .string(skills) }
                        return .object(members)
                    }))
        }

        var parameters: [PostgresValue] {
            [
                gateway.parameter(), messageID.parameter(), channel.parameter(), occurredAt.parameter(), name.parameter(), intent.parameter(),
                queue.parameter(), language.parameter(), priority.parameter(), contentType.parameter(), bodyText.parameter(),
                bodyBytes.parameter(), attributes.parameter(), deadline.parameter(), routeReason.parameter(), routingVersion.parameter(),
                fingerprint.parameter(), phone.parameter(), email.parameter(), external.parameter(), device.parameter(),
                taskLanguage.parameter(), requiredSkills.parameter(), optionalSkills.parameter(), ruleID.parameter(), alternatives.parameter(),
                fax.parameter(), chat.parameter(), social.parameter(), unverified.parameter(), customerKind.parameter(),
                extra.parameter(),
            ]
        }

        /// What a message carries beyond the common columns, as the ingest statement's p_extra
        /// reads it: its feedback, its thread hint, an opt-out; nil (NULL) for most messages.
        static func extra(_ record: IngestRecord) -> JSONValue? {
            let publish = record.publish
            guard publish.feedback != nil || publish.thread != nil || record.optOut else { return nil }
            var members: [String: JSONValue] = [:]
            if let feedback = publish.feedback { members["feedback"] = feedback.json }
            if let thread = publish.thread { members["thread"] = .string(thread) }
            if record.optOut { members["opt_out"] = .bool(true) }
            return .object(members)
        }
    }

    private static func outcome(_ record: IngestRecord, _ answer: PostgresResult, row: Int, receivedAtMs: Int64) throws -> IngestOutcome {
        guard let outcome = answer.string(row, 1), let interactionID = answer.int64(row, 2), let customerID = answer.int64(row, 3),
            let queue = answer.string(row, 4)
        else {
            throw PostgresError(code: .unexpectedResult, message: "swb_ingest answered an incomplete row")
        }
        let messageID = record.publish.messageID
        // The alternative route the customer met, if any: the statement wrote that one.
        var route = record.route
        if let pick = answer.int64(row, 6).map(Int.init), route.alternatives.indices.contains(pick) { route = route.alternatives[pick].decision }
        switch outcome {
        case "duplicate":
            return .duplicate(Ack(messageID: messageID, interactionID: interactionID, customerID: customerID, queue: queue, duplicate: true))
        case "conflict":
            return .conflict(
                messageID: messageID,
                original: Ack(messageID: messageID, interactionID: interactionID, customerID: customerID, queue: queue, duplicate: true))
        default:
            guard let deliveryID = answer.int64(row, 5) else {
                throw PostgresError(code: .unexpectedResult, message: "swb_ingest stored a message without a delivery")
            }
            let summary = InteractionSummary(
                id: interactionID, gateway: record.gateway, messageID: messageID, channel: record.publish.channel,
                occurredAt: record.publish.occurredAt, receivedAt: receivedAtMs, intent: record.publish.intent,
                language: record.publish.language, contentType: record.publish.contentType, attributes: record.publish.attributes,
                routeReason: route.reason, conversationID: answer.int64(row, 7))
            let task = DispatchTask(
                deliveryID: deliveryID, queue: queue, priority: route.priority, deadline: route.deadline,
                payload: TaskPayload(
                    interaction: summary, customerID: customerID, body: record.publish.body, needs: route.needs,
                    conversationOwner: answer.string(row, 8)))
            return .stored(Ack(messageID: messageID, interactionID: interactionID, customerID: customerID, queue: queue, duplicate: false), task)
        }
    }

    /// Strings as a `text[]` literal, each element quoted, so any text survives.
    static func textArrayLiteral(_ values: [String]) -> String {
        var literal = "{"
        for (index, value) in values.enumerated() {
            if index > 0 { literal += "," }
            literal += "\""
            for character in value {
                if character == "\\" || character == "\"" { literal += "\\" }
                literal.append(character)
            }
            literal += "\""
        }
        return literal + "}"
    }

    /// The strings of a JSON array (a `text[]` column read as `to_json`).
    static func strings(json: String?) throws -> [String] {
        guard case .array(let elements) = try parseJSON(json) else { return [] }
        return elements.compactMap { if case .string(let text) = $0 { text } else { nil } }
    }

    /// A `bigint[]` parameter in PostgreSQL's array text form.
    static func bigintArray(_ values: [Int64]) -> PostgresValue { .text("{" + values.map(String.init).joined(separator: ",") + "}") }

    /// SQL for a timestamptz column as Unix milliseconds.
    static func ms(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000)::bigint" }

    // MARK: Customer context

    /// Which task a context is read for: its interaction, when that was received, and whose it is.
    public struct ContextKey: Hashable, Sendable {
        public var interactionID: Int64
        public var receivedAtMs: Int64
        public var customerID: Int64

        public init(_ payload: TaskPayload) {
            self.init(interactionID: payload.interaction.id, receivedAtMs: payload.interaction.receivedAt, customerID: payload.customerID)
        }

        public init(interactionID: Int64, receivedAtMs: Int64, customerID: Int64) {
            self.interactionID = interactionID
            self.receivedAtMs = receivedAtMs
            self.customerID = customerID
        }
    }

    /// The context each of these tasks carries (`swb_task_contexts`), by interaction: its
    /// customer's profile, identities and the five latest contacts up to the task's own; as
    /// PostgreSQL writes the JSON (the hub passes it on in the TASK without reading it).
    public func contexts(of tasks: [ContextKey]) throws -> [Int64: [UInt8]] {
        guard !tasks.isEmpty else { return [:] }
        var contexts: [Int64: [UInt8]] = [:]
        var interactions = PostgresArray<Int64>(), receivedAt = PostgresArray<Int64>(), customers = PostgresArray<Int64>()
        for task in tasks {
            interactions.append(task.interactionID)
            receivedAt.append(task.receivedAtMs)
            customers.append(task.customerID)
        }
        for row in try connection.queryPrepared(
            "swb_task_contexts",
            """
            SELECT o_interaction_id, o_context
              FROM swb_task_contexts($1::bigint[], ARRAY(SELECT to_timestamp(r / 1000.0) FROM unnest($2::bigint[]) WITH ORDINALITY AS m (r, n) ORDER BY n),
                                     $3::bigint[])
            """,
            [interactions.parameter(), receivedAt.parameter(), customers.parameter()]
        ).rows {
            guard let id = row[0].flatMap({ Int64($0) }), let context = row[1] else { continue }
            contexts[id] = Array(context.utf8)
        }
        return contexts
    }

    // MARK: Dead letters

    /// Puts dead deliveries back in their queue with a fresh attempt count; the hub offers them
    /// again at its next rescan. Narrow it to a queue, to delivery ids, or to those that died in
    /// a time range (Unix ms, `from` inclusive, `until` exclusive). Each gets a `replayed` event.
    /// Answers the ids replayed, in order.
    public func replayDead(queue: String? = nil, deliveryIDs: [Int64] = [], diedFrom: Int64? = nil, diedUntil: Int64? = nil) throws -> [Int64] {
        try connection.query(
            """
            WITH replayed AS (
                UPDATE deliveries SET state = 'pending', attempts = 0, not_before = NULL, worker = NULL, owner = NULL,
                       lease_until = NULL, completed_at = NULL, last_error = 'replayed after: ' || coalesce(last_error, 'dead')
                 WHERE state = 'dead' AND ($1::text IS NULL OR queue = $1) AND (cardinality($2::bigint[]) = 0 OR id = ANY($2::bigint[]))
                   AND ($3::bigint IS NULL OR completed_at >= to_timestamp($3::bigint / 1000.0))
                   AND ($4::bigint IS NULL OR completed_at < to_timestamp($4::bigint / 1000.0))
                RETURNING id, interaction_id, queue, last_error
            ), events AS (
                INSERT INTO delivery_events (delivery_id, interaction_id, queue, kind, hub, attempt, detail)
                SELECT id, interaction_id, queue, 'replayed', $5, 0, last_error FROM replayed
            )
            SELECT id FROM replayed ORDER BY id
            """,
            [
                .init(queue), Self.bigintArray(deliveryIDs), diedFrom.map(PostgresValue.init) ?? .null,
                diedUntil.map(PostgresValue.init) ?? .null, .text(owner),
            ]
        ).rows.compactMap { $0[0].flatMap { Int64($0) } }
    }

    // MARK: Quarantine

    /// Quarantine entries, oldest first.
    public func quarantined(_ selection: QuarantineSelection) throws -> [QuarantinedInput] {
        try connection.query(
            """
            SELECT id, \(Self.ms("received_at")), role, peer, message_id, code, reason, encode(raw, 'hex'), replayed_at IS NOT NULL
              FROM quarantine
             WHERE (cardinality($1::bigint[]) = 0 OR id = ANY($1::bigint[])) AND ($2::text IS NULL OR code = $2)
               AND ($3::text IS NULL OR peer = $3) AND ($4 OR replayed_at IS NULL) AND id > $6
             ORDER BY id LIMIT $5
            """,
            [
                Self.bigintArray(selection.ids), .init(selection.code), .init(selection.peer), .init(selection.includeReplayed),
                .init(selection.limit), .init(selection.afterID),
            ]
        ).rows.map { row in
            QuarantinedInput(
                id: row[0].flatMap { Int64($0) } ?? 0, receivedAt: row[1].flatMap { Int64($0) } ?? 0, role: row[2] ?? "", peer: row[3] ?? "",
                messageID: row[4], code: row[5] ?? "", reason: row[6] ?? "", frames: QuarantineEntry.frames(fromRaw: Hex.decode(row[7] ?? "")),
                replayed: row[8] == "t")
        }
    }

    /// Records that these entries were replayed and their messages are stored.
    public func markReplayed(_ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        _ = try connection.query("UPDATE quarantine SET replayed_at = now() WHERE id = ANY($1::bigint[])", [Self.bigintArray(ids)])
    }

    /// Keeps refused input with its raw frames.
    public func quarantine(_ entries: [QuarantineEntry]) throws {
        guard !entries.isEmpty else { return }
        try connection.transaction {
            for entry in entries {
                try connection.queryPrepared(
                    "swb_quarantine",
                    "INSERT INTO quarantine (role, peer, message_id, code, reason, frame_count, raw) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    [
                        .text(entry.role), .text(entry.peer), .init(entry.messageID), .text(entry.code), .text(entry.reason),
                        .init(entry.frames.count), .bytes(entry.raw),
                    ])
            }
        }
    }
}

func parseJSON(_ text: String?) throws -> JSONValue {
    guard let text else { return .null }
    do {
        return try JSONParser.parse(Array(text.utf8), maxDepth: 64)
    } catch {
        throw PostgresError(code: .unexpectedResult, message: "invalid JSON from the database: \(error.reason)")
    }
}
