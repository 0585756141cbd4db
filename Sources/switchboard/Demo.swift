import ArgumentParser
import Foundation
import Glibc
import Histogram
import SwitchboardClient
import SwitchboardProtocol
import SwitchboardSampleTraffic
import Synchronization

/// Figures shared by the demo's gateway and worker threads.
struct DemoFigures {
    var sent = 0
    var acked = 0
    var nacked = 0
    var routed: [String: Int] = [:]
    var completed = 0
    var transferred = 0
    var rejected = 0
    /// Workers' REPLYs, and outbound messages the gateways sent (replies and campaign messages).
    var replies = 0
    var sentOut = 0
    var campaignSent = 0
    var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
}

final class SharedFigures: Sendable {
    let state = Mutex(DemoFigures())
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive a running hub with demo gateways and workers and print live figures until Ctrl-C.")

    @Option(help: "The hub's gateway endpoint.") var gatewayEndpoint = "tcp://127.0.0.1:5570"
    @Option(help: "The hub's worker endpoint.") var workerEndpoint = "tcp://127.0.0.1:5571"
    @Option(help: "Messages per second, all gateways together.") var rate = 200
    @Option(help: "Number of gateways.") var gateways = 3
    @Option(help: "Workers per CRM process queue.") var workersPerQueue = 2
    @Option(help: "Stop after this many seconds (0: run until Ctrl-C).") var seconds = 0
    @Option(
        help: "Folder with hub.pub, demo-gw-N.key and demo-workers.key, for a hub with security: curve (scripts/run-demo.sh makes them)."
    )
    var keys: String?

    /// The CURVE settings for one demo client, or nil when the hub runs without security.
    private func security(keyName: String) throws -> ClientSecurity? {
        guard let keys else { return nil }
        return try ClientSecurity(serverPublicKeyFile: "\(keys)/hub.pub", keyFile: "\(keys)/\(keyName).key")
    }

    func run() throws {
        installShutdownHandlers()
        let figures = SharedFigures()
        var threads: [Thread] = []
        for queue in CRMProcess.allCases {
            for index in 0..<workersPerQueue {
                threads.append(startWorker(Self.profile(queue: queue, index: index, of: workersPerQueue), figures: figures))
            }
        }
        let perGateway = max(1, rate / max(gateways, 1))
        for index in 0..<gateways {
            threads.append(startGateway(name: "demo-gw-\(index + 1)", rate: perGateway, seed: UInt64(index + 1), figures: figures))
        }
        let started = Date()
        FileHandle.standardOutput.write(
            Data("demo: \(gateways) gateways at \(perGateway) msg/s each, \(workersPerQueue) workers per queue; Ctrl-C stops\n".utf8))
        var previous = figures.state.withLock { $0 }
        while !shutdownSignal.isRaised {
            sleep(1)
            let now = figures.state.withLock { current -> DemoFigures in
                let snapshot = current
                current.latency.reset()
                return snapshot
            }
            let queues = CRMProcess.allCases.map { "\($0.rawValue)=\(now.routed[$0.rawValue, default: 0])" }.joined(separator: " ")
            let p50 = Double(now.latency.valueAtPercentile(50)) / 1000
            let p99 = Double(now.latency.valueAtPercentile(99)) / 1000
            let line = String(
                format:
                    "sent %6d  acked %6d (+%4d/s)  nacked %3d  completed %6d  transferred %4d  rejected %4d  replies %5d  out %5d  campaign %3d  ack p50 %6.2f ms  p99 %6.2f ms  routed: ",
                now.sent, now.acked, now.acked - previous.acked, now.nacked, now.completed, now.transferred, now.rejected, now.replies, now.sentOut,
                now.campaignSent, p50, p99)
            FileHandle.standardOutput.write(Data((line + queues + "\n").utf8))
            previous = now
            if seconds > 0, Date().timeIntervalSince(started) >= Double(seconds) { shutdownSignal.raise() }
        }
        sleep(1)
    }

