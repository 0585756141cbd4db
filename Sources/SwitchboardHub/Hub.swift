import Foundation
import Logging
import SwitchboardConfig
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import ZeroMQ

/// The bound addresses of a running hub (wildcard ports resolved).
public struct HubEndpoints: Sendable, Equatable {
    public var gateway: String
    public var worker: String
    /// `host:port` of the HTTP probes, nil when `http_endpoint` is off.
    public var http: String?
    /// The events socket's endpoint, nil when `events_endpoint` is off.
    public var events: String? = nil
}

/// The Switchboard daemon's loop: one thread owns every ZeroMQ socket and the dispatcher; the
/// store runs on three lanes of its own (docs/architecture.md). A gateway gets ACK only after its message is committed; a
/// worker gets a task only after it is committed.
public final class Hub {
    /// The running configuration; a reload (SIGHUP) replaces what can change without a restart.
    var config: HubConfig
    var logger: Logger
    let context = Context()
    var intake: PublishIntake
    var dispatcher: Dispatcher
    public internal(set) var stats = HubStats()

    var gateways: Socket!
    var workers: Socket!
    /// Connection events of the worker socket (closes, failed handshakes) and of the gateway socket (failed handshakes).
    var monitor: Socket!
    var gatewayMonitor: Socket!
    /// libzmq's ZAP handler endpoint, served by this loop when security is on.
    var zap: Socket?
    /// The events socket (XPUB): delivery events and interaction.received, after their commit.
    var events: Socket?
    /// The topic prefixes subscribers hold now (XPUB passes each prefix's first subscription and
    /// last unsubscription): with none, no event is even written out.
    var eventSubscriptions: Set<[UInt8]> = []
    /// Workers' QUERYs sent to the context lane and not answered yet: at most `maxQueriesInFlight`,
    /// so that a worker asking in a loop cannot grow the lane's queue without bound.
    var queriesInFlight = 0
    /// Queues with pending deliveries at start that the configuration no longer names: their
    /// tasks are loaded all the same, so they show as unservable instead of waiting unseen.
    var strayQueues: [String] = []
    /// Every queue whose backlog the hub reads: the configured ones and the stray ones.
    var backlogQueues: [String] { config.routing.queueNames + strayQueues }
    static let maxQueriesInFlight = 256
    var identityNormalizer: IdentityNormalizer
    var accessControl: AccessControl?
    var health: HTTPServer?
    /// What /metrics exposes (HubMetrics); latencies are recorded into it as they happen.
    let metrics = HubMetrics()
    /// False from a store reply that lost the connection until one that reached PostgreSQL.
    var databaseUp = true
    /// Three store threads, each with its own connection, so ACKs never wait behind dispatch
    /// writes and a TASK never waits for a customer context behind either.
    var ingestLane: StoreLane!
    var dispatchLane: StoreLane!
    var contextLane: StoreLane!
    /// Renews this hub's lease and adopts dead hubs' work (Hub+Lease).
    var leaseLane: StoreLane!
    var nextLeaseRenew: Int64 = 0
    var leaseRenewInFlight = false
    var nextAdoption: Int64 = 0
    var adoptionInFlight = false
    /// TASKs of offers decided before the lease ran out, sent once it is renewed.
    var tasksAwaitingLease: [(peer: PeerID, task: DispatchTask, customer: [UInt8])] = []
    /// The lanes started so far (all three once `run` has set them up).
    var lanes: [StoreLane] { [ingestLane, dispatchLane, contextLane, leaseLane].compactMap { $0 } }

