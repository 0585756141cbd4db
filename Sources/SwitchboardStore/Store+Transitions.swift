import Foundation
import Postgres
import SwitchboardCore
import SwitchboardProtocol

/// Dispatch transitions: offers, outcomes and retries of deliveries, written in batches.
extension Store {
    /// Writes dispatch transitions in one statement; answers, in order, whether each applied.
    ///
    /// Set-based (`swb_apply_batch`) in rounds: a delivery's second write in the batch goes in the
    /// round after its first, so each round updates a delivery at most once and the order of its
    /// transitions is kept. An offer followed by its worker's DONE, with nothing for that delivery
    /// between them (a quick worker: under load, most deliveries), is one write, `offer_done`,
    /// which leaves the row as the two would: one row version instead of two. Both answer applied
    /// if it did.
    ///
    /// Each transition is written with the time it was decided (`at`, Unix milliseconds; now
    /// when not given), and its event goes to `delivery_events` in the same statement: the history
    /// says when the hub offered and when the worker answered, not when a batch happened to commit.
    public func apply(_ transitions: [DeliveryTransition], at times: [Int64]? = nil) throws -> [Bool] {
        try applyRecording(transitions, at: times, returningEvents: false).applied
    }

    /// `apply`, also answering (when `returningEvents`) the events the batch appended to
    /// `delivery_events`, in id order: they are read back only when someone will publish them.
    public func applyRecording(_ transitions: [DeliveryTransition], at times: [Int64]? = nil, returningEvents: Bool = true) throws -> (
        applied: [Bool], events: [StoredEvent]
    ) {
        guard !transitions.isEmpty else { return ([], []) }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let writes = Self.writes(transitions, at: times ?? Array(repeating: now, count: transitions.count))
        let rounds = Self.rounds(writes.count) { [writes[$0].deliveryID] }
        let answer = try connection.queryPrepared(
            "swb_apply_batch", Self.applySQL, Self.transitionColumns(writes, rounds: rounds, owner: owner) + [.init(returningEvents)])
        var applied = [Bool](repeating: false, count: transitions.count)
        var events: [StoredEvent] = []
        for row in answer.rows {
            guard let position = row[0] else {
                events.append(try StoredEvent(row: Array(row[1...]), hub: owner))
                continue
            }
            guard let index = Int(position), writes.indices.contains(index) else {
                throw PostgresError(code: .unexpectedResult, message: "swb_apply_batch answered an unknown position")
            }
            for transition in writes[index].transitions { applied[transition] = true }
        }
        events.sort { $0.id < $1.id }
        return (applied, events)
    }

    /// A transition batch's answer: whether each transition applied, and what the store holds of
    /// each checked delivery after the batch (a delivery not there does not exist).
    public struct AppliedBatch: Sendable {
        public var applied: [Bool]
        public var stored: [Int64: AnswerCheck.Stored]
        /// The events the batch appended, to publish, if they were read back (`eventsRead`).
        public var events: [StoredEvent]
        public var eventsRead: Bool
        /// When its first transition was decided (Unix ms).
        public var decidedFrom: Int64?

        public init(
            applied: [Bool], stored: [Int64: AnswerCheck.Stored], events: [StoredEvent] = [], eventsRead: Bool = false, decidedFrom: Int64? = nil
        ) {
            self.applied = applied
            self.stored = stored
            self.events = events
            self.eventsRead = eventsRead
            self.decidedFrom = decidedFrom
        }
    }

    /// The state, worker and outcome of these deliveries now, for answering a worker's DONE or FAIL
    /// that memory could not place.
    public func answerStates(of ids: [Int64]) throws -> [Int64: AnswerCheck.Stored] {
        guard !ids.isEmpty else { return [:] }
        let rows = try connection.queryPrepared(
            "swb_answer_states", "SELECT d.id, d.state, d.worker, d.outcome FROM deliveries d WHERE d.id = ANY($1::bigint[])",
            [Self.bigintArray(ids)]
        ).rows
        var stored: [Int64: AnswerCheck.Stored] = [:]
        for row in rows {
            guard let id = row[0].flatMap({ Int64($0) }) else { continue }
            stored[id] = AnswerCheck.Stored(state: row[1] ?? "", worker: row[2], outcome: row[3])
        }
        return stored
    }

    static let applySQL = """
        SELECT * FROM swb_apply_batch($1::integer[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::bigint[], $7::text[],
                                            $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[], $13::bigint[], $14::bigint[],
                                            $15::jsonb[], $16::text, $17::boolean)
        """

    /// One row of `swb_apply_batch`: the transitions it writes (their indexes in the batch), and
    /// what it writes; fields its op does not have are nil.
    struct TransitionWrite {
        var transitions: [Int]
        var op: String
        var deliveryID: Int64
        var worker: String? = nil
        var attempt: Int? = nil
        var leaseUntil: Int64? = nil
        var outcome: String? = nil
        var notes: String? = nil
        var notBefore: Int64? = nil
        var error: String? = nil
        var event: DeliveryEvent
        /// When it was decided; for `offer_done`, when the offer was.
        var at: Int64
        /// For `offer_done`: when the DONE came.
        var doneAt: Int64? = nil
        /// For `transfer`: the next leg, as a JSON object; for `escalate`, the change; for `done`
        /// and `offer_done`, the DONE's report (resolution, feedback, customer updates), if any.
        var leg: [UInt8]? = nil
        /// Offers name the hub that holds the lease.
        var offers: Bool { op == "offer" || op == "offer_done" }
    }

