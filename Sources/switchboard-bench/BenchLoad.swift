import Foundation
import Histogram
import SwitchboardClient
import SwitchboardProtocol
import SwitchboardSampleTraffic
import Synchronization
import ZeroMQ

/// Benchmark messages: the demo's texts and languages, e-mail hints naming one of `customers` known
/// addresses (so identity resolution finds a customer), routed by keywords.
enum BenchTraffic {
    static func message(id: String, customer: Int, seed: UInt64) -> Publish {
        let index = Int(seed % UInt64(DemoTraffic.texts.count))
        return Publish(
            messageID: id, channel: "email", occurredAt: Int64(Date().timeIntervalSince1970 * 1000),
            hints: IdentityHints(email: email(customer)), language: DemoTraffic.texts[index].language, body: bodies[index])
    }

    /// The texts as bytes, made once: every message's body shares its text's storage, so that a
    /// gateway's messages built ahead of a run hold one copy of each text, not one each.
    static let bodies: [[UInt8]] = DemoTraffic.texts.map { Array($0.text.utf8) }

    /// The e-mail address of the traffic's customer number `customer` (as `BenchSeed.customers` stores them).
    static func email(_ customer: Int) -> String { "c\(customer)@bench.example" }

    /// Which of `customers` addresses message number `index` comes from, uniformly at random but
    /// the same in every run: the ceiling's and the hub's statement's rows, like the gateways'
    /// random picks, meet new addresses (new customers) at the same pace.
    static func address(of index: Int, among customers: Int) -> Int {
        var random = SplitMix(seed: UInt64(index))
        return Int(random.next() % UInt64(max(customers, 1)))
    }

    static func text(seed: UInt64) -> String { DemoTraffic.texts[Int(seed % UInt64(DemoTraffic.texts.count))].text }
}

/// A value split into shards, each behind its own lock, for the bench's threads to share: with one
/// lock, the 4 gateway and 8 worker threads spent a fifth of the bench's CPU spinning on it
/// (`perf record` of the bench at half load), CPU the hub it measures shares the machine with.
final class Sharded<Value: Sendable>: Sendable {
    private final class Shard: Sendable {
        let value: Mutex<Value>
        init(_ value: sending Value) { self.value = Mutex(value) }
    }
    private let shards: [Shard]

    init(count: Int = 16, _ make: () -> Value) { shards = (0..<count).map { _ in Shard(make()) } }

    /// Runs `body` on the shard that `key` falls into.
    func withLock<Result: Sendable>(_ key: Int, _ body: @Sendable (inout Value) -> Result) -> Result {
        shards[Int(UInt(bitPattern: key) % UInt(shards.count))].value.withLock { body(&$0) }
    }

    /// Combines every shard, one after the other.
    func reduce<Result>(_ initial: Result, _ combine: (Result, Value) -> Result) -> Result {
        shards.reduce(initial) { partial, shard in combine(partial, shard.value.withLock { $0 }) }
    }
}

/// Send times of messages in flight, shared by the gateways that send and the workers that receive.
final class SendTimes: Sendable {
    private let times = Sharded<[String: UInt64]> { [:] }
    func record(_ id: String, _ at: UInt64) { times.withLock(id.hashValue) { $0[id] = at } }
    func take(_ id: String) -> UInt64? { times.withLock(id.hashValue) { $0.removeValue(forKey: id) } }
}

/// A latency distribution that several threads add to, in microseconds: each records into its own
/// and adds it here when it ends, so that recording takes no lock.
final class SharedHistogram: Sendable {
    private let histogram = Mutex(SharedHistogram.empty)
    /// Up to 600 s in microseconds, three significant digits.
    static var empty: Histogram<UInt64> { Histogram(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three) }
    func add(_ other: Histogram<UInt64>) { histogram.withLock { $0.add(other) } }
    var snapshot: Histogram<UInt64> { histogram.withLock { $0 } }
}

