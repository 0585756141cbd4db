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
}
