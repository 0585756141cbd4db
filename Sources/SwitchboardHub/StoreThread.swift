import CoreMetrics
import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardProtocol
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
    private let contextRecentDays: Int?
    private let context: Context
    private let logger: Logger
    private let finished = StopSignal()
    /// What this lane's requests cost, read by the hub for /metrics.
    let timing = LaneTiming()
    /// Each request's items and time, as histograms (`switchboard_store_batch_size`, `switchboard_store_request_seconds`).
    private let recorders: (batchSize: CoreMetrics.Recorder, duration: CoreMetrics.Timer)?

    init(
        name: String, context: Context, conninfo: String, owner: String, contextRecentDays: Int?, logger: Logger,
        recorders: (batchSize: CoreMetrics.Recorder, duration: CoreMetrics.Timer)? = nil
    ) {
        self.recorders = recorders
        self.name = name
        self.context = context
        self.conninfo = conninfo
        self.owner = owner
        self.contextRecentDays = contextRecentDays
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
        var queue: [StoreRequest] = []
        logger.info("\(name) store thread started")
        while true {
            if queue.isEmpty {
                guard try wake.receive() != nil else { continue }
                queue = try takeRequests(wake)
                continue
            }
            let request = queue.removeFirst()
            switch request {
            case .stop:
                logger.info("\(name) store thread stopping")
                return
            case .ingest(let records, let receivedAtMs, let contextWanted):
                try ingest(
                    Store.ingestStatement(records, receivedAtMs: receivedAtMs, contextWanted: contextWanted), then: &queue, store: &store,
                    wake: wake)
            default:
                let started = DispatchTime.now().uptimeNanoseconds
                try reply(handle(request, store: &store), to: request, started: started, wake: wake)
            }
        }
    }

    /// Runs an ingest and the ingests queued right behind it so that PostgreSQL does not wait for
    /// this thread between them: while one batch's statement runs, the next batch's parameters are
    /// built, and the next is sent as soon as the first has committed, before the first's answers
    /// are read and replied to. The connection never has more than one statement in flight, so a batch is sent
    /// only once the one before it has committed (and it sees what that one wrote).
    private func ingest(_ first: Store.IngestStatement, then queue: inout [StoreRequest], store: inout Store?, wake: Socket) throws {
        var current = first
        var started = DispatchTime.now().uptimeNanoseconds
        var sent = (try? send(current, store: &store)) != nil
        while true {
            let request = StoreRequest.ingest(current.records, receivedAtMs: current.receivedAtMs, contextWanted: current.contextWanted)
            guard sent else {
                // Not sent (no database, or the send failed): the plain path connects, retries and reports.
                try reply(handle(request, store: &store), to: request, started: started, wake: wake)
                return
            }
            if queue.isEmpty { queue = try takeRequests(wake) }
            if queue.isEmpty, let live = store { queue = try requests(whileRunningOn: live.connection, wake: wake) }
            var next: Store.IngestStatement?
            if case .ingest(let records, let receivedAtMs, let contextWanted)? = queue.first {
                queue.removeFirst()
                next = Store.ingestStatement(records, receivedAtMs: receivedAtMs, contextWanted: contextWanted)
            }
            // The statement's result is awaited before the next batch goes out: if it failed, the
            // batch is stored again one by one, which needs the connection idle. Its rows are read
            // after, so that PostgreSQL runs the next batch meanwhile.
            let result = Result {
                guard let live = store else { throw PostgresError(code: .connectionFailed, message: "not connected") }
                return try live.receiveResult(current)
            }
            var failedReply: StoreReply?
            if case .failure(let error) = result {
                failedReply = guarded(request, store: &store) { live in try ingested(current, on: live) { throw error } }
            }
            var nextStarted = started
            var nextSent = false
            if let next {
                nextStarted = DispatchTime.now().uptimeNanoseconds
                nextSent = (try? send(next, store: &store)) != nil
            }
            let reply = try failedReply ?? answered(current, request, try result.get())
            try self.reply(reply, to: request, started: started, wake: wake)
            guard let next else { return }
            (current, started, sent) = (next, nextStarted, nextSent)
        }
    }

    /// The requests posted so far. The wake-ups posted with them are taken too: the hub posts a
    /// request before its wake-up, so none is lost, and a thread that keeps finding work in the
    /// mailbox (a run of ingests) must not leave the wake-ups to pile up until the hub's sends block.
    private func takeRequests(_ wake: Socket) throws -> [StoreRequest] {
        while try wake.receive(dontWait: true) != nil {}
        return requests.drain()
    }

    /// Waits until the statement in flight on `connection` has its answer or requests arrive,
    /// whichever comes first, and returns the requests (none if the answer came first). The hub
    /// posts the next batch while this one runs: waiting only for the answer, the thread would
    /// build that batch after it, with PostgreSQL idle in between.
    private func requests(whileRunningOn connection: Connection, wake: Socket) throws -> [StoreRequest] {
        let socket = connection.socket
        guard socket >= 0 else { return [] }
        var poller = Poller()
        poller.add(wake)
        poller.add(fd: socket)
        while !connection.resultReady() {
            guard try poller.wait(timeoutMilliseconds: -1)[0] else { continue }
            let arrived = try takeRequests(wake)
            if !arrived.isEmpty { return arrived }
        }
        return []
    }

    private func send(_ statement: Store.IngestStatement, store: inout Store?) throws {
        try guardedConnection(&store).send(statement)
    }

    private func reply(_ reply: StoreReply, to request: StoreRequest, started: UInt64, wake: Socket) throws {
        let nanoseconds = DispatchTime.now().uptimeNanoseconds - started
        let microseconds = Int(nanoseconds / 1000)
        timing.record(items: request.itemCount, microseconds: microseconds)
        if let recorders {
            recorders.batchSize.record(request.itemCount)
            recorders.duration.recordNanoseconds(Int64(nanoseconds))
        }
        logger.debug("\(name) store request \(request.kind): \(request.itemCount) items in \(microseconds) µs")
        replies.post(reply)
        try wake.send([[1]])
    }

    /// Runs one request, (re)connecting first if needed; a lost connection is reported, not fatal.
    private func handle(_ request: StoreRequest, store: inout Store?) -> StoreReply {
        guarded(request, store: &store) { live in try perform(request, on: live) }
    }

    /// The connection, made again first if there is none or it was lost.
    private func guardedConnection(_ store: inout Store?) throws -> Store {
        if let live = store, live.connection.isConnected { return live }
        store = nil
        let live = try Store(conninfo: conninfo, owner: owner, contextRecentDays: contextRecentDays, holdsWork: true)
        logger.info("store connected to PostgreSQL")
        store = live
        return live
    }

    /// `body`'s reply, or the request's failure reply if it threw; a lost connection is dropped.
    private func guarded(_ request: StoreRequest, store: inout Store?, _ body: (Store) throws -> StoreReply) -> StoreReply {
        do {
            return try body(try guardedConnection(&store))
        } catch {
            let failure = Self.failure(error)
            if failure.unavailable { store = nil }
            logger.error("store request failed: \(failure.reason)")
            return Self.failedReply(request, failure)
        }
    }

    /// The reply to a committed batch, from its result. Rows that do not answer the batch
    /// (a hub and a schema that disagree) fail each of its messages, as storing them one by one
    /// would: they are refused and quarantined, though committed, since the hub cannot tell which
    /// answer is whose; a replay from the quarantine is answered as a duplicate.
    private func answered(_ statement: Store.IngestStatement, _ request: StoreRequest, _ result: PostgresResult) -> StoreReply {
        do {
            return .ingested(try Store.answer(statement, result))
        } catch {
            let failure = Self.failure(error)
            logger.error("store request failed: \(failure.reason)")
            return Self.failedReply(request, failure)
        }
    }

    /// An ingest's reply from its outcomes; when the batch failed on its data, its records stored
    /// one by one instead, so that one bad record does not fail the others.
    private func ingested(
        _ statement: Store.IngestStatement, on store: Store, retried: Bool = false, _ answer: () throws -> Store.IngestAnswer
    ) throws -> StoreReply {
        do {
            return .ingested(try answer())
        } catch let error as PostgresError where error.isTransient && !retried && statement.records.count > 1 {
            // Another hub storing the same customers at that moment: the batch goes whole once more.
            logger.warning("batch of \(statement.records.count) met another transaction (\(error.sqlState ?? "")); storing it again")
            return try ingested(statement, on: store, retried: true) { try store.ingest(statement) }
        } catch let error as PostgresError where !error.isConnectionLoss && statement.records.count > 1 {
            logger.warning("batch of \(statement.records.count) failed (\(error)); storing one by one")
            return .ingested(
                statement.records.map { record in
                    Result { try store.ingest([record], receivedAtMs: statement.receivedAtMs)[0] }.mapError(Self.failure)
                }, contexts: [:])
        }
    }

    private func perform(_ request: StoreRequest, on store: Store) throws -> StoreReply {
        switch request {
        case .ingest(let records, let receivedAtMs, let contextWanted):
            let statement = Store.ingestStatement(records, receivedAtMs: receivedAtMs, contextWanted: contextWanted)
            return try ingested(statement, on: store) { try store.ingest(statement) }
        case .apply(let transitions, let times, let checks, let wanted):
            let (applied, events) = try store.applyRecording(transitions, at: times, returningEvents: wanted)
            return .applied(
                transitions: transitions,
                .success(
                    Store.AppliedBatch(
                        applied: applied, stored: try store.answerStates(of: checks), events: events, eventsRead: wanted, decidedFrom: times.min())))
        case .loadHeld(let peer, let ids):
            return .held(peer, .success(try store.loadPending(ids: ids)))
        case .loadPending(let queue, let limit, let held):
            return .pending(queue: queue, limit: limit, .success(try store.loadPending(queue: queue, limit: limit, skipping: held)))
        case .contexts(let customers):
            return .contexts(.success(try store.contexts(of: customers)))
        case .quarantine(let entries, let bytes):
            try store.quarantine(entries)
            return .quarantined(count: entries.count, bytes: bytes, nil)
        case .eventsOf(let deliveries, let sinceMs):
            return .events(.success(try store.events(of: deliveries, sinceMs: sinceMs)))
        case .customerRecord(let peer, let queryID, let id, let identity):
            return .customerRecord(peer, queryID: queryID, .success(try store.customerRecord(id: id, identity: identity)))
        case .maintain(let nowMs, let retention, let valueTiers, let signals):
            try store.ensurePartitions(nowMs: nowMs)
            let removed = try store.applyRetention(retention, nowMs: nowMs)
            if let valueTiers { try store.computeValueTiers(valueTiers, nowMs: nowMs, onlyIfDue: true) }
            try store.computeSignals(signals, nowMs: nowMs)
            return .maintained(nil, retention: removed)
        case .processMerges(let settings):
            return .merged(.success(try store.processMergeCandidates(settings)))
        case .queueFigures(let queues, let nowMs):
            return .queueFigures(
                .success(
                    QueueFigures(
                        queues: try store.queueSummaries(queues: queues, nowMs: nowMs), quarantine: try store.recentQuarantine(limit: 10),
                        dead: try store.recentDead(limit: 10))))
        case .reply(let peer, let reply, let worker, let expireAfterMs):
            return .replied(peer, reply, .success(try store.storeReply(reply, worker: worker, expireAfterMs: expireAfterMs)))
        case .claimOutbound(let channels, let limit, let settings):
            return .outboundClaimed(
                .success(
                    try store.claimOutbound(
                        owner: store.owner, channels: channels, limit: limit, leaseMs: settings.deliverTimeoutMs, maxAttempts: settings.maxAttempts)))
        case .outboundResults(let results, let settings):
            return .outboundRecorded(results, .success(try store.recordOutboundResults(results, owner: store.owner, settings: settings)))
        case .contactStatus(let peer, let queryID, let id, let identity):
            let found = try store.contactStatus(customerID: id, identity: identity)
            return .contactStatus(
                peer, queryID: queryID, .success(OpenContacts(queryID: queryID, customerID: found?.customerID, contacts: found?.contacts ?? [])))
        case .campaignPass(let nowMs, let settings):
            try store.closeIdleConversations(minutes: settings.conversationIdleMinutes)
            return .campaignPassed(.success(try store.runCampaigns(nowMs: nowMs, settings: settings)))
        case .renewLease(let leaseMs, let sentAt):
            return .leaseRenewed(sentAt: sentAt, .success(try store.renewLease(leaseMs: leaseMs)))
        case .adoptHubs:
            let hubs = try store.adoptHubs()
            return .adopted(.success(Adopted(hubs: hubs, offered: hubs.isEmpty ? [] : try store.loadOffered())))
        case .stop:
            fatalError("stop is handled by the loop")
        }
    }

    private static func failedReply(_ request: StoreRequest, _ failure: StoreFailure) -> StoreReply {
        switch request {
        case .ingest(let records, _, _): .ingested(records.map { _ in .failure(failure) }, contexts: [:])
        case .apply(let transitions, _, _, _): .applied(transitions: transitions, .failure(failure))
        case .loadHeld(let peer, _): .held(peer, .failure(failure))
        case .loadPending(let queue, let limit, _): .pending(queue: queue, limit: limit, .failure(failure))
        case .contexts: .contexts(.failure(failure))
        case .quarantine(let entries, let bytes): .quarantined(count: entries.count, bytes: bytes, failure)
        case .eventsOf: .events(.failure(failure))
        case .customerRecord(let peer, let queryID, _, _): .customerRecord(peer, queryID: queryID, .failure(failure))
        case .maintain, .stop: .maintained(failure)
        case .processMerges: .merged(.failure(failure))
        case .queueFigures: .queueFigures(.failure(failure))
        case .reply(let peer, let reply, _, _): .replied(peer, reply, .failure(failure))
        case .claimOutbound: .outboundClaimed(.failure(failure))
        case .outboundResults(let results, _): .outboundRecorded(results, .failure(failure))
        case .contactStatus(let peer, let queryID, _, _): .contactStatus(peer, queryID: queryID, .failure(failure))
        case .campaignPass: .campaignPassed(.failure(failure))
        case .renewLease(_, let sentAt): .leaseRenewed(sentAt: sentAt, .failure(failure))
        case .adoptHubs: .adopted(.failure(failure))
        }
    }

    static func failure(_ error: any Error) -> StoreFailure {
        if let error = error as? PostgresError {
            let state = error.sqlState.map { " [\($0)]" } ?? ""
            return StoreFailure(
                kind: error.isConnectionLoss ? .unavailable : .refused(sqlState: error.sqlState), reason: error.description,
                refusal: "PostgreSQL refused it\(state): \(error.message)")
        }
        return StoreFailure(kind: .unexpected, reason: "\(error)", refusal: "\(error)")
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
        case .loadHeld: "load_held"
        case .loadPending: "load_pending"
        case .contexts: "contexts"
        case .quarantine: "quarantine"
        case .maintain: "maintain"
        case .eventsOf: "events_of"
        case .customerRecord: "customer_record"
        case .processMerges: "process_merges"
        case .queueFigures: "queue_figures"
        case .reply: "reply"
        case .claimOutbound: "claim_outbound"
        case .outboundResults: "outbound_results"
        case .contactStatus: "contact_status"
        case .campaignPass: "campaign_pass"
        case .renewLease: "renew_lease"
        case .adoptHubs: "adopt_hubs"
        case .stop: "stop"
        }
    }

    /// Messages, transitions, customers or entries in the request.
    var itemCount: Int {
        switch self {
        case .ingest(let records, _, _): records.count
        case .apply(let transitions, _, let checks, _): transitions.count + checks.count
        case .loadHeld(_, let ids): ids.count
        case .contexts(let customers): customers.count
        case .quarantine(let entries, _): entries.count
        case .loadPending(_, let limit, _): limit
        case .eventsOf(let deliveries, _): deliveries.count
        case .customerRecord: 1
        case .maintain, .processMerges, .stop: 0
        case .queueFigures(let queues, _): queues.count
        case .reply, .contactStatus: 1
        case .claimOutbound(_, let limit, _): limit
        case .outboundResults(let results, _): results.count
        case .campaignPass, .renewLease, .adoptHubs: 0
        }
    }
}
