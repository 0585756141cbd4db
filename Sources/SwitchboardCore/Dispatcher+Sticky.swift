import SwitchboardProtocol

/// Sticky routing: a returning customer's contact goes first to the worker who owns its open
/// conversation, else to the one who last completed one of theirs, if that worker qualifies and
/// is free; while it is busy the contact waits for it up to `stickyWaitMs` (kept aside, not
/// holding back its lane), then goes to anyone.
extension Dispatcher {
    /// The most customers whose last worker is remembered; past it the oldest half is forgotten.
    public static let stickyMemory = 100_000

    /// Remembers who completed a customer's contact (a DONE, or the store's history at start-up).
    public mutating func remember(customer: Int64, worker: String) {
        guard lastWorker[customer] != worker else { return }
        if lastWorker[customer] == nil && lastWorker.count >= Self.stickyMemory {
            // Forget in insertion order: `lastWorkerOrder` lists customers oldest first.
            let forget = lastWorkerOrder.prefix(Self.stickyMemory / 2)
            for old in forget { lastWorker[old] = nil }
            lastWorkerOrder.removeFirst(forget.count)
        }
        if lastWorker[customer] == nil { lastWorkerOrder.append(customer) }
        lastWorker[customer] = worker
    }

    /// How a task about to go to `peer` is placed by stickiness: to its customer's last worker if
    /// that one qualifies and is free (returned), kept aside for it while it is busy (nil, the task
    /// is scheduled), or to `peer` as chosen.
    mutating func stickyChoice(for task: DispatchTask, lane: Lane, chosen peer: PeerID, now: Int64) -> PeerID? {
        guard !task.stickyTried, let workerID = task.payload.conversationOwner ?? lastWorker[task.payload.customerID],
            workerID != workers[peer]?.registration.workerID,
            let preferred = peerOf[workerID], let worker = workers[preferred],
            worker.qualifies(for: lane), !task.declinedBy.contains(workerID)
        else { return peer }
        if worker.freeCapacity > 0 { return preferred }
        guard config.stickyWaitMs > 0 else { return peer }
        var aside = task
        aside.stickyTried = true
        aside.notBefore = now + config.stickyWaitMs
        aside.reservedFor = workerID
        scheduled[task.deliveryID] = aside
        reservedIDs.insert(task.deliveryID)
        return nil
    }

    /// Offers to each free worker the tasks kept aside for it, most urgent first.
    mutating func offerReserved(now: Int64) -> [DispatchAction] {
        guard !reservedIDs.isEmpty else { return [] }
        var actions: [DispatchAction] = []
        let reserved = reservedIDs.compactMap { scheduled[$0] }.sorted { $0.urgency < $1.urgency }
        for var task in reserved {
            guard let workerID = task.reservedFor, let peer = peerOf[workerID], let worker = workers[peer], worker.freeCapacity > 0
            else { continue }
            scheduled[task.deliveryID] = nil
            reservedIDs.remove(task.deliveryID)
            task.reservedFor = nil
            task.notBefore = nil
            task.attempts += 1
            actions.append(.offer(peer, task))
            actions.append(hand(task, to: peer, now: now))
        }
        return actions
    }

    /// The tasks kept aside for a worker that left go back to their lanes at once.
    mutating func releaseReserved(for workerID: String, now: Int64) {
        for id in reservedIDs {
            guard var back = scheduled[id], back.reservedFor == workerID else { continue }
            back.reservedFor = nil
            back.notBefore = nil
            scheduled[id] = nil
            reservedIDs.remove(id)
            admit(back, now: now)
        }
    }
}
