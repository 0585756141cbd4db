import Logging
import SwitchboardCore
import SwitchboardProtocol
import ZeroMQ

extension Hub {
    func receiveWorkers() throws {
        for _ in 0..<1000 {
            guard var message = try workers.receive(dontWait: true) else { return }
            guard let routingID = message.removeRoutingID() else { continue }
            let peer = PeerID(routingID)
            if message.sourceDescriptor >= 0 {
                // A descriptor known as another peer's belonged to a connection that has closed
                // since (two open connections never share one), and its number was given to this
                // one. libzmq reports a close before it releases the descriptor, so that report
                // is waiting already, though this message may have been read first (in the same
                // turn): take it now, or it would later be taken for this connection's.
                if let known = workerDescriptors[message.sourceDescriptor], known != peer { try handleMonitorEvents() }
                workerDescriptors[message.sourceDescriptor] = peer
            }
            handleWorker(peer, message.frames)
        }
    }

    func handleWorker(_ peer: PeerID, _ frames: [[UInt8]]) {
        let now = Clock.nowMs()
        dispatcher.workerSeen(peer, now: now)
        let command: Command
        do {
            command = try Codec.decode(frames, limits: config.decodingLimits, accepting: Codec.workerCommands)
        } catch {
            refuseWorker(peer, frames, WorkerError(code: .invalid, detail: RefusalDetail(error.code), reason: error.reason))
            return
        }
        switch command {
        case .ready(let ready):
            let unknown = ready.queues.filter { config.routing.settings(ofQueue: $0) == nil }
            guard unknown.isEmpty else {
                refuseWorker(peer, frames, unknownQueues(unknown))
                return
            }
            if dispatcher.isRegistered(peer) && !ready.holding.isEmpty {
                logger.info(
                    "worker claims \(ready.holding.count) tasks of a hub that went away: \(ready.holding.prefix(20).map(String.init).joined(separator: ","))",
                    metadata: [LogKey.worker: .string(ready.workerID)])
            } else {
                logger.info(
                    "worker ready", metadata: [LogKey.worker: .string(ready.workerID), LogKey.queue: .string(ready.queues.joined(separator: ","))])
            }
            perform(dispatcher.workerReady(peer, ready, now: now), refusingWith: frames)
        case .accept(let accept):
            perform(dispatcher.accept(peer, accept, now: now), refusingWith: frames)
        case .reject(let reject):
            perform(dispatcher.decline(peer, reject, now: now), refusingWith: frames)
        case .transfer(let transfer):
            guard let rules = config.routing.settings(ofQueue: transfer.queue) else {
                refuseWorker(peer, frames, unknownQueues([transfer.queue], deliveryID: transfer.deliveryID))
                return
            }
            perform(
                dispatcher.transfer(peer, transfer, now: now) { task in
                    TransferLeg(
                        queue: transfer.queue, priority: task.priority, deadline: rules.deadline(for: task.payload.interaction.channel, from: now),
                        needs: TaskNeeds(language: task.needs.language, skills: rules.skills, optionalSkills: rules.optionalSkills))
                }, refusingWith: frames)
        case .done(let done):
            let task = dispatcher.heldTask(done.deliveryID)
            perform(dispatcher.done(peer, done, now: now), refusingWith: frames)
            // Taken (no longer held): it counts in its queue's service level today.
            if let task, dispatcher.heldTask(done.deliveryID) == nil { dashboard.done(queue: task.queue, deadline: task.deadline, now: now) }
        case .fail(let fail):
            perform(dispatcher.fail(peer, fail, now: now), refusingWith: frames)
        case .query(let query):
            self.query(query, from: peer, frames: frames)
        case .reply(let reply):
            self.reply(reply, from: peer)
        case .heartbeat:
            if !dispatcher.isRegistered(peer) {
                // After a hub restart the worker's connection survives; tell it to announce itself again.
                answerRefused(peer, WorkerError(code: .notReady, detail: .notReady, reason: "this hub does not know you: send READY"))
            }
        case .bye:
            perform(dispatcher.workerDraining(peer, now: now))
        default:
            refuseWorker(
                peer, frames,
                WorkerError(
                    code: .invalid, detail: .unknownCommand,
                    reason:
                        "\(command.name) is not a worker command; workers send READY, ACCEPT, REJECT, TRANSFER, DONE, FAIL, REPLY, QUERY, HEARTBEAT and BYE"
                ))
        }
    }

