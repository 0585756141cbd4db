import Foundation
import Glibc
import Synchronization

/// A loopback TCP relay that forwards one connection to `target` and records what the client sent:
/// the test's view of the bytes on the wire.
final class TCPRelay: Sendable {
    let endpoint: String
    private let captured = Mutex<[UInt8]>([])
    private let stop = Atomic<Bool>(false)

    init(target: String) throws {
        let targetPort = try Self.port(of: target)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard
            withUnsafePointer(
                to: &address,
                { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0,
            listen(listener, 4) == 0
        else { throw TestSetupError("relay cannot listen: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        endpoint = "tcp://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let thread = Thread { [self] in serve(listener: listener, targetPort: targetPort) }
        thread.start()
    }

    /// Everything clients sent through the relay so far.
    var clientBytes: [UInt8] { captured.withLock { $0 } }

    func close() { stop.store(true, ordering: .releasing) }

    private func serve(listener: Int32, targetPort: UInt16) {
        defer { Glibc.close(listener) }
        var pairs: [(client: Int32, server: Int32)] = []
        while !stop.load(ordering: .acquiring) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            for pair in pairs {
                fds.append(pollfd(fd: pair.client, events: Int16(POLLIN), revents: 0))
                fds.append(pollfd(fd: pair.server, events: Int16(POLLIN), revents: 0))
            }
            guard poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
            let polled = pairs.count
            if fds[0].revents & Int16(POLLIN) != 0 {
                let client = accept(listener, nil, nil)
                let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = Self.loopback(port: targetPort)
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                if client >= 0, connected == 0 { pairs.append((client, server)) } else { Glibc.close(client); Glibc.close(server) }
            }
            var closed: Set<Int> = []
            for (index, pair) in pairs.prefix(polled).enumerated() {
                for (slot, from, to, record) in [(1 + 2 * index, pair.client, pair.server, true), (2 + 2 * index, pair.server, pair.client, false)] {
                    guard fds[slot].revents != 0 else { continue }
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    let count = read(from, &buffer, buffer.count)
                    if count <= 0 {
                        closed.insert(index)
                        continue
                    }
                    if record { captured.withLock { $0 += buffer[0..<count] } }
                    _ = buffer.withUnsafeBytes { write(to, $0.baseAddress, count) }
                }
            }
            for index in closed.sorted(by: >) {
                Glibc.close(pairs[index].client)
                Glibc.close(pairs[index].server)
                pairs.remove(at: index)
            }
        }
        for pair in pairs {
            Glibc.close(pair.client)
            Glibc.close(pair.server)
        }
    }

    private static func port(of endpoint: String) throws -> UInt16 {
        guard let text = endpoint.split(separator: ":").last, let port = UInt16(text) else { throw TestSetupError("no port in \(endpoint)") }
        return port
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
