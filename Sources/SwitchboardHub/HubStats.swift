/// Counters of the hub loop since start, logged periodically and readable in tests.
public struct HubStats: Sendable, Equatable {
    public var received = 0
    public var acked = 0
    public var duplicates = 0
    public var nacked = 0
    public var quarantined = 0
    public var offered = 0
    public var completed = 0
    public var failed = 0
    public var dead = 0
    public var requeued = 0
    public var routed: [String: Int] = [:]
    public var batches = 0
    public var workers = 0
    public var ready = 0
    public var inFlight = 0

    public init() {}

    var summary: String {
        "received=\(received) acked=\(acked) duplicates=\(duplicates) nacked=\(nacked) quarantined=\(quarantined) offered=\(offered) completed=\(completed) failed=\(failed) dead=\(dead) requeued=\(requeued) batches=\(batches) workers=\(workers) ready=\(ready) in_flight=\(inFlight)"
    }
}
