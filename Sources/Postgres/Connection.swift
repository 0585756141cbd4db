import CLibPQ

#if canImport(Glibc)
    import Glibc
#endif

/// One libpq connection. Not thread-safe: one thread uses it at a time.
///
/// Parameters are always bound, never spliced into SQL text.
public final class Connection {
    private var handle: OpaquePointer?
    public let conninfo: String
    private var prepared: Set<String> = []
    /// The statement sent by `sendPrepared` whose result is still to be received.
    private var sent: String?

    /// Connects with a libpq connection string (`host=/run/pg port=5432 dbname=switchboard`) or URI.
    public init(_ conninfo: String) throws {
        self.conninfo = conninfo
        try reconnect()
    }

    deinit { if let handle { PQfinish(handle) } }

    /// Drops the current connection, if any, and opens a new one.
    public func reconnect() throws {
        if let handle { PQfinish(handle) }
        prepared.removeAll()
        sent = nil
        handle = PQconnectdb(conninfo)
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            if let handle { PQfinish(handle) }
            self.handle = nil
            throw PostgresError(code: .connectionFailed, message: message.trimmingTrailingNewlines())
        }
    }

    /// True when libpq believes the connection is usable.
    public var isConnected: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Runs one statement with bound parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws -> PostgresRows {
        let connection = try live(sql)
        let result = withParameters(parameters) { values, lengths, formats in
            PQexecParams(connection, sql, Int32(parameters.count), nil, values, lengths, formats, 0)
        }
        return try consume(result, sql: sql)
    }

    /// Runs several statements given as one text with no parameters (migrations, transaction control).
    public func execute(script sql: String) throws {
        let connection = try live(sql)
        _ = try consume(PQexec(connection, sql), sql: sql)
    }

    /// Prepares `sql` under `name` once per connection, then runs it with bound parameters.
    @discardableResult
    public func queryPrepared(_ name: String, _ sql: String, _ parameters: [PostgresValue]) throws -> PostgresRows {
        try sendPrepared(name, sql, parameters)
        return try receive()
    }

    /// Sends a prepared statement (`queryPrepared`'s first half) and returns at once, while the
    /// server runs it: the caller can do other work meanwhile, then must call `receive()` before
    /// anything else uses the connection.
    public func sendPrepared(_ name: String, _ sql: String, _ parameters: [PostgresValue]) throws {
        let connection = try live(sql)
        if !prepared.contains(name) {
            _ = try consume(PQprepare(connection, name, sql, Int32(parameters.count), nil), sql: sql)
            prepared.insert(name)
        }
        let accepted = withParameters(parameters) { values, lengths, formats in
            PQsendQueryPrepared(connection, name, Int32(parameters.count), values, lengths, formats, 0)
        }
        guard accepted == 1 else {
            throw PostgresError(code: PQstatus(connection) == CONNECTION_OK ? .server : .connectionFailed, message: lastError(), query: sql)
        }
        sent = sql
    }

    /// The connection's socket, for waiting on it together with other things (poll); -1 if none.
    public var socket: Int32 {
        guard let handle else { return -1 }
        return PQsocket(handle)
    }

    /// Reads what the server has sent so far without blocking; true once `receive()` would not
    /// block (the result is in, or the connection failed and `receive()` will say how).
    public func resultReady() -> Bool {
        guard sent != nil, let handle else { return true }
        guard PQconsumeInput(handle) == 1 else { return true }
        return PQisBusy(handle) == 0
    }

    /// Waits for the result of the statement `sendPrepared` sent.
    public func receive() throws -> PostgresRows {
        try receiveResult().rows()
    }

    /// Waits for the result of the statement `sendPrepared` sent and checks it, leaving its rows
    /// in libpq's memory: the connection is free for the next statement before they are copied.
    public func receiveResult() throws -> PostgresResult {
        guard let sql = sent, let connection = handle else {
            throw PostgresError(code: .connectionFailed, message: "no statement was sent", query: nil)
        }
        sent = nil
        let result = PQgetResult(connection)
        // The end of the statement's results (a NULL) must be read before the next one is sent.
        while let extra = PQgetResult(connection) { PQclear(extra) }
        return PostgresResult(try checked(result, sql: sql))
    }

    /// Runs `COPY … FROM STDIN` (`sql`) with `data` as its input, in the format the statement
    /// names; returns the rows copied.
    @discardableResult
    public func copyIn(_ sql: String, _ data: [UInt8]) throws -> Int {
        let connection = try live(sql)
        let started = PQexec(connection, sql)
        guard let started, PQresultStatus(started) == PGRES_COPY_IN else {
            // Not a COPY FROM STDIN, or refused: the result says why.
            _ = try consume(started, sql: sql)
            throw PostgresError(code: .unexpectedResult, message: "not a COPY FROM STDIN", query: sql)
        }
        PQclear(started)
        let sent = data.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(connection, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1, PQputCopyEnd(connection, nil) == 1 else {
            throw PostgresError(code: .connectionFailed, message: lastError(), query: sql)
        }
        let result = PQgetResult(connection)
        while let extra = PQgetResult(connection) { PQclear(extra) }
        let rows = try consume(result, sql: sql)
        return rows.affected
    }

    /// Runs `body` inside BEGIN/COMMIT; any thrown error rolls back and is rethrown.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute(script: "BEGIN")
        do {
            let value = try body()
            try execute(script: "COMMIT")
            return value
        } catch {
            if isConnected { try? execute(script: "ROLLBACK") }
            throw error
        }
    }

    // MARK: Internals

    private func live(_ sql: String) throws -> OpaquePointer {
        precondition(sent == nil, "a statement was sent and its result not received")
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(code: .connectionFailed, message: "not connected", query: sql)
        }
        return handle
    }

    private func withParameters<Result>(
        _ parameters: [PostgresValue],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> Result
    ) -> Result {
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        for parameter in parameters {
            switch parameter {
            case .null:
                buffers.append(nil); lengths.append(0); formats.append(0)
            case .text(let text):
                buffers.append(strdup(text)); lengths.append(0); formats.append(0)
            case .bytes(let bytes):
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
                bytes.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { buffer.update(from: base.assumingMemoryBound(to: CChar.self), count: bytes.count) }
                }
                buffers.append(buffer); lengths.append(Int32(bytes.count)); formats.append(1)
            }
        }
        defer {
            for (index, buffer) in buffers.enumerated() {
                guard let buffer else { continue }
                if formats[index] == 1 { buffer.deallocate() } else { free(buffer) }
            }
        }
        let constants = buffers.map { UnsafePointer($0) }
        return constants.withUnsafeBufferPointer { values in
            lengths.withUnsafeBufferPointer { lengths in
                formats.withUnsafeBufferPointer { formats in
                    body(values.baseAddress, lengths.baseAddress, formats.baseAddress)
                }
            }
        }
    }

    private func consume(_ result: OpaquePointer?, sql: String) throws -> PostgresRows {
        PostgresResult(try checked(result, sql: sql)).rows()
    }

    /// A successful statement's result; on failure it is freed and its error thrown.
    private func checked(_ result: OpaquePointer?, sql: String) throws -> OpaquePointer {
        guard let result else {
            throw PostgresError(code: .connectionFailed, message: lastError(), query: sql)
        }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return result
        default:
            defer { PQclear(result) }
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? lastError()
            let lost = handle.map { PQstatus($0) != CONNECTION_OK } ?? true
            throw PostgresError(code: lost && sqlState == nil ? .connectionFailed : .server, sqlState: sqlState, message: message, query: sql)
        }
    }

    private func lastError() -> String {
        handle.map { String(cString: PQerrorMessage($0)).trimmingTrailingNewlines() } ?? "not connected"
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text
    }
}
