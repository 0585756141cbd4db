import Logging
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import ZeroMQ

extension Hub {
    /// Reads the waiting gateway messages, at most `gatewayReadsPerTurn` per turn of the loop, so
    /// that workers are not starved and a committed batch is answered (and the next one sent)
    /// within a few milliseconds even while gateways keep the socket full.
    func receiveGateways() throws {
        for _ in 0..<Self.gatewayReadsPerTurn {
            guard var message = try gateways.receive(dontWait: true) else { return }
            guard let routingID = message.removeRoutingID() else { continue }
            handleGateway(PeerID(routingID), message.frames, authenticatedAs: message.userID)
        }
    }

    static let gatewayReadsPerTurn = 128

    /// `authenticatedAs` is the name the gateway's key has in the allow-list (security on).
    func handleGateway(_ peer: PeerID, _ frames: [[UInt8]], authenticatedAs name: String? = nil) {
        stats.received += 1
        let command: Command
        do {
            command = try Codec.decode(frames, limits: config.decodingLimits, accepting: Codec.gatewayCommands)
        } catch {
            refuseGateway(peer, frames, messageID: error.messageID, code: .invalid, detail: RefusalDetail(error.code), reason: error.reason)
            return
        }
        // A sending gateway stays known while it sends anything; with none (most hubs) no name is made per message.
        if !gatewayRegistry.entries.isEmpty, let gateway = name ?? Self.gatewayName(peer) { gatewayRegistry.seen(gateway, now: Clock.nowMs()) }
        switch command {
        case .publish(let publish):
            stats.receivedByChannel[publish.channel, default: 0] += 1
            accept(publish, from: peer, name: name, frames: frames)
        case .ping:
            sendGateway(.pong, to: peer)
        case .hello, .sent, .undeliverable, .status:
            handleTwoWay(command, from: peer, gateway: name ?? Self.gatewayName(peer), frames: frames)
        default:
            refuseGateway(
                peer, frames, messageID: nil, code: .invalid, detail: .unknownCommand,
                reason: "\(command.name) is not a gateway command; gateways send PUBLISH, PING, HELLO, SENT, UNDELIVERABLE and STATUS")
        }
    }

    /// Validates identity and routes; the message waits for the next batch.
    private func accept(_ publish: Publish, from peer: PeerID, name: String?, frames: [[UInt8]]) {
        // Stopping: nothing new is taken; the gateway keeps the message and sends it again (to
        // this hub once it is back, or to another).
        if draining {
            stats.nacked += 1
            let reason = "the hub is stopping; send it again after retry_after_ms"
            sendGateway(
                .nack(Nack(messageID: publish.messageID, code: .unavailable, detail: .hubDraining, reason: reason, retryAfterMs: 1000)), to: peer)
            return
        }
        // With CURVE the key names the gateway, and a routing id naming another gateway is refused:
        // with ROUTER_HANDOVER it would take that gateway's connection and its ACKs over.
        if let name, let routingName = Self.gatewayName(peer), routingName != name {
            refuseGateway(
                peer, frames, messageID: publish.messageID, code: .invalid, detail: .identityMismatch,
                reason:
                    "routing id '\(routingName)' is not the name of this gateway's key ('\(name)'); set the routing id to '\(name)' or leave it unset"
            )
            return
        }
        guard let gateway = name ?? Self.gatewayName(peer) else {
            refuseGateway(
                peer, frames, messageID: publish.messageID, code: .invalid, detail: .anonymousGateway,
                reason: "set the socket's routing id (ZMQ_ROUTING_ID) to the gateway's name: printable ASCII, 1 to 128 bytes")
            return
        }
        // The raw frames are kept for the quarantine, the decoded body for the store: both count.
        let size = frames.byteCount + publish.body.count
        if let overload = ingest.overload(for: peer, size: size) {
            let reason =
                switch overload {
                case .gatewayWindow(let inFlight, let limit): "gateway '\(gateway)' has \(inFlight) messages waiting for ACK, the limit is \(limit)"
                case .hubLimit(let messages, let bytes):
                    "the hub holds \(messages) messages (\(bytes) bytes) waiting for their commit; PostgreSQL is behind"
                }
            overloaded(publish.messageID, peer: peer, detail: overload.detail, reason: reason)
            return
        }
        let record = intake.record(publish, gateway: gateway, now: Clock.nowMs())
        ingest.take(
            record, PendingPublish(peer: peer, messageID: publish.messageID, bytes: size, frames: frames, takenNs: Clock.monotonicNs()))
    }

    /// The gateway's name is its routing id, which it must set; libzmq's generated ids start with a zero byte.
    static func gatewayName(_ peer: PeerID) -> String? {
        guard (1...128).contains(peer.bytes.count), peer.bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return String(decoding: peer.bytes, as: UTF8.self)
    }

