import Benchmark
import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

/// The hub's per-message work, one function at a time: throughput and allocations per operation.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal], maxDuration: .seconds(2))

    let publish = Publish(
        messageID: "ivr-1-000123", channel: "sms", occurredAt: 1_790_000_000_000,
        hints: IdentityHints(phone: "۰۹۱۲ ۳۴۵ ۶۷۸۹", email: "Sara@Example.com"), language: "fa",
        body: Array("اینترنت من کار نمی‌کند، لطفاً کمک کنید. My internet is not working, please help.".utf8))
    let frames = try! Codec.encode(.publish(publish))
    let limits = DecodingLimits(channels: DecodingLimits.standardChannels, maxBodyBytes: 1 << 20)

    Benchmark("Codec.decode PUBLISH") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Codec.decode(frames, limits: limits, accepting: Codec.gatewayCommands)) }
    }

    Benchmark("Codec.encode PUBLISH") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Codec.encode(.publish(publish))) }
    }

    let normalizer = IdentityNormalizer(defaultCountryCode: "98")
    Benchmark("IdentityNormalizer phone + e-mail") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try normalizer.normalize(publish.hints)) }
    }

    let router = Router(rules: .standard)
    Benchmark("Router.route by keywords (EN/FA)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(router.route(publish, now: 0)) }
    }

    // The hub's own work for each message at maximum ingest, but for the sockets and PostgreSQL:
    // the PUBLISH decoded, its identity normalized and its route chosen, its record written into
    // the binary columns of its batch's statement (a batch of 512, the hub's batch_max), its ACK
    // encoded. Per message.
    let intakeFrames = (0..<512).map { index in
        var message = publish
        message.messageID = "bench-ingest-0-\(index)"
        message.hints = IdentityHints(email: "c\(index * 37 % 10_000)@bench.example")
        return try! Codec.encode(.publish(message))
    }
    Benchmark("Hub intake: PUBLISH → record → batch statement → ACK", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var batch: [IngestRecord] = []
        batch.reserveCapacity(512)
        var index = 0
        for _ in benchmark.scaledIterations {
            guard case .publish(let message) = try Codec.decode(intakeFrames[index % 512], limits: limits, accepting: Codec.gatewayCommands) else {
                fatalError("not a PUBLISH")
            }
            let record = IngestRecord(
                gateway: "bench-ingest-0", publish: message, identities: try normalizer.normalize(message.hints),
                route: router.route(message, now: 0), routingVersion: 1)
            batch.append(record)
            if batch.count == 512 {
                blackHole(Store.ingestStatement(batch, receivedAtMs: 0))
                batch.removeAll(keepingCapacity: true)
            }
            let ack = Ack(messageID: message.messageID, interactionID: Int64(index + 1), customerID: 7, queue: record.route.queue, duplicate: false)
            blackHole(Codec.encode(.ack(ack)))
            index += 1
        }
    }

    Benchmark("Dispatcher enqueue → offer → done, 1 worker", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var dispatcher = Dispatcher(config: DispatchConfig())
        let worker = PeerID(Array("bench-worker".utf8))
        _ = dispatcher.workerReady(worker, Ready(workerID: "w", queues: ["support"], capacity: 64), now: 0)
        var id: Int64 = 0
        for _ in benchmark.scaledIterations {
            id += 1
            let task = DispatchTask(
                deliveryID: id, queue: "support", priority: Int(id % 10), deadline: 1000 + id,
                payload: TaskPayload(
                    interaction: InteractionSummary(
                        id: 1, gateway: "gw", messageID: "m", channel: "email", occurredAt: 0, receivedAt: 0, contentType: "text/plain",
                        routeReason: "bench"),
                    customerID: 1, body: []))
            blackHole(dispatcher.enqueue([task], now: id))
            blackHole(dispatcher.done(worker, Done(deliveryID: id, outcome: "ok"), now: id))
        }
    }
}
