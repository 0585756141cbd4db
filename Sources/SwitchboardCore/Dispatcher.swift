import HeapModule
import SwitchboardProtocol

/// The dispatch state machine: which committed delivery goes to which worker, and when it comes back.
///
/// Pure (DESIGN §5): every event takes the clock as an argument and returns the actions the hub
/// loop must carry out; nothing here does I/O. Memory holds at most `windowPerQueue` ready
/// deliveries per queue; the rest stay in PostgreSQL and are loaded by `.refill` when the window runs low.
public struct Dispatcher {
    public let config: DispatchConfig
    private var ready: [String: Heap<ReadyEntry>] = [:]
    private var waiting: [Int64: DispatchTask] = [:]
    private var scheduled: [Int64: DispatchTask] = [:]
    private var offered: [Int64: OfferedTask] = [:]
    private var workers: [PeerID: WorkerState] = [:]
    /// Queues whose pending backlog in PostgreSQL is larger than what memory holds.
    private var overflowing: Set<String> = []
    private var refillsInFlight: Set<String> = []
    /// Deliveries settled while a refill was in flight: a refill answer read before the settle must not revive them.
    private var settledDuringRefill: Set<Int64> = []

    public init(config: DispatchConfig) {
        self.config = config
    }

    // MARK: Observation

    public var readyCount: Int { waiting.count + scheduled.count }
    public var offeredCount: Int { offered.count }
    public var workerCount: Int { workers.count }
    public func readyCount(queue: String) -> Int { ready[queue]?.count ?? 0 }
    /// How many more of `queue`'s deliveries the workers could take now, beyond those ready in
    /// memory: the free capacity of the workers that serve it, less its ready deliveries. A worker
    /// serving several queues counts for each, so this may promise more than is taken.
    public func freeSlots(queue: String) -> Int {
        var free = 0
        for worker in workers.values where worker.serves(queue) { free += max(worker.freeCapacity, 0) }
        return free - (ready[queue]?.count ?? 0)
    }
    /// The worker id of a connected peer, for logs.
    public func workerID(of peer: PeerID) -> String? { workers[peer]?.registration.workerID }

    // MARK: Deliveries

    /// Deliveries that are committed (fresh ingest) or loaded from the store (recovery, refill).
    public mutating func enqueue(_ tasks: [DispatchTask], now: Int64) -> [DispatchAction] {
        for task in tasks where !isKnown(task.deliveryID) && !settledDuringRefill.contains(task.deliveryID) {
            admit(task, now: now)
        }
        return pump(now: now)
    }

    /// Marks a queue as having pending deliveries in the store that memory does not hold (start-up).
    public mutating func markBacklog(queue: String) -> [DispatchAction] {
        overflowing.insert(queue)
        return requestRefill(queue)
    }

    /// A refill of `queue` found `found` pending deliveries and loaded `tasks` of them (those
    /// memory did not hold); finding fewer than asked means the store holds no more.
    public mutating func refilled(queue: String, tasks: [DispatchTask], found: Int, limit: Int, now: Int64) -> [DispatchAction] {
        refillsInFlight.remove(queue)
        if found < limit { overflowing.remove(queue) }
        var actions = enqueue(tasks, now: now)
        if refillsInFlight.isEmpty { settledDuringRefill.removeAll() }
        actions += refillIfLow(queue)
        return actions
    }

    /// A refill could not be read (the store is unavailable); the queue stays marked for a later `markBacklog`.
    public mutating func refillFailed(queue: String) {
        refillsInFlight.remove(queue)
        if refillsInFlight.isEmpty { settledDuringRefill.removeAll() }
    }

    /// The peers of every registered worker (for hub heartbeats).
    public var workerPeers: [PeerID] { Array(workers.keys) }

    /// A delivery a worker held when the hub stopped. It waits one heartbeat timeout for that worker
    /// to announce itself again listing it in READY's `holding`; otherwise it goes back to the queue.
    public mutating func restoreOffered(_ task: DispatchTask, workerID: String, now: Int64) {
        guard !isKnown(task.deliveryID) else { return }
        offered[task.deliveryID] = OfferedTask(task: task, peer: nil, workerID: workerID, leaseUntil: now + config.heartbeatTimeoutMs)
    }

