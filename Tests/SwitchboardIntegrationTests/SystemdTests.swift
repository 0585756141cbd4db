import Foundation
import Glibc
import SwitchboardClient
import Testing

/// A Unix datagram socket bound to a fresh path: what systemd listens on as NOTIFY_SOCKET.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("swb-notify-\(UUID().uuidString.prefix(8))").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestSetupError("bind \(path): \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram, or nil after 100 ms.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
    }

    /// Datagrams until one satisfies `until`, or `seconds` pass; all of them, in order.
    func collect(seconds: Double, until: (String) -> Bool) -> [String] {
        var seen: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let message = receive() else { continue }
            seen.append(message)
            if until(message) { break }
        }
        return seen
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite("systemd: the notify protocol over a real datagram socket, and journald priorities")
struct SystemdTests {
    @Test(
        "READY with a status, watchdog pings, live STATUS figures, RELOADING then READY on SIGHUP, STOPPING on SIGTERM; log lines carry <N> priorities for journald"
    )
    func notifyProtocol() throws {
        let database = try TestDatabase()
        let notify = try NotifySocket()
        let (gatewayEndpoint, workerEndpoint) = (try freeEndpoint(), try freeEndpoint())
        // journald hands the service a stream and names it in JOURNAL_STREAM; here the log file is it.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-hub-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        var status = stat()
        stat(log.path, &status)
        let hub = try HubProcess(
            database: database, gateway: gatewayEndpoint, worker: workerEndpoint, name: "notified", logLevel: "info",
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000", "JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino)"],
            log: log)
        defer { hub.terminate() }

        let ready = notify.collect(seconds: 15) { $0.hasPrefix("READY=1") }
        #expect(ready.last?.hasPrefix("READY=1\nSTATUS=serving") == true, "\(ready)")
        let pings = notify.collect(seconds: 2) { _ in false }.filter { $0 == "WATCHDOG=1" }
        #expect(pings.count >= 3, "watchdog every 200 ms: \(pings.count) in 2 s")

        let gateway = try GatewayClient(name: "sms", endpoint: gatewayEndpoint)
        _ = try gateway.publish(Messages.publish("n-1"))
        let live = notify.collect(seconds: 15) { $0.hasPrefix("STATUS=serving: 1 received, 1 ACKed") }
        #expect(live.last?.hasPrefix("STATUS=serving: 1 received, 1 ACKed") == true, "\(live.filter { !$0.hasPrefix("WATCHDOG") })")

        kill(hub.process.processIdentifier, SIGHUP)
        let reload = notify.collect(seconds: 5) { $0.hasPrefix("READY=1") }.filter { !$0.hasPrefix("WATCHDOG") }
        #expect(reload.count == 2 && reload[0].hasPrefix("RELOADING=1\nMONOTONIC_USEC=") && reload[1].hasPrefix("READY=1"), "\(reload)")

        kill(hub.process.processIdentifier, SIGTERM)
        let stopping = notify.collect(seconds: 5) { $0.hasPrefix("STOPPING=1") }
        #expect(stopping.last?.hasPrefix("STOPPING=1\nSTATUS=draining") == true, "\(stopping)")
        #expect(eventually(timeoutMs: 10_000) { !hub.process.isRunning })
        #expect(hub.process.terminationStatus == 0)

        let lines = hub.output.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<6>info switchboard.hub: ") && $0.contains("hub serving") }, "\(hub.output)")
        #expect(lines.contains { $0.hasPrefix("<5>notice switchboard.hub: ") && $0.contains("SIGHUP") }, "\(hub.output)")
        #expect(lines.allSatisfy { $0.hasPrefix("<") }, "every line has its priority: \(hub.output)")
    }
}