/// The slowest PUBLISH → TASK of each tenth of a second of a paced run, by when its message was
/// sent: whether the tail came from a few moments (a stall of the disk) or from all of the run.
/// Each worker keeps its own and adds it here when it ends, so that recording takes no lock.
final class SharedTimeline: Sendable {
    static let bucketNanoseconds: UInt64 = 100_000_000
    /// Uptime in nanoseconds at the start of the run's first bucket.
    let origin: UInt64
    private let slowest = Mutex<[UInt64]>([])

    init(origin: UInt64) { self.origin = origin }

    /// The tenth of a second after `origin` that uptime `at` falls in; nil before it.
    static func bucket(of at: UInt64, from origin: UInt64) -> Int? {
        at >= origin ? Int((at - origin) / bucketNanoseconds) : nil
    }

    /// Keeps `micros` in `buckets` if it is the slowest of its message's tenth of a second.
    func record(_ buckets: inout [UInt64], sentAt: UInt64, micros: UInt64) {
        guard let bucket = Self.bucket(of: sentAt, from: origin) else { return }
        buckets.pad(toCount: bucket + 1)
        buckets[bucket] = max(buckets[bucket], micros)
    }

    func add(_ other: [UInt64]) {
        slowest.withLock { mine in
            mine.pad(toCount: other.count)
            for (bucket, micros) in other.enumerated() { mine[bucket] = max(mine[bucket], micros) }
        }
    }

    /// Microseconds by tenth of a second; 0 where no message sent then was timed.
    var snapshot: [UInt64] { slowest.withLock { $0 } }
}

extension Array where Element: AdditiveArithmetic {
    /// Zeros appended until the array holds `count` elements, for figures kept by tenth of a second.
    mutating func pad(toCount count: Int) {
        if self.count < count { append(contentsOf: repeatElement(.zero, count: count - self.count)) }
    }
}

/// What one load run measured.
struct LoadResult {
    var acked = 0
    var nacked = 0
    var seconds = 0.0
    var ackLatency: Histogram<UInt64>
    var taskLatency: Histogram<UInt64>?
    var rate: Double { seconds > 0 ? Double(acked) / seconds : 0 }

    /// Adds another run's counts, time and latencies (runs one after the other).
    mutating func add(_ other: LoadResult) {
        acked += other.acked
        nacked += other.nacked
        seconds += other.seconds
        ackLatency.add(other.ackLatency)
    }
}

/// Drives `gateways` gateway threads against a hub: `messages` in all, each gateway keeping up to
/// `window` un-ACKed; with `rate`, paced to that many messages per second in all (open loop).
struct LoadDriver {
    var endpoint: String
    var gateways: Int
    var window = 500
    var customers: Int

    func run(tag: String, messages: Int, rate: Double? = nil, sendTimes: SendTimes? = nil) throws -> LoadResult {
        let ackLatency = SharedHistogram()
        let counts = Mutex((acked: 0, nacked: 0, failure: String?.none))
        let ready = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        // One ZeroMQ context (one I/O thread) for all the gateways, as one gateway process with
        // several connections would have, rather than an I/O thread and a reaper thread each:
        // fewer threads for the two cores to switch between, beside the hub they measure.
        let context = Context()
        for index in 0..<gateways {
            let share = messages / gateways + (index < messages % gateways ? 1 : 0)
            let interval = rate.map { UInt64(1e9 / ($0 / Double(gateways))) }
            let (endpoints, window, customers) = (endpoint.split(separator: ",").map(String.init), window, customers)
            ready.enter()
            done.enter()
            Thread {
                defer { done.leave() }
                // Each gateway connects and encodes its messages before the clock starts, as the
                // ceiling's rows and the statement alone's records are built before theirs: on two
                // cores, what the load generator spends is taken from the hub it measures.
                let gateway = Result {
                    try BenchGateway(name: "bench-\(tag)-\(index)", endpoints: endpoints, messages: share, customers: customers, context: context)
                }
                ready.leave()
                go.wait()
                do {
                    let result = try gateway.get().run(window: window, interval: interval, sendTimes: sendTimes)
                    ackLatency.add(result.ackLatency)
                    counts.withLock {
                        $0.acked += result.acked
                        $0.nacked += result.nacked
                    }
                } catch {
                    counts.withLock { $0.failure = "\(error)" }
                }
            }.start()
        }
        ready.wait()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<gateways { go.signal() }
        done.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let total = counts.withLock { $0 }
        if let failure = total.failure { throw BenchError("a bench gateway failed: \(failure)") }
        return LoadResult(acked: total.acked, nacked: total.nacked, seconds: seconds, ackLatency: ackLatency.snapshot)
    }
}

