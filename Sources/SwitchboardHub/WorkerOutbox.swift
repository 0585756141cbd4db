import SwitchboardCore

/// Messages for workers that their connection's queue in libzmq had no room for, in order, per worker.
///
/// A worker reading steadily can still find its queue full for a moment: CONFIRMs of a whole
/// transition batch go out at once. Those wait here and go out as it reads; only a worker whose
/// messages have not moved for `pauseToleranceMs` (or that lets more than the limit pile up) has
/// stopped reading and is given up on.
struct WorkerOutbox {
    struct Waiting {
        var messages: [(frames: [[UInt8]], name: String)] = []
        var bytes = 0
        /// When a message last went out to this worker, or when the first began to wait.
        var lastProgressMs: Int64
    }

    /// Why a worker's messages cannot wait any longer.
    enum Stuck: Equatable {
        case notReading(pausedMs: Int64)
        case tooMuch(messages: Int, bytes: Int)
    }

    let pauseToleranceMs: Int64
    let maxMessages: Int
    let maxBytes: Int
    private(set) var waiting: [PeerID: Waiting] = [:]

    init(pauseToleranceMs: Int64, maxMessages: Int = 100_000, maxBytes: Int = 64 << 20) {
        self.pauseToleranceMs = pauseToleranceMs
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    /// Whether messages for `peer` wait already: a new one must go behind them, to keep the order.
    func isWaiting(_ peer: PeerID) -> Bool { waiting[peer] != nil }

    var messageCount: Int { waiting.values.reduce(0) { $0 + $1.messages.count } }

    /// Keeps a message that could not be sent now; answers whether the worker's backlog is past the limits.
    mutating func hold(_ frames: [[UInt8]], named name: String, for peer: PeerID, now: Int64) -> Stuck? {
        var entry = waiting[peer] ?? Waiting(lastProgressMs: now)
        entry.messages.append((frames, name))
        entry.bytes += frames.reduce(0) { $0 + $1.count }
        waiting[peer] = entry
        guard entry.messages.count <= maxMessages, entry.bytes <= maxBytes else {
            return .tooMuch(messages: entry.messages.count, bytes: entry.bytes)
        }
        return nil
    }

    /// Sends what waits, oldest first, through `send` (false: no room yet); returns the workers
    /// whose messages have not moved for longer than the pause tolerance.
    mutating func flush(now: Int64, send: (PeerID, [[UInt8]], String) -> Bool) -> [(PeerID, Stuck)] {
        var stuck: [(PeerID, Stuck)] = []
        for peer in Array(waiting.keys) {
            guard var entry = waiting[peer] else { continue }
            var sent = 0
            while sent < entry.messages.count, send(peer, entry.messages[sent].frames, entry.messages[sent].name) { sent += 1 }
            if sent > 0 {
                entry.bytes -= entry.messages[..<sent].reduce(0) { $0 + $1.frames.reduce(0) { $0 + $1.count } }
                entry.messages.removeFirst(sent)
                entry.lastProgressMs = now
            }
            if entry.messages.isEmpty {
                waiting[peer] = nil
            } else {
                waiting[peer] = entry
                if now - entry.lastProgressMs > pauseToleranceMs { stuck.append((peer, .notReading(pausedMs: now - entry.lastProgressMs))) }
            }
        }
        return stuck
    }

    /// The worker is gone: what waited for it is dropped (its tasks went back to the queue).
    mutating func forget(_ peer: PeerID) { waiting[peer] = nil }
}
