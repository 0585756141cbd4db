import HeapModule
import SwitchboardProtocol

/// The dispatch state machine: which committed delivery goes to which worker, and when it comes back.
///
/// Pure (DESIGN §5): every event takes the clock as an argument and returns the actions the hub
/// loop must carry out; nothing here does I/O. Memory holds at most `windowPerQueue` ready
/// deliveries per queue; the rest stay in PostgreSQL and are loaded by `.refill` when the window runs low.
///
/// Memory is ahead of PostgreSQL: an offer or an outcome is decided here at once and written in
/// a later batch. Until that write is committed (`written`), what the store says of the delivery
/// is older than what memory knows, so nothing the store reads back may revive it.
public struct Dispatcher {
    /// Replaced whole by a configuration reload, except the heartbeat the workers were told at WELCOME.
    public var config: DispatchConfig
    /// Ready deliveries by lane (queue and what they need of a worker), most urgent first.
    var ready: [Lane: Heap<ReadyEntry>] = [:]
    /// How many heap entries each queue's lanes hold: the window's fill.
    var readyEntries: [String: Int] = [:]
    /// Ready deliveries by id; a heap entry whose id is not here any more was taken another way and is skipped.
    var waiting: [Int64: DispatchTask] = [:]
    var scheduled: [Int64: DispatchTask] = [:]
    var offered: [Int64: OfferedTask] = [:]
    var workers: [PeerID: WorkerState] = [:]
    /// Queues whose pending backlog in PostgreSQL is larger than what memory holds.
    var overflowing: Set<String> = []
    var refillsInFlight: Set<String> = []
    /// Transitions handed to the hub to write and not yet committed, by delivery.
    var unwritten: [Int64: Int] = [:]
    /// Nothing is offered before this time: after a crash, workers first reclaim what they hold.
    var offersHeldUntil: Int64 = 0
    /// Nothing is offered from this time on: the hub's lease in the database runs out then unless
    /// renewed, and past it another hub may adopt what memory holds (`leaseRenewed`).
    public private(set) var leaseValidUntil: Int64 = .max
    /// Sticky routing: who last completed a contact of each customer, and the customers oldest first.
    var lastWorker: [Int64: String] = [:]
    var lastWorkerOrder: [Int64] = []
    /// The connection of each registered worker id.
    var peerOf: [String: PeerID] = [:]
    /// Scheduled deliveries kept aside for their customer's last worker (`reservedFor`).
    var reservedIDs: Set<Int64> = []
    /// Each queue's escalation steps, from the routing rules, and the ready tasks' next ones due.
    public var escalationSteps: [String: [EscalationStep]] = [:]
    var escalationsDue = Heap<EscalationDue>()

    public init(config: DispatchConfig) {
        self.config = config
    }

    // MARK: Observation

    public var readyCount: Int { waiting.count + scheduled.count }
    public var offeredCount: Int { offered.count }
    public var workerCount: Int { workers.count }
    /// Deliveries offered to workers and not answered yet.
    public var heldCount: Int { offered.count }

    /// Each connected worker's load, for the dashboard: its queues, capacity and what it holds.
    public var workerLoads: [WorkerLoad] {
        workers.values.map {
            WorkerLoad(
                workerID: $0.registration.workerID, queues: $0.registration.queues, capacity: $0.registration.capacity, held: $0.held.count,
                draining: $0.draining)
        }.sorted { $0.workerID < $1.workerID }
    }

    /// The task a worker holds under this delivery id, if any.
    public func heldTask(_ deliveryID: Int64) -> DispatchTask? { offered[deliveryID]?.task }
    /// Workers that could take one more task now.
    public var workersWithFreeCapacity: Int { workers.values.count { $0.freeCapacity > 0 } }
    public func readyCount(queue: String) -> Int { readyEntries[queue] ?? 0 }
    /// How many more of `queue`'s deliveries the workers could take now, beyond those ready in
    /// memory: the free capacity of the workers that serve it, less its ready deliveries. A worker
    /// serving several queues counts for each, so this may promise more than is taken.
    public func freeSlots(queue: String) -> Int { workers(serving: queue).free - readyCount(queue: queue) }
    /// How many connected workers serve `queue` (draining ones included), and their free capacity.
    public func workers(serving queue: String) -> (count: Int, free: Int) {
        var count = 0
        var free = 0
        for worker in workers.values where worker.serves(queue) {
            count += 1
            free += max(worker.freeCapacity, 0)
        }
        return (count, free)
    }
    /// Ready deliveries no connected worker qualifies for (by queue, skills and language), by
    /// queue: they wait for such a worker, and `switchboard queues` says so.
    public var unservable: [String: Int] {
        var counts: [String: Int] = [:]
        for (lane, heap) in ready where !heap.isEmpty && !workers.values.contains(where: { $0.qualifies(for: lane) }) {
            let live = heap.unordered.count { isLive($0, in: lane) }
            if live > 0 { counts[lane.queue, default: 0] += live }
        }
        return counts
    }
    /// The worker id of a connected peer, for logs.
    public func workerID(of peer: PeerID) -> String? { workers[peer]?.registration.workerID }
    /// The peers of every registered worker (for hub heartbeats).
    public var workerPeers: [PeerID] { Array(workers.keys) }
    public func isRegistered(_ peer: PeerID) -> Bool { workers[peer] != nil }