    /// PUBLISHes on their way to the ingest lane: flow control, batches, what is not committed yet.
    var ingest: IngestPipeline
    /// Refused input on its way to the quarantine table.
    var quarantineBuffer: QuarantineBuffer
    /// Delivery transitions and DONE/FAIL checks on their way to the dispatch lane.
    var transitionWriter: TransitionWriter
    /// Offers waiting for their customer's context from the context lane.
    var contextReader = ContextReader()
    /// Messages for workers whose connection's queue was full, sent as they read.
    var outbox: WorkerOutbox
    /// Which refusals reach the log: a flood from one peer is summed up, not written line by line.
    var refusalLog = RefusalLogLimiter()
    var workerDescriptors: [Int32: PeerID] = [:]
    var failedRefills: Set<String> = []
    var nextRescan: Int64 = 0
    var nextTick: Int64 = 0
    var nextHeartbeat: Int64 = 0
    var nextStatsLog: Int64 = 0
    var nextMaintenance: Int64 = 0
    /// When the merge pass runs next, and whether one is on its way (one at a time).
    var nextMergePass: Int64 = 0
    var mergePassInFlight = false
    /// Each queue's figures from the database, read every few seconds for /metrics and the dashboard.
    var queueFigures: [QueueSummary] = []
    /// The dashboard's series and service level today; the latest refusals and dead letters.
    var dashboard = DashboardFeed()
    var recentQuarantine: [RecentProblem] = []
    var recentDead: [RecentProblem] = []
    var nextQueueFigures: Int64 = 0
    var queueFiguresInFlight = false
    /// Two-way: the gateways that said HELLO, DELIVERs waiting for their answer, answers on their
    /// way to the store, and the timers of the outbound and campaign passes.
    var gatewayRegistry = GatewayRegistry()
    var outboundInFlight: [Int64: OutboundInFlight] = [:]
    var outboundResults: [OutboundResult] = []
    var outboundClaimInFlight = false
    var nextOutboundClaim: Int64 = 0
    var campaignPassInFlight = false
    var nextCampaignPass: Int64 = 0
    /// The outbound pass's own cadence (every 100 ms), and when answers that could not be written go again.
    var nextOutboundScan: Int64 = 0
    var outboundResultsRetryAt: Int64 = 0
    var statusQueriesInFlight = 0
    /// SIGTERM was received: new messages are refused while held tasks are answered.
    var draining = false
    /// systemd's notify socket (a no-op outside systemd): READY, STATUS every 10 s, WATCHDOG, RELOADING, STOPPING.
    let systemd = SystemdNotifier(environment: ProcessInfo.processInfo.environment)

    public init(config: HubConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        self.logger[metadataKey: "hub"] = .string(config.hubName)
        intake = PublishIntake(config: config)
        identityNormalizer = IdentityNormalizer(defaultCountryCode: config.defaultCountryCode)
        dispatcher = Dispatcher(config: config.dispatch)
        dispatcher.escalationSteps = config.routing.escalationSteps
        outbox = WorkerOutbox(pauseToleranceMs: config.dispatch.heartbeatTimeoutMs)
        transitionWriter = TransitionWriter(waitMs: config.transitionWaitMs)
        ingest = IngestPipeline(
            batchMax: config.batchMax, gatewayWindow: config.gatewayWindow, maxUncommitted: config.maxUncommitted,
            maxUncommittedBytes: config.maxUncommittedBytes)
        quarantineBuffer = QuarantineBuffer(maxBytes: config.maxUncommittedBytes)
    }

