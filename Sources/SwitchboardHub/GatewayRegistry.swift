import SwitchboardCore

/// The gateways that said HELLO: which channels each sends on, on which connection, and when it
/// was last heard from. A gateway stays known while it sends something (PING at least) every
/// heartbeat timeout; one that cannot be reached is forgotten at once.
struct GatewayRegistry {
    struct Entry {
        var peer: PeerID
        var channels: Set<String>
        var lastSeenMs: Int64
    }

    private(set) var entries: [String: Entry] = [:]
    /// Round robin among a channel's gateways.
    private var turn = 0

    mutating func hello(_ name: String, peer: PeerID, channels: [String], now: Int64) {
        entries[name] = Entry(peer: peer, channels: Set(channels), lastSeenMs: now)
    }

    mutating func seen(_ name: String, now: Int64) {
        entries[name]?.lastSeenMs = now
    }

    mutating func forget(_ name: String) { entries[name] = nil }

    /// Forgets the gateways silent for longer than `timeoutMs`; answers their names.
    mutating func expire(now: Int64, timeoutMs: Int64) -> [String] {
        let gone = entries.filter { now - $0.value.lastSeenMs > timeoutMs }.map(\.key)
        for name in gone { entries[name] = nil }
        return gone.sorted()
    }

    /// Every channel some known gateway sends on.
    var channels: [String] { Set(entries.values.flatMap(\.channels)).sorted() }

    /// The gateway a message of `channel` goes to: `preferred` if it is known and sends on the
    /// channel, else the next of those that do; nil when none does.
    mutating func gateway(for channel: String, preferring preferred: String?) -> (name: String, peer: PeerID)? {
        if let preferred, let entry = entries[preferred], entry.channels.contains(channel) { return (preferred, entry.peer) }
        let serving = entries.filter { $0.value.channels.contains(channel) }.sorted { $0.key < $1.key }
        guard !serving.isEmpty else { return nil }
        turn &+= 1
        let chosen = serving[turn % serving.count]
        return (chosen.key, chosen.value.peer)
    }

    /// The name a connection said HELLO under.
    func name(of peer: PeerID) -> String? { entries.first { $0.value.peer == peer }?.key }
}

/// A DELIVER sent and not answered yet.
struct OutboundInFlight {
    var gateway: String
    var deadlineMs: Int64
}
