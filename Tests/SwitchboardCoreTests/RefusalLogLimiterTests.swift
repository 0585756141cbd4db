import SwitchboardCore
import Testing

@Suite("Refusal log limiter")
struct RefusalLogLimiterTests {
    @Test("a peer's first refusals in a window are logged, the rest left out and counted; the next window's first line says how many")
    func burstThenLeftOut() {
        var limiter = RefusalLogLimiter(burst: 3, windowMs: 1000)
        #expect((0..<5).map { limiter.decide("flood", now: $0) } == [.log, .log, .log, .leaveOut, .leaveOut])
        // Another peer has its own share.
        #expect(limiter.decide("calm", now: 10) == .log)
        #expect(limiter.decide("flood", now: 999) == .leaveOut)
        #expect(limiter.decide("flood", now: 1000) == .logAfterLeavingOut(3))
        #expect(limiter.decide("flood", now: 1001) == .log)
    }

    @Test("an ended window with refusals left out is reported once, then forgotten with every other ended window")
    func expireReportsLeftOut() {
        var limiter = RefusalLogLimiter(burst: 1, windowMs: 1000)
        for now in 0..<4 { _ = limiter.decide("flood", now: Int64(now)) }
        _ = limiter.decide("calm", now: 0)
        #expect(limiter.expire(now: 999).isEmpty)
        #expect(limiter.peerCount == 2)
        #expect(limiter.expire(now: 1003) == [RefusalLogLimiter.LeftOut(peer: "flood", count: 3, sinceMs: 0)])
        #expect(limiter.peerCount == 0)
        #expect(limiter.expire(now: 5000).isEmpty)
        #expect(limiter.decide("flood", now: 5000) == .log)
    }

    @Test("beyond its peer limit, new peers share one window: memory stays bounded however many peers misbehave")
    func boundedPeers() {
        var limiter = RefusalLogLimiter(burst: 1, windowMs: 1000, maxPeers: 2)
        #expect(limiter.decide("p1", now: 0) == .log)
        #expect(limiter.decide("p2", now: 0) == .log)
        #expect(limiter.decide("p3", now: 0) == .log)
        #expect((4..<100).map { limiter.decide("p\($0)", now: 1) }.allSatisfy { $0 == .leaveOut })
        #expect(limiter.peerCount == 3)
        #expect(limiter.expire(now: 1000) == [RefusalLogLimiter.LeftOut(peer: RefusalLogLimiter.otherPeers, count: 96, sinceMs: 0)])
    }
}
