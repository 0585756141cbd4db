import Foundation
import Testing

@testable import switchboard_bench

/// The bench's gateways keep their messages by number and read an answer's number from its
/// message id; the hub's memory is read from `/proc/PID/statm`. Both over inputs made by hand.
@Suite("Bench load generator")
struct LoadTests {
    @Test("an answer's message id gives back the number it was sent under, and only an id this gateway made")
    func messageNumbers() {
        let prefix = "bench-c0r1-2-"
        #expect(BenchGateway.messageNumber("bench-c0r1-2-0", prefix: prefix, count: 100) == 0)
        #expect(BenchGateway.messageNumber("bench-c0r1-2-99", prefix: prefix, count: 100) == 99)
        // Another gateway's, one past the end, none, not a number, a number too long for an Int.
        #expect(BenchGateway.messageNumber("bench-c0r1-3-17", prefix: prefix, count: 100) == nil)
        #expect(BenchGateway.messageNumber("bench-c0r1-2-100", prefix: prefix, count: 100) == nil)
        #expect(BenchGateway.messageNumber("bench-c0r1-2-", prefix: prefix, count: 100) == nil)
        #expect(BenchGateway.messageNumber("bench-c0r1-2-1x", prefix: prefix, count: 100) == nil)
        #expect(BenchGateway.messageNumber("bench-c0r1-2--1", prefix: prefix, count: 100) == nil)
        #expect(BenchGateway.messageNumber("bench-c0r1-2-" + String(repeating: "9", count: 40), prefix: prefix, count: 100) == nil)
        #expect(BenchGateway.messageNumber("bench-c0r1-", prefix: prefix, count: 100) == nil)
    }

    @Test("the resident set is statm's second field in pages, and nothing from a file that is not there or not statm")
    func residentBytesFromStatm() {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        #expect(BenchHub.residentBytes(statm: "1097486 31179 30600 1333 0 429 0\n") == 31179 * page)
        #expect(BenchHub.residentBytes(statm: nil) == 0)
        #expect(BenchHub.residentBytes(statm: "") == 0)
        #expect(BenchHub.residentBytes(statm: "1097486\n") == 0)
        #expect(BenchHub.residentBytes(statm: "Name:\tswitchboard\n") == 0)
    }
}
