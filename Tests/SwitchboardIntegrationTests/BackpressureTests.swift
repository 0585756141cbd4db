import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import Testing

@Suite("Backpressure: a full hub says overloaded, never queues without bound")
struct BackpressureTests {
    /// Sends every message at once, re-sends what was NACKed overloaded, and returns the NACK details seen.
    func flood(_ gateway: GatewayClient, _ messages: [Publish], acked: inout Set<String>) throws -> [String] {
        var details: [String] = []
        var pending = messages
        for _ in 0..<50 where !pending.isEmpty {
            for message in pending { try gateway.send(message) }
            var answered = 0
            while answered < pending.count, let answer = try gateway.receive(timeoutMs: 3000) {
                answered += 1
                switch answer {
                case .ack(let ack): acked.insert(ack.messageID)
                case .nack(let nack):
                    #expect(nack.code == .overloaded, "\(nack)")
                    #expect((nack.retryAfterMs ?? 0) > 0)
                    details.append(nack.detail)
                default: break
                }
            }
            pending.removeAll { acked.contains($0.messageID) }
        }
        return details
    }

    @Test("beyond the hub's limit of uncommitted messages, gateways get NACK overloaded and their re-sends are stored once")
    func hubIngestLimit() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.maxUncommitted = 4
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "flood", endpoint: hub.endpoints.gateway)
        let messages = (0..<80).map { Messages.publish("h-\($0)", "help \($0)") }
        var acked = Set<String>()
        let details = try flood(gateway, messages, acked: &acked)
        #expect(details.contains("hub_ingest_limit"))
        #expect(acked.count == 80)
        #expect(try database.count("SELECT count(*) FROM interactions") == 80)
    }

    @Test("beyond its window of un-ACKed messages, one gateway gets NACK overloaded (gateway_window)")
    func gatewayWindow() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.gatewayWindow = 3
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "eager", endpoint: hub.endpoints.gateway)
        var acked = Set<String>()
        let details = try flood(gateway, (0..<60).map { Messages.publish("w-\($0)") }, acked: &acked)
        #expect(details.contains("gateway_window"))
        #expect(acked.count == 60)
        #expect(try database.count("SELECT count(*) FROM interactions") == 60)
    }
}
