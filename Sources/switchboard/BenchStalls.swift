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
/// /proc/vmstat). PostgreSQL 15 grows a table or an index by writing a page of zeros into its file:
/// those pages wait dirty in the page cache until the kernel writes them back, some 30 s after
/// (vm.dirty_expire_centisecs), all of a file's at once. Behind such a write every commit's flush of
/// the WAL waits: a stall that the I/O pressure counters show, and this says whose.
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
    var pressure: IOPressure
    var writtenPages: UInt64? = nil
    var cpuSome: UInt64? = nil
}

/// What the disk, and the want of a free core, held up over a stretch of a run: in all, and in its worst window.
struct Stalls: Equatable {
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
    /// MiB the kernel wrote back in all, the most within any `windowMs`, and by tenth of a second
    /// as `someByBucketMs`; nil and empty where the kernel does not say.
    var writtenMiB: Double? = nil
    var worstWrittenMiB: Double? = nil
    var writtenByBucketMiB: [Double] = []
    /// Milliseconds in which some task waited for a core: in all, the most within any `windowMs`,
    /// and by tenth of a second; nil and empty where the kernel does not say.
    var cpuSomeMs: Double? = nil
    var worstCPUSomeMs: Double? = nil
    var cpuSomeByBucketMs: [Double] = []

    /// From counters read in time order: for each reading, the stall (the writeback, the wait for a core) since the
    /// earliest reading at most `windowMs` before it.
    static func of(_ readings: [StallReading], windowMs: Double, origin: UInt64 = 0) -> Stalls? {
        guard let first = readings.first, let last = readings.last, readings.count > 1 else { return nil }
        let window = UInt64(windowMs * 1e6)
        // Written-back and CPU figures only where every reading has the count.
        let written = readings.allSatisfy { $0.writtenPages != nil } ? readings.map { $0.writtenPages ?? 0 } : nil
        let cpu = readings.allSatisfy { $0.cpuSome != nil } ? readings.map { $0.cpuSome ?? 0 } : nil
        var worstSome: UInt64 = 0
        var worstFull: UInt64 = 0
        var worstWritten: UInt64 = 0
        var worstCPU: UInt64 = 0
        var start = 0
        var buckets: [Double] = []
        var writtenBuckets: [Double] = []
        var cpuBuckets: [Double] = []
        for end in readings.indices {
            while readings[end].at - readings[start].at > window { start += 1 }
            worstSome = max(worstSome, readings[end].pressure.some &- readings[start].pressure.some)
            worstFull = max(worstFull, readings[end].pressure.full &- readings[start].pressure.full)
            if let written { worstWritten = max(worstWritten, written[end] &- written[start]) }
            if let cpu { worstCPU = max(worstCPU, cpu[end] &- cpu[start]) }
            guard end > 0, let bucket = SharedTimeline.bucket(of: readings[end].at, from: origin) else { continue }
            buckets.pad(toCount: bucket + 1)
            buckets[bucket] += Double(readings[end].pressure.some &- readings[end - 1].pressure.some) / 1e3
            if let written {
                writtenBuckets.pad(toCount: bucket + 1)
                writtenBuckets[bucket] += Writeback.mebibytes(written[end] &- written[end - 1])
            }
            if let cpu {
                cpuBuckets.pad(toCount: bucket + 1)
                cpuBuckets[bucket] += Double(cpu[end] &- cpu[end - 1]) / 1e3
            }
        }
        return Stalls(
            seconds: Double(last.at - first.at) / 1e9, someMs: Double(last.pressure.some &- first.pressure.some) / 1e3,
            fullMs: Double(last.pressure.full &- first.pressure.full) / 1e3, worstSomeMs: Double(worstSome) / 1e3,
            worstFullMs: Double(worstFull) / 1e3, windowMs: windowMs, someByBucketMs: buckets,
            writtenMiB: written.map { Writeback.mebibytes(($0.last ?? 0) &- ($0.first ?? 0)) },
            worstWrittenMiB: written.map { _ in Writeback.mebibytes(worstWritten) }, writtenByBucketMiB: writtenBuckets,
            cpuSomeMs: cpu.map { Double(($0.last ?? 0) &- ($0.first ?? 0)) / 1e3 }, worstCPUSomeMs: cpu.map { _ in Double(worstCPU) / 1e3 },
            cpuSomeByBucketMs: cpuBuckets)
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

    /// Nil where the kernel keeps no I/O pressure counters. `origin` (uptime in nanoseconds) is
    /// where the tenths of a second of `Stalls.someByBucketMs` start.
    init?(origin: UInt64, intervalMs: Int = 10, windowMs: Double = 250) {
        guard IOPressure.read() != nil else { return nil }
        self.windowMs = windowMs
        self.origin = origin
        Thread { [self] in
            defer { finished.signal() }
            while lock.withLock({ running }) {
                if let pressure = IOPressure.read() {
                    let reading = StallReading(
                        at: DispatchTime.now().uptimeNanoseconds, pressure: pressure, writtenPages: Writeback.writtenPages(),
                        cpuSome: CPUPressure.readSome())
                    lock.withLock { readings.append(reading) }
                }
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
