import Foundation
import Histogram
import Postgres
import SwitchboardProtocol
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
        let frames = try Codec.encode(.publish(BenchTraffic.message(id: "zmq-0", customer: 1, seed: 1)))
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
        let connection = try Connection(conninfo)
        try connection.execute(script: "CREATE TABLE IF NOT EXISTS bench_commits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for _ in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try connection.queryPrepared("commit_probe", "INSERT INTO bench_commits DEFAULT VALUES", [])
            _ = histogram.record((DispatchTime.now().uptimeNanoseconds - start) / 1000)
        }
        return histogram
    }
}

/// Text handed from one thread to another (an endpoint, a failure).
final class SharedText: Sendable {
    private let text = Mutex("")
    func set(_ value: String) { text.withLock { $0 = value } }
    func get() -> String { text.withLock { $0 } }
}

/// The same rows the hub writes for a message (interaction, ingest key, delivery), inserted by one
/// connection in batches of `batch` as single multi-row statements, one commit per batch. The
/// values go as binary arrays, the hub's own fastest path (`PostgresArray`): nothing to parse but
/// the statement. Like the hub's, the rows belong to `customers` different customers (the
/// traffic's address count), so index inserts land where the hub's do: all rows on one customer
/// would append to one leaf of the contact-history index and flatter the ceiling.
///
/// Rows are inserted in rounds (`insert(rows:)`), so that the bench can alternate them with the
/// hub's own rounds: both then meet the same moments of a shared machine.
final class PostgresCeiling {
    private let connection: Connection
    private let customers: Int
    private let firstCustomer: Int64
    private let batch: Int
    private var written = 0
    private(set) var seconds = 0.0

    init(conninfo: String, batch: Int = 512, customers: Int = 10_000) throws {
        connection = try Connection(conninfo)
        self.batch = batch
        self.customers = customers
        firstCustomer =
            try connection.query(
                "INSERT INTO customers (display_name) SELECT 'ceiling ' || n FROM generate_series(1, $1::integer) AS n RETURNING id",
                [.init(customers)]
            ).rows.compactMap { $0[0].flatMap { Int64($0) } }.min() ?? 1
    }

    /// Rows per second over every round so far.
    var rate: Double { seconds > 0 ? Double(written) / seconds : 0 }

    /// Inserts `rows` more rows and adds the time they took to `seconds`.
    func insert(rows: Int) throws {
        let sql = """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) AS r(message_id, customer_id, body)
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
        let end = written + rows
        let start = DispatchTime.now().uptimeNanoseconds
        while written < end {
            let count = min(batch, end - written)
            var messageIDs = PostgresArray<String>()
            var customerIDs = PostgresArray<Int64>()
            var bodies = PostgresArray<String>()
            for index in written..<written + count {
                messageIDs.append("ceiling-\(index)")
                customerIDs.append(firstCustomer + Int64(index * 7919 % customers))
                bodies.append(BenchTraffic.text(seed: UInt64(index)))
            }
            _ = try connection.queryPrepared("ceiling_insert", sql, [messageIDs.parameter(), customerIDs.parameter(), bodies.parameter()])
            written += count
        }
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