    /// Whether this worker holds this offer of the task now: not settled, not taken back, not offered again since.
    public func holds(_ task: DispatchTask, peer: PeerID) -> Bool {
        guard let held = offered[task.deliveryID] else { return false }
        return held.peer == peer && held.task.attempts == task.attempts
    }

    // MARK: Deliveries

    /// Deliveries that are committed (fresh ingest) or loaded from the store (recovery, refill).
    /// One that memory holds, or whose latest change is not written yet, is left out: the store's
    /// copy of it is stale.
    public mutating func enqueue(_ tasks: [DispatchTask], now: Int64) -> [DispatchAction] {
        for task in tasks where !isKnown(task.deliveryID) && unwritten[task.deliveryID] == nil {
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
        return enqueue(tasks, now: now) + refillIfLow(queue)
    }

    /// A refill could not be read (the store is unavailable); the queue stays marked for a later `markBacklog`.
    public mutating func refillFailed(queue: String) {
        refillsInFlight.remove(queue)
    }

    /// These transitions are committed (applied or not): the store's copy of their deliveries is current again.
    public mutating func written(_ transitions: [DeliveryTransition]) {
        for transition in transitions {
            let id = transition.deliveryID
            let left = unwritten[id, default: 1] - 1
            unwritten[id] = left > 0 ? left : nil
        }
    }

    /// A delivery a worker held when the hub stopped. It waits one heartbeat timeout for that worker
    /// to announce itself again listing it in READY's `holding`; otherwise it goes back to the queue.
    /// `extraMs` longer after adopting a hub that died: its workers first notice it is gone.
    public mutating func restoreOffered(_ task: DispatchTask, workerID: String, now: Int64, extraMs: Int64 = 0) {
        guard !isKnown(task.deliveryID) else { return }
        offered[task.deliveryID] = OfferedTask(task: task, peer: nil, workerID: workerID, leaseUntil: now + config.heartbeatTimeoutMs + extraMs)
    }

    /// The hub crashed last time: offers it made may never have been written, so the store lists
    /// them as pending although a worker holds them. For one heartbeat timeout nothing is offered,
    /// so that each returning worker reclaims what it holds (READY's `holding`) before another is given it.
    /// After adopting a hub that died, `extraMs` longer: its workers first notice it is gone.
    public mutating func holdOffersForReclaim(now: Int64, extraMs: Int64 = 0) {
        offersHeldUntil = max(offersHeldUntil, now + config.heartbeatTimeoutMs + extraMs)
    }

    /// The hub renewed its lease in the database, valid until `until`: offers go on (or resume).
    public mutating func leaseRenewed(until: Int64, now: Int64) -> [DispatchAction] {
        let resumed = now >= leaseValidUntil
        leaseValidUntil = until
        return resumed ? pump(now: now) : []
    }

    /// Whether the hub's lease is valid now: offers are made, heartbeats sent.
    public func holdsLease(now: Int64) -> Bool { now < leaseValidUntil }

    /// The hub is draining: nothing more is offered; what workers hold they may still answer.
    public mutating func stopOffering() {
        offersHeldUntil = .max
    }

    func isKnown(_ id: Int64) -> Bool {
        waiting[id] != nil || scheduled[id] != nil || offered[id] != nil
    }

    mutating func admit(_ task: DispatchTask, now: Int64) {
        if let notBefore = task.notBefore, notBefore > now {
            scheduled[task.deliveryID] = task
            return
        }
        let entry = ReadyEntry(urgency: task.urgency)
        if readyCount(queue: task.queue) >= config.windowPerQueue {
            overflowing.insert(task.queue)
            // Keep the most urgent in memory; the other one waits in PostgreSQL for a refill.
            guard let (lane, least) = leastUrgent(in: task.queue), entry < least else { return }
            ready[lane]?.removeMax()
            readyEntries[task.queue, default: 1] -= 1
            waiting[least.urgency.deliveryID] = nil
        }
        // The heap is changed where it lies in the dictionary: a copy taken out and put back would
        // share storage with the dictionary's and copy every entry on each insert.
        ready[task.lane, default: Heap()].insert(entry)
        readyEntries[task.queue, default: 0] += 1
        waiting[task.deliveryID] = task
        if !escalationSteps.isEmpty { fileEscalation(task) }
    }

    /// The least urgent ready entry of a queue, across its lanes, and its lane.
    private func leastUrgent(in queue: String) -> (Lane, ReadyEntry)? {
        var least: (Lane, ReadyEntry)?
        for (lane, heap) in ready where lane.queue == queue {
            if let max = heap.max, least.map({ $0.1 < max }) ?? true { least = (lane, max) }
        }
        return least
    }

    /// A write for the hub to carry out; the delivery counts as unwritten until `written` says otherwise.
    mutating func persist(_ transition: DeliveryTransition, confirmTo peer: PeerID? = nil) -> DispatchAction {
        unwritten[transition.deliveryID, default: 0] += 1
        return .persist(transition, confirmTo: peer)
    }

    // MARK: Time

    /// Expires silent workers and overdue leases, releases scheduled retries, escalates, dispatches.
    public mutating func tick(now: Int64) -> [DispatchAction] {
        var actions = escalate(now: now)
        for (peer, worker) in workers where now - worker.lastSeen > config.heartbeatTimeoutMs {
            actions += workerGone(peer, reason: "no heartbeat for \(now - worker.lastSeen) ms", now: now)
        }
        for (id, held) in offered where held.leaseUntil <= now {
            offered[id] = nil
            if let peer = held.peer { workers[peer]?.held.remove(id) }
            actions += requeue(held.task, error: "lease expired while held by '\(held.workerID)'", event: .timedOut, worker: held.workerID, now: now)
        }
        for (id, held) in offered where (held.acceptBy ?? .max) <= now {
            offered[id] = nil
            if let peer = held.peer { release(id, from: peer, now: now) }
            var task = held.task
            task.declinedBy.append(held.workerID)
            actions += requeue(
                task, error: "offer not accepted by '\(held.workerID)' within \(config.offerTimeoutMs) ms", event: .timedOut, worker: held.workerID,
                now: now)
        }
        for (id, task) in scheduled where (task.notBefore ?? 0) <= now {
            scheduled[id] = nil
            var due = task
            due.notBefore = nil
            due.reservedFor = nil
            reservedIDs.remove(id)
            admit(due, now: now)
        }
        return actions + pump(now: now)
    }

    // MARK: Dispatch

    /// Offers the most urgent ready deliveries to the best eligible workers until one side runs out.
    mutating func pump(now: Int64) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        guard now < leaseValidUntil else { return [] }
        if now >= offersHeldUntil { actions += offerReserved(now: now) }
        while now >= offersHeldUntil, let (lane, match) = nextMatch() {
            guard let entry = ready[lane]?.popMin() else { continue }
            readyEntries[lane.queue, default: 1] -= 1
            // An entry left behind (the task was taken another way, or escalated into another lane
            // or urgency) is skipped.
            guard var task = waiting[entry.urgency.deliveryID], task.urgency == entry.urgency,
                escalationSteps.isEmpty || task.lane == lane
            else { continue }
            waiting[entry.urgency.deliveryID] = nil
            guard case .worker(let peer) = match else {
                // Only workers that declined it are free for it: it waits a backoff, then goes to
                // anyone (those included), so that it neither holds back its lane nor waits forever.
                task.declinedBy = []
                task.notBefore = now + config.retryBackoff.delayMs(attempt: task.attempts, deliveryID: task.deliveryID)
                admit(task, now: now)
                continue
            }
            guard let peer = stickyChoice(for: task, lane: lane, chosen: peer, now: now) else { continue }
            task.stickyTried = true
            task.attempts += 1
            actions.append(.offer(peer, task))
            actions.append(hand(task, to: peer, now: now))
        }
        for queue in readyEntries.keys { actions += refillIfLow(queue) }
        return actions
    }