    /// Sends the next batch when one may go (`IngestPipeline.nextBatch`). Batches grow with load
    /// (group commit). The store thread runs them one after the other on one connection, so the
    /// second sees everything the first stored.
    func flushIngest() {
        guard let batch = ingest.nextBatch() else { return }
        let (contextWanted, wanted) = contextWanted(batch.records)
        ingest.sent(batch.pending, contextsWanted: wanted)
        stats.batches += 1
        submit(.ingest(batch.records, receivedAtMs: Clock.nowMs(), contextWanted: contextWanted))
    }

    /// Which of a batch's messages should have their customer's context read with the batch (by
    /// record, or empty for none), and how many that is per queue: as many of each queue's as its
    /// workers could take at once, less those asked for with the batch already in flight. Their
    /// TASKs go out as soon as the batch is answered, with no statement of their own; the others'
    /// contexts are read when they are offered.
    private func contextWanted(_ records: [IngestRecord]) -> ([Bool], [String: Int]) {
        // With no worker connected (ingest alone), no batch looks at its queues.
        guard dispatcher.workerCount > 0 else { return ([], [:]) }
        var free: [String: Int] = [:]
        for queue in Set(records.lazy.map(\.route.queue)) {
            // At most two batches are in flight.
            let slots = dispatcher.freeSlots(queue: queue) - ingest.contextsAskedFor(queue)
            if slots > 0 { free[queue] = slots }
        }
        guard !free.isEmpty else { return ([], [:]) }
        var wanted: [String: Int] = [:]
        let flags = records.map { record in
            let queue = record.route.queue
            guard wanted[queue, default: 0] < free[queue, default: 0] else { return false }
            wanted[queue, default: 0] += 1
            return true
        }
        return (flags, wanted)
    }

    /// The `interaction.received` event of a stored message (protocols/events.md).
    static func receivedEvent(_ ack: Ack, _ task: DispatchTask) -> [UInt8] {
        let interaction = task.payload.interaction
        return ReceivedEvent(
            deliveryID: task.deliveryID, interactionID: ack.interactionID, customerID: ack.customerID, gateway: interaction.gateway,
            messageID: ack.messageID, channel: interaction.channel, queue: ack.queue, language: task.needs.language, at: interaction.receivedAt
        ).json
    }

    /// Whether some subscriber's prefix matches `topic`: otherwise the event is not written out.
    func subscribed(to topic: String) -> Bool {
        guard !eventSubscriptions.isEmpty else { return false }
        let bytes = Array(topic.utf8)
        return eventSubscriptions.contains { bytes.starts(with: $0) }
    }

    /// XPUB's subscription messages: 1 and the prefix on a first subscription, 0 and the prefix
    /// when its last subscriber leaves.
    func readSubscriptions() throws {
        guard let events else { return }
        while let message = try events.receive(dontWait: true) {
            guard let frame = message.frames.first, let flag = frame.first else { continue }
            let prefix = Array(frame.dropFirst())
            if flag == 1 { eventSubscriptions.insert(prefix) } else if flag == 0 { eventSubscriptions.remove(prefix) }
        }
    }

    /// Sends one message on the events socket; a full queue drops it for that subscriber only
    /// (it reads what it missed from the database).
    func publish(topic: String, _ body: [UInt8]) {
        guard let events else { return }
        do {
            try events.send([Array(topic.utf8), body], dontWait: true)
        } catch {
            stats.eventsNotPublished += 1
        }
    }

    /// A message's time from being taken to its ACK: into /metrics and the dashboard.
    private func recordAckLatency(since takenNs: UInt64) {
        let nanoseconds = Clock.monotonicNs() &- takenNs
        metrics.ackLatency.recordNanoseconds(Int64(nanoseconds))
        dashboard.ackLatency(ms: Double(nanoseconds) / 1_000_000)
    }