/// One bench gateway: its connection, and its messages' PUBLISH frames encoded ahead of the run.
struct BenchGateway {
    let client: GatewayClient
    /// Every message id is this and the message's number, which indexes `frames`.
    let prefix: String
    let frames: [[[UInt8]]]

    /// Several endpoints: one connection to each hub, messages spread over them (several hubs, one database).
    init(name: String, endpoints: [String], messages: Int, customers: Int, context: Context) throws {
        client = try GatewayClient(name: name, endpoints: endpoints, context: context)
        prefix = "\(name)-"
        var random = SplitMix(seed: UInt64(abs(name.hashValue)))
        frames = (0..<messages).map { [prefix] number in
            let customer = Int(random.next() % UInt64(max(customers, 1)))
            return Codec.encode(.publish(BenchTraffic.message(id: "\(prefix)\(number)", customer: customer, seed: random.next())))
        }
    }

    /// Sends on schedule (or as fast as its window allows), re-sends what was NACKed overloaded or
    /// unavailable, and records each message's PUBLISH → ACK time.
    func run(window: Int, interval: UInt64?, sendTimes: SendTimes?) throws -> (acked: Int, nacked: Int, ackLatency: Histogram<UInt64>) {
        let messages = frames.count
        // By message number: when it was sent, 0 while it is not in flight.
        var sentAt = [UInt64](repeating: 0, count: messages)
        var inFlight = 0
        var retry: [Int] = []
        var next = 0
        var acked = 0
        var nacked = 0
        var nextSend = DispatchTime.now().uptimeNanoseconds
        var ackLatency = SharedHistogram.empty
        while acked < messages {
            let now = DispatchTime.now().uptimeNanoseconds
            while inFlight < window, next < messages || !retry.isEmpty, interval == nil || now >= nextSend {
                let number: Int
                if let again = retry.popLast() {
                    number = again
                } else {
                    number = next
                    next += 1
                }
                let at = DispatchTime.now().uptimeNanoseconds
                // Recorded before it goes: its TASK can reach a worker before this thread runs
                // again, and a TASK whose send time is not there yet is never timed.
                sendTimes?.record(prefix + String(number), at)
                try client.send(encoded: frames[number])
                sentAt[number] = at
                inFlight += 1
                if let interval { nextSend += interval }
            }
            // Wait for an answer until the next send is due (rounded up: a zero wait here spun a
            // core per gateway and starved the hub it measures), or 100 ms when nothing can be sent.
            let canSend = inFlight < window && (next < messages || !retry.isEmpty)
            let waitMs = interval != nil && canSend ? Int((max(nextSend, now + 1) - now + 999_999) / 1_000_000) : 100
            guard var answer = try client.receive(timeoutMs: min(waitMs, 100)) else { continue }
            // Then every answer that has arrived with it, without a poll each: the hub ACKs a
            // batch at once, and a poll and a send per answer cost the cores the hub runs on.
            while true {
                let received = DispatchTime.now().uptimeNanoseconds
                switch answer {
                case .ack(let ack):
                    if let number = number(of: ack.messageID), sentAt[number] != 0 {
                        ackLatency.record((received - sentAt[number]) / 1000)
                        sentAt[number] = 0
                        inFlight -= 1
                        acked += 1
                    }
                case .nack(let nack):
                    nacked += 1
                    if let id = nack.messageID, let number = number(of: id), sentAt[number] != 0 {
                        guard nack.code != NackCode.invalid else { throw BenchError("message refused: \(nack.reason)") }
                        usleep(UInt32(max(nack.retryAfterMs ?? 10, 1) * 1000))
                        sentAt[number] = 0
                        inFlight -= 1
                        retry.append(number)
                    }
                default:
                    break
                }
                guard let arrived = try client.receiveArrived() else { break }
                answer = arrived
            }
        }
        return (acked, nacked, ackLatency)
    }