    private func isKnown(_ id: Int64) -> Bool {
        waiting[id] != nil || scheduled[id] != nil || offered[id] != nil
    }

    private mutating func admit(_ task: DispatchTask, now: Int64) {
        if let notBefore = task.notBefore, notBefore > now {
            scheduled[task.deliveryID] = task
            return
        }
        let entry = ReadyEntry(urgency: task.urgency)
        // The heap is changed where it lies in the dictionary: a copy taken out and put back would
        // share storage with the dictionary's and copy every entry on each insert (a tenth of
        // the hub's CPU at full ingest, in `switchboard bench`).
        if ready[task.queue, default: Heap()].count >= config.windowPerQueue {
            overflowing.insert(task.queue)
            // Keep the most urgent in memory; the other one waits in PostgreSQL for a refill.
            guard let least = ready[task.queue]?.max, entry < least else { return }
            ready[task.queue]?.removeMax()
            waiting[least.urgency.deliveryID] = nil
        }
        ready[task.queue, default: Heap()].insert(entry)
        waiting[task.deliveryID] = task
    }

    // MARK: Workers

    /// A worker announced itself; a second READY with a known worker id replaces the old connection.
    public mutating func workerReady(_ peer: PeerID, _ registration: Ready, now: Int64) -> [DispatchAction] {
        if workers[peer] != nil {
            return [
                .refuse(
                    peer,
                    WorkerError(
                        code: .invalid, detail: "duplicate_ready",
                        reason: "worker '\(registration.workerID)' is already registered on this connection"))
            ]
        }
        var actions: [DispatchAction] = []
        if let previous = workers.first(where: { $0.value.registration.workerID == registration.workerID })?.key {
            actions += workerGone(previous, reason: "replaced by a new connection with the same worker id", now: now)
        }
        workers[peer] = WorkerState(peer: peer, registration: registration, lastSeen: now, idleSince: now)
        // Deliveries restored at start-up for this worker id: kept if it says it holds them, else re-offered.
        for (id, held) in offered where held.peer == nil && held.workerID == registration.workerID {
            if registration.holding.contains(id) {
                offered[id]?.peer = peer
                offered[id]?.leaseUntil = now + config.leaseMs
                workers[peer]?.held.insert(id)
            } else {
                offered[id] = nil
                actions += requeue(held.task, error: "worker '\(held.workerID)' came back without it", now: now)
            }
        }
        actions.append(.welcome(peer, Welcome(workerID: registration.workerID, heartbeatMs: Int(config.heartbeatMs))))
        return actions + pump(now: now)
    }

    /// Anything arrived from this peer: it is alive.
    public mutating func workerSeen(_ peer: PeerID, now: Int64) {
        workers[peer]?.lastSeen = now
    }

    public func isRegistered(_ peer: PeerID) -> Bool { workers[peer] != nil }

    /// Whether this worker holds this offer of the task now: not settled, not taken back, not offered again since.
    public func holds(_ task: DispatchTask, peer: PeerID) -> Bool {
        guard let held = offered[task.deliveryID] else { return false }
        return held.peer == peer && held.task.attempts == task.attempts
    }

    /// BYE: the worker finishes what it holds and gets nothing new.
    public mutating func workerDraining(_ peer: PeerID, now: Int64) -> [DispatchAction] {
        workers[peer]?.draining = true
        workers[peer]?.lastSeen = now
        return []
    }

    /// The worker disconnected or went silent: everything it held goes back to the queue at once.
    public mutating func workerGone(_ peer: PeerID, reason: String, now: Int64) -> [DispatchAction] {
        guard let worker = workers.removeValue(forKey: peer) else { return [] }
        var actions: [DispatchAction] = []
        for id in worker.held.sorted() {
            guard let held = offered.removeValue(forKey: id) else { continue }
            actions += requeue(held.task, error: "worker '\(worker.registration.workerID)' lost: \(reason)", now: now)
        }
        actions.append(.workerLost(peer, workerID: worker.registration.workerID, reason: reason, requeued: worker.held.count))
        return actions + pump(now: now)
    }