    private func startGateway(name: String, rate: Int, seed: UInt64, figures: SharedFigures) -> Thread {
        let endpoint = gatewayEndpoint
        let security = Result { try self.security(keyName: name) }
        let thread = Thread {
            do {
                let client = try GatewayClient(name: name, endpoint: endpoint, security: try security.get())
                // Every demo gateway also sends on its channels: replies and campaign messages come back through it.
                let channels = ["phone", "email", "web", "chat", "sms", "mail", "fax", "in_person"]
                try client.hello(channels: channels)
                var helloAt = DispatchTime.now().uptimeNanoseconds
                var sentKeys: Set<String> = []
                var traffic = DemoTraffic(gateway: name, seed: seed, run: Int64(Date().timeIntervalSince1970))
                var sentAt: [String: UInt64] = [:]
                let interval = 1_000_000_000 / UInt64(rate)
                var nextSend = DispatchTime.now().uptimeNanoseconds
                while !shutdownSignal.isRaised {
                    let now = DispatchTime.now().uptimeNanoseconds
                    if now - helloAt >= 1_000_000_000 {
                        try client.sendHello(channels: channels)
                        helloAt = now
                    }
                    if now >= nextSend && sentAt.count < 500 {
                        // Behind schedule (the hub is the bottleneck): do not try to catch up in a burst.
                        nextSend = max(nextSend, now)
                        let message = traffic.next(nowMs: Int64(Date().timeIntervalSince1970 * 1000))
                        try client.send(message)
                        sentAt[message.messageID] = now
                        nextSend += interval
                        figures.state.withLock { $0.sent += 1 }
                    }
                    // With the window full there is nothing to send: wait for answers instead of spinning.
                    let windowFull = sentAt.count >= 500
                    let waitMs = windowFull ? 100 : nextSend > now ? Int((nextSend - now) / 1_000_000) : 0
                    guard let answer = try client.receive(timeoutMs: min(waitMs, 100)) else { continue }
                    if case .deliver(let deliver) = answer {
                        // "Sent" once per idempotency key (gateway.md §5), answered SENT every time.
                        if sentKeys.insert(deliver.idempotencyKey).inserted {
                            figures.state.withLock {
                                $0.sentOut += 1
                                if deliver.campaignID != nil { $0.campaignSent += 1 }
                            }
                        }
                        try client.sent(deliver.outboundID, reference: "demo-\(deliver.outboundID)")
                        continue
                    }
                    let received = DispatchTime.now().uptimeNanoseconds
                    figures.state.withLock { figures in
                        switch answer {
                        case .ack(let ack):
                            if let start = sentAt.removeValue(forKey: ack.messageID) {
                                figures.latency.record((received - start) / 1000)
                            }
                            figures.acked += 1
                            figures.routed[ack.queue, default: 0] += 1
                        case .nack(let nack):
                            if let id = nack.messageID { sentAt[id] = nil }
                            figures.nacked += 1
                        default: break
                        }
                    }
                }
            } catch {
                print("demo gateway \(name) stopped: \(error)")
            }
        }
        thread.start()
        return thread
    }

    /// How a demo worker presents itself and works: the languages its agents read (each queue's
    /// workers cover English, Persian and Russian between them), its skills, and whether it sends
    /// ACCEPT. Support agents accept each task, and hand a tenth of them to field service for a
    /// site visit; marketing agents decline a few offers.
    struct WorkerProfile {
        var registration: Ready
        var transferEvery: UInt64?
        var declineEvery: UInt64?
    }

