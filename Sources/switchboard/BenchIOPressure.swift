import Foundation
import Glibc

/// Linux's pressure stall counters for I/O (/proc/pressure/io, in microseconds since boot): the
/// time at least one task waited on I/O (`some`), and the time every task that would have run did
/// (`full`). A commit waits until its WAL is on the disk, so while the disk does not answer, no
/// commit of the machine does: a latency run's tail can be the disk's, not the hub's.
struct IOPressure: Equatable {
    var some: UInt64
    var full: UInt64

    /// Nil where the kernel keeps no such counters (before Linux 4.20, or with PSI turned off).
    static func read() -> IOPressure? {
        (try? String(contentsOfFile: "/proc/pressure/io", encoding: .utf8)).flatMap(parse)
    }

    /// Lines such as `some avg10=0.00 avg60=0.00 avg300=0.00 total=12345`.
    static func parse(_ text: String) -> IOPressure? {
        var some: UInt64?
        var full: UInt64?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let kind = fields.first, let total = fields.last, total.hasPrefix("total="), let value = UInt64(total.dropFirst(6)) else {
                continue
            }
            if kind == "some" { some = value } else if kind == "full" { full = value }
        }
        guard let some, let full else { return nil }
        return IOPressure(some: some, full: full)
    }
}

/// What the disk held up over a stretch of a run: in all, and in its worst window.
struct IOStalls: Equatable {
    var seconds: Double
    /// Milliseconds in which some task waited on I/O, and every task did.
    var someMs: Double
    var fullMs: Double
    /// The most of each within any `windowMs` of the stretch: a long stall of the disk, where the
    /// totals would spread it over the run.
    var worstSomeMs: Double
    var worstFullMs: Double
    var windowMs: Double
    /// Milliseconds some task waited, by tenth of a second from the run's origin (each reading's
    /// wait counted in the tenth it was read in), beside `SharedTimeline`'s slowest TASKs.
    var someByBucketMs: [Double] = []

    /// From counters read in time order (uptime in nanoseconds, counters): for each reading, the
    /// stall since the earliest reading at most `windowMs` before it.
    static func of(_ readings: [(at: UInt64, pressure: IOPressure)], windowMs: Double, origin: UInt64 = 0) -> IOStalls? {
        guard let first = readings.first, let last = readings.last, readings.count > 1 else { return nil }
        let window = UInt64(windowMs * 1e6)
        var worstSome: UInt64 = 0
        var worstFull: UInt64 = 0
        var start = 0
        var buckets: [Double] = []
        for end in readings.indices {
            while readings[end].at - readings[start].at > window { start += 1 }
            worstSome = max(worstSome, readings[end].pressure.some &- readings[start].pressure.some)
            worstFull = max(worstFull, readings[end].pressure.full &- readings[start].pressure.full)
            guard end > 0, let bucket = SharedTimeline.bucket(of: readings[end].at, from: origin) else { continue }
            buckets.pad(toCount: bucket + 1)
            buckets[bucket] += Double(readings[end].pressure.some &- readings[end - 1].pressure.some) / 1e3
        }
        return IOStalls(
            seconds: Double(last.at - first.at) / 1e9, someMs: Double(last.pressure.some &- first.pressure.some) / 1e3,
            fullMs: Double(last.pressure.full &- first.pressure.full) / 1e3, worstSomeMs: Double(worstSome) / 1e3,
            worstFullMs: Double(worstFull) / 1e3, windowMs: windowMs, someByBucketMs: buckets)
    }
}

/// Reads the I/O pressure counters every `intervalMs` on a thread of its own until stopped.
final class IOStallWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var readings: [(at: UInt64, pressure: IOPressure)] = []
    private var running = true
    private let finished = DispatchSemaphore(value: 0)
    private let windowMs: Double
    private let origin: UInt64

    /// Nil where the kernel keeps no I/O pressure counters. `origin` (uptime in nanoseconds) is
    /// where the tenths of a second of `IOStalls.someByBucketMs` start.
    init?(origin: UInt64, intervalMs: Int = 10, windowMs: Double = 250) {
        guard IOPressure.read() != nil else { return nil }
        self.windowMs = windowMs
        self.origin = origin
        Thread { [self] in
            defer { finished.signal() }
            while lock.withLock({ running }) {
                if let pressure = IOPressure.read() {
                    let at = DispatchTime.now().uptimeNanoseconds
                    lock.withLock { readings.append((at, pressure)) }
                }
                usleep(UInt32(intervalMs * 1000))
            }
        }.start()
    }

    /// Stops reading; what the disk held up since the watch started.
    func stop() -> IOStalls? {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { IOStalls.of(readings, windowMs: windowMs, origin: origin) }
    }
}