    // MARK: Outcomes

    /// DONE: stored, then confirmed; refused if this worker does not hold the delivery.
    public mutating func done(_ peer: PeerID, _ done: Done, now: Int64) -> [DispatchAction] {
        switch take(done.deliveryID, from: peer, now: now) {
        case .failure(let refusal):
            return [refusal.action]
        case .success(let held):
            let transition = DeliveryTransition.done(deliveryID: done.deliveryID, worker: held.workerID, outcome: done.outcome, notes: done.notes)
            return [.persist(transition, confirmTo: peer)] + pump(now: now)
        }
    }

    /// FAIL: retry later (counts as an attempt) or reject for good.
    public mutating func fail(_ peer: PeerID, _ fail: Fail, now: Int64) -> [DispatchAction] {
        switch take(fail.deliveryID, from: peer, now: now) {
        case .failure(let refusal):
            return [refusal.action]
        case .success(let held):
            var actions: [DispatchAction]
            switch fail.disposition {
            case .reject(let reason):
                actions = [.persist(.rejected(deliveryID: fail.deliveryID, worker: held.workerID, reason: reason), confirmTo: peer)]
            case .retryAfter(let milliseconds):
                actions = requeue(
                    held.task, error: "worker '\(held.workerID)' asked to retry", notBefore: now + Int64(milliseconds), now: now, confirmTo: peer)
            }
            return actions + pump(now: now)
        }
    }

    private mutating func take(_ deliveryID: Int64, from peer: PeerID, now: Int64) -> Result<OfferedTask, RefusalAction> {
        guard workers[peer] != nil else {
            return .failure(
                RefusalAction(
                    peer, WorkerError(code: .notReady, detail: "not_ready", reason: "send READY before answering tasks", deliveryID: deliveryID)))
        }
        workers[peer]?.lastSeen = now
        guard let held = offered[deliveryID], held.peer == peer else {
            return .failure(
                RefusalAction(
                    peer,
                    WorkerError(
                        code: .notHeld, detail: "not_held",
                        reason:
                            "delivery \(deliveryID) is not held by this worker (never offered to it, re-offered after its lease or heartbeat expired, or already settled)",
                        deliveryID: deliveryID)))
        }
        offered[deliveryID] = nil
        workers[peer]?.held.remove(deliveryID)
        if workers[peer]?.held.isEmpty == true { workers[peer]?.idleSince = now }
        noteSettled(deliveryID)
        return .success(held)
    }

    private mutating func noteSettled(_ id: Int64) {
        if !refillsInFlight.isEmpty { settledDuringRefill.insert(id) }
    }

    /// Back to the queue, or to the dead letters once it has had `maxAttempts` offers.
    private mutating func requeue(_ task: DispatchTask, error: String, notBefore: Int64? = nil, now: Int64, confirmTo: PeerID? = nil)
        -> [DispatchAction]
    {
        if task.attempts >= config.maxAttempts {
            noteSettled(task.deliveryID)
            return [.persist(.dead(deliveryID: task.deliveryID, error: "\(error); \(task.attempts) attempts made"), confirmTo: confirmTo)]
        }
        var again = task
        again.notBefore = notBefore
        admit(again, now: now)
        return [.persist(.retry(deliveryID: task.deliveryID, notBefore: notBefore ?? now, error: error), confirmTo: confirmTo)]
    }

    // MARK: Time