    private func number(of id: String) -> Int? { Self.messageNumber(id, prefix: prefix, count: frames.count) }

    /// The number of message `id` among `count` ids made of `prefix` and a number; nil for any other id.
    static func messageNumber(_ id: String, prefix: String, count: Int) -> Int? {
        let utf8 = id.utf8
        guard utf8.count > prefix.utf8.count, utf8.starts(with: prefix.utf8) else { return nil }
        var number = 0
        for byte in utf8.dropFirst(prefix.utf8.count) {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), number < count else { return nil }
            number = number * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return number < count ? number : nil
    }
}

/// Workers on every queue that answer DONE at once and record each message's PUBLISH → TASK time.
final class BenchWorkers: Sendable {
    private let running = Atomic<Bool>(true)
    /// Deliveries answered DONE, each once: a task offered again (its worker's heartbeat was late
    /// on a saturated machine) and answered twice must not count twice, or the bench stops its
    /// workers while tasks are still in flight.
    private let done = Sharded<Set<Int64>> { [] }
    private let finished = DispatchGroup()
    let taskLatency = SharedHistogram()
    /// One ZeroMQ context for all the workers (see `LoadDriver.run`).
    private let context = Context()

    /// The slowest TASK of each tenth of a second, when the run is timed.
    let timeline: SharedTimeline?

    /// Without `sendTimes` (an unpaced run), tasks are answered and not timed.
    /// `endpoint` may name several hubs, comma-separated: each worker connects to all of them.
    init(endpoint: String, perQueue: Int, capacity: Int, sendTimes: SendTimes?, timeline: SharedTimeline? = nil) throws {
        let endpoints = endpoint.split(separator: ",").map(String.init)
        self.timeline = timeline
        for queue in CRMProcess.allCases {
            for index in 0..<perQueue {
                finished.enter()
                Thread { [self] in
                    var latency = SharedHistogram.empty
                    var slowest: [UInt64] = []
                    defer {
                        taskLatency.add(latency)
                        timeline?.add(slowest)
                        finished.leave()
                    }
                    do {
                        let worker = try WorkerClient(
                            registration: Ready(workerID: "bench-\(queue.rawValue)-\(index)", queues: [queue.rawValue], capacity: capacity),
                            endpoints: endpoints, context: context)
                        try worker.ready()
                        while running.load(ordering: .acquiring) {
                            guard case .task(let task)? = try worker.next(timeoutMs: 50) else { continue }
                            if case .string(let id)? = task.interaction["message_id"], let sentAt = sendTimes?.take(id) {
                                let micros = (DispatchTime.now().uptimeNanoseconds - sentAt) / 1000
                                latency.record(micros)
                                timeline?.record(&slowest, sentAt: sentAt, micros: micros)
                            }
                            try worker.done(task.deliveryID, outcome: "handled")
                            let id = task.deliveryID
                            done.withLock(Int(truncatingIfNeeded: id)) { _ = $0.insert(id) }
                        }
                    } catch {
                        FileHandle.standardError.write(Data("bench worker stopped: \(error)\n".utf8))
                    }
                }.start()
            }
        }
    }

    var completed: Int { done.reduce(0) { $0 + $1.count } }

    func stop() {
        running.store(false, ordering: .releasing)
        finished.wait()
    }
}