    /// The batch's writes in order, each offer followed by its worker's DONE (and nothing else for
    /// that delivery between them) written as one `offer_done` in the offer's place.
    static func writes(_ transitions: [DeliveryTransition], at times: [Int64]) -> [TransitionWrite] {
        var writes: [TransitionWrite] = []
        writes.reserveCapacity(transitions.count)
        // Each delivery whose latest write so far is an offer: that write.
        var openOffers: [Int64: Int] = [:]
        for (index, (transition, at)) in zip(transitions, times).enumerated() {
            let id = transition.deliveryID
            if case .done(_, let worker, let outcome, let notes, let report) = transition, let offer = openOffers.removeValue(forKey: id),
                writes[offer].worker == worker
            {
                writes[offer].op = "offer_done"
                writes[offer].leaseUntil = nil
                writes[offer].outcome = outcome
                writes[offer].notes = notes
                writes[offer].leg = report
                writes[offer].doneAt = at
                writes[offer].transitions.append(index)
                continue
            }
            openOffers[id] = nil
            var write = TransitionWrite(transitions: [index], op: "", deliveryID: id, event: transition.event, at: at)
            switch transition {
            case .offered(_, let worker, let attempt, let leaseUntil):
                openOffers[id] = writes.count
                (write.op, write.worker, write.attempt, write.leaseUntil) = ("offer", worker, attempt, leaseUntil)
            case .accepted(_, let worker):
                (write.op, write.worker) = ("accept", worker)
            case .done(_, let worker, let outcome, let notes, let report):
                (write.op, write.worker, write.outcome, write.notes, write.leg) = ("done", worker, outcome, notes, report)
            case .retry(_, let notBefore, let reason, _, let worker):
                (write.op, write.worker, write.notBefore, write.error) = ("retry", worker, notBefore, reason)
            case .rejected(_, let worker, let reason):
                (write.op, write.worker, write.error) = ("reject", worker, reason)
            case .dead(_, let reason):
                (write.op, write.error) = ("dead", reason)
            case .transferred(_, let worker, let reason, let leg):
                (write.op, write.worker, write.error, write.leg) = ("transfer", worker, reason, Self.legJSON(leg))
            case .escalated(_, let queue, let priority, let relaxed, let escalations, let detail):
                let change: JSONValue = .object([
                    "queue": .string(queue), "priority": .integer(Int64(priority)), "relaxed": .bool(relaxed),
                    "escalations": .integer(Int64(escalations)),
                ])
                (write.op, write.error, write.leg) = ("escalate", detail, JSONWriter.bytes(change))
            }
            writes.append(write)
        }
        return writes
    }

    /// A transfer's next leg as `swb_apply_batch` reads it.
    static func legJSON(_ leg: TransferLeg) -> [UInt8] {
        var object: [String: JSONValue] = [
            "queue": .string(leg.queue), "priority": .integer(Int64(leg.priority)), "deadline": .integer(leg.deadline),
            "skills": .array(leg.needs.skills.map(JSONValue.string)), "optional_skills": .array(leg.needs.optionalSkills.map(JSONValue.string)),
        ]
        if let language = leg.needs.language { object["language"] = .string(language) }
        return JSONWriter.bytes(.object(object))
    }

    /// The parameters of `swb_apply_batch`: each write's round, then each of its fields as a
    /// binary array, NULL where a write has no such field; offers name this hub as the owner.
    private static func transitionColumns(_ writes: [TransitionWrite], rounds: [Int], owner: String) -> [PostgresValue] {
        var round = PostgresArray<Int32>()
        var op = PostgresArray<String>(), id = PostgresArray<Int64>(), worker = PostgresArray<String>()
        var attempt = PostgresArray<Int32>(), leaseUntil = PostgresArray<Int64>(), owners = PostgresArray<String>()
        var outcome = PostgresArray<String>(), notes = PostgresArray<String>(), notBefore = PostgresArray<Int64>()
        var error = PostgresArray<String>(), event = PostgresArray<String>(), at = PostgresArray<Int64>(), doneAt = PostgresArray<Int64>()
        var leg = PostgresArray<PostgresJSONB>()
        for (write, number) in zip(writes, rounds) {
            round.append(Int32(clamping: number))
            op.append(write.op)
            id.append(write.deliveryID)
            worker.append(write.worker)
            attempt.append(write.attempt.map { Int32(clamping: $0) })
            leaseUntil.append(write.leaseUntil)
            owners.append(write.offers ? owner : nil)
            outcome.append(write.outcome)
            notes.append(write.notes)
            notBefore.append(write.notBefore)
            error.append(write.error)
            event.append(write.event.rawValue)
            at.append(write.at)
            doneAt.append(write.doneAt)
            leg.append(write.leg.map(PostgresJSONB.init))
        }
        return [
            round.parameter(), op.parameter(), id.parameter(), worker.parameter(), attempt.parameter(), leaseUntil.parameter(), owners.parameter(),
            outcome.parameter(), notes.parameter(), notBefore.parameter(), error.parameter(), event.parameter(), at.parameter(), doneAt.parameter(),
            leg.parameter(), .text(owner),
        ]
    }
}
