import Postgres
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import Testing

@Suite("Batch ingest in PostgreSQL")
struct StoreIngestTests {
    static let route = RouteDecision(process: .support, queue: "support", priority: 0, deadline: 1_790_000_060_000, reason: "default")

    func record(_ id: String, _ text: String = "help", gateway: String = "gw", name: String? = nil, identities: [NormalizedIdentity]) -> IngestRecord
    {
        var publish = Messages.publish(id, text)
        publish.hints.name = name ?? publish.hints.name
        return IngestRecord(gateway: gateway, publish: publish, identities: identities, route: Self.route, routingVersion: 1)
    }

    /// The customer a stored message was given; -1 for any other outcome.
    static func storedCustomer(_ outcome: IngestOutcome) -> Int64 {
        if case .stored(let ack, _) = outcome { return ack.customerID }
        return -1
    }

    func store(_ database: TestDatabase) throws -> Store {
        let store = try Store(conninfo: database.conninfo, owner: "test")
        _ = try store.registerRouting(["rules": "test"])
        return store
    }

    @Test("a refill counts the pending deliveries the caller holds and loads only the others, in dispatch order")
    func refillSkipsHeld() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let ids = try store.ingest((1...6).map { record("p-\($0)", "text \($0)", identities: []) }, receivedAtMs: 1_790_000_000_000).map {
            outcome -> Int64 in
            guard case .stored(_, let task) = outcome else { throw TestSetupError("not stored: \(outcome)") }
            return task.deliveryID
        }
        func load(_ limit: Int, skipping held: [Int64]) throws -> (Int, [Int64]) {
            let page = try store.loadPending(queue: "support", limit: limit, skipping: Set(held))
            return (page.found, page.tasks.map(\.deliveryID))
        }
        #expect(try load(4, skipping: []) == (4, Array(ids[0..<4])))
        #expect(try load(4, skipping: Array(ids[0..<3])) == (4, [ids[3]]))
        #expect(try load(10, skipping: ids) == (6, []))
        // What is loaded is whole: its interaction and body.
        let loaded = try #require(try store.loadPending(queue: "support", limit: 6, skipping: Set(ids[0..<5])).tasks.first)
        #expect(loaded.deliveryID == ids[5])
        #expect(loaded.payload.body == Array("text 6".utf8))
        // A delivery no longer pending is neither counted nor loaded.
        _ = try database.connect().query("UPDATE deliveries SET state = 'done' WHERE id = $1", [.init(ids[4])])
        #expect(try load(10, skipping: [ids[0]]) == (5, [ids[1], ids[2], ids[3], ids[5]]))
    }

    @Test("a message repeated inside one batch is stored once; a repeat with other content is a conflict")
    func repeatsWithinABatch() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let phone = NormalizedIdentity(kind: .phone, value: "+989121234567")
        let outcomes = try store.ingest(
            [
                record("m-1", identities: [phone]), record("m-2", identities: []), record("m-1", identities: [phone]),
                record("m-1", "other", identities: [phone]),
            ],
            receivedAtMs: 1_790_000_000_000)
        guard case .stored(let first, _) = outcomes[0], case .stored(let second, _) = outcomes[1],
            case .duplicate(let repeated) = outcomes[2], case .conflict(_, let original) = outcomes[3]
        else {
            Issue.record("unexpected outcomes \(outcomes)")
            return
        }
        #expect(second.messageID == "m-2")
        #expect(repeated.interactionID == first.interactionID)
        #expect(repeated.customerID == first.customerID)
        #expect(original.interactionID == first.interactionID)
        #expect(try database.count("SELECT count(*) FROM interactions") == 2)
        #expect(try database.count("SELECT count(*) FROM deliveries") == 2)
    }

    @Test("a re-send is the same message if its channel, content type and body are: other fields may differ, those may not")
    func sameMessageIsItsContent() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let original = Messages.publish("m-1", "my order never came")
        guard
            case .stored(let first, _) = try store.ingest([record("m-1", "my order never came", identities: [])], receivedAtMs: 1_790_000_000_000)[0]
        else {
            Issue.record("the original was not stored")
            return
        }
        var otherFields = original
        otherFields.occurredAt += 60_000
        otherFields.hints = IdentityHints(phone: "+989121234567", name: "Sara")
        otherFields.attributes = ["order": "42"]
        var otherChannel = original
        otherChannel.channel = "sms"
        var otherType = original
        otherType.contentType = "text/html"
        var otherBody = original
        otherBody.body = Array("my order came twice".utf8)
        let outcomes = try store.ingest(
            [otherFields, otherChannel, otherType, otherBody].map { publish in
                IngestRecord(gateway: "gw", publish: publish, identities: [], route: Self.route, routingVersion: 1)
            }, receivedAtMs: 1_790_000_100_000)
        guard case .duplicate(let again) = outcomes[0] else {
            Issue.record("a re-send with other hints, attributes and time was not a duplicate: \(outcomes[0])")
            return
        }
        #expect(again.interactionID == first.interactionID)
        for outcome in outcomes.dropFirst() {
            guard case .conflict = outcome else {
                Issue.record("a re-send with another channel, content type or body was not a conflict: \(outcome)")
                continue
            }
        }
        #expect(try database.count("SELECT count(*) FROM interactions") == 1)
    }

    @Test("messages of one batch that share a new identity become one customer, in batch order")
    func newCustomersWithinABatch() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let phone = NormalizedIdentity(kind: .phone, value: "+79123456789")
        let email = NormalizedIdentity(kind: .email, value: "ivan@example.com")
        let outcomes = try store.ingest(
            [
                record("a", identities: [phone]), record("b", identities: [email, phone]), record("c", identities: [email]),
                record("d", identities: []),
            ],
            receivedAtMs: 1_790_000_000_000)
        let customers = outcomes.map(Self.storedCustomer)
        #expect(customers[0] == customers[1])
        #expect(customers[1] == customers[2])
        #expect(customers[3] != customers[0])
        #expect(try database.count("SELECT count(*) FROM customers") == 2)
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE customer_id = $1", [.init(customers[0])]) == 2)
        guard case .stored(_, let task) = outcomes[2] else { return }
        #expect(task.payload.customerID == customers[2])
        let context = try store.contexts(of: [Store.ContextKey(task.payload)])[task.payload.interaction.id].map { try JSONParser.parse($0) }
        #expect(context?["identities"] == [["kind": "email", "value": "ivan@example.com"], ["kind": "phone", "value": "+79123456789"]])
    }

    /// The probes go through the hash index on value (`probesByHashFromAnEmptyTable`): it is
    /// the kind checked on the row that tells these two apart.
    @Test("identities of different kinds with the same value belong to their own customers")
    func sameValueOtherKind() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let external = NormalizedIdentity(kind: .external, value: "shared-7")
        let device = NormalizedIdentity(kind: .device, value: "shared-7")
        let first = try store.ingest([record("x-1", identities: [external])], receivedAtMs: 1_790_000_000_000).map(Self.storedCustomer)
        let second = try store.ingest([record("d-1", identities: [device])], receivedAtMs: 1_790_000_000_000).map(Self.storedCustomer)
        let again = try store.ingest(
            [record("x-2", identities: [external]), record("d-2", identities: [device])], receivedAtMs: 1_790_000_000_000
        ).map(Self.storedCustomer)
        #expect(first[0] > 0 && second[0] > 0)
        #expect(second[0] != first[0], "a device id is not the external id it spells")
        #expect(again == [first[0], second[0]])
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE value = 'shared-7'") == 2)
    }

    /// A hub plans the statement once per connection, with the statistics of that moment; on a
    /// new database, a plan left to choose would probe identities on the primary key for as long
    /// as the hub stayed connected, however large the table grew.
    @Test("identity probes go through the hash index on value, also when the plan was made on an empty table")
    func probesByHashFromAnEmptyTable() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let emails = (0..<20).map { NormalizedIdentity(kind: .email, value: "probe-\($0)@example.com") }
        // The first batch plans the statement on the empty table and stores the identities.
        let first = try store.ingest(
            emails.enumerated().map { record("new-\($0.offset)", identities: [$0.element]) }, receivedAtMs: 1_790_000_000_000)
        let before = try identityIndexScans(store, database)
        let again = try store.ingest(
            emails.enumerated().map { record("again-\($0.offset)", identities: [$0.element]) }, receivedAtMs: 1_790_000_000_000)
        let after = try identityIndexScans(store, database)
        #expect(again.map(Self.storedCustomer) == first.map(Self.storedCustomer))
        #expect(!first.map(Self.storedCustomer).contains(-1))
        #expect(after.byValue - before.byValue >= emails.count, "every known identity probed through the hash index")
        #expect(after.primaryKey == before.primaryKey, "no probe through the primary key")
    }

    /// Index scans of customer_identities so far, by index.
    func identityIndexScans(_ store: Store, _ database: TestDatabase) throws -> (byValue: Int, primaryKey: Int) {
        (
            try indexStatistic("idx_scan", of: "customer_identities_by_value", store, database),
            try indexStatistic("idx_scan", of: "customer_identities_pkey", store, database)
        )
    }

    /// One of an index's counts in `pg_stat_user_indexes` so far: the store's backend publishes its
    /// counts first (they are published before its answer to this query comes back).
    func indexStatistic(_ column: String, of index: String, _ store: Store, _ database: TestDatabase) throws -> Int {
        _ = try store.connection.query("SELECT pg_stat_force_next_flush()")
        return try database.count("SELECT \(column) FROM pg_stat_user_indexes WHERE indexrelname = $1", [.text(index)])
    }

    /// The plan is made once per connection from the statistics of that moment. Where they
    /// said that no customer lacks a name or is anonymous, the update of known customers read
    /// the whole table in every batch to find none, instead of the batch's own customers by key.
    @Test("a batch reads only its own customers, also when the statistics say every customer is named and known")
    func knownCustomersByKey() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        for sql in [
            "INSERT INTO customers (display_name, anonymous) SELECT 'Customer ' || n, false FROM generate_series(1, 3000) AS n",
            "INSERT INTO customer_identities (kind, value, customer_id) SELECT 'email', 'known-' || id || '@example.com', id FROM customers",
            "ANALYZE customers", "ANALYZE customer_identities",
        ] { _ = try connection.query(sql) }
        let store = try store(database)
        func customerRowsRead() throws -> Int { try indexStatistic("idx_tup_read", of: "customers_pkey", store, database) }
        let known = (1...20).map { NormalizedIdentity(kind: .email, value: "known-\($0 * 100)@example.com") }
        let before = try customerRowsRead()
        for batch in 0..<3 {
            let outcomes = try store.ingest(
                known.enumerated().map { record("b\(batch)-\($0.offset)", identities: [$0.element]) }, receivedAtMs: 1_790_000_000_000)
            #expect(outcomes.map(Self.storedCustomer) == (1...20).map { Int64($0 * 100) })
        }
        let read = try customerRowsRead() - before
        #expect(read <= 3 * known.count, "\(read) customer rows read for 60 messages of 20 known customers")
    }

    @Test("answers come in the batch's order with one delivery per stored message")
    func order() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let records = (0..<50).map { record("o-\($0)", identities: [NormalizedIdentity(kind: .device, value: "d-\($0 % 7)")]) }
        let outcomes = try store.ingest(records, receivedAtMs: 1_790_000_000_000)
        var deliveries = Set<Int64>()
        for (index, outcome) in outcomes.enumerated() {
            guard case .stored(let ack, let task) = outcome else {
                Issue.record("\(index) not stored")
                continue
            }
            #expect(ack.messageID == "o-\(index)")
            deliveries.insert(task.deliveryID)
        }
        #expect(deliveries.count == 50)
        #expect(try database.count("SELECT count(DISTINCT customer_id) FROM interactions") == 7)
    }

    /// Stored in one batch (rounds of set-based statements) or message by message, a batch must
    /// come out the same: the same outcomes, and the same messages sharing a customer.
    @Test("a batch gives the answers and customers of storing its messages one by one")
    func batchEqualsOneByOne() throws {
        var random = UInt64(0x5EED)
        func next(_ bound: Int) -> Int {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((random >> 33) % UInt64(bound))
        }
        // A small pool of identities and ids, so messages share hints and repeat ids within the batch.
        let records = (0..<300).map { _ -> IngestRecord in
            let identities = (0..<next(3)).map { _ in
                next(2) == 0
                    ? NormalizedIdentity(kind: .device, value: "d-\(next(60))") : NormalizedIdentity(kind: .email, value: "e\(next(60))@example.com")
            }
            return record("r-\(next(250))", next(4) == 0 ? "other" : "help", gateway: "gw-\(next(2))", identities: identities)
        }
        let batched = try store(try TestDatabase()).ingest(records, receivedAtMs: 1_790_000_000_000)
        let single = try store(try TestDatabase())
        let oneByOne = try records.map { try single.ingest([$0], receivedAtMs: 1_790_000_000_000)[0] }

        func kind(_ outcome: IngestOutcome) -> String {
            switch outcome {
            case .stored: "stored"
            case .duplicate: "duplicate"
            case .conflict: "conflict"
            }
        }
        func customer(_ outcome: IngestOutcome) -> Int64 {
            switch outcome {
            case .stored(let ack, _), .duplicate(let ack), .conflict(_, let ack): ack.customerID
            }
        }
        #expect(batched.map(kind) == oneByOne.map(kind))
        #expect(Set(batched.map(kind)) == ["stored", "duplicate", "conflict"])
        // Customer ids differ between the databases; which messages share a customer must not.
        for i in records.indices {
            for j in records.indices where j > i {
                if (customer(batched[i]) == customer(batched[j])) != (customer(oneByOne[i]) == customer(oneByOne[j])) {
                    Issue.record("messages \(i) and \(j) share a customer in one way of storing and not in the other")
                    return
                }
            }
        }
    }

    @Test("a name fills a known customer's empty display name and an e-mail ends anonymity, once per batch")
    func knownCustomerUpdates() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let device = NormalizedIdentity(kind: .device, value: "kiosk-7")
        let first = try store.ingest([record("k-1", identities: [device])], receivedAtMs: 1_790_000_000_000)
        guard case .stored(let ack, _) = first[0] else {
            Issue.record("not stored: \(first)")
            return
        }
        #expect(try database.value("SELECT anonymous FROM customers WHERE id = $1", [.init(ack.customerID)]) == "t")
        let named = record("k-2", name: "Lena", identities: [device, NormalizedIdentity(kind: .email, value: "lena@example.com")])
        let renamed = record("k-3", name: "Someone else", identities: [device])
        let outcomes = try store.ingest([named, renamed], receivedAtMs: 1_790_000_000_100)
        var last: TaskPayload?
        for outcome in outcomes {
            guard case .stored(let later, let task) = outcome else {
                Issue.record("not stored: \(outcome)")
                continue
            }
            #expect(later.customerID == ack.customerID)
            last = task.payload
        }
        #expect(try database.value("SELECT display_name FROM customers WHERE id = $1", [.init(ack.customerID)]) == "Lena")
        #expect(try database.value("SELECT anonymous FROM customers WHERE id = $1", [.init(ack.customerID)]) == "f")
        let payload = try #require(last)
        let context = try store.contexts(of: [Store.ContextKey(payload)])[payload.interaction.id].map { try JSONParser.parse($0) }
        #expect(context?["recent"].flatMap { if case .array(let list) = $0 { list.count } else { nil } } == 3)
    }

    @Test("contexts asked for with a batch are read after its writes: those of its stored messages that asked, as a later read sees them")
    func contextsWithTheBatch() throws {
        let database = try TestDatabase()
        let store = try store(database)
        let lena = NormalizedIdentity(kind: .email, value: "lena@example.com")
        let omar = NormalizedIdentity(kind: .email, value: "omar@example.com")
        let earlier = try store.ingest([record("w-1", name: "Lena", identities: [lena])], receivedAtMs: 1_790_000_000_000)
        // Asked for: Lena's second message (a known customer), Omar's first (a new one, made by
        // this batch) and a duplicate (not stored: no context). Not asked for: Lena's third.
        let records = [
            record("w-2", "about my order", identities: [lena]), record("w-3", identities: [omar]), record("w-1", name: "Lena", identities: [lena]),
            record("w-4", "one more thing", identities: [lena]),
        ]
        let answer = try store.ingest(Store.ingestStatement(records, receivedAtMs: 1_790_000_000_100, contextWanted: [true, true, true, false]))
        guard case .stored(let lenaFirst, _) = earlier[0], case .stored(let lenaAck, _) = answer.outcomes[0],
            case .stored(let omarAck, _) = answer.outcomes[1], case .duplicate = answer.outcomes[2],
            case .stored(let lenaLater, _) = answer.outcomes[3]
        else {
            Issue.record("unexpected outcomes: \(answer.outcomes)")
            return
        }
        #expect(Set(answer.contexts.keys) == [lenaAck.interactionID, omarAck.interactionID])
        // As a later read of the same tasks' contexts: Lena's does not list her message of the round after.
        let keys = [lenaAck, omarAck].map {
            Store.ContextKey(interactionID: $0.interactionID, receivedAtMs: 1_790_000_000_100, customerID: $0.customerID)
        }
        let readLater = try store.contexts(of: keys)
        for key in keys {
            let context = try answer.contexts[key.interactionID].map { try JSONParser.parse($0) }
            #expect(context == (try readLater[key.interactionID].map { try JSONParser.parse($0) }))
        }
        let lenaContext = try #require(try answer.contexts[lenaAck.interactionID].map { try JSONParser.parse($0) })
        #expect(lenaContext["display_name"] == "Lena")
        #expect(lenaContext["identities"] == [["kind": "email", "value": "lena@example.com"]])
        guard case .array(let recent)? = lenaContext["recent"] else {
            Issue.record("no recent contacts in \(lenaContext)")
            return
        }
        let ids = recent.compactMap { entry -> Int64? in if case .integer(let id)? = entry["interaction_id"] { id } else { nil } }
        #expect(ids == [lenaAck.interactionID, lenaFirst.interactionID], "the task's own first, then older; \(lenaLater.interactionID) came after")
        let omarContext = try #require(try answer.contexts[omarAck.interactionID].map { try JSONParser.parse($0) })
        #expect(omarContext["id"] == .integer(omarAck.customerID))
        #expect(omarContext["recent"].flatMap { if case .array(let list) = $0 { list.count } else { nil } } == 1)
        // Without any asked for, the batch is the plain statement and reads none.
        let plain = try store.ingest(Store.ingestStatement([record("w-5", identities: [lena])], receivedAtMs: 1_790_000_000_200))
        #expect(plain.contexts.isEmpty)
        #expect(plain.outcomes.count == 1)
    }
}