    /// A worker's QUERY: read on the context lane and answered with RESULT. An identity that does
    /// not normalize belongs to no customer: RESULT found false at once.
    func query(_ query: CustomerQuery, from peer: PeerID, frames: [[UInt8]]) {
        guard dispatcher.isRegistered(peer) else {
            answerRefused(peer, WorkerError(code: .notReady, detail: RefusalDetail.notReady.rawValue, reason: "send READY before QUERY"))
            return
        }
        var identity: NormalizedIdentity?
        if let kindName = query.identityKind, let value = query.identityValue {
            guard let kind = NormalizedIdentity.Kind(rawValue: kindName) else {
                refuseWorker(
                    peer, frames,
                    WorkerError(
                        code: .invalid, detail: RefusalDetail.invalidField.rawValue,
                        reason:
                            "QUERY identity kind '\(kindName)' is unknown; expected \(NormalizedIdentity.Kind.allCases.map(\.rawValue).joined(separator: ", "))"
                    ))
                return
            }
            guard let normalized = identityNormalizer.normalize(kind, value) else {
                send(.result(QueryResult(queryID: query.queryID, customer: nil)), toWorker: peer)
                return
            }
            identity = normalized
        }
        guard queriesInFlight < Self.maxQueriesInFlight else {
            answerRefused(
                peer,
                WorkerError(
                    code: .unavailable, detail: RefusalDetail.queryLimit.rawValue,
                    reason: "\(queriesInFlight) queries are being read; ask again shortly"))
            return
        }
        queriesInFlight += 1
        submit(.customerRecord(peer, queryID: query.queryID, id: query.customerID, identity: identity))
    }

    /// The refusal of a READY or TRANSFER that names queues this hub does not have.
    func unknownQueues(_ names: [String], deliveryID: Int64? = nil) -> WorkerError {
        WorkerError(
            code: .invalid, detail: .unknownQueue,
            reason:
                "queue \(names.map { "'\($0)'" }.joined(separator: ", ")) does not exist; expected \(config.routing.queueNames.joined(separator: ", "))",
            deliveryID: deliveryID)
    }

    /// A worker connection closed: its tasks go back to the queue at once. A failed handshake is a refused connection.
    func handleMonitorEvents() throws {
        while let message = try monitor.receive(dontWait: true) {
            guard let event = SocketEvent(frames: message.frames) else { continue }
            if event.isHandshakeFailure { handshakeRefused(event, role: "worker") }
            guard event.kind == .disconnected else { continue }
            guard let peer = workerDescriptors.removeValue(forKey: event.value) else { continue }
            perform(dispatcher.workerGone(peer, reason: "disconnected", now: Clock.nowMs()))
        }
    }

    func refuseWorker(_ peer: PeerID, _ frames: [[UInt8]], _ error: WorkerError) {
        let name = dispatcher.workerID(of: peer) ?? "peer-\(peer)"
        logRefusal("refused worker input: \(error.reason)", peer: name, metadata: [LogKey.worker: .string(name), LogKey.code: .string(error.detail)])
        send(.error(error), toWorker: peer)
        quarantine(role: "worker", peer: name, messageID: nil, code: error.detail, reason: error.reason, frames: frames)
    }

    /// Answers a worker command refused for a routine reason (not registered yet, not its delivery):
    /// counted by detail, logged at debug level, not quarantined.
    func answerRefused(_ peer: PeerID, _ error: WorkerError) {
        stats.workerRefusals[error.detail, default: 0] += 1
        logger.debug(
            "worker command answered \(error.code.rawValue): \(error.reason)",
            metadata: [LogKey.worker: .string(dispatcher.workerID(of: peer) ?? "peer-\(peer)"), LogKey.code: .string(error.detail)])
        send(.error(error), toWorker: peer)
    }

    func send(_ command: Command, toWorker peer: PeerID) {
        send(Codec.encode(command), named: command.name, toWorker: peer)
    }

    /// Sends to a worker, or keeps the message in its outbox when its connection's queue is full
    /// (or messages wait there already, to keep the order); see `WorkerOutbox`.
    func send(_ frames: [[UInt8]], named name: String, toWorker peer: PeerID) {
        if !outbox.isWaiting(peer), trySend(frames, named: name, toWorker: peer) { return }
        guard dispatcher.isRegistered(peer) else { return }
        if let stuck = outbox.hold(frames, named: name, for: peer, now: Clock.nowMs()) { giveUp(on: peer, stuck) }
    }

    /// Sends at once; false when the worker's queue has no room now. An unreachable worker is gone.
    private func trySend(_ frames: [[UInt8]], named name: String, toWorker peer: PeerID) -> Bool {
        do {
            try workers.send(to: peer.bytes, frames, dontWait: true)
        } catch let error as ZeroMQError where error.hostUnreachable {
            perform(dispatcher.workerGone(peer, reason: "unreachable", now: Clock.nowMs()))
        } catch let error as ZeroMQError where error.wouldBlock {
            return false
        } catch {
            logger.warning("could not send \(name) to worker \(peer): \(error)")
        }
        return true
    }

