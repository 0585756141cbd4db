import SwitchboardProtocol
import ZeroMQ

/// A worker's connection to the hub (DEALER socket, SWB/1 worker protocol).
///
/// Not thread-safe. Call `next` in a loop: it sends heartbeats when due, re-announces the worker
/// when the hub says it does not know it (after a hub restart), and returns tasks and answers.
public final class WorkerClient {
    public let registration: Ready
    private let context: Context
    private let socket: Socket
    private var heartbeatMs: Int64 = 1000
    private var lastSent: Int64 = 0
    /// DONE and FAIL sent but not yet confirmed: re-sent after the hub asks for READY again (it restarted).
    private var unconfirmed: [Int64: Command] = [:]
    /// Tasks received and not yet answered: what this worker holds.
    private var holding: Set<Int64> = []
    /// READY was sent again after a hub restart; unconfirmed answers follow its WELCOME.
    private var reannouncing = false
    private var reannouncedAt: Int64 = 0

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
    public init(registration: Ready, endpoint: String, security: ClientSecurity? = nil, context: Context = Context()) throws {
        self.registration = registration
        self.context = context
        socket = try context.socket(.dealer)
        try security?.apply(to: socket)
        try socket.connect(endpoint)
    }

    /// Sends READY and waits for WELCOME.
    public func ready(timeoutMs: Int = 10_000) throws {
        try send(.ready(registration), timeoutMs: timeoutMs, what: "room to send READY")
        let deadline = monotonicMs() + Int64(timeoutMs)
        while monotonicMs() < deadline {
            guard let command = try receive(timeoutMs: Int(max(1, deadline - monotonicMs()))) else { break }
            switch command {
            case .welcome(let welcome):
                heartbeatMs = Int64(welcome.heartbeatMs)
                return
            case .error(let error):
                throw ClientError.workerError(error)
            default:
                continue
            }
        }
        throw ClientError.timedOut("WELCOME")
    }

    /// The next task or answer, or nil after `timeoutMs`; keeps the connection alive meanwhile.
    public func next(timeoutMs: Int) throws -> Event? {
        if !waitingEvents.isEmpty { return waitingEvents.removeFirst() }
        let deadline = monotonicMs() + Int64(timeoutMs)
        while true {
            let now = monotonicMs()
            if now - lastSent >= heartbeatMs {
                // With no connection to send it on, this beat is skipped: the next is due a beat later.
                do { try send(.heartbeat, timeoutMs: 0, what: "room to send HEARTBEAT") } catch ClientError.timedOut { lastSent = now }
            }
            let wait = min(deadline - now, heartbeatMs - (now - lastSent))
            if let command = try receive(timeoutMs: Int(max(0, wait))) {
                switch command {
                case .task(let task):
                    holding.insert(task.deliveryID)
                    return .task(task)
                case .confirm(let confirm):
                    // An ACCEPT's CONFIRM (in progress) settles nothing: a DONE sent since still waits for its own.
                    if confirm.state != "in_progress" { unconfirmed[confirm.deliveryID] = nil }
                    return .confirmed(confirm)
                case .error(let error) where error.code == .notReady:
                    // Once per heartbeat at most; again if that READY was lost (the hub died once more).
                    if !reannouncing || monotonicMs() - reannouncedAt > heartbeatMs { try reannounce() }
                case .welcome(let welcome) where reannouncing:
                    reannouncing = false
                    heartbeatMs = Int64(welcome.heartbeatMs)
                    for (_, command) in unconfirmed.sorted(by: { $0.key < $1.key }) {
                        try send(command, timeoutMs: Int(heartbeatMs), what: "room to send an answer again")
                    }
                    for (_, command) in unansweredReplies.sorted(by: { $0.key < $1.key }) {
                        try send(command, timeoutMs: Int(heartbeatMs), what: "room to send a REPLY again")
                    }
                case .error(let error):
                    if let id = error.deliveryID { unconfirmed[id] = nil }
                    return .refused(error)
                case .result(let result):
                    return .result(result)
                case .replied(let replied):
                    unansweredReplies["\(replied.deliveryID)/\(replied.replyID)"] = nil
                    return .replied(replied)
                default: break
                }
            }
            if monotonicMs() >= deadline { return nil }
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
        try send(command, timeoutMs: timeoutMs, what: "room to send REPLY")
    }

    /// QUERY: asks the hub for a customer's whole record; its RESULT comes from `next`.
    public func send(query: CustomerQuery, timeoutMs: Int = 10_000) throws {
        try send(.query(query), timeoutMs: timeoutMs, what: "room to send QUERY")
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
        try send(.accept(Accept(deliveryID: deliveryID)), timeoutMs: timeoutMs, what: "room to send ACCEPT for delivery \(deliveryID)")
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
        try send(command, timeoutMs: timeoutMs, what: "room to send the answer for delivery \(deliveryID)")
    }

    /// The hub does not know this connection (it restarted): READY again, listing what this worker
    /// holds, so the hub keeps those deliveries with it; unconfirmed answers are re-sent after WELCOME.
    private func reannounce() throws {
        var registration = registration
        registration.holding = holding.union(unconfirmed.keys).sorted()
        reannouncing = true
        reannouncedAt = monotonicMs()
        try send(.ready(registration), timeoutMs: Int(heartbeatMs), what: "room to send READY again")
    }

    /// Announces a drain: the hub sends nothing new.
    public func bye(timeoutMs: Int = 10_000) throws { try send(.bye, timeoutMs: timeoutMs, what: "room to send BYE") }

    /// Closes the connection at once, as a crashed worker would.
    public func close() { socket.close() }

    /// Sends raw frames (for tests of the hub's input checks).
    public func sendRaw(_ frames: [[UInt8]]) throws { try socket.send(frames) }

    private func send(_ command: Command, timeoutMs: Int, what: String) throws {
        try socket.send(Codec.encode(command), timeoutMs: timeoutMs, what: what)
        lastSent = monotonicMs()
    }

    private func receive(timeoutMs: Int) throws -> Command? {
        try socket.receiveCommand(timeoutMs: timeoutMs)
    }
}
