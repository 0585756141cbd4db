import SwitchboardProtocol
import ZeroMQ

/// A worker's connection to the hub, or to every hub of several sharing one database (DEALER
/// sockets, SWB/1 worker protocol).
///
/// Not thread-safe. Call `next` in a loop: it sends heartbeats when due, re-announces the worker
/// when a hub says it does not know it (after a hub restart), and returns tasks and answers.
///
/// With several hubs, the worker announces itself to each with its whole capacity and declines
/// (REJECT, unseen by the caller) a task that comes while it holds that many. An answer goes to
/// the hub that offered the task. A hub silent for three heartbeats is taken for gone: the tasks
/// it offered are claimed from the others (READY again, listing them), and their answers are sent
/// to the others until one confirms (docs/scaling.md).
public final class WorkerClient {
    public let registration: Ready
    private let context: Context
    private final class HubLink {
        let socket: Socket
        var lastSent: Int64 = 0
        var lastHeard: Int64
        /// READY was sent again after a hub restart; unconfirmed answers follow its WELCOME.
        var reannouncing = false
        var reannouncedAt: Int64 = 0
        init(socket: Socket, now: Int64) {
            self.socket = socket
            lastHeard = now
        }
    }
    private let links: [HubLink]
    private var heartbeatMs: Int64 = 1000
    /// DONE and FAIL sent but not yet confirmed: re-sent after the hub asks for READY again (it restarted).
    private var unconfirmed: [Int64: Command] = [:]
    /// Tasks received and not yet answered: what this worker holds.
    private var holding: Set<Int64> = []
    /// The hub (index in `links`) each held or unconfirmed task came from.
    private var origin: [Int64: Int] = [:]
    /// Offers declined because the worker was full (several hubs), by delivery, as many as are not
    /// answered yet: their answers are not the caller's. One task can be declined several times
    /// before the first answer comes, and be taken when offered again.
    private var declinedOffers: [Int64: Int] = [:]
    /// Heartbeats an answer has gone unconfirmed since its hub went away; past `maxRehomes` it is given up.
    private var rehomes: [Int64: Int] = [:]
    private static let maxRehomes = 30
    /// When the tasks of gone hubs were last claimed from the others.
    private var lastRehome: Int64 = 0

    /// What `next` can return.
    public enum Event: Equatable {
        case task(TaskOffer)
        case confirmed(Confirm)
        case refused(WorkerError)
        /// The answer to a QUERY sent with `send(query:)`.
        case result(QueryResult)
        /// A REPLY was stored: it is on its way to the customer.
        case replied(Replied)
    }

    /// REPLYs sent and not answered by REPLIED yet: sent again after the hub asks for READY.
    private var unansweredReplies: [String: Command] = [:]

    /// Events `query` received while it waited for its RESULT: `next` returns them first.
    private var waitingEvents: [Event] = []

    /// Connects to the hub's worker endpoint; pass `security` when the hub runs with `security: curve`.
    public convenience init(registration: Ready, endpoint: String, security: ClientSecurity? = nil, context: Context = Context()) throws {
        try self.init(registration: registration, endpoints: [endpoint], security: security, context: context)
    }

    /// Connects to the worker endpoint of every hub sharing one database.
    public init(registration: Ready, endpoints: [String], security: ClientSecurity? = nil, context: Context = Context()) throws {
        precondition(!endpoints.isEmpty, "a worker needs a hub to connect to")
        self.registration = registration
        self.context = context
        let now = monotonicMs()
        links = try endpoints.map { endpoint in
            let socket = try context.socket(.dealer)
            try security?.apply(to: socket)
            try socket.connect(endpoint)
            return HubLink(socket: socket, now: now)
        }
    }

    /// Sends READY to every hub and waits for their WELCOMEs; with several hubs, one is enough
    /// (the others welcome the worker when they come). What a hub sends after its WELCOME while
    /// others have not answered yet (its first TASKs) is kept for `next`.
    public func ready(timeoutMs: Int = 10_000) throws {
        for link in links { try send(.ready(registration), on: link, timeoutMs: timeoutMs, what: "room to send READY") }
        let deadline = monotonicMs() + Int64(timeoutMs)
        var welcomed = Set<Int>()
        while monotonicMs() < deadline && welcomed.count < links.count {
            guard let (index, command) = try receiveAny(timeoutMs: Int(max(1, deadline - monotonicMs()))) else { break }
            switch command {
            case .welcome(let welcome):
                heartbeatMs = Int64(welcome.heartbeatMs)
                welcomed.insert(index)
            case .error(let error) where error.deliveryID == nil:
                throw ClientError.workerError(error)
            default:
                if let event = try handle(command, from: index) { waitingEvents.append(event) }
            }
        }
        if welcomed.isEmpty { throw ClientError.timedOut("WELCOME") }
    }

