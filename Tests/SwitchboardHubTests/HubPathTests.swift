import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import Testing

@testable import SwitchboardHub

/// The dispatch lane's write path without sockets or a database: when a batch goes, what it
/// holds, and what each worker is told once it is written or when it failed.
@Suite("TransitionWriter")
struct TransitionWriterTests {
    let worker = PeerID([1])
    func done(_ id: Int64) -> DeliveryTransition { .done(deliveryID: id, worker: "w", outcome: "ok", notes: nil) }

    @Test("transitions wait for company until the oldest has waited transition_wait_ms, or 512 wait")
    func waitsForCompany() {
        var writer = TransitionWriter(waitMs: 10)
        writer.add(done(1), confirmTo: worker, now: 100)
        writer.add(done(2), confirmTo: worker, now: 105)
        #expect(writer.nextBatch(now: 109) == nil)
        #expect(writer.msUntilDue(now: 109, limit: 50) == 1)
        #expect(writer.nextBatch(now: 110)?.transitions.map(\.transition.deliveryID) == [1, 2])
        for id in 3...514 { writer.add(done(Int64(id)), confirmTo: nil, now: 200) }
        #expect(writer.nextBatch(now: 200) == nil, "one batch in flight at a time")
        _ = writer.written(Store.AppliedBatch(applied: [true, true], stored: [:]))
        #expect(writer.nextBatch(now: 200)?.transitions.count == 512, "512 waiting go at once")
    }

    @Test("a written batch confirms what applied and refuses as settled what did not; a check answers by its verdict")
    func answersAfterWrite() {
        var writer = TransitionWriter(waitMs: 0)
        let other = PeerID([2])
        writer.add(.offered(deliveryID: 1, worker: "w", attempt: 1, leaseUntil: 0), confirmTo: nil, now: 0)
        writer.add(done(1), confirmTo: worker, now: 0)
        writer.add(done(2), confirmTo: worker, now: 0)
        writer.addCheck(AnswerCheck(deliveryID: 9, workerID: "b", answer: .done(outcome: "ok")), from: other, now: 0)
        let batch = writer.nextBatch(now: 0)
        #expect(batch?.transitions.count == 3)
        #expect(batch?.checks.map(\.check.deliveryID) == [9])
        let answers = writer.written(
            Store.AppliedBatch(applied: [true, true, false], stored: [9: AnswerCheck.Stored(state: "done", worker: "b", outcome: "ok")]))
        #expect(answers.count == 3)
        #expect(answers[0] == .confirm(worker, Confirm(deliveryID: 1, state: "done")))
        guard case .refuse(let peer, let error) = answers[1] else {
            Issue.record("delivery 2 not refused: \(answers)")
            return
        }
        #expect(peer == worker && error.code == .notHeld && error.detail == RefusalDetail.settled.rawValue)
        #expect(answers[2] == .confirm(other, Confirm(deliveryID: 9, state: "done", repeated: true)))
        #expect(writer.isIdle)
    }

    @Test("a check waits until every transition decided before it is in a batch")
    func checkAfterEarlierTransitions() {
        var writer = TransitionWriter(waitMs: 0)
        for id in 1...2001 { writer.add(done(Int64(id)), confirmTo: nil, now: 0) }
        writer.addCheck(AnswerCheck(deliveryID: 1, workerID: "w", answer: .done(outcome: "ok")), from: worker, now: 0)
        let first = writer.nextBatch(now: 0)
        #expect(first?.transitions.count == 2000)
        #expect(first?.checks.isEmpty == true)
        _ = writer.written(Store.AppliedBatch(applied: Array(repeating: true, count: 2000), stored: [:]))
        let second = writer.nextBatch(now: 0)
        #expect(second?.transitions.map(\.transition.deliveryID) == [2001])
        #expect(second?.checks.count == 1)
    }

    @Test("a failed batch loses nothing: it goes first in line again, after the retry time")
    func failedBatchRetried() {
        var writer = TransitionWriter(waitMs: 0)
        writer.add(done(1), confirmTo: worker, now: 0)
        _ = writer.nextBatch(now: 0)
        writer.add(done(2), confirmTo: worker, now: 1)
        #expect(writer.failed(now: 10) == 1)
        #expect(writer.nextBatch(now: 10 + TransitionWriter.retryMs - 1) == nil)
        #expect(writer.nextBatch(now: 10 + TransitionWriter.retryMs)?.transitions.map(\.transition.deliveryID) == [1, 2])
    }

    @Test("offers wait for their contexts; a failed read keeps them first in line; a missing customer gets a bare object")
    func contextReader() {
        var reader = ContextReader()
        let payload = TaskPayload(interaction: .sample, customerID: 7, body: [])
        let task = DispatchTask(deliveryID: 1, queue: "support", priority: 0, deadline: 0, attempts: 1, payload: payload)
        reader.add(task, for: worker)
        #expect(reader.nextRequest(now: 0) == [Store.ContextKey(payload)])
        #expect(reader.nextRequest(now: 0) == nil, "one read in flight at a time")
        #expect(reader.failed(now: 0) == 1)
        #expect(reader.nextRequest(now: ContextReader.retryMs - 1) == nil)
        #expect(reader.nextRequest(now: ContextReader.retryMs) != nil)
        let sent = reader.read([:])
        #expect(sent.count == 1)
        #expect(sent.first?.customer == JSONWriter.bytes(["id": .integer(7)]))
    }

