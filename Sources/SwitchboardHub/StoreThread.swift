import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardStore
import Synchronization
import ZeroMQ

/// Runs the store on its own thread with its own PostgreSQL connection, so the hub loop never
/// blocks on the database. Requests and replies travel through mailboxes; an inproc PAIR socket
/// pair wakes each side.
final class StoreThread: Sendable {
    let requests = Mailbox<StoreRequest>()
    let replies = Mailbox<StoreReply>()
    let endpoint: String
    let name: String
    private let conninfo: String
    private let owner: String
    private let context: Context
    private let logger: Logger
    private let finished = StopSignal()
    /// What this lane's requests cost, read by the hub for /metrics.
    let timing = LaneTiming()

    init(name: String, context: Context, conninfo: String, owner: String, logger: Logger) {
        self.name = name
        self.context = context
        self.conninfo = conninfo
        self.owner = owner
        self.logger = logger
        endpoint = "inproc://switchboard-store-\(name)-\(UUID().uuidString)"
    }

    var hasFinished: Bool { finished.isRaised }

    /// Starts the thread; the hub must have bound `endpoint` (a PAIR) first.
    func start() {
        let thread = Thread { [self] in
            defer { finished.raise() }
            do {
                try run()
            } catch {
                logger.critical("\(name) store thread stopped: \(error)")
            }
        }
        thread.name = "switchboard-\(name)"
        thread.start()
    }

    private func run() throws {
        let wake = try context.socket(.pair)
        try wake.connect(endpoint)
        var store: Store?
        logger.info("\(name) store thread started")
        while true {
            guard try wake.receive() != nil else { continue }
            for request in requests.drain() {
                if case .stop = request {
                    logger.info("\(name) store thread stopping")
                    return
                }
                let started = DispatchTime.now().uptimeNanoseconds
                let reply = handle(request, store: &store)
                let microseconds = Int((DispatchTime.now().uptimeNanoseconds - started) / 1000)
                timing.record(items: request.itemCount, microseconds: microseconds)
                logger.debug("\(name) store request \(request.kind): \(request.itemCount) items in \(microseconds) µs")
                replies.post(reply)
                try wake.send([[1]])
            }
        }
    }

    /// Runs one request, (re)connecting first if needed; a lost connection is reported, not fatal.
    private func handle(_ request: StoreRequest, store: inout Store?) -> StoreReply {
        do {
            if store == nil || store?.connection.isConnected == false {
                store = nil
                store = try Store(conninfo: conninfo, owner: owner)
                logger.info("store connected to PostgreSQL")
            }
            return try perform(request, on: store!)
        } catch {
            let failure = Self.failure(error)
            if failure.unavailable { store = nil }
            logger.error("store request failed: \(failure.reason)")
            return Self.failedReply(request, failure)
        }
    }

    private func perform(_ request: StoreRequest, on store: Store) throws -> StoreReply {
        switch request {
        case .ingest(let records, let receivedAtMs):
            do {
                return .ingested(try store.ingest(records, receivedAtMs: receivedAtMs).map { .success($0) })
            } catch let error as PostgresError where !error.isConnectionLoss && records.count > 1 {
                // One bad record must not fail the others: store them one by one to find it.
                logger.warning("batch of \(records.count) failed (\(error)); storing one by one")
                return .ingested(
                    records.map { record in
                        Result { try store.ingest([record], receivedAtMs: receivedAtMs)[0] }.mapError(Self.failure)
                    })
            }
        case .apply(let transitions):
            return .applied(transitions: transitions, .success(try store.apply(transitions)))
        case .loadPending(let queue, let limit):
            return .pending(queue: queue, limit: limit, .success(try store.loadPending(queue: queue, limit: limit)))
        case .contexts(let customers):
            return .contexts(.success(try store.contexts(of: customers)))
        case .quarantine(let entries, let bytes):
            try store.quarantine(entries)
            return .quarantined(count: entries.count, bytes: bytes, nil)
        case .maintain(let nowMs):
            try store.ensurePartitions(nowMs: nowMs)
            return .maintained(nil)
        case .stop:
            fatalError("stop is handled by the loop")
        }
    }

    private static func failedReply(_ request: StoreRequest, _ failure: StoreFailure) -> StoreReply {
        switch request {
        case .ingest(let records, _): .ingested(records.map { _ in .failure(failure) })
        case .apply(let transitions): .applied(transitions: transitions, .failure(failure))
        case .loadPending(let queue, let limit): .pending(queue: queue, limit: limit, .failure(failure))
        case .contexts: .contexts(.failure(failure))
        case .quarantine(let entries, let bytes): .quarantined(count: entries.count, bytes: bytes, failure)
        case .maintain, .stop: .maintained(failure)
        }
    }

    static func failure(_ error: any Error) -> StoreFailure {
        if let error = error as? PostgresError {
            return StoreFailure(unavailable: error.isConnectionLoss, reason: error.description)
        }
        return StoreFailure(unavailable: false, reason: "\(error)")
    }
}

/// Requests a store lane ran, the items in them and the time they took, since start.
final class LaneTiming: Sendable {
    private let counters = Mutex((requests: 0, items: 0, microseconds: 0))

    func record(items: Int, microseconds: Int) {
        counters.withLock {
            $0.requests += 1
            $0.items += items
            $0.microseconds += microseconds
        }
    }

    var snapshot: LaneFigures { counters.withLock { LaneFigures(requests: $0.requests, items: $0.items, microseconds: $0.microseconds) } }
}

extension StoreRequest {
    var kind: String {
        switch self {
        case .ingest: "ingest"
        case .apply: "apply"
        case .loadPending: "load_pending"
        case .contexts: "contexts"
        case .quarantine: "quarantine"
        case .maintain: "maintain"
        case .stop: "stop"
        }
    }

    /// Messages, transitions, customers or entries in the request.
    var itemCount: Int {
        switch self {
        case .ingest(let records, _): records.count
        case .apply(let transitions): transitions.count
        case .contexts(let customers): customers.count
        case .quarantine(let entries, _): entries.count
        case .loadPending(_, let limit): limit
        case .maintain, .stop: 0
        }
    }
}
