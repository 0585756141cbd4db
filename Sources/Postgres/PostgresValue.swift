/// A bound statement parameter: text (PostgreSQL parses it by the parameter's type) or raw bytes (bytea).
public enum PostgresValue: Sendable, Equatable {
    case text(String)
    case bytes([UInt8])
    case null

    public init(_ value: String?) { self = value.map(PostgresValue.text) ?? .null }
    public init(_ value: Int) { self = .text(String(value)) }
    public init(_ value: Int64) { self = .text(String(value)) }
    public init(_ value: Bool) { self = .text(value ? "true" : "false") }
}
