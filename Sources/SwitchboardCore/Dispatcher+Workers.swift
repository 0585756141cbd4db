import SwitchboardProtocol

extension Dispatcher {
    /// A worker announced itself; a second READY with a known worker id replaces the old connection.
    ///
    /// What it lists in `holding` stays with it, unless another worker holds it or it is settled:
    /// a delivery restored at start-up that no worker has claimed yet (the store names this worker,
    /// or another whose offer the hub took back before it died), one memory has ready or scheduled
    /// (the hub died before writing its offer), and, looked up in the store first, one memory does
    /// not have. It is welcomed once that is known, so the DONEs it re-sends after WELCOME find their
    /// deliveries held.
    public mutating func workerReady(_ peer: PeerID, _ registration: Ready, now: Int64) -> [DispatchAction] {
        if let known = workers[peer], known.registration.workerID == registration.workerID, !registration.holding.isEmpty {
            return claim(registration.holding, by: peer, now: now)
        }
        if workers[peer] != nil {
            return [
                .refuse(
                    peer,
                    WorkerError(
                        code: .invalid, detail: .duplicateReady,
                        reason: "worker '\(registration.workerID)' is already registered on this connection"))
            ]
        }
        var actions: [DispatchAction] = []
        if let previous = peerOf[registration.workerID], workers[previous] != nil {
            actions += workerGone(previous, reason: "replaced by a new connection with the same worker id", now: now)
        }
        workers[peer] = WorkerState(peer: peer, registration: registration, lastSeen: now, idleSince: now)
        peerOf[registration.workerID] = peer
        let holding = Set(registration.holding)
        var unknown: [Int64] = []
        for id in holding.sorted() where !adopt(id, by: peer, now: now, into: &actions) {
            if !isKnown(id) && unwritten[id] == nil { unknown.append(id) }
        }
        for (id, held) in offered where held.peer == nil && held.workerID == registration.workerID && !holding.contains(id) {
            offered[id] = nil
            actions += requeue(held.task, error: "worker '\(held.workerID)' came back without it", worker: held.workerID, now: now)
        }
        if unknown.isEmpty {
            actions.append(.welcome(peer, Welcome(workerID: registration.workerID, heartbeatMs: Int(config.heartbeatMs))))
        } else {
            workers[peer]?.lookingUpHeld = true
            actions.append(.lookUpHeld(peer, unknown))
        }
        return actions + pump(now: now)
    }

