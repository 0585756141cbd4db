import Logging
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import ZeroMQ

/// Two-way (docs/two-way.md): workers' REPLYs stored and queued, outbound messages DELIVERed to
/// the gateways that said HELLO for their channel and their SENT / UNDELIVERABLE recorded, the
/// gateways' STATUS questions answered, and the campaign pass run.
extension Hub {
    /// HELLO, SENT, UNDELIVERABLE and STATUS from a gateway named `gateway` (its routing id or key).
    func handleTwoWay(_ command: Command, from peer: PeerID, gateway: String?, frames: [[UInt8]]) {
        let now = Clock.nowMs()
        guard let gateway else {
            refuseGateway(
                peer, frames, messageID: nil, code: .invalid, detail: .anonymousGateway,
                reason: "set the socket's routing id (ZMQ_ROUTING_ID) to the gateway's name before \(command.name)")
            return
        }
        switch command {
        case .hello(let hello):
            let unknown = hello.channels.filter { !config.decodingLimits.channels.contains($0) }
            guard unknown.isEmpty else {
                refuseGateway(
                    peer, frames, messageID: nil, code: .invalid, detail: .unknownChannel,
                    reason:
                        "channel \(unknown.map { "'\($0)'" }.joined(separator: ", ")) is not configured; expected \(config.decodingLimits.channels.sorted().joined(separator: ", "))"
                )
                return
            }
            gatewayRegistry.hello(gateway, peer: peer, channels: hello.channels, now: now)
            logger.info(
                "gateway ready to send", metadata: [LogKey.gateway: .string(gateway), "channels": .string(hello.channels.joined(separator: ","))])
            sendGateway(.hello(Hello(channels: hello.channels, heartbeatMs: Int(config.dispatch.heartbeatMs))), to: peer)
            nextOutboundClaim = 0
        case .sent(let sent):
            // Answers wait in memory only while the database cannot take them: past the bound one is
            // left unrecorded, and its message, delivered again under the same key, is answered again.
            guard outboundResults.count < Self.maxAnswersWaiting else {
                stats.outboundAnswersDropped += 1
                return
            }
            // SENT is recorded whoever's DELIVER it answers: the message went out, so it never goes again.
            outboundInFlight[sent.outboundID] = nil
            stats.outboundSent += 1
            outboundResults.append(OutboundResult(id: sent.outboundID, outcome: .sent, gateway: gateway, reference: sent.reference))
        case .undeliverable(let undeliverable):
            guard let flight = outboundInFlight[undeliverable.outboundID], flight.gateway == gateway else {
                refuseGateway(
                    peer, frames, messageID: nil, code: .invalid, detail: .notDelivering,
                    reason: "outbound message \(undeliverable.outboundID) is not being delivered by gateway '\(gateway)'")
                return
            }
            outboundInFlight[undeliverable.outboundID] = nil
            stats.outboundUndeliverable += 1
            let outcome: OutboundResult.Outcome = undeliverable.retryAfterMs == nil ? .undeliverable : .retry
            outboundResults.append(
                OutboundResult(
                    id: undeliverable.outboundID, outcome: outcome, gateway: gateway, error: "\(gateway): \(undeliverable.reason)",
                    retryAfterMs: undeliverable.retryAfterMs))
        case .status(let query):
            status(query, from: peer, frames: frames)
        default:
            break
        }
    }

    /// Gateway answers (and unanswered DELIVERs) waiting to be written at most.
    static let maxAnswersWaiting = 4096

