import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing
import ZeroMQ

/// What a downstream subscriber has seen: delivery events by id, interaction.received by delivery.
struct EventLedger {
    var deliveryEvents: [Int64: String] = [:]
    var received: Set<Int64> = []
    var lastEventID: Int64 = 0
    var lastReceived: Int64 = 0

    mutating func record(_ json: [UInt8]) throws {
        let event = try JSONParser.parse(json)
        guard case .string(let name)? = event["event"] else { throw TestSetupError("an event without its name: \(event)") }
        if name == "interaction.received" {
            guard case .integer(let delivery)? = event["delivery_id"] else { throw TestSetupError("received without delivery_id") }
            received.insert(delivery)
            lastReceived = max(lastReceived, delivery)
        } else {
            guard case .integer(let id)? = event["id"] else { throw TestSetupError("a delivery event without id") }
            deliveryEvents[id] = name
            lastEventID = max(lastEventID, id)
        }
    }
}

@Suite("The events socket and switchboard events: a subscriber that disconnects and resumes misses nothing")
struct EventsTests {
    func subscribe(_ context: Context, _ endpoint: String) throws -> Socket {
        let socket = try context.socket(.sub)
        try socket.setReceiveTimeout(100)
        try socket.subscribe()
        try socket.connect(endpoint)
        return socket
    }

    /// Reads what arrives for `seconds`.
    func drain(_ socket: Socket, into ledger: inout EventLedger, seconds: Double) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let message = try socket.receive() else { continue }
            #expect(message.frames.count == 2)
            let topic = String(decoding: message.frames[0], as: UTF8.self)
            #expect(topic == "interaction.received" || topic.hasPrefix("delivery."))
            try ledger.record(message.frames[1])
        }
    }

    func round(_ gateway: GatewayClient, _ worker: WorkerClient, prefix: String, count: Int) throws {
        for index in 0..<count { _ = try gateway.publish(Messages.publish("\(prefix)-\(index)", "help \(prefix) \(index)")) }
        var done = 0
        let deadline = Date().addingTimeInterval(10)
        while done < count, Date() < deadline {
            switch try worker.next(timeoutMs: 50) {
            case .task(let task):
                try worker.accept(task.deliveryID)
                try worker.done(task.deliveryID, outcome: "ok")
            case .confirmed(let confirm) where confirm.state == "done": done += 1
            default: break
            }
        }
        #expect(done == count)
    }

    @Test("live events, then a gap while disconnected read back with switchboard events, then live again: every event of the database, once each")
    func resumeMissesNothing() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let endpoint = try #require(hub.endpoints.events)
        let context = Context()
        let gateway = try GatewayClient(name: "web", endpoint: hub.endpoints.gateway)
        let worker = try WorkerClient(registration: Ready(workerID: "agent", queues: ["support"], capacity: 2), endpoint: hub.endpoints.worker)
        try worker.ready()
        var ledger = EventLedger()

        // Subscribed before anything happens (a SUB's subscription takes a moment to reach the PUB).
        let first = try subscribe(context, endpoint)
        usleep(300_000)
        try round(gateway, worker, prefix: "a", count: 5)
        try drain(first, into: &ledger, seconds: 0.5)
        #expect(ledger.received.count == 5)
        #expect(
            ledger.deliveryEvents.values.sorted() == Array(repeating: "delivery.accepted", count: 5) + Array(repeating: "delivery.done", count: 5)
                + Array(repeating: "delivery.offered", count: 5))
        first.close()

        // Missed while disconnected.
        try round(gateway, worker, prefix: "b", count: 7)

        // Back: subscribe first, then read what was missed, then keep reading live.
        let second = try subscribe(context, endpoint)
        usleep(300_000)
        let missed = try runProgram(
            binary, ["events", "--database", database.conninfo, "--since", "\(ledger.lastEventID)", "--received-since", "\(ledger.lastReceived)"])
        #expect(missed.status == 0, "\(missed.output)")
        let lines = missed.output.split(separator: "\n")
        #expect(lines.count == 7 * 4)
        for line in lines { try ledger.record(Array(line.utf8)) }
        try round(gateway, worker, prefix: "c", count: 3)
        try drain(second, into: &ledger, seconds: 0.5)

        let stored = try database.connect().query("SELECT id, kind FROM delivery_events ORDER BY id").rows
        #expect(stored.count == 15 * 3)
        #expect(Set(ledger.deliveryEvents.keys) == Set(stored.compactMap { $0[0].flatMap { Int64($0) } }))
        for row in stored { #expect(ledger.deliveryEvents[Int64(row[0]!)!] == "delivery.\(row[1]!)") }
        let deliveries = try database.connect().query("SELECT id FROM deliveries").rows.compactMap { $0[0].flatMap { Int64($0) } }
        #expect(ledger.received == Set(deliveries))
    }
}

@Suite("The events socket under CURVE: subscriber and worker keys only")
struct EventsSecurityTests {
    @Test("a listed subscriber's key and a worker's key receive events; an unknown key receives nothing and is counted as refused")
    func onlyKnownSubscribers() throws {
        let database = try TestDatabase()
        let keys = try TestKeys()
        let subscribersFile = keys.folder.appendingPathComponent("subscribers.allow").path
        try "".write(toFile: subscribersFile, atomically: true, encoding: .utf8)
        // Every key is listed before the hub reads the lists.
        let analyticsKey = try keys.client("analytics", allowedIn: subscribersFile)
        let workerKey = try keys.client("agent-desktop", allowedIn: keys.workersFile)
        let strangerKey = try keys.client("stranger", allowedIn: nil)
        let gatewayKey = try keys.client("gw", allowedIn: keys.gatewaysFile)
        var config = RunningHub.config(database)
        keys.apply(to: &config)
        config.subscriberKeysFile = subscribersFile
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let endpoint = try #require(hub.endpoints.events)
        let context = Context()
        func subscriber(_ security: ClientSecurity) throws -> Socket {
            let socket = try context.socket(.sub)
            try socket.makeCurveClient(serverKey: security.serverKey, keyPair: security.keyPair)
            try socket.setReceiveTimeout(100)
            try socket.subscribe(Array("interaction.".utf8))
            try socket.connect(endpoint)
            return socket
        }
        let analytics = try subscriber(analyticsKey)
        let worker = try subscriber(workerKey)
        let stranger = try subscriber(strangerKey)
        usleep(500_000)
        let gateway = try GatewayClient(name: "gw", endpoint: hub.endpoints.gateway, security: gatewayKey)
        _ = try gateway.publish(Messages.publish("sec-1"))
        func received(_ socket: Socket) throws -> Int {
            var count = 0
            let deadline = Date().addingTimeInterval(1)
            while Date() < deadline { if try socket.receive() != nil { count += 1 } }
            return count
        }
        #expect(try received(analytics) == 1)
        #expect(try received(worker) == 1)
        #expect(try received(stranger) == 0)
        let http = try #require(hub.endpoints.http)
        #expect(eventually { !(httpGet(http, "/metrics")?.body ?? "switchboard_auth_refused_total 0").contains("switchboard_auth_refused_total 0") })
    }
}
