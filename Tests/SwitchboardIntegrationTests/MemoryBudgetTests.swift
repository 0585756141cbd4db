import Foundation
import Postgres
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("Bounded memory: a flood against a stalled PostgreSQL never grows the hub past its budget")
struct MemoryBudgetTests {
    @Test("4 gateways send 1 GiB of 256 KiB messages while ingest is blocked: RSS stays under budget, nothing ACKed is lost")
    func floodWhileDatabaseStalls() throws {
        let database = try TestDatabase()
        let gatewayEndpoint = try freeEndpoint()
        let budgetBytes = 16 << 20
        let hub = try HubProcess(
            database: database, gateway: gatewayEndpoint, worker: try freeEndpoint(),
            configYAML: "max_uncommitted_bytes: \(budgetBytes)\ngateway_window: 1000\n")
        defer { hub.terminate() }
        let probe = try GatewayClient(name: "probe", endpoint: gatewayEndpoint)
        #expect(try eventually(timeoutMs: 15_000) { try probe.ping(timeoutMs: 200) }, "hub did not start: \(hub.output)")
        _ = try probe.publish(Messages.publish("warm-up"))
        let idle = try #require(hub.residentBytes)

        // Another session holds the table every ingest writes to: commits stall, as on a slow disk.
        let blocker = try Connection(database.conninfo)
        try blocker.execute(script: "BEGIN; LOCK TABLE ingest_keys IN ACCESS EXCLUSIVE MODE")
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 256 << 10)
        let gateways = try (0..<4).map { try GatewayClient(name: "flood-\($0)", endpoint: gatewayEndpoint) }
        var peak = idle
        var answers: [String: Command] = [:]
        for round in 0..<4 {
            for (index, gateway) in gateways.enumerated() {
                for sequence in 0..<250 {
                    var message = Messages.publish("f-\(index)-\(round)-\(sequence)")
                    message.body = body
                    try gateway.send(message)
                }
                peak = max(peak, hub.residentBytes ?? 0)
            }
        }
        let sent = 4 * 4 * 250
        let deadline = Date().addingTimeInterval(20)
        while answers.count < sent - 100 && Date() < deadline {
            for gateway in gateways {
                while let answer = try gateway.receive(timeoutMs: 10) { record(answer, into: &answers) }
            }
            peak = max(peak, hub.residentBytes ?? 0)
        }
        let overloaded = answers.values.filter { if case .nack(let nack) = $0 { nack.code == .overloaded } else { false } }.count
        #expect(overloaded > sent / 2, "the flood should mostly be refused while PostgreSQL stalls: \(overloaded) of \(sent)")
        // The documented bound: ingest and quarantine each within max_uncommitted_bytes, each of the 5
        // connections queueing at most 16 unread messages (budget / max body), and 32 MiB of allocator slack.
        let bound = 2 * budgetBytes + 5 * 16 * body.count + (32 << 20)
        print(
            "memory flood: idle \(idle >> 20) MiB, peak \(peak >> 20) MiB, bound idle + \(bound >> 20) MiB; \(overloaded) of \(sent) NACKed overloaded"
        )
        #expect(peak - idle < bound, "RSS grew by \((peak - idle) >> 20) MiB, more than \(bound >> 20) MiB")

        try blocker.execute(script: "COMMIT")
        let settle = Date().addingTimeInterval(20)
        while answers.count < sent && Date() < settle {
            for gateway in gateways {
                while let answer = try gateway.receive(timeoutMs: 10) { record(answer, into: &answers) }
            }
        }
        let acked = answers.compactMap { if case .ack = $0.value { $0.key } else { nil } }
        #expect(answers.count == sent, "every message is answered once PostgreSQL moves again")
        #expect(!acked.isEmpty)
        let stored = try database.count("SELECT count(*) FROM interactions WHERE message_id LIKE 'f-%'")
        #expect(stored == acked.count, "every ACKed message is stored, nothing else")
        #expect(try probe.publish(Messages.publish("after")).interactionID > 0)
    }

    private func record(_ answer: Command, into answers: inout [String: Command]) {
        switch answer {
        case .ack(let ack): answers[ack.messageID] = answer
        case .nack(let nack): answers[nack.messageID ?? "-"] = answer
        default: break
        }
    }
}
