import SwitchboardProtocol

/// What tells a re-sent message from another one under the same (gateway, message id): the md5,
/// in lower-case hex, of its channel, content type and body joined by U+001F, a binary body
/// written as lower-case hex. The text is the one the ingest statements of earlier versions
/// hashed with PostgreSQL's `md5(concat_ws(chr(31), …))`, so a message stored by an earlier hub
/// and sent again is still recognized as the same.
///
/// Computed by the hub rather than in the statement: the statement runs on the one backend whose
/// time bounds ingest.
public enum MessageFingerprint {
    public static func of(_ publish: Publish) -> String { of(publish, bodyText: publish.bodyText) }

    /// With the body's text (`publish.bodyText`) already decoded by the caller.
    static func of(_ publish: Publish, bodyText: String?) -> String {
        var md5 = MD5()
        md5.update(publish.channel)
        md5.update([0x1F])
        md5.update(publish.contentType)
        md5.update([0x1F])
        if let text = bodyText {
            md5.update(text)
        } else {
            md5.update(MD5.hex(publish.body))
        }
        return md5.finishHex()
    }

    /// PostgreSQL's `md5(text)`: the lower-case hex of the MD5 of `text`'s UTF-8.
    public static func md5(_ text: String) -> String {
        var md5 = MD5()
        md5.update(text)
        return md5.finishHex()
    }
}

/// MD5 (RFC 1321), for fingerprints only: nothing relies on it where a forged collision could
/// harm anyone (a gateway can only confuse itself about its own message ids).
struct MD5 {
    private var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476)
    /// Bytes of an incomplete block, waiting for the next update.
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBufferPointer { update($0) } }

    /// A string's UTF-8, read in place (no copy of it per field).
    mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { update($0) }
    }

    mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        length &+= UInt64(bytes.count)
        var rest = bytes[...]
        if !pending.isEmpty {
            let taken = min(64 - pending.count, rest.count)
            pending += rest.prefix(taken)
            rest = rest.dropFirst(taken)
            guard pending.count == 64 else { return }
            pending.withUnsafeBufferPointer { compress(UnsafeRawBufferPointer($0)) }
            pending.removeAll(keepingCapacity: true)
        }
        while rest.count >= 64 {
            compress(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: rest.prefix(64))))
            rest = rest.dropFirst(64)
        }
        pending += rest
    }

    /// The 16-byte digest; the value is finished with it.
    mutating func finish() -> [UInt8] {
        let bits = length &* 8
        var padding: [UInt8] = [0x80] + [UInt8](repeating: 0, count: (55 - pending.count + 64) % 64)
        for shift in stride(from: 0, to: 64, by: 8) { padding.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        update(padding)
        var digest: [UInt8] = []
        digest.reserveCapacity(16)
        for word in [state.0, state.1, state.2, state.3] {
            for shift in stride(from: 0, to: 32, by: 8) { digest.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return digest
    }

    /// The digest as PostgreSQL's md5() writes it: 32 lower-case hex digits.
    mutating func finishHex() -> String { String(decoding: Self.hex(finish()), as: UTF8.self) }

    /// Lower-case hex, two digits per byte, as PostgreSQL's md5() and encode(…, 'hex') write it.
    static func hex(_ bytes: [UInt8]) -> [UInt8] {
        var digits: [UInt8] = []
        digits.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            digits.append(hexDigit(byte >> 4))
            digits.append(hexDigit(byte & 0x0F))
        }
        return digits
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }

    private static let shifts: [UInt32] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ]
    private static let constants: [UInt32] = [
        0xD76A_A478, 0xE8C7_B756, 0x2420_70DB, 0xC1BD_CEEE, 0xF57C_0FAF, 0x4787_C62A, 0xA830_4613, 0xFD46_9501,
        0x6980_98D8, 0x8B44_F7AF, 0xFFFF_5BB1, 0x895C_D7BE, 0x6B90_1122, 0xFD98_7193, 0xA679_438E, 0x49B4_0821,
        0xF61E_2562, 0xC040_B340, 0x265E_5A51, 0xE9B6_C7AA, 0xD62F_105D, 0x0244_1453, 0xD8A1_E681, 0xE7D3_FBC8,
        0x21E1_CDE6, 0xC337_07D6, 0xF4D5_0D87, 0x455A_14ED, 0xA9E3_E905, 0xFCEF_A3F8, 0x676F_02D9, 0x8D2A_4C8A,
        0xFFFA_3942, 0x8771_F681, 0x6D9D_6122, 0xFDE5_380C, 0xA4BE_EA44, 0x4BDE_CFA9, 0xF6BB_4B60, 0xBEBF_BC70,
        0x289B_7EC6, 0xEAA1_27FA, 0xD4EF_3085, 0x0488_1D05, 0xD9D4_D039, 0xE6DB_99E5, 0x1FA2_7CF8, 0xC4AC_5665,
        0xF429_2244, 0x432A_FF97, 0xAB94_23A7, 0xFC93_A039, 0x655B_59C3, 0x8F0C_CC92, 0xFFEF_F47D, 0x8584_5DD1,
        0x6FA8_7E4F, 0xFE2C_E6E0, 0xA301_4314, 0x4E08_11A1, 0xF753_7E82, 0xBD3A_F235, 0x2AD7_D2BB, 0xEB86_D391,
    ]

    private mutating func compress(_ block: UnsafeRawBufferPointer) {
        func word(_ index: Int) -> UInt32 { UInt32(littleEndian: block.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)) }
        var (a, b, c, d) = state
        for round in 0..<64 {
            var f: UInt32
            let g: Int
            switch round {
            case 0..<16: (f, g) = ((b & c) | (~b & d), round)
            case 16..<32: (f, g) = ((d & b) | (~d & c), (5 * round + 1) % 16)
            case 32..<48: (f, g) = (b ^ c ^ d, (3 * round + 5) % 16)
            default: (f, g) = (c ^ (b | ~d), (7 * round) % 16)
            }
            f = f &+ a &+ Self.constants[round] &+ word(g)
            a = d
            d = c
            c = b
            b = b &+ (f << Self.shifts[round] | f >> (32 - Self.shifts[round]))
        }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d)
    }
}
