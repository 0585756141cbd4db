import Foundation
import Postgres
import SwitchboardClient
import SwitchboardConfig
import SwitchboardHub
import SwitchboardProtocol
import Testing
import ZeroMQ

/// Key files in a fresh folder, as `switchboard keygen` lays them out.
struct TestKeys {
    let folder: URL
    let hub: CurveKeyPair
    var gatewaysFile: String { folder.appendingPathComponent("gateways.allow").path }
    var workersFile: String { folder.appendingPathComponent("workers.allow").path }
    var hubKeyFile: String { folder.appendingPathComponent("hub.key").path }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        hub = try CurveKeyPair.generate()
        try CurveKeyFile(publicKey: hub.publicKey, secretKey: hub.secretKey).secretFileText(name: "hub").write(
            toFile: hubKeyFile, atomically: true, encoding: .utf8)
        try "".write(toFile: gatewaysFile, atomically: true, encoding: .utf8)
        try "".write(toFile: workersFile, atomically: true, encoding: .utf8)
    }

    /// A new key pair; listed in `allowList` (a file path) under `name` when given.
    func client(_ name: String, allowedIn allowList: String?) throws -> ClientSecurity {
        let pair = try CurveKeyPair.generate()
        if let allowList {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: allowList))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("# added by the test\n\(pair.publicKey) \(name)\n".utf8))
            try handle.close()
        }
        return ClientSecurity(serverKey: hub.publicKey, keyPair: pair)
    }

    func apply(to config: inout HubConfig) {
        config.security = .curve
        config.serverKeyFile = hubKeyFile
        config.gatewayKeysFile = gatewaysFile
        config.workerKeysFile = workersFile
    }

    var yaml: String {
        "security: curve\nserver_key_file: \"\(hubKeyFile)\"\ngateway_keys_file: \"\(gatewaysFile)\"\nworker_keys_file: \"\(workersFile)\"\n"
    }
}

@Suite("CURVE security: only listed keys connect, each in its own role, and traffic is encrypted")
struct SecurityTests {
    let registration = Ready(workerID: "w-secure", queues: ["support"], capacity: 1)

    func secureHub(_ database: TestDatabase, _ keys: TestKeys) throws -> RunningHub {
        var config = RunningHub.config(database)
        keys.apply(to: &config)
        return try RunningHub(config)
    }