    @Test("a worker's messages wait in order while its queue is full, and it is given up only when nothing moves for the pause tolerance")
    func outbox() {
        var outbox = WorkerOutbox(pauseToleranceMs: 100, maxMessages: 3)
        #expect(outbox.hold([[1]], named: "CONFIRM", for: worker, now: 0) == nil)
        #expect(outbox.hold([[2]], named: "TASK", for: worker, now: 0) == nil)
        var sent: [[UInt8]] = []
        var room = 1
        let stuck = outbox.flush(now: 50) { _, frames, _ in
            guard room > 0 else { return false }
            room -= 1
            sent.append(frames[0])
            return true
        }
        #expect(stuck.isEmpty)
        #expect(sent == [[1]])
        #expect(outbox.flush(now: 150) { _, _, _ in false }.isEmpty, "it moved at 50 ms")
        #expect(outbox.flush(now: 151) { _, _, _ in false }.map(\.1) == [.notReading(pausedMs: 101)])
        #expect(outbox.hold([[3]], named: "TASK", for: worker, now: 151) == nil)
        #expect(outbox.hold([[4]], named: "TASK", for: worker, now: 151) == nil)
        #expect(outbox.hold([[5]], named: "TASK", for: worker, now: 151) == .tooMuch(messages: 4, bytes: 4))
    }
}

extension InteractionSummary {
    static let sample = InteractionSummary(
        id: 1, gateway: "gw", messageID: "m-1", channel: "email", occurredAt: 0, receivedAt: 0, contentType: "text/plain", routeReason: "test")
}

/// The ingest lane's path and the quarantine's buffer without sockets or a database.
@Suite("IngestPipeline and QuarantineBuffer")
struct IngestPipelineTests {
    let gateway = PeerID(Array("gw".utf8))

    static func record(_ id: String) -> IngestRecord {
        IngestRecord(
            gateway: "gw", publish: Publish(messageID: id, channel: "sms", occurredAt: 0, body: []), identities: [],
            route: RouteDecision(process: .support, queue: "support", priority: 0, deadline: 0, reason: "test"), routingVersion: 1)
    }

    func take(_ pipeline: inout IngestPipeline, _ id: String, bytes: Int = 10) {
        pipeline.take(Self.record(id), PendingPublish(peer: gateway, messageID: id, bytes: bytes, frames: []))
    }

    @Test("a lone message goes at once; a second batch goes behind the first only when it is full")
    func batches() {
        var pipeline = IngestPipeline(batchMax: 2, gatewayWindow: 100, maxUncommitted: 100, maxUncommittedBytes: 1000)
        take(&pipeline, "a")
        let first = pipeline.nextBatch()
        #expect(first?.records.map(\.publish.messageID) == ["a"])
        pipeline.sent(first!.pending, contextsWanted: ["support": 1])
        take(&pipeline, "b")
        #expect(pipeline.nextBatch() == nil, "a part batch waits while one is in flight")
        take(&pipeline, "c")
        take(&pipeline, "d")
        let second = pipeline.nextBatch()
        #expect(second?.records.map(\.publish.messageID) == ["b", "c"])
        pipeline.sent(second!.pending, contextsWanted: [:])
        #expect(pipeline.nextBatch() == nil, "at most two in flight")
        #expect(pipeline.contextsAskedFor("support") == 1)
        #expect(pipeline.answered()?.map(\.messageID) == ["a"])
        #expect(pipeline.nextBatch() == nil, "one still in flight, and the part batch is not full")
        #expect(pipeline.answered()?.map(\.messageID) == ["b", "c"])
        #expect(pipeline.nextBatch()?.records.map(\.publish.messageID) == ["d"])
    }

    @Test("flow control: a gateway's window, and all gateways' messages and bytes not committed yet")
    func flowControl() {
        var pipeline = IngestPipeline(batchMax: 10, gatewayWindow: 2, maxUncommitted: 3, maxUncommittedBytes: 25)
        take(&pipeline, "a")
        take(&pipeline, "b")
        #expect(pipeline.overload(for: gateway, size: 1) == .gatewayWindow(inFlight: 2, limit: 2))
        let other = PeerID(Array("other".utf8))
        #expect(pipeline.overload(for: other, size: 6) == .hubLimit(messages: 2, bytes: 20))
        #expect(pipeline.overload(for: other, size: 5) == nil)
        pipeline.sent(pipeline.nextBatch()!.pending, contextsWanted: [:])
        _ = pipeline.answered()
        #expect(pipeline.overload(for: gateway, size: 25) == nil, "answered messages free their places and bytes")
        #expect(pipeline.uncommittedBytes == 0)
    }

    @Test("the quarantine buffer keeps what fits in entries and bytes, and its bytes count until written")
    func quarantine() {
        var buffer = QuarantineBuffer(maxBytes: 10)
        func entry(_ bytes: Int) -> QuarantineEntry {
            QuarantineEntry(role: "gateway", peer: "gw", messageID: nil, code: "x", reason: "y", frames: [[UInt8](repeating: 0, count: bytes)])
        }
        let kept = buffer.keep(entry(6))
        let overfull = buffer.keep(entry(5))
        #expect(kept && !overfull)
        let taken = buffer.take()
        #expect(taken?.entries.count == 1 && taken?.bytes == 6)
        let whileWriting = buffer.keep(entry(5))
        #expect(!whileWriting, "bytes on their way to the store still count")
        buffer.written(bytes: 6)
        let afterWrite = buffer.keep(entry(5))
        #expect(afterWrite)
    }
}
