import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("Chaos: the hub killed with SIGKILL again and again under load")
struct ChaosTests {
    /// 20 kills in `make test`; `make chaos` sets SWITCHBOARD_CHAOS_KILLS=100.
    static let kills = Int(ProcessInfo.processInfo.environment["SWITCHBOARD_CHAOS_KILLS"] ?? "") ?? 20

    /// Workers announce themselves again within a heartbeat or two of a restart; after a crash the
    /// hub offers nothing for one heartbeat timeout, while they reclaim what they hold.
    static let config = "heartbeat_ms: 100\nheartbeat_timeout_ms: 1000\n"

    @Test("every ACKed message is stored exactly once, every stored one is completed, none completed twice, none offered twice")
    func repeatedKills() throws {
        let database = try TestDatabase()
        let gatewayEndpoint = try freeEndpoint()
        let workerEndpoint = try freeEndpoint()
        var hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: Self.config)
        defer { hub.terminate() }
        let gateway = try GatewayClient(name: "chaos-gw", endpoint: gatewayEndpoint)
        let worker = try WorkerClient(registration: Ready(workerID: "chaos-w", queues: ["support", "sales"], capacity: 8), endpoint: workerEndpoint)
        #expect(try eventually(timeoutMs: 15_000) { try gateway.ping(timeoutMs: 200) }, "hub did not start: \(hub.output)")
        try worker.ready()

        var random = SystemRandomNumberGenerator()
        var sent: [String: Publish] = [:]
        var acked: [String: Int64] = [:]
        var confirmed = Set<Int64>()
        var ledger = WorkerLedger()
        var refusals: [String: Int] = [:]
        var repeats = 0
        var nextID = 0
        var resendAt = Date().addingTimeInterval(0.3)

        /// Runs gateway and worker for `milliseconds`: new messages, re-sends, answers, tasks.
        func drive(milliseconds: Int, newMessages: Int) throws {
            for _ in 0..<newMessages {
                let message = Messages.publish("c-\(nextID)", nextID % 3 == 0 ? "buy \(nextID)" : "help \(nextID)")
                nextID += 1
                sent[message.messageID] = message
                try gateway.send(message)
            }
            let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
            while Date() < deadline {
                while let answer = try gateway.receive(timeoutMs: 0) {
                    if case .ack(let ack) = answer {
                        if let earlier = acked[ack.messageID] { #expect(earlier == ack.interactionID, "re-ACK changed the interaction") }
                        acked[ack.messageID] = ack.interactionID
                    }
                }
                if Date() >= resendAt {
                    for (id, message) in sent where acked[id] == nil { try gateway.send(message) }
                    resendAt = Date().addingTimeInterval(0.3)
                }
                switch try worker.next(timeoutMs: 5) {
                case .task(let task):
                    ledger.task(task)
                    try worker.done(task.deliveryID, outcome: "ok")
                case .confirmed(let confirm):
                    ledger.confirm(confirm)
                    confirmed.insert(confirm.deliveryID)
                    if confirm.repeated { repeats += 1 }
                case .refused(let error): refusals[error.detail, default: 0] += 1
                case .result, .replied, nil: break
                }
            }
        }

        for _ in 0..<Self.kills {
            try drive(milliseconds: Int.random(in: 100...1200, using: &random), newMessages: Int.random(in: 5...40, using: &random))
            hub.kill9()
            hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: workerEndpoint, configYAML: Self.config)
        }
        // Let everything settle: all messages ACKed, all tasks completed.
        for _ in 0..<100 {
            try drive(milliseconds: 200, newMessages: 0)
            let done = try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'")
            if acked.count == sent.count && done == sent.count { break }
        }
        let stored = try database.count("SELECT count(*) FROM interactions")
        let distinct = try database.count("SELECT count(DISTINCT (gateway, message_id)) FROM interactions")
        let ackedIDs = "{" + Set(acked.values).map(String.init).joined(separator: ",") + "}"
        let lost = Set(acked.values).count - (try database.count("SELECT count(*) FROM interactions WHERE id = ANY($1::bigint[])", [.text(ackedIDs)]))
        print(
            "chaos: kills=\(Self.kills) messages=\(sent.count) acked=\(acked.count) stored=\(stored) lost=\(lost) duplicated=\(stored - distinct) done_in_db=\(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'")) confirmed_to_worker=\(confirmed.count) repeated_confirms=\(repeats) worker_ledger: \(ledger.summary) refusals=\(refusals.sorted { $0.key < $1.key })"
        )
        #expect(lost == 0)
        #expect(acked.count == sent.count, "hub log: \(hub.output)")
        #expect(stored == sent.count)
        #expect(distinct == stored)
        #expect(Set(acked.values).count == sent.count)
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done'") == sent.count)
        #expect(ledger.afterConfirm == 0, "\(ledger.summary)")
        #expect(ledger.whileHeld == 0, "re-offered although the worker held it and listed it in holding: \(ledger.summary)")
        #expect(ledger.sameAttemptTwice == 0, "\(ledger.summary)")
        #expect(ledger.receivedTwice == 0, "one worker, never gone: each delivery reaches it once: \(ledger.summary)")
        #expect(refusals.isEmpty, "a well-behaved worker's answers all count: \(refusals)")
        #expect(try database.count("SELECT count(*) FROM quarantine") == 0, "routine races are not quarantined")
    }
}