    /// Expires silent workers and overdue leases, releases scheduled retries, dispatches.
    public mutating func tick(now: Int64) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        for (peer, worker) in workers where now - worker.lastSeen > config.heartbeatTimeoutMs {
            actions += workerGone(peer, reason: "no heartbeat for \(now - worker.lastSeen) ms", now: now)
        }
        for (id, held) in offered where held.leaseUntil <= now {
            offered[id] = nil
            if let peer = held.peer { workers[peer]?.held.remove(id) }
            actions += requeue(held.task, error: "lease expired while held by '\(held.workerID)'", now: now)
        }
        for (id, task) in scheduled where (task.notBefore ?? 0) <= now {
            scheduled[id] = nil
            var due = task
            due.notBefore = nil
            admit(due, now: now)
        }
        return actions + pump(now: now)
    }

    // MARK: Dispatch

    /// Offers the most urgent ready deliveries to the best eligible workers until one side runs out.
    private mutating func pump(now: Int64) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        while let (queue, peer) = nextMatch() {
            guard let entry = ready[queue]?.popMin(), var task = waiting.removeValue(forKey: entry.urgency.deliveryID) else { continue }
            task.attempts += 1
            let leaseUntil = now + config.leaseMs
            let workerID = workers[peer]!.registration.workerID
            offered[task.deliveryID] = OfferedTask(task: task, peer: peer, workerID: workerID, leaseUntil: leaseUntil)
            workers[peer]!.held.insert(task.deliveryID)
            actions.append(.offer(peer, task))
            actions.append(
                .persist(.offered(deliveryID: task.deliveryID, worker: workerID, attempt: task.attempts, leaseUntil: leaseUntil), confirmTo: nil))
        }
        for queue in ready.keys { actions += refillIfLow(queue) }
        return actions
    }

    /// The queue whose head is most urgent among those with an eligible worker, and that worker.
    private func nextMatch() -> (String, PeerID)? {
        var best: (queue: String, head: Urgency, peer: PeerID)?
        for (queue, heap) in ready {
            guard let head = heap.min?.urgency, best.map({ head < $0.head }) ?? true else { continue }
            if let peer = bestWorker(for: queue) { best = (queue, head, peer) }
        }
        return best.map { ($0.queue, $0.peer) }
    }

    /// Most free capacity, then longest idle, then a stable order.
    private func bestWorker(for queue: String) -> PeerID? {
        var best: WorkerState?
        for worker in workers.values where worker.serves(queue) && worker.freeCapacity > 0 {
            guard let current = best else { best = worker; continue }
            if worker.freeCapacity != current.freeCapacity {
                if worker.freeCapacity > current.freeCapacity { best = worker }
            } else if worker.idleSince != current.idleSince {
                if worker.idleSince < current.idleSince { best = worker }
            } else if worker.registration.workerID < current.registration.workerID {
                best = worker
            }
        }
        return best?.peer
    }

    private mutating func refillIfLow(_ queue: String) -> [DispatchAction] {
        guard overflowing.contains(queue), (ready[queue]?.count ?? 0) <= config.windowPerQueue / 2 else { return [] }
        return requestRefill(queue)
    }

    private mutating func requestRefill(_ queue: String) -> [DispatchAction] {
        guard !refillsInFlight.contains(queue) else { return [] }
        refillsInFlight.insert(queue)
        let free = config.windowPerQueue - (ready[queue]?.count ?? 0)
        let held = held(in: queue)
        return [.refill(queue: queue, limit: max(free, 1) + held.count, skipping: held)]
    }

    /// Deliveries of `queue` that memory holds and PostgreSQL may still list as pending (ready,
    /// scheduled, or offered before the offer is written): a refill reads past them, and does not
    /// load them again. Counting every queue's instead made each periodic rescan of four full
    /// windows read 160,000 rows.
    private func held(in queue: String) -> Set<Int64> {
        var ids = Set<Int64>()
        for entry in ready[queue]?.unordered ?? [] { ids.insert(entry.urgency.deliveryID) }
        for (id, task) in scheduled where task.queue == queue { ids.insert(id) }
        for (id, offer) in offered where offer.task.queue == queue { ids.insert(id) }
        return ids
    }
}

/// A refusal carried out of `take` as an error value.
struct RefusalAction: Error {
    let action: DispatchAction
    init(_ peer: PeerID, _ error: WorkerError) { action = .refuse(peer, error) }
}