    /// Prepares the database, binds, recovers and serves until `stop` is raised; then drains.
    /// `onReady` is called once the sockets are bound and recovery has been requested.
    /// Raising `reload` (SIGHUP) makes the hub read its allow-lists again and, with `loadConfig`,
    /// its whole configuration (`reloadConfiguration`).
    public func run(
        stop: StopSignal, reload: StopSignal = StopSignal(), loadConfig: (() throws -> HubConfig)? = nil,
        onReady: (HubEndpoints) -> Void = { _ in }
    ) throws {
        let serverKey = try prepareSecurity()
        // Bound first, so a taken port fails the start before anything else is set up; /readyz says 503 until serving.
        if let endpoint = config.httpEndpoint { health = try HTTPServer(endpoint: endpoint, metrics: metrics, logger: logger) }
        defer { health?.shutdown() }
        try prepareDatabase()
        try bindSockets(serverKey: serverKey)
        ingestLane = try StoreLane(name: "ingest", context: context, config: config, logger: logger, metrics: metrics)
        dispatchLane = try StoreLane(name: "dispatch", context: context, config: config, logger: logger, metrics: metrics)
        contextLane = try StoreLane(name: "context", context: context, config: config, logger: logger, metrics: metrics)
        leaseLane = try StoreLane(name: "lease", context: context, config: config, logger: logger, metrics: metrics)
        recover()
        let endpoints = HubEndpoints(
            gateway: gateways.lastEndpoint, worker: workers.lastEndpoint, http: health.map { "127.0.0.1:\($0.port)" }, events: events?.lastEndpoint)
        publishHealth(serving: true)
        logger.info(
            "hub serving: gateways on \(endpoints.gateway), workers on \(endpoints.worker), events on \(endpoints.events ?? "off"), libzmq \(Context.libraryVersion)"
        )
        systemd.notify("READY=1\nSTATUS=serving gateways on \(endpoints.gateway), workers on \(endpoints.worker)")
        onReady(endpoints)
        var nextWatchdog: Int64 = 0
        while !stop.isRaised {
            // Without any one of its store lanes the hub cannot keep its promises: exit, and let systemd restart it.
            guard !lanes.contains(where: \.thread.hasFinished) else { throw HubError(reason: "a store lane's thread stopped; see the log above") }
            try serveOnce(timeoutMs: loopTimeoutMs(now: Clock.nowMs()))
            if reload.consume() {
                // sd_notify's reload protocol: RELOADING=1 with the monotonic time, then READY=1.
                systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Clock.monotonicNs() / 1000)\nSTATUS=reloading")
                if let loadConfig { reloadConfiguration(loadConfig) }
                reloadAllowLists()
                systemd.notify("READY=1\nSTATUS=\(statusLine)")
            }
            if let interval = systemd.watchdogIntervalMs, Clock.nowMs() >= nextWatchdog {
                systemd.notify("WATCHDOG=1")
                nextWatchdog = Clock.nowMs() + interval
            }
        }
        publishHealth(serving: false)
        try waitForHeldTasks()
        try drain()
        logger.info("hub stopped: \(stats.summary)")
    }

    /// Checks the schema, records the routing rules, creates partitions: before any socket is bound.
    private func prepareDatabase() throws {
        let setup = try Store(conninfo: config.database, owner: config.hubName)
        try setup.checkSchema()
        try intake.register(in: setup)
        let started = Clock.nowMs()
        let previous = try setup.recordStart(leaseMs: config.hubLeaseMs)
        // The start is the first renewal.
        _ = dispatcher.leaseRenewed(until: started + config.hubLeaseMs - leaseRenewEveryMs / 2, now: started)
        nextLeaseRenew = started + leaseRenewEveryMs
        if let adopter = previous.adoptedBy {
            logger.notice("hub '\(adopter)' adopted the deliveries of this hub's previous run; this run starts with none of them")
        } else if previous.crashed {
            dispatcher.holdOffersForReclaim(now: Clock.nowMs())
            logger.notice(
                "the previous run of this hub did not stop cleanly: nothing is offered for \(config.dispatch.heartbeatTimeoutMs) ms, while workers reclaim what they hold"
            )
        }
        try setup.ensurePartitions(nowMs: Clock.nowMs())
        // Deliveries workers held at the last stop are restored before any worker can answer for them.
        let released = try setup.releaseOutbound(owner: config.hubName)
        if released > 0 { logger.notice("\(released) outbound messages this hub was sending at its last stop are queued again") }
        let held = try setup.loadOffered()
        for entry in held { dispatcher.restoreOffered(entry.task, workerID: entry.worker, now: Clock.nowMs()) }
        // Sticky routing remembers, across restarts, who last completed each recent customer's contact.
        for (customer, worker) in try setup.lastWorkers(limit: Dispatcher.stickyMemory) { dispatcher.remember(customer: customer, worker: worker) }
        strayQueues = try setup.queuesWithPendingWork().filter { config.routing.settings(ofQueue: $0) == nil }
        if !strayQueues.isEmpty {
            logger.warning(
                "deliveries wait in queues this configuration does not name: \(strayQueues.joined(separator: ", ")); no worker can take them until the queues are configured again or the deliveries replayed elsewhere"
            )
        }
        logger.info("database ready; routing version \(intake.routingVersion); \(held.count) deliveries held by workers at the last stop")
    }

    /// Loads the key pair and allow-lists (security on) or says loudly that anyone may connect.
    private func prepareSecurity() throws -> String? {
        guard config.security == .curve else {
            logger.warning(
                "SECURITY IS OFF (security: off): any process that reaches \(config.gatewayEndpoint) or \(config.workerEndpoint) can publish messages and take customer data; set security: curve"
            )
            return nil
        }
        guard Curve.isAvailable else { throw HubError(reason: "security is curve but this libzmq was built without CURVE (libsodium)") }
        guard let keyPath = config.serverKeyFile, let gatewayKeys = config.gatewayKeysFile, let workerKeys = config.workerKeysFile else {
            throw HubError(
                reason:
                    "security is curve: set server_key_file, gateway_keys_file and worker_keys_file (create keys with 'switchboard keygen'), or set security: off explicitly"
            )
        }
        let keyFile: CurveKeyFile
        do {
            keyFile = try CurveKeyFile.parse(String(contentsOfFile: keyPath, encoding: .utf8))
        } catch {
            throw HubError(reason: "server_key_file \(keyPath): \(error)")
        }
        let access = try AccessControl(gatewayFile: gatewayKeys, workerFile: workerKeys, subscriberFile: config.subscriberKeysFile)
        accessControl = access
        logger.info("security: CURVE; \(access.gateways.names.count) gateway keys, \(access.workers.names.count) worker keys allowed")
        return keyFile.secretKey
    }

    /// SIGHUP: the configuration file is read again. A file with a problem is refused whole, with
    /// its line, and the running configuration stays. Otherwise routing (rules, processes, queues,
    /// service levels, escalation; recorded as a new routing version), limits, dispatch settings,
    /// retention, value tiers, signals and merges take effect at once, for what comes next; a
    /// task offered or a message taken keeps what it was given. What a running hub cannot change
    /// (its database, endpoints, name, security and key file paths, heartbeat) keeps its running
    /// value, and the log says it needs a restart.
    func reloadConfiguration(_ load: () throws -> HubConfig) {
        let loaded: HubConfig
        do {
            loaded = try load()
        } catch {
            logger.error("configuration NOT reloaded, the running one stays: \(error)")
            return
        }
        var next = loaded
        var restart: [String] = []
        func keep<Value: Equatable>(_ path: WritableKeyPath<HubConfig, Value>, _ name: String) {
            if next[keyPath: path] != config[keyPath: path] {
                restart.append(name)
                next[keyPath: path] = config[keyPath: path]
            }
        }
        keep(\.database, "database")
        keep(\.gatewayEndpoint, "gateway_endpoint")
        keep(\.workerEndpoint, "worker_endpoint")
        keep(\.eventsEndpoint, "events_endpoint")
        keep(\.httpEndpoint, "http_endpoint")
        keep(\.hubName, "hub_name")
        keep(\.security, "security")
        keep(\.serverKeyFile, "server_key_file")
        keep(\.gatewayKeysFile, "gateway_keys_file")
        keep(\.workerKeysFile, "worker_keys_file")
        keep(\.subscriberKeysFile, "subscriber_keys_file")
        keep(\.workerSendQueue, "worker_send_queue")
        keep(\.dispatch.heartbeatMs, "heartbeat_ms")
        keep(\.dispatch.heartbeatTimeoutMs, "heartbeat_timeout_ms")
        // The transport cuts messages at the body limit the gateway socket was bound with: lower is fine, higher waits.
        if next.maxBodyBytes > config.maxBodyBytes {
            restart.append("max_body_bytes raised")
            next.maxBodyBytes = config.maxBodyBytes
        }
        if next.routing != config.routing || next.defaultCountryCode != config.defaultCountryCode {
            let fresh = PublishIntake(config: next)
            do {
                try fresh.register(in: try Store(conninfo: config.database, owner: config.hubName))
            } catch {
                logger.error("configuration NOT reloaded, the running one stays: its routing rules could not be recorded: \(error)")
                return
            }
            intake = fresh
            identityNormalizer = IdentityNormalizer(defaultCountryCode: next.defaultCountryCode)
            dispatcher.escalationSteps = next.routing.escalationSteps
        }
        dispatcher.config = next.dispatch
        ingest.batchMax = next.batchMax
        ingest.gatewayWindow = next.gatewayWindow
        ingest.maxUncommitted = next.maxUncommitted
        ingest.maxUncommittedBytes = next.maxUncommittedBytes
        transitionWriter.waitMs = next.transitionWaitMs
        config = next
        let kept = restart.isEmpty ? "" : "; needs a restart to change: \(restart.joined(separator: ", ")) (running values kept)"
        logger.notice("configuration reloaded: routing version \(intake.routingVersion)\(kept)")
    }

    /// SIGHUP: the allow-lists are read again; a broken file leaves the old lists in force.
    private func reloadAllowLists() {
        guard let accessControl else {
            logger.notice("SIGHUP: nothing to reload, security is off")
            return
        }
        do {
            try accessControl.reload()
            logger.notice(
                "allow-lists reloaded: \(accessControl.gateways.names.count) gateway keys, \(accessControl.workers.names.count) worker keys"
            )
        } catch {
            logger.error("allow-lists NOT reloaded, the previous ones stay in force: \(error)")
        }
    }

    private func bindSockets(serverKey: String?) throws {
        if serverKey != nil {
            // The ZAP handler must be bound before any CURVE socket accepts a connection.
            let handler = try context.socket(.rep)
            try handler.bind(ZapRequest.endpoint)
            zap = handler
        }
        gateways = try context.socket(.router)
        if let serverKey { try gateways.makeCurveServer(secretKey: serverKey, domain: AccessControl.gatewayDomain) }
        try gateways.setRouterMandatory(true)
        // A gateway that reconnects under the same name takes its routing id over.
        try gateways.setOption(ZMQ_ROUTER_HANDOVER_OPTION, 1)
        try gateways.setMaxMessageSize(Int64(config.maxBodyBytes) + 256 * 1024)
        // libzmq counts messages, not bytes: without this a connection could queue 1000 largest bodies.
        try gateways.setReceiveHighWaterMark(Int32(config.gatewayReceiveQueue))
        gateways.sharedFrames = Codec.sharedFrames(Codec.gatewayCommands)
        try gateways.bind(config.gatewayEndpoint)
        workers = try context.socket(.router)
        if let serverKey { try workers.makeCurveServer(secretKey: serverKey, domain: AccessControl.workerDomain) }
        try workers.setRouterMandatory(true)
        try workers.setMaxMessageSize(1 << 20)
        try workers.setSendHighWaterMark(Int32(clamping: config.workerSendQueue))
        try workers.monitor(endpoint: "inproc://switchboard-worker-monitor", events: [.accepted, .disconnected, .handshakeFailures])
        workers.sharedFrames = Codec.sharedFrames(Codec.workerCommands)
        try workers.bind(config.workerEndpoint)
        monitor = try context.socket(.pair)
        try monitor.connect("inproc://switchboard-worker-monitor")
        try gateways.monitor(endpoint: "inproc://switchboard-gateway-monitor", events: .handshakeFailures)
        gatewayMonitor = try context.socket(.pair)
        try gatewayMonitor.connect("inproc://switchboard-gateway-monitor")
        if let endpoint = config.eventsEndpoint {
            // XPUB rather than PUB: it tells which topics are subscribed, so that with no subscriber
            // the hub spends nothing on events.
            let publisher = try context.socket(.xpub)
            if let serverKey { try publisher.makeCurveServer(secretKey: serverKey, domain: AccessControl.eventsDomain) }
            // A subscriber too slow for the stream loses messages at this mark, never slows the hub;
            // it reads what it missed from the database (protocols/events.md).
            try publisher.setSendHighWaterMark(100_000)
            try publisher.bind(endpoint)
            events = publisher
        }
    }

    /// Asks the store for what was pending or in flight when the hub last stopped.
    private func recover() {
        for queue in backlogQueues { perform(dispatcher.markBacklog(queue: queue)) }
    }

    /// Ingest and quarantine go to the ingest lane; dispatch transitions, refills, maintenance and merge passes to
    /// the dispatch lane, whose FIFO order keeps a refill behind the transitions sent before it;
    /// customer contexts for offers to the context lane.
    func submit(_ request: StoreRequest) {
        switch request {
        case .ingest, .quarantine: ingestLane.submit(request, logger: logger)
        case .apply, .loadPending, .loadHeld, .maintain, .processMerges, .queueFigures, .eventsOf, .reply, .claimOutbound, .outboundResults,
            .campaignPass:
            dispatchLane.submit(request, logger: logger)
        case .renewLease, .adoptHubs: leaseLane.submit(request, logger: logger)
        case .contexts, .customerRecord, .contactStatus: contextLane.submit(request, logger: logger)
        case .stop: lanes.forEach { $0.submit(request, logger: logger) }
        }
    }

    /// One turn of the loop: wait for input, handle it, run timers, flush batches.
    func serveOnce(timeoutMs: Int) throws {
        var poller = Poller()
        // The optional sockets (events, ZAP) are left out when off: positions are by what was added.
        var polled: [PollSlot] = []
        for slot in PollSlot.allCases {
            switch slot {
            case .gateways: poller.add(gateways)
            case .workers: poller.add(workers)
            case .workerMonitor: poller.add(monitor)
            case .gatewayMonitor: poller.add(gatewayMonitor)
            case .ingestLane: poller.add(ingestLane.wake)
            case .dispatchLane: poller.add(dispatchLane.wake)
            case .contextLane: poller.add(contextLane.wake)
            case .leaseLane: poller.add(leaseLane.wake)
            case .events:
                guard let events else { continue }
                poller.add(events)
            case .zap:
                guard let zap else { continue }
                poller.add(zap)
            }
            polled.append(slot)
        }
        let readable = try poller.wait(timeoutMilliseconds: timeoutMs)
        func ready(_ slot: PollSlot) -> Bool { polled.firstIndex(of: slot).map { $0 < readable.count && readable[$0] } ?? false }
        if ready(.zap) { try answerZapRequests() }
        if ready(.events) { try readSubscriptions() }
        if ready(.ingestLane) { try handleStoreReplies(ingestLane) }
        if ready(.dispatchLane) { try handleStoreReplies(dispatchLane) }
        if ready(.contextLane) { try handleStoreReplies(contextLane) }
        if ready(.leaseLane) { try handleStoreReplies(leaseLane) }
        if ready(.workerMonitor) { try handleMonitorEvents() }
        if ready(.gatewayMonitor) { try handleGatewayMonitorEvents() }
        if ready(.workers) { try receiveWorkers() }
        if ready(.gateways) { try receiveGateways() }
        runTimers(now: Clock.nowMs())
        flushIngest()
        flushQuarantine()
        flushTransitions(now: Clock.nowMs())
        flushOffers(now: Clock.nowMs())
        flushOutbox(now: Clock.nowMs())
    }

    /// What the loop polls, in the poller's order; the events socket and the ZAP handler only when on.
    enum PollSlot: Int, CaseIterable {
        case gateways, workers, workerMonitor, gatewayMonitor, ingestLane, dispatchLane, contextLane, leaseLane, events, zap
    }

    private func runTimers(now: Int64) {
        runLeaseTimers(now: now)
        if now >= nextTick {
            perform(dispatcher.tick(now: now))
            nextTick = now + 100
            publishHealth(serving: true)
            if let health, dashboard.tick(now: now, stats: stats) {
                health.updateOverview(
                    dashboard.overview(
                        now: now, hubName: config.hubName,
                        processes: CRMProcess.allCases.map(\.rawValue).filter { config.routing.processes[$0] != nil },
                        queueNames: config.routing.queueNames,
                        queues: queueFigures, workers: dispatcher.workerLoads, recentQuarantine: recentQuarantine, recentDead: recentDead,
                        databaseUp: databaseUp, serving: !draining))
            }
        }
        if now >= nextHeartbeat {
            // Without its lease this hub goes quiet to workers: they take it for gone (Hub+Lease).
            if dispatcher.holdsLease(now: now) { for peer in dispatcher.workerPeers { send(.heartbeat, toWorker: peer) } }
            nextHeartbeat = now + config.dispatch.heartbeatMs
            for queue in failedRefills { perform(dispatcher.markBacklog(queue: queue)) }
            failedRefills.removeAll()
        }
        // Deliveries made pending outside this loop (replayed dead letters, another hub's expired
        // leases later) are found by reading each queue's backlog again now and then.
        if now >= nextRescan {
            if nextRescan > 0 { for queue in backlogQueues { perform(dispatcher.markBacklog(queue: queue)) } }
            nextRescan = now + config.rescanMs
        }
        if now >= nextStatsLog {
            refreshGauges()
            if nextStatsLog > 0 {
                logger.info("stats \(stats.summary)")
                if !draining { systemd.notify("STATUS=\(statusLine)") }
            }
            nextStatsLog = now + 10_000
            for leftOut in refusalLog.expire(now: now) {
                logger.warning(
                    "\(leftOut.count) more refusals of \(leftOut.peer)'s input in \((now - leftOut.sinceMs) / 1000) s were not logged; each was answered and quarantined",
                    metadata: [LogKey.peer: .string(leftOut.peer)])
            }
        }
        if now >= nextMergePass && !mergePassInFlight && !draining {
            mergePassInFlight = true
            submit(.processMerges(config.merges))
            nextMergePass = now + Int64(config.merges.everyMs)
        }
        runOutboundTimers(now: now)
        if now >= nextQueueFigures && !queueFiguresInFlight && !draining && health != nil {
            queueFiguresInFlight = true
            submit(.queueFigures(queues: config.routing.queueNames.sorted(), nowMs: now))
            nextQueueFigures = now + 5000
        }
        if now >= nextMaintenance && !draining {
            if nextMaintenance > 0 {
                submit(
                    .maintain(
                        nowMs: now, retention: Retention(bodyDays: config.retentionBodyDays, months: config.retentionMonths),
                        valueTiers: config.valueTiers.map(\.plan), signals: config.signals))
            }
            nextMaintenance = now + 3_600_000
        }
    }

    /// What `systemctl status` shows beside the unit: the figures an operator looks at first.
    var statusLine: String {
        "serving: \(stats.received) received, \(stats.acked) ACKed, \(stats.nacked) refused; \(stats.workers) workers, "
            + "\(stats.deliveriesReady) tasks waiting, \(stats.inFlight) held; database \(databaseUp ? "up" : "DOWN")"
    }

    /// Copies the dispatcher's worker and task counts into the stats the log line and /metrics show.
    private func refreshGauges() {
        stats.workers = dispatcher.workerCount
        stats.deliveriesReady = dispatcher.readyCount
        stats.workersWithFreeCapacity = dispatcher.workersWithFreeCapacity
        stats.deliveriesUnservable = dispatcher.unservable
        for queue in backlogQueues {
            (stats.queueWorkers[queue], stats.queueFreeCapacity[queue]) = dispatcher.workers(serving: queue)
        }
        stats.inFlight = dispatcher.offeredCount
        stats.leaseHeld = dispatcher.holdsLease(now: Clock.nowMs())
        stats.outboxWaiting = outbox.messageCount
        stats.outboundInFlight = outboundInFlight.count
        stats.sendingGateways = gatewayRegistry.entries.count
        for lane in lanes { stats.lanes[lane.thread.name] = lane.thread.timing.snapshot }
    }

    /// Hands the HTTP thread what /healthz, /readyz and /metrics report.
    private func publishHealth(serving: Bool) {
        guard let health else { return }
        refreshGauges()
        health.update(
            HealthSnapshot(
                loopBeatMs: Clock.nowMs(), serving: serving, databaseUp: databaseUp, stats: stats, uncommittedBytes: ingest.uncommittedBytes,
                queues: queueFigures))
    }

    /// SIGTERM: new PUBLISHes are answered NACK unavailable (`hub_draining`), nothing more is
    /// offered, and the loop goes on serving until the workers have answered every task they hold
    /// and every message taken is committed and ACKed, or `drain_timeout_ms` has passed. A task
    /// still held then stays offered in PostgreSQL: the next hub takes it back from its worker
    /// (READY `holding`) or offers it again when its lease runs out.
    private func waitForHeldTasks() throws {
        draining = true
        dispatcher.stopOffering()
        let deadline = Clock.nowMs() + config.drainTimeoutMs
        systemd.notify(
            "STOPPING=1\nSTATUS=draining: \(dispatcher.heldCount) tasks held by workers, \(ingest.waitingCount + ingest.inFlightCount) messages not committed"
        )
        logger.notice("draining: new messages refused; waiting up to \(config.drainTimeoutMs) ms for \(dispatcher.heldCount) held tasks")
        while (dispatcher.heldCount > 0 || ingest.waitingCount + ingest.inFlightCount > 0 || !transitionWriter.isIdle) && Clock.nowMs() < deadline {
            guard !lanes.contains(where: \.thread.hasFinished) else { throw HubError(reason: "a store lane's thread stopped; see the log above") }
            try serveOnce(timeoutMs: min(loopTimeoutMs(now: Clock.nowMs()), 50))
        }
        if dispatcher.heldCount > 0 {
            logger.warning("drain timeout: \(dispatcher.heldCount) tasks still held by workers stay offered for the next start")
        }
    }

    /// Stops taking input, lets the batches in flight finish (up to 5 s), stops the store lanes.
    private func drain() throws {
        let deadline = Clock.nowMs() + 5000
        flushQuarantine()
        while (!ingest.isIdle || !transitionWriter.isIdle) && Clock.nowMs() < deadline {
            var poller = Poller()
            poller.add(ingestLane.wake)
            poller.add(dispatchLane.wake)
            let readable = try poller.wait(timeoutMilliseconds: 50)
            if readable[0] { try handleStoreReplies(ingestLane) }
            if readable[1] { try handleStoreReplies(dispatchLane) }
            flushTransitions(now: Clock.nowMs(), waiting: false)
        }
        recordStop()
        submit(.stop)
        while lanes.contains(where: { !$0.thread.hasFinished }) && Clock.nowMs() < deadline + 2000 { usleep(10_000) }
        gateways.close()
        workers.close()
        monitor.close()
        gatewayMonitor.close()
        zap?.close()
        events?.close()
        lanes.forEach { $0.wake.close() }
    }
}

extension Hub {
    /// Notes a clean stop once every decided transition is written; otherwise the next start
    /// treats this run as crashed and lets workers reclaim first.
    fileprivate func recordStop() {
        guard ingest.isIdle, transitionWriter.isIdle else {
            logger.warning("stopping with transitions not written: the next start waits for workers to reclaim their tasks")
            return
        }
        do {
            try Store(conninfo: config.database, owner: config.hubName).recordStop()
        } catch {
            logger.warning("could not record the clean stop: \(error)")
        }
    }
}

/// A condition that stops the hub.
public struct HubError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// libzmq's ZMQ_ROUTER_HANDOVER, not exported as a Swift constant by the C module.
let ZMQ_ROUTER_HANDOVER_OPTION: Int32 = 56

extension ValueTierSettings {
    /// The settings as the store computes them.
    public var plan: ValueTierPlan {
        ValueTierPlan(
            windowDays: windowDays, monetaryAttribute: monetaryAttribute, tiers: tiers.map { ($0.name, $0.minScore) }, everyHours: everyHours)
    }
}
