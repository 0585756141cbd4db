import SwitchboardProtocol
import Testing

@testable import switchboard_bench

/// The bench's reading of the kernel's counters (`Stalls`), over readings made by hand: what each
/// counter adds up to, and that a kernel which keeps only some of them still has those reported.
@Suite("Bench stall counters")
struct StallsTests {
    /// Readings every 50 ms from `origin`, the counters growing as given (nil: the kernel lacks it).
    static func readings(
        origin: UInt64, io: [UInt64]?, written: [UInt64]?, cpu: [UInt64]?, count: Int
    ) -> [StallReading] {
        (0..<count).map { index in
            StallReading(
                at: origin + UInt64(index) * 50_000_000,
                pressure: io.map { IOPressure(some: $0[index], full: $0[index] / 2) },
                writtenPages: written?[index], cpuSome: cpu?[index])
        }
    }

    @Test("every counter adds up: in all, in its worst window, and by tenth of a second")
    func countersAddUp() throws {
        let origin: UInt64 = 1_000_000_000
        // Microseconds of waits (pressure) and pages; a 60 ms wait between 100 and 150 ms.
        let io: [UInt64] = [0, 1_000, 2_000, 62_000, 63_000, 64_000]
        let written: [UInt64] = [10, 10, 10, 10, 1_010, 1_010]
        let cpu: [UInt64] = [0, 40_000, 80_000, 80_000, 80_000, 90_000]
        let stalls = try #require(
            Stalls.of(Self.readings(origin: origin, io: io, written: written, cpu: cpu, count: 6), windowMs: 100, origin: origin))
        #expect(stalls.seconds == 0.25)
        let some = try #require(stalls.ioSome)
        #expect(some.total == 64)
        // The most in any 100 ms: from 50 to 150 ms, 61 ms.
        #expect(some.worst == 61)
        // Each reading's growth in the tenth it was read in: 50 ms in tenth 0, 100 and 150 in 1, 200 and 250 in 2.
        #expect(some.byTenth == [1, 61, 2])
        #expect(stalls.ioFull?.total == 32)
        let pages = Writeback.mebibytes(1_000)
        #expect(stalls.written == Windowed(total: pages, worst: pages, byTenth: [0, 0, pages]))
        #expect(stalls.cpuSome == Windowed(total: 90, worst: 80, byTenth: [40, 40, 10]))
    }

    @Test("a kernel without pressure counters still has its writeback reported")
    func writebackWithoutPressure() throws {
        let readings = Self.readings(origin: 0, io: nil, written: [0, 256, 512], cpu: nil, count: 3)
        let stalls = try #require(Stalls.of(readings, windowMs: 250))
        #expect(stalls.ioSome == nil)
        #expect(stalls.ioFull == nil)
        #expect(stalls.cpuSome == nil)
        #expect(stalls.written?.total == Writeback.mebibytes(512))
        guard case .object(let json) = stalls.json else {
            Issue.record("the stalls' JSON is not an object")
            return
        }
        #expect(json["some_ms"] == .null)
        #expect(json["cpu_some_ms"] == .null)
        #expect(json["written_back_mib"] == .double(Writeback.mebibytes(512)))
        #expect(readings.allSatisfy { $0.measuresAnything })
    }

    @Test("a counter missing from any reading is not reported, the others are")
    func counterMissingOnce() throws {
        var readings = Self.readings(origin: 0, io: [0, 10_000, 20_000], written: nil, cpu: [0, 5_000, 9_000], count: 3)
        readings[1].pressure = nil
        let stalls = try #require(Stalls.of(readings, windowMs: 250))
        #expect(stalls.ioSome == nil)
        #expect(stalls.written == nil)
        #expect(stalls.cpuSome?.total == 9)
        #expect(!StallReading(at: 0).measuresAnything)
    }
}
