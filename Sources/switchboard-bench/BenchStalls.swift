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

    static func parse(_ text: String) -> IOPressure? {
        let totals = totals(text)
        guard let some = totals["some"], let full = totals["full"] else { return nil }
        return IOPressure(some: some, full: full)
    }

    /// The `total=` of each line of a pressure file, by its first word: lines such as
    /// `some avg10=0.00 avg60=0.00 avg300=0.00 total=12345`.
    static func totals(_ text: String) -> [Substring: UInt64] {
        var totals: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let kind = fields.first, let total = fields.last, total.hasPrefix("total="), let value = UInt64(total.dropFirst(6)) else {
                continue
            }
            totals[kind] = value
        }
        return totals
    }
}

/// Linux's pressure stall counter for the CPU (/proc/pressure/cpu, in microseconds since boot):
/// the time at least one task that could run waited for a core. The hub, PostgreSQL, the
/// gateways and the workers share the machine's cores, and each hand-over of a message wakes the
/// next of them: where none is free, a message waits without any part being slow.
enum CPUPressure {
    static func readSome() -> UInt64? {
        (try? String(contentsOfFile: "/proc/pressure/cpu", encoding: .utf8)).flatMap { IOPressure.totals($0)["some"] }
    }
}

/// The kernel's count of pages it has written back to the disk since boot (`nr_written` in
/// /proc/vmstat), the machine's. Most of it is the WAL, written back at each flush (where the kernel
/// keeps the file in large folios, a whole folio each time). PostgreSQL 15 also grows a table or an
/// index by writing a page of zeros into its file: those pages wait dirty in the page cache until
/// the kernel writes them back, some 30 s after (vm.dirty_expire_centisecs), all of a file's at
/// once. Behind such a write every commit's flush of the WAL waits: a stall that the I/O pressure
/// counters show, and this says whose.
enum Writeback {
    /// Pages written back since boot; nil where the kernel does not say.
    static func writtenPages() -> UInt64? {
        (try? String(contentsOfFile: "/proc/vmstat", encoding: .utf8)).flatMap(writtenPages)
    }

    /// The `nr_written 12345` line of /proc/vmstat.
    static func writtenPages(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("nr_written ") {
            return UInt64(line.dropFirst("nr_written ".count))
        }
        return nil
    }

    /// MiB in `pages` of this machine's page size.
    static func mebibytes(_ pages: UInt64) -> Double { Double(pages) * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576 }
}

/// One reading of the watch: when (uptime in nanoseconds), the I/O pressure counters, the pages
/// written back so far and the CPU's pressure counter (each nil where the kernel does not say).
struct StallReading {
    var at: UInt64
    var pressure: IOPressure? = nil
    var writtenPages: UInt64? = nil
    var cpuSome: UInt64? = nil

    /// Now, each counter this kernel keeps.
    static func now() -> StallReading {
        StallReading(
            at: DispatchTime.now().uptimeNanoseconds, pressure: IOPressure.read(), writtenPages: Writeback.writtenPages(),
            cpuSome: CPUPressure.readSome())
    }

    /// Whether the kernel keeps any of the counters.
    var measuresAnything: Bool { pressure != nil || writtenPages != nil || cpuSome != nil }
}

/// One counter of the watch over a stretch of a run, in its unit: in all, the most within any
/// window of the stretch (a long stall, where the total would spread it over the run), and by
/// tenth of a second from the run's origin (each reading's share counted in the tenth it was read
/// in), beside `SharedTimeline`'s slowest TASKs.
struct Windowed: Equatable {
    var total: Double
    var worst: Double
    var byTenth: [Double]

    /// From a counter that only grows, read at `times` (uptime in nanoseconds), `unit` its units
    /// a count: for each reading, what it grew by since the earliest reading at most `window` before.
    static func of(_ counts: [UInt64], at times: [UInt64], window: UInt64, origin: UInt64, unit: Double) -> Windowed {
        var worst: UInt64 = 0
        var start = 0
        var byTenth: [Double] = []
        for end in counts.indices {
            while times[end] - times[start] > window { start += 1 }
            worst = max(worst, counts[end] &- counts[start])
            guard end > 0, let bucket = SharedTimeline.bucket(of: times[end], from: origin) else { continue }
            byTenth.pad(toCount: bucket + 1)
            byTenth[bucket] += Double(counts[end] &- counts[end - 1]) * unit
        }
        return Windowed(total: Double((counts.last ?? 0) &- (counts.first ?? 0)) * unit, worst: Double(worst) * unit, byTenth: byTenth)
    }
}

/// What the disk, and the want of a free core, held up over a stretch of a run. Each counter is
/// nil where the kernel does not keep it (a kernel may keep the writeback count and no pressure
/// counters: PSI can be built in and turned off).
struct Stalls: Equatable {
    var seconds: Double
    var windowMs: Double
    /// Milliseconds in which some task waited on I/O, and every task did.
    var ioSome: Windowed?
    var ioFull: Windowed?
    /// MiB the kernel wrote back.
    var written: Windowed?
    /// Milliseconds in which some task waited for a core.
    var cpuSome: Windowed?

    static func of(_ readings: [StallReading], windowMs: Double, origin: UInt64 = 0) -> Stalls? {
        guard let first = readings.first, let last = readings.last, readings.count > 1 else { return nil }
        let times = readings.map(\.at)
        // A counter's figures only where every reading has it.
        func windowed(_ count: (StallReading) -> UInt64?, unit: Double) -> Windowed? {
            let counts = readings.compactMap(count)
            guard counts.count == readings.count else { return nil }
            return Windowed.of(counts, at: times, window: UInt64(windowMs * 1e6), origin: origin, unit: unit)
        }
        return Stalls(
            seconds: Double(last.at - first.at) / 1e9, windowMs: windowMs,
            ioSome: windowed({ $0.pressure?.some }, unit: 1e-3), ioFull: windowed({ $0.pressure?.full }, unit: 1e-3),
            written: windowed(\.writtenPages, unit: Writeback.mebibytes(1)), cpuSome: windowed(\.cpuSome, unit: 1e-3))
    }
}

/// Reads the I/O pressure counters, the pages written back and the CPU's pressure counter every
/// `intervalMs` on a thread of its own until stopped.
final class StallWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var readings: [StallReading] = []
    private var running = true
    private let finished = DispatchSemaphore(value: 0)
    private let windowMs: Double
    private let origin: UInt64

    /// Nil where the kernel keeps none of the counters. `origin` (uptime in nanoseconds) is where
    /// the tenths of a second of `Windowed.byTenth` start.
    init?(origin: UInt64, intervalMs: Int = 10, windowMs: Double = 250) {
        guard StallReading.now().measuresAnything else { return nil }
        self.windowMs = windowMs
        self.origin = origin
        Thread { [self] in
            defer { finished.signal() }
            while lock.withLock({ running }) {
                let reading = StallReading.now()
                lock.withLock { readings.append(reading) }
                usleep(UInt32(intervalMs * 1000))
            }
        }.start()
    }

    /// Stops reading; what the disk held up since the watch started.
    func stop() -> Stalls? {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { Stalls.of(readings, windowMs: windowMs, origin: origin) }
    }
}