    /// The next task or answer, or nil after `timeoutMs`; keeps the connections alive meanwhile.
    public func next(timeoutMs: Int) throws -> Event? {
        if !waitingEvents.isEmpty { return waitingEvents.removeFirst() }
        let deadline = monotonicMs() + Int64(timeoutMs)
        while true {
            let now = monotonicMs()
            for link in links where now - link.lastSent >= heartbeatMs {
                // With no connection to send it on, this beat is skipped: the next is due a beat later.
                do { try send(.heartbeat, on: link, timeoutMs: 0, what: "room to send HEARTBEAT") } catch ClientError.timedOut { link.lastSent = now }
            }
            try rehomeFromGoneHubs(now: now)
            let nextBeat = links.map { heartbeatMs - (now - $0.lastSent) }.min() ?? heartbeatMs
            if let (index, command) = try receiveAny(timeoutMs: Int(max(0, min(deadline - now, nextBeat)))),
                let event = try handle(command, from: index)
            {
                return event
            }
            if monotonicMs() >= deadline { return nil }
        }
    }

    /// One command from hub `index`: the event it makes for the caller, if any.
    private func handle(_ command: Command, from index: Int) throws -> Event? {
        let link = links[index]
        switch command {
        case .task(let task):
            // A task held already comes again when the hub took it back (its lease or offer ran out).
            if links.count > 1 && !holding.contains(task.deliveryID) && holding.count >= registration.capacity {
                declinedOffers[task.deliveryID, default: 0] += 1
                try send(
                    .reject(Reject(deliveryID: task.deliveryID, reason: "at capacity with another hub's tasks", busy: true)), on: link,
                    timeoutMs: Int(heartbeatMs), what: "room to decline an offer")
                return nil
            }
            holding.insert(task.deliveryID)
            origin[task.deliveryID] = index
            return .task(task)
        case .confirm(let confirm):
            // A decline goes back to the queue: its CONFIRM says pending. An answer of the same task
            // offered again since is the caller's, even if the decline's CONFIRM was lost.
            if confirm.state == "pending", answersDecline(confirm.deliveryID) { return nil }
            // Nothing this worker sent for a task it holds and has not answered is settled: a late answer of an earlier offer.
            if links.count > 1, confirm.state != "in_progress", holding.contains(confirm.deliveryID), unconfirmed[confirm.deliveryID] == nil {
                return nil
            }
            // An ACCEPT's CONFIRM (in progress) settles nothing: a DONE sent since still waits for its own.
            if confirm.state != "in_progress" {
                // With several hubs an answer may go to more than one: the first CONFIRM is the caller's.
                guard unconfirmed.removeValue(forKey: confirm.deliveryID) != nil || origin[confirm.deliveryID] == index || links.count == 1
                else { return nil }
                origin[confirm.deliveryID] = nil
                rehomes[confirm.deliveryID] = nil
            }
            return .confirmed(confirm)
        case .error(let error) where error.code == .notReady:
            // Once per heartbeat at most; again if that READY was lost (the hub died once more).
            if !link.reannouncing || monotonicMs() - link.reannouncedAt > heartbeatMs { try reannounce(index) }
        case .welcome(let welcome) where link.reannouncing:
            link.reannouncing = false
            heartbeatMs = Int64(welcome.heartbeatMs)
            for (id, command) in unconfirmed.sorted(by: { $0.key < $1.key }) where origin[id] == index {
                try send(command, on: link, timeoutMs: Int(heartbeatMs), what: "room to send an answer again")
            }
            for (_, command) in unansweredReplies.sorted(by: { $0.key < $1.key }) {
                guard case .reply(let reply) = command, origin[reply.deliveryID] ?? index == index else { continue }
                try send(command, on: link, timeoutMs: Int(heartbeatMs), what: "room to send a REPLY again")
            }
        case .error(let error):
            if let id = error.deliveryID {
                if answersDecline(id) { return nil }
                // A late answer of a hub that had gone to an answer another hub confirmed already.
                if links.count > 1 && unconfirmed[id] == nil && !holding.contains(id) { return nil }
                // Another hub than the one that has it now (its own hub went away): another will confirm.
                if let from = origin[id], from != index || isGone(links[from], now: monotonicMs()), unconfirmed[id] != nil,
                    error.code == .notHeld
                {
                    return nil
                }
                unconfirmed[id] = nil
                origin[id] = nil
            }
            return .refused(error)
        case .result(let result):
            return .result(result)
        case .replied(let replied):
            unansweredReplies["\(replied.deliveryID)/\(replied.replyID)"] = nil
            return .replied(replied)
        default: break
        }
        return nil
    }

