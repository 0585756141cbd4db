import SwitchboardProtocol

/// External customer data read from a CSV file (`switchboard import customers`): a header row,
/// then a customer a row. Identity columns (`phone`, `email`, `external_id`, `device_id`, `fax`,
/// `chat`, `social`) find the customer; `name`, `segment`, `value_tier`, `kind` and
/// `consent.<channel>` set those fields; every other column is an attribute. Every problem is
/// reported with its line before anything is written.
public enum CustomerImport {
    /// One row, ready for `swb_import_customers`.
    public struct Row: Sendable, Equatable {
        public var line: Int
        public var identities: [NormalizedIdentity]
        public var fields: [String: String]
    }

    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    static let identityColumns: [String: NormalizedIdentity.Kind] = [
        "phone": .phone, "email": .email, "external_id": .external, "device_id": .device, "fax": .fax, "chat": .chat, "social": .social,
    ]

    /// The rows of `text`, and every problem found in it (the file is imported only without any).
    public static func rows(csv text: String, normalizer: IdentityNormalizer) -> (rows: [Row], problems: [Problem]) {
        let records: [(line: Int, fields: [String])]
        do {
            records = try CSV.records(text)
        } catch {
            return ([], [Problem(line: error.line, reason: error.reason)])
        }
        guard let header = records.first else { return ([], [Problem(line: 1, reason: "the file is empty")]) }
        let columns = header.fields.map { $0.trimmingWhitespace.lowercased() }
        var problems: [Problem] = []
        if let repeated = Dictionary(grouping: columns, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            problems.append(Problem(line: header.line, reason: "column '\(repeated)' is named twice"))
        }
        if !columns.contains(where: { identityColumns[$0] != nil }) {
            problems.append(
                Problem(line: header.line, reason: "no identity column; expected one of \(identityColumns.keys.sorted().joined(separator: ", "))"))
        }
        if let empty = columns.firstIndex(of: "") { problems.append(Problem(line: header.line, reason: "column \(empty + 1) has no name")) }
        guard problems.isEmpty else { return ([], problems) }
        var rows: [Row] = []
        for record in records.dropFirst() {
            guard record.fields.count == columns.count else {
                problems.append(Problem(line: record.line, reason: "\(record.fields.count) fields; the header has \(columns.count)"))
                continue
            }
            var row = Row(line: record.line, identities: [], fields: [:])
            for (column, raw) in zip(columns, record.fields) {
                let value = raw.trimmingWhitespace
                guard !value.isEmpty else { continue }
                if let kind = identityColumns[column] {
                    guard let identity = normalizer.normalize(kind, value) else {
                        problems.append(Problem(line: record.line, reason: "\(column) '\(value)' is not one"))
                        continue
                    }
                    row.identities.append(identity)
                } else if column == "kind", CustomerKind(rawValue: value) == nil {
                    problems.append(Problem(line: record.line, reason: "kind '\(value)' is neither consumer nor partner"))
                } else if column.hasPrefix("consent.") {
                    switch value.lowercased() {
                    case "true", "yes", "1": row.fields[column] = "true"
                    case "false", "no", "0": row.fields[column] = "false"
                    default: problems.append(Problem(line: record.line, reason: "\(column) '\(value)' is neither yes nor no"))
                    }
                } else {
                    row.fields[column] = value
                }
            }
            if row.identities.isEmpty && !problems.contains(where: { $0.line == record.line }) {
                problems.append(Problem(line: record.line, reason: "no identity: a row needs a value in one of the identity columns"))
            }
            rows.append(row)
        }
        return (rows, problems)
    }
}

/// RFC 4180 CSV: fields separated by commas, records by CR LF or LF, a field in double quotes may
/// hold commas, line breaks and doubled quotes. Blank lines are skipped.
public enum CSV {
    public struct Malformed: Error, Equatable {
        public var line: Int
        public var reason: String
    }

    /// Each record with the line it starts on.
    public static func records(_ text: String) throws(Malformed) -> [(line: Int, fields: [String])] {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var afterQuote = false
        var line = 1
        var recordLine = 1
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = scalars.next()
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty) { records.append((recordLine, fields)) }
            fields = []
            field = ""
        }
        while let scalar = pending {
            pending = scalars.next()
            if quoted {
                if scalar == "\"" {
                    if pending == "\"" {
                        field.unicodeScalars.append("\"")
                        pending = scalars.next()
                    } else {
                        quoted = false
                        afterQuote = true
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                fields.append(field)
                field = ""
                afterQuote = false
            case "\r":
                continue
            case "\n":
                endRecord()
                afterQuote = false
                line += 1
                recordLine = line
            case "\"":
                guard field.isEmpty, !afterQuote else { throw Malformed(line: line, reason: "a quote inside an unquoted field") }
                quoted = true
            default:
                guard !afterQuote else { throw Malformed(line: line, reason: "text after a closing quote") }
                field.unicodeScalars.append(scalar)
            }
        }
        guard !quoted else { throw Malformed(line: recordLine, reason: "a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}