@Suite("Dispatch transitions in PostgreSQL")
struct StoreApplyTests {
    /// A store owned by hub-a, and the deliveries of `count` messages it stored.
    func storedDeliveries(_ count: Int, in database: TestDatabase) throws -> (Store, [Int64]) {
        let store = try Store(conninfo: database.conninfo, owner: "hub-a")
        _ = try store.registerRouting(["rules": "test"])
        let records = (0..<count).map { index in
            IngestRecord(
                gateway: "gw", publish: Messages.publish("t-\(index)"), identities: [], route: StoreIngestTests.route, routingVersion: 1)
        }
        let ids = try store.ingest(records, receivedAtMs: 1_790_000_000_000).map { outcome -> Int64 in
            if case .stored(_, let task) = outcome { return task.deliveryID }
            return -1
        }
        return (store, ids)
    }

    @Test("an offer and its worker's DONE in one batch update the row once, and leave it as two batches do")
    func offerAndDoneAtOnce() throws {
        let database = try TestDatabase()
        let (store, ids) = try storedDeliveries(3, in: database)
        let lease: Int64 = 1_790_000_300_000
        // In one transaction, to read its own count of updated rows.
        let (applied, updates) = try store.connection.transaction {
            let applied = try store.apply([
                .offered(deliveryID: ids[0], worker: "w1", attempt: 1, leaseUntil: lease),
                .offered(deliveryID: ids[1], worker: "w1", attempt: 1, leaseUntil: lease),
                .done(deliveryID: ids[0], worker: "w1", outcome: "handled", notes: "ok"),
                // Not the worker it was offered to: written on its own, and refused.
                .done(deliveryID: ids[1], worker: "w2", outcome: "handled", notes: nil),
            ])
            let updates = try store.connection.query("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'deliveries'").rows
            return (applied, updates.first?[0])
        }
        #expect(applied == [true, true, true, false])
        #expect(updates == "2")
        #expect(try store.apply([.offered(deliveryID: ids[2], worker: "w1", attempt: 1, leaseUntil: lease)]) == [true])
        #expect(try store.apply([.done(deliveryID: ids[2], worker: "w1", outcome: "handled", notes: "ok")]) == [true])
        let rows = try database.connect().query(
            """
            SELECT state, worker, attempts, outcome, notes, last_error, owner, lease_until IS NULL, not_before IS NULL,
                   offered_at IS NOT NULL, completed_at >= offered_at
              FROM deliveries ORDER BY id
            """
        ).rows
        #expect(rows[0] == ["done", "w1", "1", "handled", "ok", nil, "hub-a", "t", "t", "t", "t"])
        #expect(rows[0] == rows[2])
        #expect(rows[1] == ["offered", "w1", "1", nil, nil, nil, "hub-a", "f", "t", "t", nil])
    }

