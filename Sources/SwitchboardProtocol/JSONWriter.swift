/// Writes a `JSONValue` as compact UTF-8 JSON with object keys sorted (deterministic output).
public enum JSONWriter {
    public static func bytes(_ value: JSONValue) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(value, into: &output)
        return output
    }

    public static func string(_ value: JSONValue) -> String {
        String(decoding: bytes(value), as: UTF8.self)
    }

    static func write(_ value: JSONValue, into output: inout [UInt8]) {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): writeInteger(number, into: &output)
        case .double(let number):
            // Swift prints the shortest text that reads back as the same Double, and keeps ".0" on
            // whole numbers, so a number stays a number and never turns into an integer.
            output.append(contentsOf: "\(number)".utf8)
        case .string(let text): writeString(text, into: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                write(element, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (position, key) in members.keys.sorted().enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                writeString(key, into: &output)
                output.append(UInt8(ascii: ":"))
                write(members[key]!, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `number` in decimal, without making a String of it.
    public static func writeInteger(_ number: Int64, into output: inout [UInt8]) {
        if number < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        // 20 digits at most (UInt64.max), written from the end of a 24-byte scratch buffer.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[buffer.count - 1 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            output.append(contentsOf: buffer[(buffer.count - count)...])
        }
    }

    /// Appends `text` as a JSON string: runs that need no escaping are copied whole.
    public static func writeString(_ text: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                output.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
                case UInt8(ascii: "\n"): output.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): output.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): output.append(UInt8(ascii: "t"))
                default:
                    output.append(contentsOf: "u00".utf8)
                    output.append(hexDigits[Int(byte >> 4)])
                    output.append(hexDigits[Int(byte & 0xF)])
                }
                runStart = index + 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        output.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

/// Writes one JSON object member by member, straight to bytes: for headers written once per
/// message, where a dictionary of values and a sort of its keys cost more than the message itself.
/// Keys must come in the order `JSONWriter` sorts them (checked in debug builds), so that both
/// write the same bytes for the same object.
public struct JSONObjectWriter {
    private var output: [UInt8]
    #if DEBUG
        private var lastKey: String?
    #endif

    public init(reservingCapacity capacity: Int = 128) {
        output = []
        output.reserveCapacity(capacity)
        output.append(UInt8(ascii: "{"))
    }

    /// The object's bytes, closed.
    public consuming func finish() -> [UInt8] {
        output.append(UInt8(ascii: "}"))
        return output
    }

    private mutating func key(_ key: StaticString) {
        #if DEBUG
            let text = key.description
            assert(lastKey.map { $0 < text } ?? true, "JSONObjectWriter: key '\(text)' after '\(lastKey ?? "")' is out of order")
            lastKey = text
        #endif
        if output.count > 1 { output.append(UInt8(ascii: ",")) }
        output.append(UInt8(ascii: "\""))
        output.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        output.append(contentsOf: "\":".utf8)
    }

    /// Nil values are left out, as the dictionary form leaves out absent members.
    public mutating func field(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        JSONWriter.writeString(value, into: &output)
    }

    public mutating func field(_ name: StaticString, _ value: Int64?) {
        guard let value else { return }
        key(name)
        JSONWriter.writeInteger(value, into: &output)
    }

    public mutating func field(_ name: StaticString, _ value: Int?) { field(name, value.map(Int64.init)) }

    public mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        output.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func field(_ name: StaticString, _ values: [String]) {
        array(name, values) { JSONWriter.writeString($0, into: &$1) }
    }

    public mutating func field(_ name: StaticString, _ values: [Int64]) {
        array(name, values) { JSONWriter.writeInteger($0, into: &$1) }
    }

    private mutating func array<Element>(_ name: StaticString, _ values: [Element], _ write: (Element, inout [UInt8]) -> Void) {
        key(name)
        output.append(UInt8(ascii: "["))
        for (position, value) in values.enumerated() {
            if position > 0 { output.append(UInt8(ascii: ",")) }
            write(value, &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    /// A string map, its keys sorted.
    public mutating func field(_ name: StaticString, _ map: [String: String]) {
        key(name)
        output.append(UInt8(ascii: "{"))
        for (position, entry) in map.sorted(by: { $0.key < $1.key }).enumerated() {
            if position > 0 { output.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(entry.key, into: &output)
            output.append(UInt8(ascii: ":"))
            JSONWriter.writeString(entry.value, into: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    public mutating func field(_ name: StaticString, _ value: JSONValue) {
        key(name)
        JSONWriter.write(value, into: &output)
    }

    /// A member whose value is JSON text already (one complete value, written by this module or
    /// by PostgreSQL): copied as it is.
    public mutating func field(_ name: StaticString, encoded value: [UInt8]) {
        key(name)
        output.append(contentsOf: value)
    }
}
