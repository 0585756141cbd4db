import Glibc
import Synchronization

/// A FIFO of values handed from one thread to another; the inproc socket beside it only wakes the reader.
final class Mailbox<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    func post(_ value: Value) {
        values.withLock { $0.append(value) }
    }

    func drain() -> [Value] {
        values.withLock { values in
            defer { values.removeAll(keepingCapacity: true) }
            return values
        }
    }
}

/// A flag one thread raises and another polls (stop requests, signals).
public final class StopSignal: Sendable {
    private let raised = Atomic<Bool>(false)
    public init() {}
    public func raise() { raised.store(true, ordering: .releasing) }
    public var isRaised: Bool { raised.load(ordering: .acquiring) }
    /// Lowers the signal and says whether it was raised: for requests that are served once (SIGHUP).
    public func consume() -> Bool { raised.exchange(false, ordering: .acquiringAndReleasing) }
}

/// Wall-clock time in Unix milliseconds: the one place the hub reads the clock.
enum Clock {
    static func nowMs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Monotonic nanoseconds, for durations (latencies) that a clock step must not bend.
    static func monotonicNs() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