    /// A gateway's STATUS, read on the context lane. An identity that does not normalize belongs to
    /// no customer: found false at once.
    private func status(_ query: StatusQuery, from peer: PeerID, frames: [[UInt8]]) {
        var identity: NormalizedIdentity?
        if let kindName = query.identityKind, let value = query.identityValue {
            guard let kind = NormalizedIdentity.Kind(rawValue: kindName) else {
                refuseGateway(
                    peer, frames, messageID: nil, code: .invalid, detail: .invalidField,
                    reason:
                        "STATUS identity kind '\(kindName)' is unknown; expected \(NormalizedIdentity.Kind.allCases.map(\.rawValue).joined(separator: ", "))"
                )
                return
            }
            guard let normalized = identityNormalizer.normalize(kind, value) else {
                sendGateway(.openContacts(OpenContacts(queryID: query.queryID, customerID: nil, contacts: [])), to: peer)
                return
            }
            identity = normalized
        }
        guard statusQueriesInFlight < Self.maxQueriesInFlight else {
            sendGateway(
                .nack(
                    Nack(
                        messageID: nil, code: .overloaded, detail: .queryLimit, reason: "\(statusQueriesInFlight) STATUS queries are being read",
                        retryAfterMs: 100)), to: peer)
            return
        }
        statusQueriesInFlight += 1
        submit(.contactStatus(peer, queryID: query.queryID, id: query.customerID, identity: identity))
    }

    /// A worker's REPLY on a delivery it holds: stored, then REPLIED.
    func reply(_ reply: Reply, from peer: PeerID) {
        guard let workerID = dispatcher.workerID(of: peer) else {
            answerRefused(peer, WorkerError(code: .notReady, detail: .notReady, reason: "send READY before REPLY"))
            return
        }
        guard let task = dispatcher.heldTask(reply.deliveryID), dispatcher.holds(task, peer: peer) else {
            answerRefused(
                peer,
                WorkerError(
                    code: .notHeld, detail: .unknownDelivery, reason: "delivery \(reply.deliveryID) is not held by you: REPLY before its DONE",
                    deliveryID: reply.deliveryID))
            return
        }
        submit(.reply(peer, reply, worker: workerID, expireAfterMs: config.outbound.expireAfterMs))
    }

    /// The outbound pass: DELIVERs unanswered past their time are retried, answers are written,
    /// and the next messages are leased when a gateway can take them; the campaign pass on its own timer.
    func runOutboundTimers(now: Int64) {
        guard now >= nextOutboundScan else { return }
        nextOutboundScan = now + 100
        for (id, flight) in outboundInFlight where flight.deadlineMs <= now {
            outboundInFlight[id] = nil
            outboundResults.append(
                OutboundResult(
                    id: id, outcome: .retry, gateway: flight.gateway,
                    error: "gateway '\(flight.gateway)' answered neither SENT nor UNDELIVERABLE within \(config.outbound.deliverTimeoutMs) ms"))
        }
        for name in gatewayRegistry.expire(now: now, timeoutMs: config.dispatch.heartbeatTimeoutMs * 3) {
            logger.notice(
                "gateway silent for too long: nothing more is delivered to it until it says HELLO again", metadata: [LogKey.gateway: .string(name)])
        }
        if !outboundResults.isEmpty && now >= outboundResultsRetryAt {
            submit(.outboundResults(outboundResults, settings: config.outbound))
            outboundResults.removeAll()
        }
        if now >= nextOutboundClaim && !outboundClaimInFlight && !draining {
            let channels = gatewayRegistry.channels
            let room = config.outbound.window - outboundInFlight.count
            if room > 0 || channels.isEmpty {
                outboundClaimInFlight = true
                submit(.claimOutbound(channels: room > 0 ? channels : [], limit: max(room, 0), settings: config.outbound))
            }
            nextOutboundClaim = now + (channels.isEmpty ? 5000 : 500)
        }
        if now >= nextCampaignPass && !campaignPassInFlight && !draining {
            if nextCampaignPass > 0 {
                campaignPassInFlight = true
                submit(.campaignPass(nowMs: now, settings: config.outbound))
            }
            nextCampaignPass = now + Int64(config.outbound.campaignEveryMs)
        }
    }

