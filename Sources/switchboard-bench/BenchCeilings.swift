import Foundation
import Histogram
import Postgres
import SwitchboardCore
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Synchronization
import ZeroMQ

/// What the hub is compared against: the transport alone and PostgreSQL alone, same machine, same run.
enum BenchCeilings {
    /// DEALER → ROUTER → DEALER round trips of SWB/1-sized messages over loopback TCP with a window
    /// of `window` in flight: the most messages per second ZeroMQ itself carries here.
    static func zeroMQ(messages: Int, window: Int = 500) throws -> Double {
        let context = Context()
        let bound = DispatchSemaphore(value: 0)
        let endpoint = SharedText()
        let echoFailure = SharedText()
        // The echo keeps its socket open until every answer is in: closing it drops what its
        // queue still holds (sockets close without lingering), which lost the last few hundred.
        let answered = DispatchSemaphore(value: 0)
        // Each socket belongs to the thread that made it: the echo side lives on its own thread.
        Thread {
            var echoed = 0
            do {
                let router = try context.socket(.router)
                // A plain ROUTER drops what does not fit the peer's queue; this one waits instead.
                try router.setRouterMandatory(true)
                try router.bind("tcp://127.0.0.1:*")
                try router.setReceiveTimeout(5000)
                endpoint.set(router.lastEndpoint)
                bound.signal()
                for _ in 0..<messages {
                    guard let message = try router.receive() else {
                        echoFailure.set("the echo received nothing for 5 s after \(echoed) messages")
                        return
                    }
                    try router.send(message.frames)
                    echoed += 1
                }
                _ = answered.wait(timeout: .now() + 10)
            } catch {
                echoFailure.set("the echo failed after \(echoed) messages: \(error)")
                bound.signal()
            }
        }.start()
        bound.wait()
        let dealer = try context.socket(.dealer)
        try dealer.setRoutingID(Array("zmq-ceiling".utf8))
        try dealer.setReceiveTimeout(5000)
        try dealer.connect(endpoint.get())
        let frames = Codec.encode(.publish(BenchTraffic.message(id: "zmq-0", customer: 1, seed: 1)))
        let start = DispatchTime.now().uptimeNanoseconds
        var sent = 0
        var received = 0
        while received < messages {
            while sent < messages && sent - received < window {
                try dealer.send(frames)
                sent += 1
            }
            guard try dealer.receive() != nil else {
                throw BenchError("ZeroMQ echo stopped answering after \(received) of \(messages): \(echoFailure.get())")
            }
            received += 1
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        answered.signal()
        return Double(messages) / seconds
    }

    /// PostgreSQL's own commit latency: one small row inserted and committed, `count` times.
    static func commitLatency(conninfo: String, count: Int) throws -> Histogram<UInt64> {
        let connection = try commitConnection(conninfo)
        var histogram = SharedHistogram.empty
        for _ in 0..<count { _ = histogram.record(try commitOnce(connection)) }
        return histogram
    }

    fileprivate static func commitConnection(_ conninfo: String) throws -> Connection {
        let connection = try Connection(conninfo)
        // The table is there already on a probe's second run, which is not worth a NOTICE on stderr.
        try connection.execute(script: "SET client_min_messages = warning")
        try connection.execute(script: "CREATE TABLE IF NOT EXISTS bench_commits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        return connection
    }

    /// Inserts and commits one small row; returns the microseconds it took.
    fileprivate static func commitOnce(_ connection: Connection) throws -> UInt64 {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try connection.queryPrepared("commit_probe", "INSERT INTO bench_commits DEFAULT VALUES", [])
        return (DispatchTime.now().uptimeNanoseconds - start) / 1000
    }
}

/// PostgreSQL's commit latency while a load runs: the single commit of `commitLatency`, once every
/// `intervalMs` from a thread and connection of its own, until `stop`. Beside a latency run it
/// says what one commit costs on the machine as that load leaves it (the cores shared with the
/// hub, its workers and the gateways), next to the idle machine's figure the target names.
///
/// The probe waits for each commit before the next, so a commit held up 200 ms stands for one
/// sample where the paced messages sent meanwhile are some thousand: as probed, a stall of the
/// disk hardly reaches the probe's p99 while it sets the messages'. Each commit is therefore also
/// counted as the commits due meanwhile would have been (HdrHistogram's correction for coordinated
/// omission: `expectedInterval` the probe's interval), which weighs every moment of the run alike,
/// as the paced load does. Both are kept.
final class CommitProbe: @unchecked Sendable {
    /// The commits as probed, and counted with the ones each held up.
    struct Figures {
        var probed: Histogram<UInt64>
        var corrected: Histogram<UInt64>
    }

    private let lock = NSLock()
    private var figures = Figures(probed: SharedHistogram.empty, corrected: SharedHistogram.empty)
    private var running = true
    private var failure: String?
    private let finished = DispatchSemaphore(value: 0)

    init(conninfo: String, intervalMs: Int = 5) {
        Thread { [self] in
            defer { finished.signal() }
            let interval = UInt64(intervalMs) * 1_000_000
            var next = DispatchTime.now().uptimeNanoseconds
            do {
                // The connection is the thread's own: a libpq connection is not shared between threads.
                let connection = try BenchCeilings.commitConnection(conninfo)
                while lock.withLock({ running }) {
                    let micros = try BenchCeilings.commitOnce(connection)
                    lock.withLock {
                        _ = figures.probed.record(micros)
                        _ = figures.corrected.recordCorrectedValue(micros, expectedInterval: interval / 1000)
                    }
                    next += interval
                    let now = DispatchTime.now().uptimeNanoseconds
                    // Paced, not back to back: the probe adds a commit now and then, not a load of its own.
                    if next > now { usleep(UInt32((next - now) / 1000)) } else { next = now }
                }
            } catch {
                lock.withLock { failure = "\(error)" }
            }
        }.start()
    }

    /// Stops the probe and returns what it measured.
    func stop() throws -> Figures {
        lock.withLock { running = false }
        finished.wait()
        return try lock.withLock {
            if let failure { throw BenchError("the commit probe failed: \(failure)") }
            return figures
        }
    }
}

/// Text handed from one thread to another (an endpoint, a failure).
final class SharedText: Sendable {
    private let text = Mutex("")
    func set(_ value: String) { text.withLock { $0 = value } }
    func get() -> String { text.withLock { $0 } }
}

/// The same rows the hub writes for a message, written by one connection in batches of `batch`,
/// one commit per batch: an interaction, an ingest key and a delivery per message, and for an
/// address not seen before a customer and its identity, as the hub makes them in an empty
/// database. The addresses are the traffic's (`BenchTraffic.address`), so index inserts land where
/// the hub's do: all rows on one customer would append to one leaf of the contact-history index
/// and flatter the ceiling. Customer ids are reserved from the customers' sequence up front, so the
/// client knows them. Two ways of writing them (`Method`), each its fastest form here: one
/// multi-row statement per batch with the values as binary arrays (the hub's own path,
/// `PostgresArray`), or binary COPY into each table.
///
/// Rows are inserted in rounds (`insert(rows:)`), so that the bench can alternate them with the
/// hub's own rounds: both then meet the same moments of a shared machine.
final class PostgresCeiling {
    enum Method: String {
        /// One `INSERT … SELECT FROM unnest(…)` statement per batch, writing every table.
        case insert
        /// In one transaction per batch, a `COPY … FROM STDIN (FORMAT binary)` per table, the
        /// interactions' ids reserved from their sequence first.
        case copy
    }

    private let connection: Connection
    private let customers: Int
    private let firstCustomer: Int64
    /// Rows a commit (for `.insert`, also a statement).
    let batch: Int
    let method: Method
    private var seen: [Bool]
    private var written = 0
    private(set) var seconds = 0.0

    init(conninfo: String, method: Method = .insert, batch: Int = 512, customers: Int = 10_000) throws {
        connection = try Connection(conninfo)
        self.method = method
        self.batch = batch
        self.customers = customers
        seen = Array(repeating: false, count: customers)
        let reserved = try connection.query(
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), nextval(pg_get_serial_sequence('customers', 'id')) + $1::bigint)",
            [.init(customers)])
        firstCustomer = (try reserved.scalar().flatMap { Int64($0) } ?? Int64(customers)) - Int64(customers) + 1
    }

