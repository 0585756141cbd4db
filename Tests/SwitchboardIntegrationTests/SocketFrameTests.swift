import SwitchboardProtocol
import Testing
import ZeroMQ

@Suite("Socket frames over real ZeroMQ")
struct SocketFrameTests {
    @Test("frames equal to a shared frame arrive as that array, others as copies; a ROUTER's routing id comes off in place")
    func sharedFrames() throws {
        let context = Context()
        let router = try context.socket(.router)
        router.sharedFrames = Codec.sharedFrames(Codec.gatewayCommands)
        try router.setReceiveTimeout(5000)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try context.socket(.dealer)
        try dealer.setRoutingID(Array("frames-gw".utf8))
        try dealer.connect(router.lastEndpoint)
        let sent: [[UInt8]] = [Array("SWB/1".utf8), Array("PUBLISH".utf8), Array("PUBLISHED".utf8), Array("SWB/".utf8), [], Array("PING".utf8)]
        try dealer.send(sent)
        var message = try #require(try router.receive())
        #expect(message.removeRoutingID() == Array("frames-gw".utf8))
        #expect(message.frames == sent)
        func storage(_ frame: [UInt8]) -> UnsafeRawPointer? { frame.withUnsafeBytes { $0.baseAddress } }
        let shared = Set(router.sharedFrames.map(storage))
        // The version and the two command names are the shared arrays; the near misses are copies.
        #expect(message.frames.map { shared.contains(storage($0)) } == [true, true, false, false, false, true])
        dealer.close()
        router.close()
    }
}
