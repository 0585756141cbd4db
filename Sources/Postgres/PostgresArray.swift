/// A value PostgreSQL can receive in its binary format, as an element of a `PostgresArray`.
public protocol PostgresBinaryElement {
    /// The type's OID: the server checks it against the array type the statement expects.
    static var typeOID: Int32 { get }
    /// The value's bytes in the type's binary format (what its `*_recv` function reads).
    func appendBinary(to bytes: inout [UInt8])
}

extension String: PostgresBinaryElement {
    @inlinable public static var typeOID: Int32 { 25 }  // text
    @inlinable public func appendBinary(to bytes: inout [UInt8]) { bytes.append(contentsOf: utf8) }
}

extension Int64: PostgresBinaryElement {
    @inlinable public static var typeOID: Int32 { 20 }  // bigint
    @inlinable public func appendBinary(to bytes: inout [UInt8]) { PostgresArrayBytes.append(self, to: &bytes) }
}

extension Int32: PostgresBinaryElement {
    @inlinable public static var typeOID: Int32 { 23 }  // integer
    @inlinable public func appendBinary(to bytes: inout [UInt8]) { PostgresArrayBytes.append(self, to: &bytes) }
}

extension Int16: PostgresBinaryElement {
    @inlinable public static var typeOID: Int32 { 21 }  // smallint
    @inlinable public func appendBinary(to bytes: inout [UInt8]) { PostgresArrayBytes.append(self, to: &bytes) }
}

extension Bool: PostgresBinaryElement {
    @inlinable public static var typeOID: Int32 { 16 }  // boolean
    @inlinable public func appendBinary(to bytes: inout [UInt8]) { bytes.append(self ? 1 : 0) }
}

/// Raw bytes, as `bytea`.
public struct PostgresBytes: PostgresBinaryElement {
    public var bytes: [UInt8]
    @inlinable public init(_ bytes: [UInt8]) { self.bytes = bytes }
    @inlinable public static var typeOID: Int32 { 17 }
    @inlinable public func appendBinary(to bytes: inout [UInt8]) { bytes.append(contentsOf: self.bytes) }
}

/// JSON text, as `jsonb` (its binary format is a version byte, then the text).
public struct PostgresJSONB: PostgresBinaryElement {
    public var text: [UInt8]
    @inlinable public init(_ text: [UInt8]) { self.text = text }
    @inlinable public static var typeOID: Int32 { 3802 }
    @inlinable public func appendBinary(to bytes: inout [UInt8]) {
        bytes.append(1)
        bytes.append(contentsOf: text)
    }
}

/// A one-dimensional array parameter (`$1::text[]`, `$2::bigint[]`…) built in PostgreSQL's binary
/// array format, so that the server copies its elements instead of parsing text or JSON for them.
/// Elements may be NULL. Passing it where the statement expects another element type fails with
/// the server's "wrong element type" error, never with a silent conversion.
///
/// Inlinable, so that the store's calls (once per field per message) are specialized for their
/// element type instead of going through the generic code at run time.
public struct PostgresArray<Element: PostgresBinaryElement> {
    @usableFromInline var bytes: [UInt8]
    @usableFromInline var count = 0
    @usableFromInline var hasNull = false

    @inlinable public init() {
        bytes = [UInt8](repeating: 0, count: PostgresArrayBytes.headerSize)
    }

    @inlinable public mutating func append(_ element: Element?) {
        count += 1
        if element == nil { hasNull = true }
        PostgresArrayBytes.append(value: element, to: &bytes)
    }

    /// The array as a binary statement parameter.
    @inlinable public consuming func parameter() -> PostgresValue {
        // ndim, flags (has nulls), element type, then the one dimension: length and lower bound.
        PostgresArrayBytes.put(Int32(1), at: 0, in: &bytes)
        PostgresArrayBytes.put(Int32(hasNull ? 1 : 0), at: 4, in: &bytes)
        PostgresArrayBytes.put(Element.typeOID, at: 8, in: &bytes)
        PostgresArrayBytes.put(Int32(count), at: 12, in: &bytes)
        PostgresArrayBytes.put(Int32(1), at: 16, in: &bytes)
        return .bytes(bytes)
    }
}

extension PostgresArray where Element == String {
    /// A text element given as its UTF-8, with no string made of it; it must be valid UTF-8
    /// without NUL bytes, or the server refuses the whole array.
    @inlinable public mutating func append<Text: Collection<UInt8>>(utf8 text: Text?) {
        count += 1
        guard let text else {
            hasNull = true
            PostgresArrayBytes.append(Int32(-1), to: &bytes)
            return
        }
        PostgresArrayBytes.append(Int32(text.count), to: &bytes)
        bytes.append(contentsOf: text)
    }
}

/// Big-endian integers, as PostgreSQL's binary formats write them.
@usableFromInline enum PostgresArrayBytes {
    @usableFromInline static let headerSize = 20

    @inlinable static func append<Integer: FixedWidthInteger>(_ value: Integer, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// A value as an array element or COPY field: its length, then its bytes; -1 for NULL.
    @inlinable static func append<Element: PostgresBinaryElement>(value: Element?, to bytes: inout [UInt8]) {
        guard let value else {
            append(Int32(-1), to: &bytes)
            return
        }
        let lengthAt = bytes.count
        append(Int32(0), to: &bytes)
        value.appendBinary(to: &bytes)
        put(Int32(bytes.count - lengthAt - 4), at: lengthAt, in: &bytes)
    }

    @inlinable static func put(_ value: Int32, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { raw in
            for index in 0..<4 { bytes[offset + index] = raw[index] }
        }
    }
}

/// Rows in PostgreSQL's binary COPY format (`COPY … FROM STDIN (FORMAT binary)`), for
/// `Connection.copyIn`: each row's field count, then each field's length and bytes in its type's
/// binary format, as for an array element.
public struct PostgresCopyRows {
    @usableFromInline var bytes: [UInt8]
    /// Rows begun so far.
    @usableFromInline var rows = 0
    public var count: Int { rows }

    @inlinable public init() {
        // The signature, then no flags and no header extension.
        bytes = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]
        PostgresArrayBytes.append(Int32(0), to: &bytes)
        PostgresArrayBytes.append(Int32(0), to: &bytes)
    }

    /// Starts a row of `fields` fields.
    @inlinable public mutating func startRow(fields: Int) {
        rows += 1
        PostgresArrayBytes.append(Int16(fields), to: &bytes)
    }

    @inlinable public mutating func field<Element: PostgresBinaryElement>(_ value: Element?) {
        PostgresArrayBytes.append(value: value, to: &bytes)
    }

    @inlinable public mutating func field(_ value: Bool) {
        PostgresArrayBytes.append(Int32(1), to: &bytes)
        bytes.append(value ? 1 : 0)
    }

    /// A `timestamptz`, from milliseconds since 1970.
    @inlinable public mutating func timestamp(unixMs: Int64) {
        // PostgreSQL counts microseconds from 2000-01-01.
        PostgresArrayBytes.append(Int32(8), to: &bytes)
        PostgresArrayBytes.append(unixMs * 1000 - 946_684_800_000_000, to: &bytes)
    }

    /// The COPY data, its trailer written.
    @inlinable public consuming func data() -> [UInt8] {
        PostgresArrayBytes.append(Int16(-1), to: &bytes)
        return bytes
    }
}
