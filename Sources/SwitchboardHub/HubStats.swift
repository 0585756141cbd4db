/// Counters of the hub loop since start, logged periodically and readable in tests.
public struct HubStats: Sendable, Equatable {
    public var received = 0
    /// PUBLISHes decoded, by channel.
    public var receivedByChannel: [String: Int] = [:]
    /// NACKs sent, by "code/detail".
    public var nackedByCode: [String: Int] = [:]
    public var acked = 0
    public var duplicates = 0
    public var nacked = 0
    public var quarantined = 0
    /// Refused inputs answered but not stored because the quarantine buffer was full (a flood).
    public var quarantineDropped = 0
    /// Refusals answered and quarantined but not written to the log (a flood from one peer).
    public var refusalsNotLogged = 0
    /// NACK overloaded sent (gateway window or hub ingest limit).
    public var overloaded = 0
    /// Connections refused by the ZAP handler (unknown key, wrong role, no CURVE).
    public var authRefused = 0
    public var offered = 0
    public var completed = 0
    public var failed = 0
    public var dead = 0
    public var requeued = 0
    /// Two-way: REPLYs stored, DELIVERs sent, SENT and UNDELIVERABLE received, campaign contacts made.
    public var replies = 0
    public var outboundDelivered = 0
    /// Hubs this hub adopted (their lease ran out, or they stopped), and deliveries it took over.
    public var hubsAdopted = 0
    public var deliveriesAdopted = 0
    /// 1 while this hub holds its lease in the database (it may offer), 0 while it does not.
    public var leaseHeld = true
    public var outboundSent = 0
    public var outboundUndeliverable = 0
    public var campaignContacts = 0
    /// SENTs not recorded because 4096 answers already waited for the database (each is answered again).
    public var outboundAnswersDropped = 0
    /// DELIVERs waiting for their answer, and gateways that said HELLO and are heard from.
    public var outboundInFlight = 0
    public var sendingGateways = 0
    /// Escalation steps applied to waiting deliveries.
    public var escalated = 0
    public var routed: [String: Int] = [:]
    public var batches = 0
    public var workers = 0
    /// Deliveries memory holds ready or scheduled for offering.
    public var deliveriesReady = 0
    /// Workers that could take one more task now.
    public var workersWithFreeCapacity = 0
    /// Connected workers serving each queue, and their free capacity.
    public var queueWorkers: [String: Int] = [:]
    public var queueFreeCapacity: [String: Int] = [:]
    /// Ready deliveries no connected worker qualifies for (queue, skills, language), by queue.
    public var deliveriesUnservable: [String: Int] = [:]
    public var inFlight = 0
    /// Worker commands answered not_ready or not_held (routine after a restart or a re-sent answer), by detail.
    public var workerRefusals: [String: Int] = [:]
    /// DONEs and FAILs re-sent for a delivery the same worker's earlier answer had settled, confirmed again.
    public var repeatedAnswersConfirmed = 0
    /// Events the events socket could not take (a send error; a slow subscriber's drops are not seen here).
    public var eventsNotPublished = 0
    /// Workers given up on because they stopped reading what the hub sends.
    public var workersNotReading = 0
    /// Messages waiting in the hub for workers whose connection's queue was full.
    public var outboxWaiting = 0
    /// Per store lane (ingest, dispatch, context): requests, items and time spent, since start.
    public var lanes: [String: LaneFigures] = [:]

    public init() {}

    var summary: String {
        "received=\(received) acked=\(acked) duplicates=\(duplicates) nacked=\(nacked) quarantined=\(quarantined) quarantine_dropped=\(quarantineDropped) refusals_not_logged=\(refusalsNotLogged) overloaded=\(overloaded) auth_refused=\(authRefused) offered=\(offered) completed=\(completed) failed=\(failed) dead=\(dead) requeued=\(requeued) batches=\(batches) workers=\(workers) workers_free=\(workersWithFreeCapacity) deliveries_ready=\(deliveriesReady) in_flight=\(inFlight) repeated_answers=\(repeatedAnswersConfirmed) workers_not_reading=\(workersNotReading) replies=\(replies) delivered=\(outboundDelivered) sent=\(outboundSent) undeliverable=\(outboundUndeliverable)"
    }
}

/// One store lane's totals: mean time per request and items per request follow from them.
public struct LaneFigures: Sendable, Equatable {
    public var requests: Int
    public var items: Int
    public var microseconds: Int
}
