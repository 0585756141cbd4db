import CLibPQ

/// A failure talking to PostgreSQL, with the server's SQLSTATE when it sent one.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; new codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The connection could not be made or was lost: the server is unavailable.
        public static let connectionFailed = Code(name: "connectionFailed")
        /// The server rejected a statement; `sqlState` says why.
        public static let server = Code(name: "server")
        /// A result did not have the shape the caller asked for.
        public static let unexpectedResult = Code(name: "unexpectedResult")

        public var description: String { name }
    }

    public let code: Code
    /// The five-character SQLSTATE the server reported (e.g. `23505` unique violation), if any.
    public let sqlState: String?
    /// The server's or libpq's message.
    public let message: String
    /// The statement that failed, without its parameters.
    public let query: String?

    public init(code: Code, sqlState: String? = nil, message: String, query: String? = nil) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.query = query
    }

    /// True when the error means the server (or the network path to it) is gone, not that the statement was wrong.
    public var isConnectionLoss: Bool {
        if code == .connectionFailed { return true }
        guard let sqlState else { return false }
        // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
        // 25006: a write on a server that is (no longer) the primary, as a failover leaves an old
        // connection: like a lost connection, it is dropped and made again, to the new primary.
        return sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") || sqlState == "25006"
    }

    /// A deadlock or serialization failure: the statement may succeed if run again.
    public var isTransient: Bool { sqlState == "40P01" || sqlState == "40001" }

    public var description: String {
        var text = "PostgreSQL \(code)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let query { text += " (query: \(query.prefix(120)))" }
        return text
    }
}
