import Foundation
import SwitchboardClient
import SwitchboardHub
import SwitchboardProtocol
import SwitchboardStore
import Testing
import ZeroMQ

@Suite("Quarantine replay: refused messages are stored once the cause is fixed")
struct QuarantineReplayTests {
    static func pagerFrames(_ id: String) -> [[UInt8]] {
        [
            Array("SWB/1".utf8), Array("PUBLISH".utf8),
            Array(#"{"message_id":"\#(id)","channel":"pager","occurred_at":1790000000000,"hints":{"phone":"09121234567"}}"#.utf8),
            Array("the pump in building 4 is down".utf8),
        ]
    }

    /// A hub that refused one message for its channel and one worker command: both in quarantine.
    static func refusedInput(_ database: TestDatabase, _ hub: RunningHub) throws {
        let gateway = try GatewayClient(name: "pager-gw", endpoint: hub.endpoints.gateway)
        try gateway.sendRaw(pagerFrames("page-1"))
        guard case .nack(let nack)? = try gateway.receive(timeoutMs: 5000) else { throw TestSetupError("no NACK") }
        #expect(nack.detail == "unknown_channel")
        let context = Context()
        let worker = try rawDealer(context, hub.endpoints.worker)
        try worker.send([Array("SWB/1".utf8), Array("SHOUT".utf8), Array("{}".utf8)])
        #expect(try eventually { try database.count("SELECT count(*) FROM quarantine") == 2 })
    }

    @Test(
        "a message refused for its channel stays refused while the channel is unknown, is stored once it is configured, and the running hub offers it; a second replay stores nothing"
    )
    func replayAfterFix() throws {
        let database = try TestDatabase()
        var config = RunningHub.config(database)
        config.rescanMs = 200
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        try Self.refusedInput(database, hub)

        // Replayed with the configuration that refused it: refused again, for the same reason, and kept.
        // (Read one entry at a time: every page is replayed.)
        let before = try QuarantineReplay(config: config).replayAll(QuarantineSelection(limit: 1))
        #expect(before.count == 2)
        guard case .refused(let code, _) = before.first(where: { $0.entry.role == "gateway" })?.outcome else {
            Issue.record("the gateway's message was not refused again: \(before)")
            return
        }
        #expect(code == "unknown_channel")
        guard case .notReplayable = before.first(where: { $0.entry.role == "worker" })?.outcome else {
            Issue.record("the worker's command was replayed: \(before)")
            return
        }
        #expect(try database.count("SELECT count(*) FROM quarantine WHERE replayed_at IS NOT NULL") == 0)
        #expect(try database.count("SELECT count(*) FROM interactions") == 0)

        // The operator adds the channel: the message is stored as from its gateway, and marked replayed.
        var fixed = config
        fixed.extraChannels = ["pager"]
        let after = try QuarantineReplay(config: fixed).replayAll(QuarantineSelection(code: "unknown_channel"))
        guard case .stored(let interactionID, let queue)? = after.first?.outcome, after.count == 1 else {
            Issue.record("not stored: \(after)")
            return
        }
        #expect(try database.value("SELECT gateway || ' ' || message_id || ' ' || channel FROM interactions") == "pager-gw page-1 pager")
        #expect(try database.value("SELECT queue FROM deliveries WHERE interaction_id = $1", [.init(interactionID)]) == queue)
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE value = '+989121234567'") == 1)
        #expect(try database.count("SELECT count(*) FROM quarantine WHERE replayed_at IS NOT NULL AND code = 'unknown_channel'") == 1)

        // The running hub finds the new pending delivery at its rescan and offers it.
        let worker = try WorkerClient(registration: Ready(workerID: "w", queues: [queue], capacity: 1), endpoint: hub.endpoints.worker)
        try worker.ready()
        let task = try #require(try worker.nextTask(timeoutMs: 5000))
        #expect(task.interaction["id"] == .integer(interactionID))

        // Again, by its id: the (gateway, message id) is stored already, nothing new.
        let entry = try #require(after.first?.entry.id)
        let again = try QuarantineReplay(config: fixed).replayAll(QuarantineSelection(ids: [entry], includeReplayed: true))
        #expect(again.map(\.outcome) == [.duplicate(interactionID: interactionID)])
        #expect(try database.count("SELECT count(*) FROM interactions") == 1)
        // Entries replayed before are left out unless asked for.
        #expect(try QuarantineReplay(config: fixed).replayAll(QuarantineSelection(code: "unknown_channel")).isEmpty)
    }

    @Test("the CLI lists the entries and replays those chosen with the configuration file's channels; without a choice it refuses to run")
    func commandLine() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        try Self.refusedInput(database, hub)
        hub.shutdown()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swb-quarantine-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let configFile = folder.appendingPathComponent("switchboard.yaml")
        try "extra_channels: [pager]\ndefault_country_code: \"98\"\n".write(to: configFile, atomically: true, encoding: .utf8)

        func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try runProgram(binary, arguments + ["--config", configFile.path, "--database", database.conninfo])
        }

        let listed = try run(["quarantine", "list"])
        #expect(listed.status == 0, "\(listed.output)")
        #expect(listed.output.contains("gateway pager-gw page-1 unknown_channel"), "\(listed.output)")
        #expect(listed.output.contains("unknown_command"), "\(listed.output)")

        let unchosen = try run(["quarantine", "replay"])
        #expect(unchosen.status != 0)
        #expect(unchosen.output.contains("--all"), "\(unchosen.output)")
        #expect(try database.count("SELECT count(*) FROM interactions") == 0)

        let replayed = try run(["quarantine", "replay", "--all"])
        #expect(replayed.status == 0, "\(replayed.output)")
        #expect(replayed.output.contains("pager-gw page-1: stored as interaction"), "\(replayed.output)")
        #expect(replayed.output.contains("1 stored, 0 refused again, 1 not replayable"), "\(replayed.output)")
        #expect(try database.count("SELECT count(*) FROM interactions WHERE channel = 'pager'") == 1)
    }
}
