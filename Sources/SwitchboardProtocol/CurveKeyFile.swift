/// The text of Switchboard's CURVE key files, as `switchboard keygen` writes them (protocols/security.md).
///
/// A secret key file (`NAME.key`, mode 0600) holds `public-key <z85>` and `secret-key <z85>` lines;
/// a public key file (`NAME.pub`) holds one allow-list line, `<z85> NAME`, so that appending it to
/// the hub's allow-list admits its holder.
public struct CurveKeyFile: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Reads a secret key file; both keys must be present and 40 characters of Z85.
    public static func parse(_ text: String) throws(ProtocolError) -> CurveKeyFile {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 2 else { continue }
            values[String(fields[0])] = String(fields[1])
        }
        guard let publicKey = values["public-key"], let secretKey = values["secret-key"], isZ85Key(publicKey), isZ85Key(secretKey) else {
            throw ProtocolError(.malformedHeader, "a key file holds 'public-key <40 Z85 characters>' and 'secret-key <40 Z85 characters>' lines")
        }
        return CurveKeyFile(publicKey: publicKey, secretKey: secretKey)
    }

    /// The secret key file's text.
    public func secretFileText(name: String) -> String {
        """
        # Switchboard CURVE key pair '\(name)'. Keep this file secret; \(name).pub holds the public half.
        public-key \(publicKey)
        secret-key \(secretKey)

        """
    }

    /// The public key file's text: the allow-list line.
    public func publicFileText(name: String) -> String { "\(publicKey) \(name)\n" }

    /// Z85's alphabet (ZeroMQ RFC 32), 40 characters for a 32-byte key.
    public static func isZ85Key(_ text: String) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy { z85Alphabet.contains($0) }
    }

    private static let z85Alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
}