    /// Whether an answer for `id` is that of a decline (counted off): one is still unanswered.
    private func answersDecline(_ id: Int64) -> Bool {
        guard let count = declinedOffers[id] else { return false }
        declinedOffers[id] = count > 1 ? count - 1 : nil
        return true
    }

    /// Whether a hub has been silent for three heartbeats (it sends one every heartbeat).
    private func isGone(_ link: HubLink, now: Int64) -> Bool { links.count > 1 && now - link.lastHeard > 3 * heartbeatMs }

    /// For each gone hub, once a heartbeat: the tasks it offered are claimed from the hubs still
    /// up (READY listing them), and the answers to them sent there too, until one confirms.
    private func rehomeFromGoneHubs(now: Int64) throws {
        guard links.count > 1 else { return }
        let gone = Set(links.indices.filter { isGone(links[$0], now: now) })
        guard !gone.isEmpty, gone.count < links.count, now - lastRehome >= heartbeatMs else { return }
        let orphans = origin.filter { gone.contains($0.value) }.map(\.key).sorted()
        guard !orphans.isEmpty else { return }
        lastRehome = now
        for (index, link) in links.enumerated() where !gone.contains(index) {
            var claim = registration
            claim.holding = orphans
            do {
                try send(.ready(claim), on: link, timeoutMs: 0, what: "room to claim tasks")
                for id in orphans { if let answer = unconfirmed[id] { try send(answer, on: link, timeoutMs: 0, what: "room to send an answer") } }
            } catch ClientError.timedOut {
                continue
            }
        }
        for id in orphans where unconfirmed[id] != nil {
            rehomes[id, default: 0] += 1
            if rehomes[id]! > Self.maxRehomes {
                rehomes[id] = nil
                unconfirmed[id] = nil
                origin[id] = nil
                waitingEvents.append(
                    .refused(
                        WorkerError(
                            code: .notHeld, detail: .settled, reason: "no hub confirmed this answer after its hub went away", deliveryID: id)))
            }
        }
    }

    /// Answers a task. These and `bye` wait up to `timeoutMs` for room to send (the hub is not
    /// reading, or there is no connection), then throw `timedOut`; an answer not sent stays this
    /// worker's to send again once the hub asks for READY.
    public func done(_ deliveryID: Int64, outcome: String, notes: String? = nil, timeoutMs: Int = 10_000) throws {
        try settle(deliveryID, .done(Done(deliveryID: deliveryID, outcome: outcome, notes: notes)), timeoutMs: timeoutMs)
    }

    /// DONE with the worker's report beyond an outcome: a resolution (closing the task's complaint),
    /// what the customer said of us, what was learned of the customer.
    public func done(_ done: Done, timeoutMs: Int = 10_000) throws {
        try settle(done.deliveryID, .done(done), timeoutMs: timeoutMs)
    }

    /// FAIL, to be offered again after `afterMs`, or after the hub's backoff when nil.
    public func retry(_ deliveryID: Int64, afterMs: Int? = nil, timeoutMs: Int = 10_000) throws {
        let disposition: Fail.Disposition = afterMs.map { .retryAfter(milliseconds: $0) } ?? .retryWithBackoff
        try settle(deliveryID, .fail(Fail(deliveryID: deliveryID, disposition: disposition)), timeoutMs: timeoutMs)
    }

    public func reject(_ deliveryID: Int64, reason: String, timeoutMs: Int = 10_000) throws {
        try settle(deliveryID, .fail(Fail(deliveryID: deliveryID, disposition: .reject(reason: reason))), timeoutMs: timeoutMs)
    }

    /// REPLY: an answer to the customer on a task this worker holds (before its DONE); REPLIED
    /// comes from `next`. Sent again, under the same reply id, if the hub restarts before answering.
    public func reply(_ reply: Reply, timeoutMs: Int = 10_000) throws {
        let command = Command.reply(reply)
        unansweredReplies["\(reply.deliveryID)/\(reply.replyID)"] = command
        try send(command, on: link(of: reply.deliveryID), timeoutMs: timeoutMs, what: "room to send REPLY")
    }

    /// QUERY: asks the hub for a customer's whole record; its RESULT comes from `next`.
    public func send(query: CustomerQuery, timeoutMs: Int = 10_000) throws {
        let now = monotonicMs()
        try send(.query(query), on: links.first { !isGone($0, now: now) } ?? links[0], timeoutMs: timeoutMs, what: "room to send QUERY")
    }