    @Test("a batch applies each delivery's transitions in order, and refuses those whose guard fails")
    func transitionsInOrder() throws {
        let database = try TestDatabase()
        let (store, ids) = try storedDeliveries(4, in: database)
        let lease: Int64 = 1_790_000_300_000
        let applied = try store.apply([
            // Offered and done in the same batch, as under load: two rounds, both apply.
            .offered(deliveryID: ids[0], worker: "w1", attempt: 1, leaseUntil: lease),
            .offered(deliveryID: ids[1], worker: "w1", attempt: 1, leaseUntil: lease),
            .done(deliveryID: ids[0], worker: "w1", outcome: "handled", notes: "ok"),
            // DONE from a worker that does not hold it: refused.
            .done(deliveryID: ids[1], worker: "w2", outcome: "handled", notes: nil),
            // Back to the queue, then offered again: attempt 2.
            .retry(deliveryID: ids[1], notBefore: 1_790_000_001_000, error: "busy"),
            .offered(deliveryID: ids[1], worker: "w2", attempt: 2, leaseUntil: lease),
            // A DONE for a delivery never offered: refused; then dead-lettered.
            .done(deliveryID: ids[2], worker: "w1", outcome: "handled", notes: nil),
            .dead(deliveryID: ids[2], error: "gave up"),
            // Offering what is already done: refused.
            .offered(deliveryID: ids[0], worker: "w3", attempt: 2, leaseUntil: lease),
            // Rejected by the worker that holds it: failed, with its reason.
            .offered(deliveryID: ids[3], worker: "w1", attempt: 1, leaseUntil: lease),
            .rejected(deliveryID: ids[3], worker: "w1", reason: "malformed order"),
        ])
        #expect(applied == [true, true, true, false, true, true, false, true, false, true, true])
        let rows = try database.connect().query(
            "SELECT state, worker, attempts, outcome, notes, last_error, owner, not_before IS NULL FROM deliveries ORDER BY id"
        ).rows
        #expect(rows[0] == ["done", "w1", "1", "handled", "ok", nil, "hub-a", "t"])
        #expect(rows[1] == ["offered", "w2", "2", nil, nil, "busy", "hub-a", "t"])
        #expect(rows[2] == ["dead", nil, "0", nil, nil, "gave up", nil, "t"])
        #expect(rows[3] == ["failed", "w1", "1", "rejected", "malformed order", "malformed order", "hub-a", "t"])
    }

