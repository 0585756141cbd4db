import Logging
import ZeroMQ

extension Hub {
    /// Answers libzmq's pending ZAP requests: a gateway key on the gateway socket, a worker key on
    /// the worker socket, nothing else. Every refusal is logged with the peer's address and key.
    func answerZapRequests() throws {
        guard let zap, let accessControl else { return }
        while let message = try zap.receive(dontWait: true) {
            guard let request = ZapRequest(frames: message.frames) else {
                logger.error("malformed ZAP request from libzmq (\(message.frames.count) frames)")
                try zap.send([Array("1.0".utf8), [], Array("500".utf8), Array("malformed request".utf8), [], []])
                continue
            }
            let (name, reason) = accessControl.authorize(request)
            if name == nil {
                stats.authRefused += 1
                logger.warning(
                    "refused connection: \(reason)",
                    metadata: ["address": .string(request.address), "domain": .string(request.domain)])
            }
            try zap.send(request.reply(allowedAs: name, reason: reason))
        }
    }

    /// Failed handshakes on the gateway socket (the worker socket's come with its other events).
    func handleGatewayMonitorEvents() throws {
        while let message = try gatewayMonitor.receive(dontWait: true) {
            guard let event = SocketEvent(frames: message.frames), event.isHandshakeFailure else { continue }
            handshakeRefused(event, role: "gateway")
        }
    }

    /// A connection refused in its handshake, before ZAP could be asked (protocols/security.md):
    /// counted with the ZAP refusals; a client that keeps reconnecting is summed up in the log.
    func handshakeRefused(_ event: SocketEvent, role: String) {
        stats.authRefused += 1
        logRefusal(
            "refused connection on the \(role) socket: \(event.handshakeFailure)", peer: "handshake-\(role)",
            metadata: ["domain": .string(role)])
    }
}
