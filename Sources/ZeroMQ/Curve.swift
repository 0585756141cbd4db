import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// A CURVE key pair in Z85 text (40 characters each), as libzmq and the key files use them.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// A fresh key pair from libzmq (libsodium underneath).
    public static func generate() throws -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZeroMQError.last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: Curve.string(publicKey), secretKey: Curve.string(secretKey))
    }

    /// The pair of a secret key; fails unless `secretKey` is 40 characters of Z85.
    public init(secretKey: String) throws {
        guard Curve.isKey(secretKey) else { throw ZeroMQError(errno: EINVAL, operation: "CURVE secret key is not 40 characters of Z85") }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { throw ZeroMQError.last("zmq_curve_public") }
        self.init(publicKey: Curve.string(publicKey), secretKey: secretKey)
    }

    init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

/// Z85 helpers for CURVE keys.
public enum Curve {
    /// True when libzmq was built with CURVE (libsodium).
    public static var isAvailable: Bool { zmq_has("curve") != 0 }

    /// True for 40 characters that decode as Z85 to a 32-byte key.
    public static func isKey(_ text: String) -> Bool {
        decode(text) != nil
    }

    /// The 32 key bytes of a Z85 key, or nil.
    public static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.count == 40 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&bytes, text) != nil else { return nil }
        return bytes
    }

    /// The Z85 text of 32 key bytes (as a ZAP request carries them).
    public static func encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, bytes, 32) != nil else { return nil }
        return string(text)
    }

    static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Socket {
    /// Makes this socket a CURVE server: peers must know `secretKey`'s public half, and every
    /// handshake is put to the ZAP handler under `domain` (bind one before this socket binds).
    public func makeCurveServer(secretKey: String, domain: String) throws {
        try setOption(ZMQ_CURVE_SERVER, 1)
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8))
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8))
    }

    /// Makes this socket a CURVE client of the server whose public key is `serverKey`.
    public func makeCurveClient(serverKey: String, keyPair: CurveKeyPair) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8))
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keyPair.publicKey.utf8))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keyPair.secretKey.utf8))
    }
}

/// One ZAP request (ZeroMQ RFC 27), as libzmq sends it to `inproc://zeromq.zap.01`.
public struct ZapRequest: Sendable, Equatable {
    public static let endpoint = "inproc://zeromq.zap.01"

    public var requestID: [UInt8]
    public var domain: String
    /// The peer's IP address.
    public var address: String
    public var mechanism: String
    /// For CURVE: the client's public key in Z85.
    public var clientKey: String?

    /// Parses the frames of a request; nil when they are not ZAP 1.0.
    public init?(frames: [[UInt8]]) {
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else { return nil }
        requestID = frames[1]
        domain = String(decoding: frames[2], as: UTF8.self)
        address = String(decoding: frames[3], as: UTF8.self)
        mechanism = String(decoding: frames[5], as: UTF8.self)
        clientKey = frames.count > 6 ? Curve.encode(frames[6]) : nil
    }

    /// The reply frames: 200 with the user id the messages will carry, or 400 with the reason.
    public func reply(allowedAs userID: String?, reason: String) -> [[UInt8]] {
        [Array("1.0".utf8), requestID, Array((userID == nil ? "400" : "200").utf8), Array(reason.utf8), Array((userID ?? "").utf8), []]
    }
}