    @Test("every transition that applies appends its event, at the time it was decided, in the same statement; refused ones append none")
    func eventsWithTheirTimes() throws {
        let database = try TestDatabase()
        let (store, ids) = try storedDeliveries(2, in: database)
        let t0: Int64 = 1_790_000_000_000
        let applied = try store.apply(
            [
                .offered(deliveryID: ids[0], worker: "w1", attempt: 1, leaseUntil: t0 + 300_000),
                .accepted(deliveryID: ids[0], worker: "w1"),
                .done(deliveryID: ids[0], worker: "w1", outcome: "resolved", notes: nil),
                // A quick worker: offer and DONE written as one row version, still two events.
                .offered(deliveryID: ids[1], worker: "w2", attempt: 1, leaseUntil: t0 + 300_000),
                .done(deliveryID: ids[1], worker: "w2", outcome: "sold", notes: nil),
                // Refused (settled already): no event.
                .done(deliveryID: ids[1], worker: "w3", outcome: "late", notes: nil),
            ], at: [t0, t0 + 1_500, t0 + 60_000, t0 + 10, t0 + 4_010, t0 + 5_000])
        #expect(applied == [true, true, true, true, true, false])
        let events = try database.connect().query(
            """
            SELECT delivery_id = $1, kind, worker, hub, attempt, coalesce(detail, '-'), (extract(epoch FROM at) * 1000)::bigint - $2
              FROM delivery_events ORDER BY at, id
            """, [.init(ids[0]), .init(t0)]
        ).rows
        #expect(
            events == [
                ["t", "offered", "w1", "hub-a", "1", "-", "0"], ["f", "offered", "w2", "hub-a", "1", "-", "10"],
                ["t", "accepted", "w1", "hub-a", "1", "-", "1500"], ["f", "done", "w2", "hub-a", "1", "sold", "4010"],
                ["t", "done", "w1", "hub-a", "1", "resolved", "60000"],
            ])
        // The row's times are the same decided times: first response and handle time are exact.
        let times = try database.connect().query(
            """
            SELECT (extract(epoch FROM offered_at) * 1000)::bigint - $1, (extract(epoch FROM accepted_at) * 1000)::bigint - $1,
                   (extract(epoch FROM completed_at) * 1000)::bigint - $1, state
              FROM deliveries ORDER BY id
            """, [.init(t0)]
        ).rows
        #expect(times == [["0", "1500", "60000", "done"], ["10", nil, "4010", "done"]])
    }
}

