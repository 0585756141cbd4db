import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

/// Several hubs on one database: what holds today (docs/architecture.md).
@Suite("Two hubs on one database")
struct MultiHubTests {
    @Test("the same gateway message sent to two hubs is stored once, and a gateway connected to both has every message stored once")
    func oneMessageTwoHubs() throws {
        let database = try TestDatabase()
        var first = RunningHub.config(database)
        first.hubName = "hub-a"
        var second = RunningHub.config(database)
        second.hubName = "hub-b"
        let hubA = try RunningHub(first)
        defer { hubA.shutdown() }
        let hubB = try RunningHub(second)
        defer { hubB.shutdown() }
        let toA = try GatewayClient(name: "web-gw", endpoint: hubA.endpoints.gateway)
        let toB = try GatewayClient(name: "web-gw", endpoint: hubB.endpoints.gateway)
        for index in 0..<20 {
            let message = Messages.publish("m-\(index)", "help \(index)", hints: IdentityHints(email: "c\(index % 7)@example.com"))
            let viaA = try toA.publish(message)
            let viaB = try toB.publish(message)
            #expect(!viaA.duplicate && viaB.duplicate)
            #expect(viaA.interactionID == viaB.interactionID && viaA.customerID == viaB.customerID)
        }
        #expect(try database.count("SELECT count(*) FROM interactions") == 20)
        #expect(try database.count("SELECT count(*) FROM deliveries") == 20)

        // One DEALER connected to both hubs: messages go to each in turn, every one stored once.
        let both = try GatewayClient(name: "chat-gw", endpoints: [hubA.endpoints.gateway, hubB.endpoints.gateway])
        #expect(try eventually { try both.ping(timeoutMs: 200) && both.ping(timeoutMs: 200) })
        var acked: [String: Int64] = [:]
        for index in 0..<40 {
            let ack = try both.publish(Messages.publish("c-\(index)", "hi \(index)", channel: "chat", hints: IdentityHints(chat: "v-\(index % 5)")))
            acked[ack.messageID] = ack.interactionID
        }
        #expect(acked.count == 40 && Set(acked.values).count == 40)
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'chat-gw'") == 40)
        // The Python example does the same from the spec: one socket, both hubs.
        let python = try runExample(
            "gateway.py", ["--endpoint", "\(hubA.endpoints.gateway),\(hubB.endpoints.gateway)", "--name", "py-gw", "--count", "10"])
        #expect(python.status == 0 && python.output.contains("10 of 10 messages acknowledged"), "\(python.output)")
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'py-gw'") == 10)
        // Both hubs took some: each counts its own ACKs.
        for hub in [hubA, hubB] {
            let http = try #require(hub.endpoints.http)
            let metrics = httpGet(http, "/metrics")?.body ?? ""
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("switchboard_messages_received_total{channel=\"chat\"}") }
            let count = line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            #expect(count > 0, "a hub took no message of the gateway connected to both: \(line ?? "none")")
        }
    }
}
