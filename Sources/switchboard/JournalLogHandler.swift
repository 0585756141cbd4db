import Foundation
import Glibc
import Logging
import Synchronization

/// Log lines for journald, used when standard error is its stream (systemd sets JOURNAL_STREAM
/// to that stream's device and inode): each line starts with its syslog priority, `<4>` for a
/// warning, so that `journalctl -p warning -u switchboard` finds it, and carries no timestamp
/// (journald stamps each record). Anywhere else the usual stream handler writes plain lines.
struct JournalLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let output = Mutex(())

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// syslog(3) priorities: journald maps `<N>` to PRIORITY=N.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let fields = merged.isEmpty ? "" : merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + " "
        let prefix = "<\(Self.priority(event.level))>"
        // Every line of a message is a record of its own to journald: each gets the priority.
        let text =
            "\(event.level) \(label): \(fields)[\(event.source)] \(event.message)"
            .split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 }.joined(separator: "\n") + "\n"
        Self.output.withLock { _ in
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
    }

    /// True when standard error is the stream JOURNAL_STREAM names.
    static func standardErrorIsJournal(_ environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(2, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}