    /// The store's answers to the two-way requests.
    func handleTwoWayReply(_ reply: StoreReply) {
        switch reply {
        case .replied(let peer, let sent, .success(let stored)):
            if !stored.repeated { stats.replies += 1 }
            send(
                .replied(
                    Replied(
                        deliveryID: sent.deliveryID, replyID: sent.replyID, outboundID: stored.outboundID, conversationID: stored.conversationID,
                        repeated: stored.repeated)), toWorker: peer)
            nextOutboundClaim = 0
        case .replied(let peer, let sent, .failure(let failure)):
            let error =
                failure.unavailable
                ? WorkerError(
                    code: .unavailable, detail: .databaseUnavailable, reason: "the reply could not be stored: send it again",
                    deliveryID: sent.deliveryID)
                : WorkerError(code: .invalid, detail: .storeRejected, reason: failure.refusal, deliveryID: sent.deliveryID)
            logger.warning("a reply could not be stored: \(failure.reason)", metadata: [LogKey.deliveryID: .stringConvertible(sent.deliveryID)])
            send(.error(error), toWorker: peer)
        case .outboundClaimed(.success(let messages)):
            outboundClaimInFlight = false
            deliver(messages)
        case .outboundClaimed(.failure(let failure)):
            outboundClaimInFlight = false
            logger.error("could not lease outbound messages: \(failure.reason)")
        case .outboundRecorded(_, .success(let states)):
            let dead = states.values.count { $0 == "dead" }
            if dead > 0 { logger.warning("\(dead) outbound messages are dead (undeliverable or out of attempts); see switchboard outbound") }
        case .outboundRecorded(let results, .failure(let failure)):
            // Kept for the next pass: a SENT lost here would send the message again.
            logger.error("could not record \(results.count) gateway answers, trying again in a second: \(failure.reason)")
            outboundResults.append(contentsOf: results)
            outboundResultsRetryAt = Clock.nowMs() + 1000
        case .contactStatus(let peer, _, .success(let answer)):
            statusQueriesInFlight -= 1
            sendGateway(.openContacts(answer), to: peer)
        case .contactStatus(let peer, _, .failure(let failure)):
            statusQueriesInFlight -= 1
            sendGateway(
                .nack(
                    Nack(
                        messageID: nil, code: .unavailable, detail: .databaseUnavailable, reason: "the status could not be read: \(failure.refusal)",
                        retryAfterMs: 1000)), to: peer)
        case .campaignPassed(let result):
            campaignPassInFlight = false
            switch result {
            case .success(let summary):
                if case .object(let members) = summary, case .integer(let contacted)? = members["contacted"], contacted > 0 {
                    logger.info("campaigns contacted \(contacted) customers")
                    stats.campaignContacts += Int(contacted)
                    nextOutboundClaim = 0
                }
            case .failure(let failure):
                logger.error("the campaign pass failed: \(failure.reason)")
            }
        default:
            break
        }
    }

    /// DELIVERs each leased message to its gateway; one with no gateway now goes back with a backoff.
    private func deliver(_ messages: [OutboundMessage]) {
        let now = Clock.nowMs()
        for message in messages {
            guard let (name, peer) = gatewayRegistry.gateway(for: message.deliver.channel, preferring: message.preferredGateway) else {
                outboundResults.append(
                    OutboundResult(id: message.id, outcome: .retry, error: "no connected gateway sends on \(message.deliver.channel)"))
                continue
            }
            do {
                try gateways.send(to: peer.bytes, Codec.encode(.deliver(message.deliver)), dontWait: true)
                outboundInFlight[message.id] = OutboundInFlight(gateway: name, deadlineMs: now + Int64(config.outbound.deliverTimeoutMs))
                stats.outboundDelivered += 1
            } catch let error as ZeroMQError where error.wouldBlock {
                // Its connection's queue is full: this one waits its backoff, the gateway stays known.
                outboundResults.append(OutboundResult(id: message.id, outcome: .retry, gateway: name, error: "gateway '\(name)' is not reading"))
            } catch {
                gatewayRegistry.forget(name)
                logger.notice("gateway unreachable, forgotten until its next HELLO: \(error)", metadata: [LogKey.gateway: .string(name)])
                outboundResults.append(OutboundResult(id: message.id, outcome: .retry, gateway: name, error: "gateway '\(name)' unreachable"))
            }
        }
    }
}
