import Logging
import SwitchboardCore
import SwitchboardStore

/// Several hubs on one database: each renews a lease in `hubs`, offers nothing once it has not
/// renewed it in time, and adopts the work of hubs that stopped or whose lease ran out. Both go
/// through a store lane of their own, so that no batch or maintenance ever delays a renewal.
///
/// The fence: a renewal sent at `t` and committed keeps the lease to at least `t + lease` in the
/// database's eyes, since the database stamps it after `t`. This hub offers only until
/// `t + lease - renew interval / 2`, so it has stopped before any other hub may adopt its work.
/// It also stops its heartbeats to workers then: they take this hub for gone and tell the hubs
/// still up which tasks they hold from it, before the adopter offers any of them again.
extension Hub {
    var leaseRenewEveryMs: Int64 { config.hubLeaseMs / 3 }

    func runLeaseTimers(now: Int64) {
        if now >= nextLeaseRenew && !leaseRenewInFlight {
            leaseRenewInFlight = true
            leaseLane.submit(.renewLease(leaseMs: config.hubLeaseMs, sentAt: now), logger: logger)
            nextLeaseRenew = now + leaseRenewEveryMs
        }
        if now >= nextAdoption && !adoptionInFlight && !draining && dispatcher.holdsLease(now: now) {
            adoptionInFlight = true
            leaseLane.submit(.adoptHubs, logger: logger)
            nextAdoption = now + min(500, leaseRenewEveryMs)
        }
    }

    func handleLeaseReply(_ reply: StoreReply) throws {
        let now = Clock.nowMs()
        switch reply {
        case .leaseRenewed(let sentAt, .success(true)):
            leaseRenewInFlight = false
            let wasHeld = dispatcher.holdsLease(now: now)
            perform(dispatcher.leaseRenewed(until: sentAt + config.hubLeaseMs - leaseRenewEveryMs / 2, now: now))
            if !wasHeld {
                logger.notice("hub lease renewed: offering again")
                let waiting = tasksAwaitingLease
                tasksAwaitingLease = []
                for (peer, task, customer) in waiting where dispatcher.holds(task, peer: peer) { sendTask(task, customer: customer, to: peer) }
            }
        case .leaseRenewed(_, .success(false)):
            leaseRenewInFlight = false
            // Another hub has this hub's deliveries now: what memory holds is stale. Exit and start clean.
            throw HubError(
                reason:
                    "this hub's lease ran out and another hub adopted its work (see hubs.adopted_by); stopping so that it starts again clean"
            )
        case .leaseRenewed(_, .failure(let failure)):
            leaseRenewInFlight = false
            nextLeaseRenew = min(nextLeaseRenew, now + 200)
            if !dispatcher.holdsLease(now: now) {
                logger.error("hub lease not renewed, nothing is offered until it is: \(failure.reason)")
            }
        case .adopted(.success(let adopted)):
            adoptionInFlight = false
            guard !adopted.hubs.isEmpty else { return }
            for hub in adopted.hubs {
                stats.hubsAdopted += 1
                stats.deliveriesAdopted += Int(hub.deliveries)
                let late = hub.leaseExpiredMs.map { ", its lease having run out \($0) ms before" } ?? ""
                logger.notice(
                    "adopted hub '\(hub.hub)' (\(hub.clean ? "stopped cleanly" : "lease ran out")\(late)): \(hub.deliveries) unfinished deliveries are this hub's now"
                )
            }
            // A hub that died may have offered tasks without writing it: their workers say so first,
            // a heartbeat after they noticed it gone. Workers take a hub for gone three heartbeats
            // after its last (one that stopped cleanly may be adopted before that) and claim what
            // it gave them at the next: its restored tasks wait that long for them.
            if adopted.hubs.contains(where: { !$0.clean }) { dispatcher.holdOffersForReclaim(now: now, extraMs: config.dispatch.heartbeatMs) }
            let claimWindowMs = max(0, 4 * config.dispatch.heartbeatMs - config.dispatch.heartbeatTimeoutMs) + config.dispatch.heartbeatMs
            for entry in adopted.offered { dispatcher.restoreOffered(entry.task, workerID: entry.worker, now: now, extraMs: claimWindowMs) }
            for queue in backlogQueues { perform(dispatcher.markBacklog(queue: queue)) }
        case .adopted(.failure(let failure)):
            adoptionInFlight = false
            logger.warning("could not look for hubs to adopt: \(failure.reason)")
        default:
            break
        }
    }
}