    static func profile(queue: CRMProcess, index: Int, of count: Int) -> WorkerProfile {
        let languages: [[String]] = [["en", "fa"], ["en", "ru"], ["fa", "ru"]]
        let skills: [CRMProcess: [[String]]] = [
            .support: [["billing"], ["technical"]], .fieldService: [["electrical", "heating"], ["plumbing"]], .sales: [["quotes"], []],
        ]
        let id = "demo-\(queue.rawValue)-\(index + 1)"
        let registration = Ready(
            workerID: id, queues: [queue.rawValue], capacity: 4, skills: skills[queue].map { $0[index % $0.count] } ?? [],
            languages: count == 1 ? [] : languages[index % languages.count], accepts: queue == .support)
        return WorkerProfile(
            registration: registration, transferEvery: queue == .support ? 10 : nil, declineEvery: queue == .marketing ? 20 : nil)
    }

    /// A demo worker's DONE: three complaints in four resolved; now and then what the customer
    /// said on the call, or a segment learned of them.
    static func report(on deliveryID: Int64, complaint: Bool, by worker: String, random: inout SplitMix) -> Done {
        var done = Done(deliveryID: deliveryID, outcome: "handled", notes: "demo worker \(worker)")
        if complaint {
            if random.next() % 4 == 0 {
                done.outcome = "escalated"
            } else {
                done.outcome = "resolved"
                done.resolution = ["apologized and refunded", "sent a replacement", "booked a technician"][Int(random.next() % 3)]
            }
        } else if random.next() % 10 == 0 {
            done.feedback = Feedback(kind: .csat, score: 2 + Int(random.next() % 4))
        } else if random.next() % 20 == 0 {
            done.customer = CustomerUpdate(segment: ["smb", "enterprise", "household"][Int(random.next() % 3)])
        }
        return done
    }

    private func startWorker(_ profile: WorkerProfile, figures: SharedFigures) -> Thread {
        let endpoint = workerEndpoint
        let security = Result { try self.security(keyName: "demo-workers") }
        let id = profile.registration.workerID
        let thread = Thread {
            do {
                let client = try WorkerClient(registration: profile.registration, endpoint: endpoint, security: try security.get())
                try client.ready()
                var holding: [(id: Int64, due: UInt64, transfer: Bool, complaint: Bool)] = []
                var random = SplitMix(seed: UInt64(abs(id.hashValue)))
                while !shutdownSignal.isRaised {
                    let now = DispatchTime.now().uptimeNanoseconds
                    for task in holding where task.due <= now {
                        if task.transfer {
                            try client.transfer(task.id, to: CRMProcess.fieldService.rawValue, reason: "needs a site visit")
                        } else {
                            // One customer in three gets an answer back through their channel.
                            if random.next() % 3 == 0 {
                                try client.reply(
                                    Reply(
                                        deliveryID: task.id, replyID: "r1",
                                        body: Array("Thank you for contacting us: it is taken care of (case \(task.id)).".utf8)))
                                figures.state.withLock { $0.replies += 1 }
                            }
                            try client.done(Self.report(on: task.id, complaint: task.complaint, by: id, random: &random))
                        }
                    }
                    let finished = holding.filter { $0.due <= now }
                    holding.removeAll { $0.due <= now }
                    if !finished.isEmpty {
                        let moved = finished.count { $0.transfer }
                        figures.state.withLock {
                            $0.completed += finished.count - moved
                            $0.transferred += moved
                        }
                    }
                    guard case .task(let task) = try client.next(timeoutMs: 5) else { continue }
                    if let every = profile.declineEvery, random.next() % every == 0 {
                        try client.declineOffer(task.deliveryID, reason: "busy on another campaign")
                        figures.state.withLock { $0.rejected += 1 }
                        continue
                    }
                    if profile.registration.accepts { try client.accept(task.deliveryID) }
                    // Simulated handling time: 5 to 40 ms.
                    let transfer = profile.transferEvery.map { random.next() % $0 == 0 } ?? false
                    holding.append((task.deliveryID, now + (5 + random.next() % 36) * 1_000_000, transfer, task.interaction["intent"] == "complaint"))
                }
                try client.bye()
            } catch {
                print("demo worker \(id) stopped: \(error)")
            }
        }
        thread.start()
        return thread
    }
}
