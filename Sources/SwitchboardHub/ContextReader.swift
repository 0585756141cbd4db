import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore

/// The context lane's read path, as a state machine: offers whose customer context was not read
/// with their batch wait here; one request for their contexts is in flight at a time; a failed
/// read goes first in line again. The TASKs go out once their contexts are read, to the workers
/// that still hold them.
struct ContextReader {
    /// The most offers whose contexts one request reads.
    static let maxBatch = 2000
    /// After a failed read, how long before it is tried again.
    static let retryMs: Int64 = 500

    private(set) var waiting: [(peer: PeerID, task: DispatchTask)] = []
    private(set) var inFlight: [(peer: PeerID, task: DispatchTask)]?
    private var retryAt: Int64 = 0

    mutating func add(_ task: DispatchTask, for peer: PeerID) { waiting.append((peer, task)) }

    /// The contexts to read now, if none are being read.
    mutating func nextRequest(now: Int64) -> [Store.ContextKey]? {
        guard inFlight == nil, !waiting.isEmpty, now >= retryAt else { return nil }
        let batch = Array(waiting.prefix(Self.maxBatch))
        waiting.removeFirst(batch.count)
        inFlight = batch
        return Array(Set(batch.map { Store.ContextKey($0.task.payload) }))
    }

    /// The contexts are read: each offer with its customer context (a bare `{"id": …}` where the
    /// customer was not found), for the hub to send where the worker still holds it.
    mutating func read(_ contexts: [Int64: [UInt8]]) -> [(peer: PeerID, task: DispatchTask, customer: [UInt8])] {
        guard let batch = inFlight else { return [] }
        inFlight = nil
        return batch.map { peer, task in
            (peer, task, contexts[task.payload.interaction.id] ?? JSONWriter.bytes(["id": .integer(task.payload.customerID)]))
        }
    }

    /// The read failed: the workers still hold these offers; they go first in line again.
    @discardableResult
    mutating func failed(now: Int64) -> Int {
        guard let batch = inFlight else { return 0 }
        inFlight = nil
        waiting.insert(contentsOf: batch, at: 0)
        retryAt = now + Self.retryMs
        return batch.count
    }
}