    /// The oldest batch is committed (or failed): answer each gateway, hand new deliveries to the dispatcher.
    func ingested(_ results: [Result<IngestOutcome, StoreFailure>], contexts: [Int64: [UInt8]]) {
        guard let batch = ingest.answered() else { return }
        // The next batch goes to PostgreSQL first, so the database works while this one is answered.
        flushIngest()
        var tasks: [DispatchTask] = []
        // By index: zipping would copy every message, its frames and its record.
        for index in batch.indices where index < results.count {
            let peer = batch[index].peer
            let messageID = batch[index].messageID
            switch results[index] {
            case .success(.stored(let ack, let task)):
                stats.acked += 1
                recordAckLatency(since: batch[index].takenNs)
                stats.routed[ack.queue, default: 0] += 1
                tasks.append(task)
                sendGateway(.ack(ack), to: peer)
                if subscribed(to: ReceivedEvent.topic) { publish(topic: ReceivedEvent.topic, Self.receivedEvent(ack, task)) }
            case .success(.duplicate(let ack)):
                stats.acked += 1
                recordAckLatency(since: batch[index].takenNs)
                stats.duplicates += 1
                sendGateway(.ack(ack), to: peer)
            case .success(.conflict(_, let original)):
                let refusal = PublishIntake.reused(messageID, storedAs: original.interactionID)
                refuseGateway(peer, batch[index].frames, messageID: messageID, code: .invalid, detail: refusal.detail, reason: refusal.reason)
            case .failure(let failure) where failure.unavailable:
                stats.nacked += 1
                sendGateway(
                    .nack(
                        Nack(
                            messageID: messageID, code: .unavailable, detail: .databaseUnavailable,
                            reason: "the hub cannot reach its database; the message was not stored", retryAfterMs: 1000)), to: peer)
            case .failure(let failure):
                refuseGateway(peer, batch[index].frames, messageID: messageID, code: .invalid, detail: .storeRejected, reason: failure.refusal)
            }
        }
        if !tasks.isEmpty { perform(dispatcher.enqueue(tasks, now: Clock.nowMs()), contextsRead: contexts) }
    }

    /// NACK overloaded: the message is fine, the hub is full; the gateway re-sends after retry_after_ms.
    private func overloaded(_ messageID: String, peer: PeerID, detail: RefusalDetail, reason: String) {
        stats.nacked += 1
        stats.overloaded += 1
        sendGateway(.nack(Nack(messageID: messageID, code: .overloaded, detail: detail, reason: reason, retryAfterMs: 100)), to: peer)
    }

    /// NACKs, logs and quarantines refused gateway input.
    func refuseGateway(_ peer: PeerID, _ frames: [[UInt8]], messageID: String?, code: NackCode, detail: RefusalDetail, reason: String) {
        stats.nacked += 1
        // A space cannot be in a gateway's name: an unnamed peer's entries are never replayed under a name.
        let name = Self.gatewayName(peer) ?? "unnamed \(peer)"
        logRefusal(
            "refused gateway input: \(reason)", peer: name,
            metadata: [LogKey.gateway: .string(name), LogKey.messageID: .string(messageID ?? "-"), LogKey.code: .string(detail.rawValue)])
        sendGateway(.nack(Nack(messageID: messageID, code: code, detail: detail, reason: reason)), to: peer)
        quarantine(role: "gateway", peer: name, messageID: messageID, code: detail.rawValue, reason: reason, frames: frames)
    }

    /// Keeps refused input for the next quarantine batch. The buffer is bounded in entries and in
    /// bytes (until the store has written them): a flood of bad input beyond it is still answered and logged, and counted as `quarantine_dropped`, but not stored.
    func quarantine(role: String, peer: String, messageID: String?, code: String, reason: String, frames: [[UInt8]]) {
        if quarantineBuffer.keep(QuarantineEntry(role: role, peer: peer, messageID: messageID, code: code, reason: reason, frames: frames)) {
            stats.quarantined += 1
        } else {
            stats.quarantineDropped += 1
        }
    }

    /// Logs a refusal of a peer's input, unless that peer has had its share of lines in this
    /// window (`RefusalLogLimiter`); the window's end logs how many were left out.
    func logRefusal(_ message: String, peer: String, metadata: Logger.Metadata) {
        switch refusalLog.decide(peer, now: Clock.nowMs()) {
        case .log:
            logger.warning("\(message)", metadata: metadata)
        case .logAfterLeavingOut(let count):
            logger.warning("\(message) (\(count) earlier refusals of this peer's input were not logged)", metadata: metadata)
        case .leaveOut:
            stats.refusalsNotLogged += 1
        }
    }

    /// Writes the waiting quarantine entries in one transaction.
    func flushQuarantine() {
        guard let (entries, bytes) = quarantineBuffer.take() else { return }
        submit(.quarantine(entries, bytes: bytes))
    }

    func sendGateway(_ command: Command, to peer: PeerID) {
        if case .nack(let nack) = command { stats.nackedByCode["\(nack.code.rawValue)/\(nack.detail)", default: 0] += 1 }
        do {
            try gateways.send(to: peer.bytes, Codec.encode(command), dontWait: true)
        } catch {
            // The gateway is gone or not reading: it re-sends what was not ACKed.
            logger.debug("could not send \(command.name) to gateway \(peer): \(error)")
        }
    }
}

extension [[UInt8]] {
    /// The bytes of all frames together: what a message costs the hub's memory.
    var byteCount: Int { reduce(0) { $0 + $1.count } }
}
