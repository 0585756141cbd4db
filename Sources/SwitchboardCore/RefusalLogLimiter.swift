/// Decides which refusals of bad input the hub writes to its log: a peer's first `burst` in a
/// window of `windowMs`, then none from it until the window ends, when one line says how many
/// were left out. One peer's flood of bad frames then cannot bury the log, nor make journald's
/// rate limit drop the hub's other lines; every refusal is still answered, counted and kept in the
/// quarantine table. Memory is bounded: beyond `maxPeers` peers in one window, the rest share one
/// window under `otherPeers`.
public struct RefusalLogLimiter: Sendable {
    public enum Decision: Equatable, Sendable {
        case log
        /// Log it, and say that this many from the same peer were left out in its last window.
        case logAfterLeavingOut(Int)
        case leaveOut
    }

    /// A window that ended with refusals left out of the log.
    public struct LeftOut: Equatable, Sendable {
        public let peer: String
        public let count: Int
        public let sinceMs: Int64

        public init(peer: String, count: Int, sinceMs: Int64) {
            self.peer = peer
            self.count = count
            self.sinceMs = sinceMs
        }
    }

    public static let otherPeers = "(other peers)"

    public let burst: Int
    public let windowMs: Int64
    public let maxPeers: Int
    private var windows: [String: Window] = [:]

    private struct Window {
        var startMs: Int64
        var logged = 0
        var leftOut = 0
    }

    public init(burst: Int = 20, windowMs: Int64 = 10_000, maxPeers: Int = 1000) {
        self.burst = burst
        self.windowMs = windowMs
        self.maxPeers = maxPeers
    }

    /// Whether to log a refusal of `peer`'s input now.
    public mutating func decide(_ peer: String, now: Int64) -> Decision {
        let key = windows[peer] != nil || windows.count < maxPeers ? peer : Self.otherPeers
        var window = windows[key] ?? Window(startMs: now)
        var earlier = 0
        if now - window.startMs >= windowMs {
            earlier = window.leftOut
            window = Window(startMs: now)
        }
        defer { windows[key] = window }
        guard window.logged < burst else {
            window.leftOut += 1
            return .leaveOut
        }
        window.logged += 1
        return earlier > 0 ? .logAfterLeavingOut(earlier) : .log
    }

    /// Forgets the windows that have ended, and answers those that left refusals out.
    public mutating func expire(now: Int64) -> [LeftOut] {
        var ended: [LeftOut] = []
        for (peer, window) in windows where now - window.startMs >= windowMs {
            if window.leftOut > 0 { ended.append(LeftOut(peer: peer, count: window.leftOut, sinceMs: window.startMs)) }
            windows[peer] = nil
        }
        return ended.sorted { $0.peer < $1.peer }
    }

    /// Peers with a window open (for tests and bounds).
    public var peerCount: Int { windows.count }
}
