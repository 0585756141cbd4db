import Foundation
import SwitchboardProtocol
import ZeroMQ

/// What a gateway or worker needs to connect to a hub that runs with `security: curve`:
/// the hub's public key and the client's own key pair.
public struct ClientSecurity: Sendable {
    public var serverKey: String
    public var keyPair: CurveKeyPair

    public init(serverKey: String, keyPair: CurveKeyPair) {
        self.serverKey = serverKey
        self.keyPair = keyPair
    }

    /// Reads the hub's `.pub` file (or any file whose first word is the hub's public key) and the
    /// client's `.key` file, both as `switchboard keygen` writes them.
    public init(serverPublicKeyFile: String, keyFile: String) throws {
        let serverText = try String(contentsOfFile: serverPublicKeyFile, encoding: .utf8)
        guard
            let key = serverText.split(whereSeparator: \.isNewline).first(where: { !$0.hasPrefix("#") })?.split(separator: " ").first,
            CurveKeyFile.isZ85Key(String(key))
        else {
            throw ClientError.badKeyFile("\(serverPublicKeyFile): expected the hub's public key (40 Z85 characters) as its first word")
        }
        let file: CurveKeyFile
        do {
            file = try CurveKeyFile.parse(try String(contentsOfFile: keyFile, encoding: .utf8))
        } catch {
            throw ClientError.badKeyFile("\(keyFile): \(error)")
        }
        self.init(serverKey: String(key), keyPair: try CurveKeyPair(secretKey: file.secretKey))
    }

    func apply(to socket: Socket) throws {
        try socket.makeCurveClient(serverKey: serverKey, keyPair: keyPair)
    }
}