    /// Rows per second over every round so far.
    var rate: Double { seconds > 0 ? Double(written) / seconds : 0 }

    /// One batch's values, as both methods take them.
    private struct Batch {
        var messageIDs: [String] = []
        var customerIDs: [Int64] = []
        var bodies: [String] = []
        var newIDs: [Int64] = []
        var newEmails: [String] = []
    }

    /// Inserts `rows` more messages' rows and adds the time they took to `seconds`.
    func insert(rows: Int) throws {
        let end = written + rows
        let start = DispatchTime.now().uptimeNanoseconds
        while written < end {
            let count = min(batch, end - written)
            var values = Batch()
            for index in written..<written + count {
                let address = BenchTraffic.address(of: index, among: customers)
                values.messageIDs.append("ceiling-\(index)")
                values.customerIDs.append(firstCustomer + Int64(address))
                values.bodies.append(BenchTraffic.text(seed: UInt64(index)))
                if !seen[address] {
                    seen[address] = true
                    values.newIDs.append(firstCustomer + Int64(address))
                    values.newEmails.append(BenchTraffic.email(address))
                }
            }
            switch method {
            case .insert: try insertStatement(values)
            case .copy: try copy(values)
            }
            written += count
        }
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    private static let insertSQL = """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) AS r(message_id, customer_id, body)
        ), new_customers AS (
            INSERT INTO customers (id, anonymous) OVERRIDING SYSTEM VALUE SELECT id, false FROM unnest($4::bigint[]) AS id
        ), new_identities AS (
            INSERT INTO customer_identities (kind, value, customer_id) SELECT 'email', n.email, n.id FROM unnest($4::bigint[], $5::text[]) AS n(id, email)
        ), stored AS (
            INSERT INTO interactions (received_at, customer_id, gateway, message_id, channel, occurred_at, process, priority,
                                      content_type, body_text, attributes)
            SELECT now(), customer_id, 'ceiling', message_id, 'email', now(), 'support', 0, 'text/plain', body, '{"source":"bench"}'
            FROM input
            RETURNING id, received_at, message_id, customer_id
        ), keys AS (
            INSERT INTO ingest_keys (gateway, message_id, interaction_id, customer_id, queue, fingerprint, received_at)
            SELECT 'ceiling', message_id, id, customer_id, 'support', md5(message_id), received_at FROM stored
        )
        INSERT INTO deliveries (interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason)
        SELECT id, received_at, customer_id, 'support', 0, now() + interval '1 hour', 'ceiling' FROM stored
        """

    private func insertStatement(_ values: Batch) throws {
        var messageIDs = PostgresArray<String>(), customerIDs = PostgresArray<Int64>(), bodies = PostgresArray<String>()
        var newIDs = PostgresArray<Int64>(), newEmails = PostgresArray<String>()
        for index in values.messageIDs.indices {
            messageIDs.append(values.messageIDs[index])
            customerIDs.append(values.customerIDs[index])
            bodies.append(values.bodies[index])
        }
        for index in values.newIDs.indices {
            newIDs.append(values.newIDs[index])
            newEmails.append(values.newEmails[index])
        }
        _ = try connection.queryPrepared(
            "ceiling_insert", Self.insertSQL,
            [messageIDs.parameter(), customerIDs.parameter(), bodies.parameter(), newIDs.parameter(), newEmails.parameter()])
    }

    /// The same rows and values as `insertSQL`'s, by COPY: the interactions' ids and the times are
    /// the client's here, the fingerprint (md5 of the message id) too.
    private func copy(_ values: Batch) throws {
        try connection.transaction {
            let count = values.messageIDs.count
            let last = try connection.query(
                "SELECT setval('interactions_id_seq', nextval('interactions_id_seq') + $1::bigint)", [.init(count - 1)]
            ).scalar().flatMap { Int64($0) }
            guard let last else { throw BenchError("no interaction ids reserved") }
            let firstInteraction = last - Int64(count) + 1
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            if !values.newIDs.isEmpty {
                var customers = PostgresCopyRows(), identities = PostgresCopyRows()
                for index in values.newIDs.indices {
                    customers.startRow(fields: 2)
                    customers.field(values.newIDs[index])
                    customers.field(false)
                    identities.startRow(fields: 3)
                    identities.field("email")
                    identities.field(values.newEmails[index])
                    identities.field(values.newIDs[index])
                }
                try connection.copyIn("COPY customers (id, anonymous) FROM STDIN (FORMAT binary)", customers.data())
                try connection.copyIn("COPY customer_identities (kind, value, customer_id) FROM STDIN (FORMAT binary)", identities.data())
            }
            var interactions = PostgresCopyRows(), keys = PostgresCopyRows(), deliveries = PostgresCopyRows()
            let attributes = PostgresJSONB(Array(#"{"source":"bench"}"#.utf8))
            for index in 0..<count {
                let id = firstInteraction + Int64(index)
                interactions.startRow(fields: 12)
                interactions.field(id)
                interactions.timestamp(unixMs: now)
                interactions.field(values.customerIDs[index])
                interactions.field("ceiling")
                interactions.field(values.messageIDs[index])
                interactions.field("email")
                interactions.timestamp(unixMs: now)
                interactions.field("support")
                interactions.field(Int16(0))
                interactions.field("text/plain")
                interactions.field(values.bodies[index])
                interactions.field(attributes)
                keys.startRow(fields: 7)
                keys.field("ceiling")
                keys.field(values.messageIDs[index])
                keys.field(id)
                keys.field(values.customerIDs[index])
                keys.field("support")
                keys.field(MessageFingerprint.md5(values.messageIDs[index]))
                keys.timestamp(unixMs: now)
                deliveries.startRow(fields: 7)
                deliveries.field(id)
                deliveries.timestamp(unixMs: now)
                deliveries.field(values.customerIDs[index])
                deliveries.field("support")
                deliveries.field(Int16(0))
                deliveries.timestamp(unixMs: now + 3_600_000)
                deliveries.field("ceiling")
            }
            try connection.copyIn(
                """
                COPY interactions (id, received_at, customer_id, gateway, message_id, channel, occurred_at, process, priority,
                                   content_type, body_text, attributes) FROM STDIN (FORMAT binary)
                """, interactions.data())
            try connection.copyIn(
                """
                COPY ingest_keys (gateway, message_id, interaction_id, customer_id, queue, fingerprint, received_at)
                FROM STDIN (FORMAT binary)
                """, keys.data())
            try connection.copyIn(
                """
                COPY deliveries (interaction_id, interaction_received_at, customer_id, queue, priority, deadline, route_reason)
                FROM STDIN (FORMAT binary)
                """, deliveries.data())
        }
    }
}

/// The hub's own statement (`swb_ingest_rounds`, through `Store`) run straight from one
/// connection in batches of `batch`, with the records the hub makes of the bench's traffic
/// (identities normalized, routed by the standard rules) built outside the timing: PostgreSQL's
/// share of the hub's work, without the hub process and its gateways on the same cores. Between
/// the ceiling and the hub, it splits the gap into what the statement costs and what the rest
/// costs. Runs in rounds alongside the ceiling's, in a database of its own.
final class HubStatementRun {
    private let store: Store
    private let customers: Int
    private let batch: Int
    private let normalizer = IdentityNormalizer(defaultCountryCode: nil)
    private let router = Router(rules: .standard)
    private let routingVersion: Int
    private var written = 0
    private(set) var seconds = 0.0

    init(conninfo: String, batch: Int = 512, customers: Int = 10_000) throws {
        store = try Store(conninfo: conninfo, owner: "bench-statement")
        self.batch = batch
        self.customers = customers
        // The standard rules registered as the hub registers its own, so rows name a real version.
        routingVersion = try store.registerRouting(try RoutingRules.standard.registration())
    }

    /// Messages per second over every round so far.
    var rate: Double { seconds > 0 ? Double(written) / seconds : 0 }

    /// Stores `messages` more messages and adds the time their statements took to `seconds`.
    func insert(messages: Int) throws {
        let end = written + messages
        while written < end { seconds += Double(try storeBatch(of: min(batch, end - written))) / 1e6 }
    }

    /// Stores `calls` batches of `messages` each, one call at a time, after a few untimed calls
    /// (the connection's first call plans the statement); each call's microseconds. What one
    /// batch of that size costs PostgreSQL with nothing waiting before it: the floor of an ACK.
    /// `withContexts` reads every message's customer context in the batch, as the hub does for
    /// the tasks a worker is free to take (at light and moderate load, nearly all): the floor of a TASK.
    func timeCalls(of messages: Int, calls: Int, withContexts: Bool = false) throws -> Histogram<UInt64> {
        for _ in 0..<5 { _ = try storeBatch(of: messages, withContexts: withContexts) }
        var histogram = SharedHistogram.empty
        for _ in 0..<calls { _ = histogram.record(try storeBatch(of: messages, withContexts: withContexts)) }
        return histogram
    }

    /// Stores the next `count` messages in one statement (their records built first, untimed);
    /// the microseconds the statement took.
    private func storeBatch(of count: Int, withContexts: Bool = false) throws -> UInt64 {
        let records = (written..<written + count).map { index in
            let publish = BenchTraffic.message(
                id: "statement-\(index)", customer: BenchTraffic.address(of: index, among: customers), seed: UInt64(index))
            let (identities, unverified) = normalizer.normalize(publish.hints)
            return IngestRecord(
                gateway: "bench-statement", publish: publish, identities: identities, unverified: unverified,
                route: router.route(publish, now: Self.nowMs), routingVersion: routingVersion)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let answer = try store.ingest(
            Store.ingestStatement(records, receivedAtMs: Self.nowMs, contextWanted: withContexts ? Array(repeating: true, count: count) : []))
        let microseconds = (DispatchTime.now().uptimeNanoseconds - start) / 1000
        if let index = answer.outcomes.firstIndex(where: { if case .stored = $0 { false } else { true } }) {
            throw BenchError("the hub's statement did not store message '\(records[index].publish.messageID)' of a batch: \(answer.outcomes[index])")
        }
        guard !withContexts || !answer.contexts.isEmpty else { throw BenchError("the hub's statement read no context for a batch that asked") }
        written += count
        return microseconds
    }

    private static var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