    /// Makes `task` (its attempt counted already) held by the worker on `peer`; returns the write that records it.
    mutating func hand(_ task: DispatchTask, to peer: PeerID, now: Int64) -> DispatchAction {
        let leaseUntil = now + config.leaseMs
        let workerID = workers[peer]!.registration.workerID
        let acceptBy = workers[peer]!.sendsAccept ? now + config.offerTimeoutMs : nil
        offered[task.deliveryID] = OfferedTask(task: task, peer: peer, workerID: workerID, leaseUntil: leaseUntil, acceptBy: acceptBy)
        workers[peer]!.held.insert(task.deliveryID)
        return persist(.offered(deliveryID: task.deliveryID, worker: workerID, attempt: task.attempts, leaseUntil: leaseUntil))
    }

    /// Who a lane's head goes to: a worker, or nobody because only workers that declined it are free.
    enum Match {
        case worker(PeerID)
        case onlyDeclined
    }

    /// The lane whose head is most urgent among those with a qualified worker free, and that worker.
    private func nextMatch() -> (Lane, Match)? {
        var best: (lane: Lane, head: Urgency, match: Match)?
        for (lane, heap) in ready {
            guard let head = heap.min?.urgency, best.map({ head < $0.head }) ?? true else { continue }
            let task = waiting[head.deliveryID]
            let declined = task?.declinedBy ?? []
            if let peer = bestWorker(for: lane, optionalSkills: task?.needs.optionalSkills ?? [], excluding: declined) {
                best = (lane, head, .worker(peer))
            } else if !declined.isEmpty, bestWorker(for: lane, optionalSkills: [], excluding: []) != nil {
                best = (lane, head, .onlyDeclined)
            }
        }
        return best.map { ($0.lane, $0.match) }
    }

