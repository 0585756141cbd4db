import CLibPQ

/// One successful statement's result as libpq holds it, freed when this is released.
public final class PostgresResult {
    private let result: OpaquePointer

    init(_ result: OpaquePointer) { self.result = result }
    deinit { PQclear(result) }

    /// The rows, copied out.
    public func rows() -> PostgresRows { PostgresRows(result: result) }
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