/// Statements whose plan must not depend on when statistics were last gathered.
@Suite("Stable plans of the dispatch lane's reads")
struct StablePlanTests {
    /// The refill reads pending deliveries by id. With the state filter in the same query, a
    /// planner that believed few deliveries pending (statistics gathered before a backlog built
    /// up) read them through the partial index of pending deliveries: every pending one, to find
    /// a handful.
    @Test("a refill's read by id goes by primary key, also when the statistics say nothing is pending")
    func pendingByIDWithStaleStatistics() throws {
        let database = try TestDatabase()
        let store = try StoreIngestTests().store(database)
        let records = (0..<2000).map { StoreIngestTests().record("stale-\($0)", identities: []) }
        _ = try store.ingest(Array(records[..<10]), receivedAtMs: 1_790_000_000_000)
        let connection = try database.connect()
        // Statistics taken while nothing was pending; then a backlog arrives, not analyzed yet.
        _ = try connection.query("UPDATE deliveries SET state = 'done'")
        _ = try connection.query("ANALYZE deliveries")
        _ = try connection.query("ALTER TABLE deliveries SET (autovacuum_enabled = false)")
        for start in stride(from: 10, to: 2000, by: 500) {
            _ = try store.ingest(Array(records[start..<min(start + 500, 2000)]), receivedAtMs: 1_790_000_000_000)
        }
        let ids = try connection.query("SELECT id FROM deliveries WHERE state = 'pending' ORDER BY id DESC LIMIT 5").rows.compactMap {
            $0[0].flatMap { Int64($0) }
        }
        // That read may go through the index measured below: its statistics are flushed now, not a
        // second later, inside the window the test measures (a loaded machine delayed them there).
        _ = try connection.query("SELECT pg_stat_force_next_flush()")
        func dispatchOrderRead() throws -> Int {
            try StoreIngestTests().indexStatistic("idx_tup_read", of: "deliveries_dispatch_order", store, database)
        }
        let before = try dispatchOrderRead()
        let page = try store.loadPending(ids: ids)
        #expect(page.count == 5)
        #expect(try dispatchOrderRead() - before == 0, "the read by id went through the partial index of pending deliveries")
        // The page of the most urgent still reads that index, and only as far as its limit.
        let readBefore = try dispatchOrderRead()
        let urgent = try store.loadPending(queue: StoreIngestTests.route.queue, limit: 10, skipping: Set(ids))
        #expect(urgent.found == 10)
        #expect(try dispatchOrderRead() - readBefore <= 10)
    }
}