    /// QUERY and wait for its RESULT: the customer's record, or nil when there is no such customer.
    /// Tasks and answers that arrive meanwhile are kept for `next`; a refusal of the query throws.
    public func query(_ query: CustomerQuery, timeoutMs: Int = 10_000) throws -> JSONValue? {
        try send(query: query, timeoutMs: timeoutMs)
        let deadline = monotonicMs() + Int64(timeoutMs)
        var kept: [Event] = []
        defer { waitingEvents += kept }
        while monotonicMs() < deadline {
            guard let event = try next(timeoutMs: Int(max(1, deadline - monotonicMs()))) else { break }
            switch event {
            case .result(let result) where result.queryID == query.queryID: return result.customer
            case .refused(let error) where error.deliveryID == nil && error.detail != "not_ready": throw ClientError.workerError(error)
            default: kept.append(event)
            }
        }
        throw ClientError.timedOut("RESULT of query \(query.queryID)")
    }

    /// ACCEPT: this worker takes the offered task (answered by CONFIRM with state `in_progress`).
    public func accept(_ deliveryID: Int64, timeoutMs: Int = 10_000) throws {
        try send(
            .accept(Accept(deliveryID: deliveryID)), on: link(of: deliveryID), timeoutMs: timeoutMs,
            what: "room to send ACCEPT for delivery \(deliveryID)")
    }

    /// REJECT: this worker declines the offered task; the hub offers it to another worker.
    public func declineOffer(_ deliveryID: Int64, reason: String? = nil, timeoutMs: Int = 10_000) throws {
        try settle(deliveryID, .reject(Reject(deliveryID: deliveryID, reason: reason)), timeoutMs: timeoutMs)
    }

    /// TRANSFER: hands the task to another queue with a reason; the hub answers CONFIRM `transferred`.
    public func transfer(_ deliveryID: Int64, to queue: String, reason: String, timeoutMs: Int = 10_000) throws {
        try settle(deliveryID, .transfer(Transfer(deliveryID: deliveryID, queue: queue, reason: reason)), timeoutMs: timeoutMs)
    }

    private func settle(_ deliveryID: Int64, _ command: Command, timeoutMs: Int) throws {
        holding.remove(deliveryID)
        unconfirmed[deliveryID] = command
        try send(command, on: link(of: deliveryID), timeoutMs: timeoutMs, what: "room to send the answer for delivery \(deliveryID)")
    }

    /// The hub a task's answers go to: the one that offered it (the first when unknown).
    private func link(of deliveryID: Int64) -> HubLink { links[origin[deliveryID] ?? 0] }

    /// Hub `index` does not know this connection (it restarted): READY again, listing what this
    /// worker holds from it, so the hub keeps those deliveries with it; unconfirmed answers are
    /// re-sent after WELCOME.
    private func reannounce(_ index: Int) throws {
        var registration = registration
        registration.holding = holding.union(unconfirmed.keys).filter { (origin[$0] ?? 0) == index }.sorted()
        let link = links[index]
        link.reannouncing = true
        link.reannouncedAt = monotonicMs()
        try send(.ready(registration), on: link, timeoutMs: Int(heartbeatMs), what: "room to send READY again")
    }

    /// Announces a drain to every hub: they send nothing new.
    public func bye(timeoutMs: Int = 10_000) throws {
        for link in links { try send(.bye, on: link, timeoutMs: timeoutMs, what: "room to send BYE") }
    }

    /// Closes the connections at once, as a crashed worker would.
    public func close() { for link in links { link.socket.close() } }

    /// Sends raw frames to the first hub (for tests of the hub's input checks).
    public func sendRaw(_ frames: [[UInt8]]) throws { try links[0].socket.send(frames) }

    private func send(_ command: Command, on link: HubLink, timeoutMs: Int, what: String) throws {
        try link.socket.send(Codec.encode(command), timeoutMs: timeoutMs, what: what)
        link.lastSent = monotonicMs()
    }

    /// The next command from any hub, with the hub's index, or nil after `timeoutMs`.
    private func receiveAny(timeoutMs: Int) throws -> (Int, Command)? {
        var poller = Poller()
        for link in links { poller.add(link.socket) }
        let readable = try poller.wait(timeoutMilliseconds: timeoutMs)
        for (index, link) in links.enumerated() where readable[index] {
            guard let command = try link.socket.receiveArrivedCommand() else { continue }
            link.lastHeard = monotonicMs()
            return (index, command)
        }
        return nil
    }
}