    /// Sends what waits in the outbox as the workers read; gives up on those that stopped reading.
    func flushOutbox(now: Int64) {
        guard !outbox.waiting.isEmpty else { return }
        let stuck = outbox.flush(now: now) { peer, frames, name in trySend(frames, named: name, toWorker: peer) }
        for (peer, why) in stuck { giveUp(on: peer, why) }
    }

    /// A worker that stopped reading: its tasks go to others now rather than wait for their lease.
    /// It hears not_ready at its next heartbeat once it reads again, and announces itself anew.
    private func giveUp(on peer: PeerID, _ why: WorkerOutbox.Stuck) {
        outbox.forget(peer)
        stats.workersNotReading += 1
        let reason =
            switch why {
            case .notReading(let pausedMs): "not reading: nothing could be sent to it for \(pausedMs) ms"
            case .tooMuch(let messages, let bytes): "not reading: \(messages) messages (\(bytes) bytes) wait for it"
            }
        perform(dispatcher.workerGone(peer, reason: reason, now: Clock.nowMs()))
    }

    /// Carries out what the dispatcher decided about one worker command. A refusal of bad input is
    /// quarantined with the command's frames; the routine races of a restart or a re-sent answer
    /// (`not_ready`, `not_held`) are answered and counted, not kept.
    private func perform(_ actions: [DispatchAction], refusingWith frames: [[UInt8]]) {
        for action in actions {
            if case .refuse(let peer, let error) = action, error.code == .invalid {
                refuseWorker(peer, frames, error)
            } else {
                perform([action])
            }
        }
    }

    /// A TASK on its way; a first offer's time since its message was received is PUBLISH → TASK.
    func sendTask(_ task: DispatchTask, customer: [UInt8], to peer: PeerID) {
        // An offer decided before the hub lost its lease waits for the renewal (Hub+Lease).
        guard dispatcher.holdsLease(now: Clock.nowMs()) else {
            tasksAwaitingLease.append((peer, task, customer))
            return
        }
        if task.attempts == 1 { metrics.publishToTask.recordMilliseconds(max(0, Clock.nowMs() - task.payload.interaction.receivedAt)) }
        send(task.taskFrames(customer: customer), named: "TASK", toWorker: peer)
    }

    /// Carries out what the dispatcher decided. An offer whose interaction is in `contextsRead` (read
    /// with the batch that stored it) is sent at once; the others wait for the context lane.
    func perform(_ actions: [DispatchAction], contextsRead: [Int64: [UInt8]] = [:]) {
        for action in actions {
            switch action {
            case .offer(let peer, let task):
                stats.offered += 1
                if let customer = contextsRead[task.payload.interaction.id] {
                    sendTask(task, customer: customer, to: peer)
                } else {
                    contextReader.add(task, for: peer)
                }
            case .persist(let transition, let confirmTo):
                count(transition)
                transitionWriter.add(transition, confirmTo: confirmTo, now: Clock.nowMs())
            case .welcome(let peer, let welcome):
                send(.welcome(welcome), toWorker: peer)
            case .refuse(let peer, let error):
                answerRefused(peer, error)
            case .verify(let peer, let check):
                transitionWriter.addCheck(check, from: peer, now: Clock.nowMs())
            case .lookUpHeld(let peer, let ids):
                submit(.loadHeld(peer, ids))
            case .refill(let queue, let limit, let held):
                submit(.loadPending(queue: queue, limit: limit, skipping: held))
            case .workerLost(let peer, let workerID, let reason, let requeued):
                outbox.forget(peer)
                workerDescriptors = workerDescriptors.filter { dispatcher.isRegistered($0.value) }
                let level: Logger.Level = requeued > 0 ? .warning : .info
                logger.log(level: level, "worker gone: \(reason); \(requeued) tasks back to the queue", metadata: [LogKey.worker: .string(workerID)])
            }
        }
    }

    private func count(_ transition: DeliveryTransition) {
        switch transition {
        case .offered, .accepted, .transferred: break
        case .escalated(let id, _, _, _, _, let detail):
            stats.escalated += 1
            logger.notice("delivery escalated: \(detail)", metadata: [LogKey.deliveryID: .stringConvertible(id)])
        case .done: stats.completed += 1
        case .retry: stats.requeued += 1
        case .rejected: stats.failed += 1
        case .dead(let id, let error):
            stats.dead += 1
            logger.error("delivery dead-lettered: \(error)", metadata: [LogKey.deliveryID: .stringConvertible(id)])
        }
    }
}
