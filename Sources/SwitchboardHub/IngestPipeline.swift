import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

/// A routed message waiting for its batch to be committed: what the hub answers it by.
struct PendingPublish {
    var peer: PeerID
    var messageID: String
    /// What the message holds of the hub's memory until it is answered: its frames and its decoded body.
    var bytes: Int
    /// Kept for the quarantine, should the store refuse it.
    var frames: [[UInt8]]
    /// When it was taken (monotonic nanoseconds): its ACK's latency is measured from here.
    var takenNs: UInt64 = 0
}

/// A batch sent to the store: how to answer each message, and how many of its tasks' contexts
/// were asked for with it, by queue.
struct SentBatch {
    var pending: [PendingPublish]
    var contextsWanted: [String: Int]
}

/// Messages that will go to the store in one batch: how to answer each, and the records the store
/// writes, which are handed over (moved, not copied) when the batch is sent.
struct IngestBatch {
    var pending: [PendingPublish] = []
    var records: [IngestRecord] = []
}

/// The ingest lane's path, as a state machine: flow control for each PUBLISH, messages waiting
/// in batches of at most `batchMax`, at most two batches in flight, and the counts of what is not
/// committed yet that bound the hub's memory (DESIGN §1.7).
struct IngestPipeline {
    /// Why a message is not taken now: the gateway re-sends it after `retry_after_ms`.
    enum Overload: Equatable {
        case gatewayWindow(inFlight: Int, limit: Int)
        case hubLimit(messages: Int, bytes: Int)

        var detail: RefusalDetail { if case .gatewayWindow = self { .gatewayWindow } else { .hubIngestLimit } }
    }

    // Changed by a configuration reload: they bound what is taken from then on.
    var batchMax: Int
    var gatewayWindow: Int
    var maxUncommitted: Int
    var maxUncommittedBytes: Int

    /// Routed messages waiting for a batch, in batches of at most `batchMax` already, so that
    /// sending one moves it rather than copying each message (and its strings) out of a queue.
    private(set) var waiting: [IngestBatch] = []
    /// Messages in `waiting`, kept as they come and go: summing the batches on every PUBLISH would
    /// cost as many steps as there are batches.
    private(set) var waitingCount = 0
    /// Batches sent to the ingest lane and not answered yet, oldest first (at most two).
    private(set) var inFlight: [SentBatch] = []
    /// Bytes of the messages waiting and in flight.
    private(set) var uncommittedBytes = 0
    private var perGateway: [PeerID: Int] = [:]

    init(batchMax: Int, gatewayWindow: Int, maxUncommitted: Int, maxUncommittedBytes: Int) {
        self.batchMax = batchMax
        self.gatewayWindow = gatewayWindow
        self.maxUncommitted = maxUncommitted
        self.maxUncommittedBytes = maxUncommittedBytes
    }

    var inFlightCount: Int { inFlight.reduce(0) { $0 + $1.pending.count } }
    var isIdle: Bool { inFlight.isEmpty }

    /// Whether a message of `size` bytes from this gateway may be taken now.
    func overload(for peer: PeerID, size: Int) -> Overload? {
        let fromGateway = perGateway[peer, default: 0]
        guard fromGateway < gatewayWindow else { return .gatewayWindow(inFlight: fromGateway, limit: gatewayWindow) }
        // All gateways together: memory holds at most this many messages not yet committed.
        let messages = waitingCount + inFlightCount
        guard messages < maxUncommitted, uncommittedBytes + size <= maxUncommittedBytes else {
            return .hubLimit(messages: messages, bytes: uncommittedBytes)
        }
        return nil
    }

    /// A message taken: it waits in the last batch, or a new one when that is full.
    mutating func take(_ record: IngestRecord, _ pending: PendingPublish) {
        perGateway[pending.peer, default: 0] += 1
        uncommittedBytes += pending.bytes
        if (waiting.last?.records.count ?? batchMax) >= batchMax { waiting.append(IngestBatch()) }
        waiting[waiting.count - 1].pending.append(pending)
        waiting[waiting.count - 1].records.append(record)
        waitingCount += 1
    }

    /// The next batch to send, if one may go: at once when none is in flight (so a lone message
    /// waits for nothing), and as a second one queued behind it once a full batch waits, so that
    /// under load PostgreSQL starts the next batch as soon as it has committed one.
    mutating func nextBatch() -> IngestBatch? {
        guard let first = waiting.first, inFlight.isEmpty || (inFlight.count == 1 && first.records.count >= batchMax) else { return nil }
        let batch = waiting.removeFirst()
        waitingCount -= batch.records.count
        return batch
    }

    /// The batch just taken by `nextBatch` went to the lane, with how many contexts it asked for.
    mutating func sent(_ pending: [PendingPublish], contextsWanted: [String: Int]) {
        inFlight.append(SentBatch(pending: pending, contextsWanted: contextsWanted))
    }

    /// Contexts asked for with the batches in flight, for `queue`.
    func contextsAskedFor(_ queue: String) -> Int { inFlight.reduce(0) { $0 + $1.contextsWanted[queue, default: 0] } }

    /// The oldest batch is answered: its messages, whose memory and window places are free again.
    mutating func answered() -> [PendingPublish]? {
        guard !inFlight.isEmpty else { return nil }
        let batch = inFlight.removeFirst().pending
        for message in batch {
            uncommittedBytes -= message.bytes
            let left = perGateway[message.peer, default: 1] - 1
            perGateway[message.peer] = left > 0 ? left : nil
        }
        return batch
    }
}

/// Refused input on its way to the quarantine table, bounded in entries and in bytes until the
/// store has written it: a flood beyond that is still answered and logged, but not kept.
struct QuarantineBuffer {
    static let maxEntries = 10_000
    let maxBytes: Int
    private(set) var entries: [QuarantineEntry] = []
    /// Bytes buffered or on their way to the store.
    private(set) var bytes = 0

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// Keeps the entry; false when the buffer is full.
    mutating func keep(_ entry: QuarantineEntry) -> Bool {
        let size = entry.frames.reduce(0) { $0 + $1.count }
        guard entries.count < Self.maxEntries, bytes + size <= maxBytes else { return false }
        bytes += size
        entries.append(entry)
        return true
    }

    /// What to write now, and its bytes.
    mutating func take() -> (entries: [QuarantineEntry], bytes: Int)? {
        guard !entries.isEmpty else { return nil }
        let taken = entries
        entries.removeAll(keepingCapacity: true)
        return (taken, taken.reduce(0) { $0 + $1.frames.reduce(0) { $0 + $1.count } })
    }

    /// The store has written (or given up on) entries of these bytes.
    mutating func written(bytes written: Int) { bytes -= written }
}