    /// Among the workers that qualify, are free and did not decline the task: most optional
    /// skills, then most free capacity, then longest idle, then a stable order.
    private func bestWorker(for lane: Lane, optionalSkills: [String], excluding declined: [String]) -> PeerID? {
        var best: (worker: WorkerState, rank: Int)?
        for worker in workers.values where worker.freeCapacity > 0 && worker.qualifies(for: lane) {
            if !declined.isEmpty && declined.contains(worker.registration.workerID) { continue }
            let rank = optionalSkills.isEmpty ? 0 : optionalSkills.count { worker.skills.contains($0) }
            guard let current = best else {
                best = (worker, rank)
                continue
            }
            if rank != current.rank {
                if rank > current.rank { best = (worker, rank) }
            } else if worker.freeCapacity != current.worker.freeCapacity {
                if worker.freeCapacity > current.worker.freeCapacity { best = (worker, rank) }
            } else if worker.idleSince != current.worker.idleSince {
                if worker.idleSince < current.worker.idleSince { best = (worker, rank) }
            } else if worker.registration.workerID < current.worker.registration.workerID {
                best = (worker, rank)
            }
        }
        return best?.worker.peer
    }

    mutating func refillIfLow(_ queue: String) -> [DispatchAction] {
        guard overflowing.contains(queue), readyCount(queue: queue) <= config.windowPerQueue / 2 else { return [] }
        return requestRefill(queue)
    }

    private mutating func requestRefill(_ queue: String) -> [DispatchAction] {
        guard !refillsInFlight.contains(queue) else { return [] }
        refillsInFlight.insert(queue)
        let free = config.windowPerQueue - readyCount(queue: queue)
        let held = held(in: queue)
        return [.refill(queue: queue, limit: max(free, 1) + held.count, skipping: held)]
    }

    /// Deliveries of `queue` that memory holds and PostgreSQL may still list as pending (ready,
    /// scheduled, or offered before the offer is written): a refill reads past them, and does not
    /// load them again. Only this queue's: counting every queue's would make each periodic rescan
    /// of four full windows read four times the rows.
    private func held(in queue: String) -> Set<Int64> {
        var ids = Set<Int64>()
        for (lane, heap) in ready where lane.queue == queue {
            for entry in heap.unordered where waiting[entry.urgency.deliveryID] != nil { ids.insert(entry.urgency.deliveryID) }
        }
        for (id, task) in scheduled where task.queue == queue { ids.insert(id) }
        for (id, offer) in offered where offer.task.queue == queue { ids.insert(id) }
        return ids
    }
}
