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
    public static func of(_ publish: Publish) -> String {
        withFingerprint(of: publish, textBytes: publish.textBytes) { String(decoding: $0, as: UTF8.self) }
    }

    /// Hands over the fingerprint's 32 hex digits where they were written (on the stack), for a
    /// caller that copies them on (the ingest statement's column) with no string made of them;
    /// `textBytes` is the body's `publish.textBytes`, found by the caller already.
    static func withFingerprint<T>(of publish: Publish, textBytes: [UInt8]?, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        var md5 = MD5()
        md5.update(publish.channel)
        md5.update(byte: 0x1F)
        md5.update(publish.contentType)
        md5.update(byte: 0x1F)
        if let text = textBytes {
            text.withUnsafeBytes { md5.update($0) }
        } else {
            md5.updateWithHex(of: publish.body)
        }
        return md5.finishHex(body)
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
///
/// It allocates nothing but the hex string it ends with: it runs once per stored message, and its
/// buffers were among the hub's most frequent allocations (`perf record` of malloc during ingest).
struct MD5 {
    private var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476)
    /// The bytes of an incomplete block, waiting for the next update: the first `pendingCount` of 64.
    private var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var pendingCount = 0
    private var length: UInt64 = 0

    /// A string's UTF-8, read in place (no copy of it per field).
    mutating func update(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) == nil {
            var text = text
            text.withUTF8 { update(UnsafeRawBufferPointer($0)) }
        }
    }

    mutating func update(byte: UInt8) { withUnsafeBytes(of: byte) { update($0) } }

    /// The lower-case hex of `bytes` (what PostgreSQL's `encode(…, 'hex')` writes), written a chunk at a time.
    mutating func updateWithHex(of bytes: [UInt8]) {
        var digits: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var start = 0
        while start < bytes.count {
            let end = min(start + 32, bytes.count)
            withUnsafeMutableBytes(of: &digits) { buffer in
                for (offset, byte) in bytes[start..<end].enumerated() {
                    buffer[2 * offset] = Self.hexDigit(byte >> 4)
                    buffer[2 * offset + 1] = Self.hexDigit(byte & 0x0F)
                }
            }
            let written = 2 * (end - start)
            withUnsafeBytes(of: digits) { update(UnsafeRawBufferPointer(rebasing: $0[0..<written])) }
            start = end
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        length &+= UInt64(bytes.count)
        var offset = 0
        if pendingCount > 0 {
            let taken = min(64 - pendingCount, bytes.count)
            let at = pendingCount
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.advanced(by: at).copyMemory(from: bytes.baseAddress!, byteCount: taken) }
            pendingCount += taken
            offset = taken
            guard pendingCount == 64 else { return }
            let block = pending
            withUnsafeBytes(of: block) { compress($0) }
            pendingCount = 0
        }
        while bytes.count - offset >= 64 {
            compress(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 64]))
            offset += 64
        }
        let rest = bytes.count - offset
        if rest > 0 {
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: bytes.baseAddress!.advanced(by: offset), byteCount: rest) }
            pendingCount = rest
        }
    }

    /// The digest as PostgreSQL's md5() writes it: 32 lower-case hex digits.
    mutating func finishHex() -> String { finishHex { String(decoding: $0, as: UTF8.self) } }

    /// The same 32 digits, handed over where they were written.
    mutating func finishHex<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var at = 0
            finish { byte in
                buffer[at] = Self.hexDigit(byte >> 4)
                buffer[at + 1] = Self.hexDigit(byte & 0x0F)
                at += 2
            }
        }
        return withUnsafeBytes(of: digits, body)
    }

    /// Pads the message, and hands over the digest's 16 bytes in order.
    private mutating func finish(_ digestByte: (UInt8) -> Void) {
        let bits = length &* 8
        update(byte: 0x80)
        let zeros: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        let padding = (56 - pendingCount + 64) % 64
        withUnsafeBytes(of: zeros) { update(UnsafeRawBufferPointer(rebasing: $0[0..<padding])) }
        withUnsafeBytes(of: bits.littleEndian) { update($0) }
        // Each word's bytes, lowest first.
        withUnsafeBytes(of: (state.0.littleEndian, state.1.littleEndian, state.2.littleEndian, state.3.littleEndian)) { digest in
            for byte in digest { digestByte(byte) }
        }
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