    /// READY again on a registered connection, same worker id, listing tasks: the worker holds
    /// them from another hub that went away (several hubs share the database). Those this hub has
    /// (it adopted that hub) stay with the worker, as at a READY after a restart; the others are
    /// looked up in the store, where this hub claims those pending that no live hub owns.
    mutating func claim(_ ids: [Int64], by peer: PeerID, now: Int64) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        var unknown: [Int64] = []
        let claimed = Set(ids)
        for id in claimed.sorted() where !adopt(id, by: peer, now: now, into: &actions) {
            if !isKnown(id) && unwritten[id] == nil { unknown.append(id) }
        }
        // What the adopted hub had given this worker id and the worker does not list, it does not hold.
        let workerID = workers[peer]!.registration.workerID
        for (id, held) in offered where held.peer == nil && held.workerID == workerID && !claimed.contains(id) {
            offered[id] = nil
            actions += requeue(held.task, error: "worker '\(workerID)' does not hold it after its hub went away", worker: workerID, now: now)
        }
        guard let worker = workers[peer], !unknown.isEmpty, !worker.lookingUpHeld else {
            return actions + [.welcome(peer, Welcome(workerID: workerID, heartbeatMs: Int(config.heartbeatMs)))] + pump(now: now)
        }
        workers[peer]?.lookingUpHeld = true
        return actions + [.lookUpHeld(peer, unknown)] + pump(now: now)
    }

    /// The store's answer to `.lookUpHeld`: those of the worker's deliveries that are pending there.
    /// Each is kept with the worker unless memory learnt otherwise meanwhile; then it is welcomed.
    public mutating func heldLookedUp(_ peer: PeerID, pending tasks: [DispatchTask], now: Int64) -> [DispatchAction] {
        guard let worker = workers[peer], worker.lookingUpHeld else { return [] }
        var actions: [DispatchAction] = []
        for var task in tasks where !adopt(task.deliveryID, by: peer, now: now, into: &actions) {
            guard !isKnown(task.deliveryID), unwritten[task.deliveryID] == nil else { continue }
            task.attempts += 1
            task.notBefore = nil
            actions.append(hand(task, to: peer, now: now))
        }
        workers[peer]?.lookingUpHeld = false
        actions.append(.welcome(peer, Welcome(workerID: worker.registration.workerID, heartbeatMs: Int(config.heartbeatMs))))
        return actions + pump(now: now)
    }

    /// Keeps delivery `id` with the worker on `peer` if memory has it restored and not claimed yet,
    /// ready or scheduled; false if memory does not have it there (another holds it, or it is unknown).
    private mutating func adopt(_ id: Int64, by peer: PeerID, now: Int64, into actions: inout [DispatchAction]) -> Bool {
        let workerID = workers[peer]!.registration.workerID
        if let held = offered[id] {
            if held.peer == peer { return true }
            guard held.peer == nil else { return false }
            guard held.workerID == workerID else {
                // Restored for another worker that has not claimed it. The hub that stopped may have
                // offered it again since its last write (the other worker declined it, or its offer
                // ran out): this worker's claim is the later word, and it holds the task now.
                offered[id] = nil
                var task = held.task
                task.attempts += 1
                actions.append(hand(task, to: peer, now: now))
                return true
            }
            offered[id]?.peer = peer
            offered[id]?.leaseUntil = now + config.leaseMs
            workers[peer]?.held.insert(id)
            return true
        }
        // Its heap entry stays behind and is skipped when it comes up.
        guard var task = waiting.removeValue(forKey: id) ?? scheduled.removeValue(forKey: id) else { return false }
        reservedIDs.remove(id)
        task.reservedFor = nil
        task.attempts += 1
        task.notBefore = nil
        actions.append(hand(task, to: peer, now: now))
        return true
    }

    /// Anything arrived from this peer: it is alive, and no longer taken for busy with another hub's tasks.
    public mutating func workerSeen(_ peer: PeerID, now: Int64) {
        workers[peer]?.lastSeen = now
        workers[peer]?.busy = false
    }

    /// BYE: the worker finishes what it holds and gets nothing new.
    public mutating func workerDraining(_ peer: PeerID, now: Int64) -> [DispatchAction] {
        guard workers[peer] != nil else { return [.refuse(peer, Self.notReady(command: "BYE"))] }
        workers[peer]?.draining = true
        workers[peer]?.lastSeen = now
        return []
    }

    /// The worker disconnected or went silent: everything it held goes back to the queue at once.
    public mutating func workerGone(_ peer: PeerID, reason: String, now: Int64) -> [DispatchAction] {
        guard let worker = workers.removeValue(forKey: peer) else { return [] }
        if peerOf[worker.registration.workerID] == peer { peerOf[worker.registration.workerID] = nil }
        releaseReserved(for: worker.registration.workerID, now: now)
        var actions: [DispatchAction] = []
        for id in worker.held.sorted() {
            guard let held = offered.removeValue(forKey: id) else { continue }
            actions += requeue(
                held.task, error: "worker '\(worker.registration.workerID)' lost: \(reason)", worker: worker.registration.workerID, now: now)
        }
        actions.append(.workerLost(peer, workerID: worker.registration.workerID, reason: reason, requeued: worker.held.count))
        return actions + pump(now: now)
    }

    /// The answer to a command that needs READY first.
    static func notReady(command: String, deliveryID: Int64? = nil) -> WorkerError {
        WorkerError(
            code: .notReady, detail: .notReady, reason: "\(command) before READY: this hub does not know you (it may have restarted); send READY",
            deliveryID: deliveryID)
    }
}