    @Test("a listed gateway publishes and its messages are stored under its key's name; a listed worker gets the task")
    func listedKeysServe() throws {
        let database = try TestDatabase()
        let keys = try TestKeys()
        let gatewayKey = try keys.client("ivr-1", allowedIn: keys.gatewaysFile)
        let workerKey = try keys.client("agents-1", allowedIn: keys.workersFile)
        let hub = try secureHub(database, keys)
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "ivr-1", endpoint: hub.endpoints.gateway, security: gatewayKey)
        let ack = try gateway.publish(Messages.publish("s-1"))
        #expect(try database.count("SELECT count(*) FROM interactions WHERE gateway = 'ivr-1' AND id = $1", [PostgresValue(ack.interactionID)]) == 1)
        let worker = try WorkerClient(registration: registration, endpoint: hub.endpoints.worker, security: workerKey)
        try worker.ready()
        #expect(try worker.nextTask()?.interaction["id"] == .integer(ack.interactionID))
    }

    @Test("an unknown key, a key without CURVE, and a gateway key on the worker socket are all refused")
    func strangersAreRefused() throws {
        let database = try TestDatabase()
        let keys = try TestKeys()
        let gatewayKey = try keys.client("ivr-1", allowedIn: keys.gatewaysFile)
        let hub = try secureHub(database, keys)
        defer { hub.shutdown() }
        let unknown = try GatewayClient(name: "ivr-1", endpoint: hub.endpoints.gateway, security: try keys.client("ivr-1", allowedIn: nil))
        #expect(try !unknown.ping(timeoutMs: 1500), "an unlisted key must not reach the hub")
        let plaintext = try GatewayClient(name: "ivr-1", endpoint: hub.endpoints.gateway)
        #expect(try !plaintext.ping(timeoutMs: 1500), "a client without CURVE must not reach the hub")
        let wrongRole = try WorkerClient(registration: registration, endpoint: hub.endpoints.worker, security: gatewayKey)
        #expect(throws: ClientError.self) { try wrongRole.ready(timeoutMs: 1500) }
        // A refused connection is not tried again, so there is nothing to send on: the clients'
        // calls give up at their timeouts instead of waiting for ever for a connection.
        #expect(try wrongRole.next(timeoutMs: 300) == nil)
        #expect(throws: ClientError.timedOut("room to send the answer for delivery 1")) { try wrongRole.done(1, outcome: "resolved", timeoutMs: 300) }
        #expect(throws: ClientError.timedOut("room to send BYE")) { try wrongRole.bye(timeoutMs: 300) }
        #expect(throws: ClientError.timedOut("room to send PUBLISH of 'u-1'")) { try unknown.send(Messages.publish("u-1"), timeoutMs: 300) }
        let listed = try GatewayClient(name: "ivr-1", endpoint: hub.endpoints.gateway, security: gatewayKey)
        #expect(try listed.ping())
    }

    @Test("a client without CURVE, on either socket, is counted in auth_refused like a refused key")
    func plaintextClientsCounted() throws {
        let database = try TestDatabase()
        let keys = try TestKeys()
        let hub = try secureHub(database, keys)
        defer { hub.shutdown() }
        let http = try #require(hub.endpoints.http)
        func refused() -> Int {
            let line = httpGet(http, "/metrics")?.body.split(separator: "\n").first { $0.hasPrefix("switchboard_auth_refused_total ") }
            return line.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
        }
        #expect(refused() == 0)
        let plaintext = try GatewayClient(name: "ivr-1", endpoint: hub.endpoints.gateway)
        #expect(try !plaintext.ping(timeoutMs: 1000))
        #expect(eventually { refused() >= 1 }, "a gateway without CURVE was not counted")
        let afterGateway = refused()
        let worker = try WorkerClient(registration: registration, endpoint: hub.endpoints.worker)
        #expect(throws: ClientError.self) { try worker.ready(timeoutMs: 1000) }
        #expect(eventually { refused() > afterGateway }, "a worker without CURVE was not counted")
    }

    @Test("a listed gateway cannot take another gateway's name as its routing id")
    func routingIdMustMatchKey() throws {
        let database = try TestDatabase()
        let keys = try TestKeys()
        let gatewayKey = try keys.client("ivr-1", allowedIn: keys.gatewaysFile)
        let hub = try secureHub(database, keys)
        defer { hub.shutdown() }
        let impostor = try GatewayClient(name: "email-1", endpoint: hub.endpoints.gateway, security: gatewayKey)
        #expect {
            try impostor.publish(Messages.publish("i-1"), retries: 0)
        } throws: { error in
            guard case ClientError.refused(let nack) = error else { return false }
            return nack.code == .invalid && nack.detail == "identity_mismatch"
        }
        #expect(try database.count("SELECT count(*) FROM interactions") == 0)
    }

    @Test("on the wire a message body is readable without security and is not with CURVE")
    func trafficIsEncrypted() throws {
        let marker = "secret-complaint-7f3a9c"
        for secure in [false, true] {
            let database = try TestDatabase()
            let keys = try TestKeys()
            let gatewayKey = try keys.client("ivr-1", allowedIn: keys.gatewaysFile)
            let hub = secure ? try secureHub(database, keys) : try RunningHub(RunningHub.config(database))
            defer { hub.shutdown() }
            let relay = try TCPRelay(target: hub.endpoints.gateway)
            defer { relay.close() }
            let gateway = try GatewayClient(name: "ivr-1", endpoint: relay.endpoint, security: secure ? gatewayKey : nil)
            _ = try gateway.publish(Messages.publish("e-1", "My bill is wrong: \(marker)"))
            let wire = String(decoding: relay.clientBytes, as: UTF8.self)
            #expect(!relay.clientBytes.isEmpty)
            #expect(wire.contains(marker) == !secure, secure ? "CURVE traffic showed the body" : "the relay saw no plaintext: it captures nothing")
        }
    }

    @Test("SIGHUP reloads the allow-lists: a key added is let in, and a broken file keeps the old lists")
    func sighupReloadsAllowLists() throws {
        let database = try TestDatabase()
        let keys = try TestKeys()
        let first = try keys.client("ivr-1", allowedIn: keys.gatewaysFile)
        let gatewayEndpoint = try freeEndpoint()
        let hub = try HubProcess(database: database, gateway: gatewayEndpoint, worker: try freeEndpoint(), configYAML: keys.yaml)
        defer { hub.terminate() }
        let ivr = try GatewayClient(name: "ivr-1", endpoint: gatewayEndpoint, security: first)
        #expect(try eventually(timeoutMs: 15_000) { try ivr.ping(timeoutMs: 200) }, "hub did not start: \(hub.output)")

        let second = try keys.client("email-1", allowedIn: nil)
        let email = try GatewayClient(name: "email-1", endpoint: gatewayEndpoint, security: second)
        #expect(try !email.ping(timeoutMs: 1000))
        let both = try String(contentsOfFile: keys.gatewaysFile, encoding: .utf8) + "\(second.keyPair.publicKey) email-1\n"
        try both.write(toFile: keys.gatewaysFile, atomically: true, encoding: .utf8)
        kill(hub.process.processIdentifier, SIGHUP)
        // A connection made before the hub has read the signal is refused, and was not seen to be
        // tried again (libzmq 4.3.4): each attempt is a connection of its own.
        var admitted: GatewayClient?
        #expect(
            try eventually(timeoutMs: 5000) {
                let client = try GatewayClient(name: "email-1", endpoint: gatewayEndpoint, security: second)
                guard try client.ping(timeoutMs: 200) else { return false }
                admitted = client
                return true
            }, "the added key was not let in: \(hub.output)")
        _ = try #require(admitted).publish(Messages.publish("after-reload"))

        try "not a key line\n".write(toFile: keys.gatewaysFile, atomically: true, encoding: .utf8)
        kill(hub.process.processIdentifier, SIGHUP)
        #expect(eventually(timeoutMs: 5000) { hub.output.contains("NOT reloaded") }, "\(hub.output)")
        let again = try GatewayClient(name: "ivr-1", endpoint: gatewayEndpoint, security: first)
        #expect(try again.ping(timeoutMs: 2000), "a broken allow-list must keep the old one in force")
        #expect(hub.process.isRunning)
    }
}
