import CLibPQ

/// One successful statement's result as libpq holds it, freed when this is released.
public final class PostgresResult {
    private let result: OpaquePointer

    init(_ result: OpaquePointer) { self.result = result }
    deinit { PQclear(result) }

    /// The rows, copied out.
    public func rows() -> PostgresRows { PostgresRows(result: result) }

    public var rowCount: Int { Int(PQntuples(result)) }
    public var columnCount: Int { Int(PQnfields(result)) }

    /// One value's text, read where libpq keeps it: nil for SQL NULL or a cell outside the result.
    /// The readers below copy out only the value asked for, with no array per row.
    public func string(_ row: Int, _ column: Int) -> String? {
        withValue(row, column) { String(decoding: $0, as: UTF8.self) }
    }

    /// One value's text as bytes (a `json` column passed on as it is).
    public func bytes(_ row: Int, _ column: Int) -> [UInt8]? { withValue(row, column) { Array($0) } }

    /// One value as an integer, parsed from its decimal text in place: nil for SQL NULL, a cell
    /// outside the result, or text that is not an integer in range.
    public func int64(_ row: Int, _ column: Int) -> Int64? {
        withValue(row, column) { text -> Int64? in
            let negative = text.first == UInt8(ascii: "-")
            let digits = negative ? text.dropFirst() : text[...]
            guard !digits.isEmpty else { return nil }
            var value: Int64 = 0
            for byte in digits {
                guard (0x30...0x39).contains(byte) else { return nil }
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
                // Built negative, so that Int64.min is in range.
                let (next, overflowAgain) = shifted.subtractingReportingOverflow(Int64(byte - 0x30))
                guard !overflow, !overflowAgain else { return nil }
                value = next
            }
            if negative { return value }
            return value == .min ? nil : -value
        } ?? nil
    }

    private func withValue<T>(_ row: Int, _ column: Int, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T? {
        guard (0..<rowCount).contains(row), (0..<columnCount).contains(column), PQgetisnull(result, Int32(row), Int32(column)) == 0,
            let pointer = PQgetvalue(result, Int32(row), Int32(column))
        else { return nil }
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) { body(UnsafeBufferPointer(start: $0, count: length)) }
    }
}

/// The rows of one successful statement, copied out of libpq (text format).
public struct PostgresRows: Sendable {
    /// Column names, in order.
    public let columns: [String]
    /// Each row's values as text; nil is SQL NULL.
    public let rows: [[String?]]
    /// Rows touched by INSERT/UPDATE/DELETE (PQcmdTuples), 0 otherwise.
    public let affected: Int

    init(result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                    let pointer = PQgetvalue(result, Int32(row), Int32(column))!
                    values.append(
                        pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
                            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                        })
                }
            }
            rows.append(values)
        }
        self.rows = rows
        affected = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// The single value of a one-row, one-column result.
    public func scalar() throws -> String? {
        guard rows.count == 1, columns.count == 1 else {
            throw PostgresError(code: .unexpectedResult, message: "expected one value, got \(rows.count) rows of \(columns.count) columns")
        }
        return rows[0][0]
    }
}
