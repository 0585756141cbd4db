import Foundation
import SwitchboardProtocol
import Testing

/// Runs a Python example client from protocols/examples and returns its exit status and output.
func runExample(_ script: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try runProgram("/usr/bin/env", ["python3", root.appendingPathComponent("protocols/examples/\(script)").path] + arguments)
}

/// Runs a program to its end: its exit status, and what it wrote to stdout and stderr together.
func runProgram(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

@Suite("The Python example clients speak SWB/1 from the spec alone")
struct ExampleClientTests {
    @Test("examples/worker.py replies to each customer, examples/gateway.py sends the replies once each and asks STATUS")
    func pythonTwoWay() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let published = try runExample(
            "gateway.py", ["--endpoint", hub.endpoints.gateway, "--name", "py-gw", "--count", "3", "--status-phone", "09123456789"])
        #expect(published.status == 0, "\(published.output)")
        #expect(published.output.contains("STATUS 09123456789: contact 1 waiting in support, position 1, wait unknown"), "\(published.output)")
        let worker = try runExample("worker.py", ["--endpoint", hub.endpoints.worker, "--tasks", "3", "--idle", "10", "--reply"])
        #expect(worker.status == 0, "\(worker.output)")
        #expect(worker.output.components(separatedBy: "REPLIED").count - 1 == 3, "\(worker.output)")
        let sender = try runExample(
            "gateway.py", ["--endpoint", hub.endpoints.gateway, "--name", "py-gw", "--count", "0", "--send", "--deliveries", "3", "--timeout", "15"])
        #expect(sender.status == 0, "\(sender.output)")
        #expect(sender.output.contains("on sms to +989123456789: Thank you, we are on it (case 1)."), "\(sender.output)")
        #expect(sender.output.contains("3 outbound messages sent"), "\(sender.output)")
        #expect(try eventually { try database.count("SELECT count(*) FROM outbound_messages WHERE state = 'sent' AND gateway = 'py-gw'") == 3 })
    }

    @Test("examples/gateway.py publishes and is ACKed; examples/worker.py completes the tasks")
    func pythonExamples() throws {
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try runExample("gateway.py", ["--endpoint", hub.endpoints.gateway, "--name", "py-gw", "--count", "5"])
        #expect(gateway.status == 0, "\(gateway.output)")
        #expect(gateway.output.contains("5 of 5 messages acknowledged"))
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'py-gw'") == 5)
        let worker = try runExample("worker.py", ["--endpoint", hub.endpoints.worker, "--tasks", "5", "--idle", "10"])
        #expect(worker.status == 0, "\(worker.output)")
        #expect(worker.output.contains("5 tasks confirmed"))
        #expect(try database.count("SELECT count(*) FROM deliveries WHERE state = 'done' AND worker = 'example-worker'") == 5)
        // examples/events.py resumes from the start: the five received, offered and done, from the database.
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let events = try runExample(
            "events.py",
            [
                "--endpoint", try #require(hub.endpoints.events), "--since", "0", "--received-since", "0", "--switchboard",
                "\(binary) events --database '\(database.conninfo)'", "--events", "15", "--idle", "5",
            ])
        #expect(events.status == 0, "\(events.output)")
        #expect(events.output.components(separatedBy: "\"event\": \"delivery.done\"").count - 1 == 5, "\(events.output)")
        #expect(events.output.components(separatedBy: "\"event\": \"interaction.received\"").count - 1 == 5)
        #expect(events.output.contains("15 events; resume with"))
    }

    @Test("with security: curve, the Python examples connect with their key files and a hub.pub")
    func pythonExamplesWithCurve() throws {
        let database = try TestDatabase()
        let keys = try TestKeys()
        var files: [String: String] = [:]
        for (name, list) in [("py-gw", keys.gatewaysFile), ("example-worker", keys.workersFile)] {
            let pair = try keys.client(name, allowedIn: list).keyPair
            let path = keys.folder.appendingPathComponent("\(name).key").path
            try CurveKeyFile(publicKey: pair.publicKey, secretKey: pair.secretKey).secretFileText(name: name).write(
                toFile: path, atomically: true, encoding: .utf8)
            files[name] = path
        }
        let hubPub = keys.folder.appendingPathComponent("hub.pub").path
        try "\(keys.hub.publicKey) hub\n".write(toFile: hubPub, atomically: true, encoding: .utf8)
        var config = RunningHub.config(database)
        keys.apply(to: &config)
        let hub = try RunningHub(config)
        defer { hub.shutdown() }
        let gateway = try runExample(
            "gateway.py", ["--endpoint", hub.endpoints.gateway, "--name", "py-gw", "--count", "3", "--server-key", hubPub, "--key", files["py-gw"]!])
        #expect(gateway.status == 0, "\(gateway.output)")
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'py-gw'") == 3)
        let worker = try runExample(
            "worker.py",
            ["--endpoint", hub.endpoints.worker, "--tasks", "3", "--idle", "10", "--server-key", hubPub, "--key", files["example-worker"]!])
        #expect(worker.status == 0, "\(worker.output)")
        #expect(worker.output.contains("3 tasks confirmed"))
    }
}
