/// Typed, validating access to a command's JSON header; every failure names the field.
struct HeaderReader {
    let command: String
    let members: [String: JSONValue]
    var messageID: String?

    init(command: String, header: [UInt8]) throws(ProtocolError) {
        self.command = command
        if header.isEmpty {
            members = [:]
            return
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(header)
        } catch {
            throw ProtocolError(.malformedHeader, "\(command) header is not valid JSON: \(error.reason) at byte \(error.offset)")
        }
        guard case .object(let members) = value else {
            throw ProtocolError(.malformedHeader, "\(command) header must be a JSON object, got \(value.typeName)")
        }
        self.members = members
    }

    func failure(_ code: ProtocolError.Code, _ reason: String) -> ProtocolError {
        ProtocolError(code, reason, messageID: messageID)
    }

    func optionalString(_ key: String, maxBytes: Int = 1024, allowEmpty: Bool = false) throws(ProtocolError) -> String? {
        guard let value = members[key], value != .null else { return nil }
        guard case .string(let text) = value else {
            throw failure(.invalidField, "\(command) field '\(key)' must be a string, got \(value.typeName)")
        }
        guard allowEmpty || !text.isEmpty else { throw failure(.invalidField, "\(command) field '\(key)' must not be empty") }
        guard text.utf8.count <= maxBytes else {
            throw failure(.invalidField, "\(command) field '\(key)' is \(text.utf8.count) bytes, the limit is \(maxBytes)")
        }
        return text
    }

    func string(_ key: String, maxBytes: Int = 1024) throws(ProtocolError) -> String {
        guard let text = try optionalString(key, maxBytes: maxBytes) else {
            throw failure(.missingField, "\(command) needs field '\(key)'")
        }
        return text
    }

    /// A string that names something (ids, queues): no white space and no control characters, in
    /// any script (U+00A0, U+0085 and U+3000 are refused like a space).
    func identifier(_ key: String, maxBytes: Int = 128) throws(ProtocolError) -> String {
        let text = try string(key, maxBytes: maxBytes)
        try checkIdentifier(text, field: key)
        return text
    }

    /// ASCII is decided by its code, without a lookup of Unicode properties: every PUBLISH's
    /// message id passes here, and a property lookup per character is far dearer than a comparison.
    @inline(__always)
    static func isSpaceOrControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar.value <= 0x20 || scalar.value == 0x7F }
        return scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
    }

    func checkIdentifier(_ text: String, field: String) throws(ProtocolError) {
        for scalar in text.unicodeScalars where Self.isSpaceOrControl(scalar) {
            let code = "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
            throw failure(.invalidField, "\(command) field '\(field)' must not contain white space or control characters (it holds \(code))")
        }
    }

    func optionalInteger(_ key: String, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int64? {
        guard let value = members[key], value != .null else { return nil }
        guard case .integer(let number) = value else {
            throw failure(.invalidField, "\(command) field '\(key)' must be an integer, got \(value.typeName)")
        }
        guard range.contains(number) else {
            throw failure(.invalidField, "\(command) field '\(key)' is \(number), expected \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    func integer(_ key: String, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int64 {
        guard let number = try optionalInteger(key, in: range) else {
            throw failure(.missingField, "\(command) needs field '\(key)'")
        }
        return number
    }

    func bool(_ key: String, default fallback: Bool) throws(ProtocolError) -> Bool {
        guard let value = members[key], value != .null else { return fallback }
        guard case .bool(let flag) = value else {
            throw failure(.invalidField, "\(command) field '\(key)' must be a boolean, got \(value.typeName)")
        }
        return flag
    }

    func stringArray(_ key: String, maxCount: Int, required: Bool) throws(ProtocolError) -> [String] {
        guard let value = members[key], value != .null else {
            if required { throw failure(.missingField, "\(command) needs field '\(key)'") }
            return []
        }
        guard case .array(let elements) = value else {
            throw failure(.invalidField, "\(command) field '\(key)' must be an array of strings, got \(value.typeName)")
        }
        guard elements.count <= maxCount else {
            throw failure(.invalidField, "\(command) field '\(key)' has \(elements.count) entries, the limit is \(maxCount)")
        }
        var strings: [String] = []
        for element in elements {
            guard case .string(let text) = element, !text.isEmpty, text.utf8.count <= 128 else {
                throw failure(.invalidField, "\(command) field '\(key)' must hold non-empty strings of at most 128 bytes")
            }
            try checkIdentifier(text, field: key)
            guard !strings.contains(text) else {
                throw failure(.invalidField, "\(command) field '\(key)' lists '\(text)' twice")
            }
            strings.append(text)
        }
        if required && strings.isEmpty { throw failure(.invalidField, "\(command) field '\(key)' must not be empty") }
        return strings
    }

    func integerArray(_ key: String, maxCount: Int) throws(ProtocolError) -> [Int64] {
        guard let value = members[key], value != .null else { return [] }
        guard case .array(let elements) = value, elements.count <= maxCount else {
            throw failure(.invalidField, "\(command) field '\(key)' must be an array of at most \(maxCount) integers")
        }
        var numbers: [Int64] = []
        for element in elements {
            guard case .integer(let number) = element, number > 0 else {
                throw failure(.invalidField, "\(command) field '\(key)' must hold positive integers")
            }
            numbers.append(number)
        }
        return numbers
    }

    func stringMap(_ key: String, maxCount: Int) throws(ProtocolError) -> [String: String] {
        guard let value = members[key], value != .null else { return [:] }
        guard case .object(let entries) = value else {
            throw failure(.invalidField, "\(command) field '\(key)' must be an object of strings, got \(value.typeName)")
        }
        guard entries.count <= maxCount else {
            throw failure(.invalidField, "\(command) field '\(key)' has \(entries.count) entries, the limit is \(maxCount)")
        }
        var map: [String: String] = [:]
        for (name, entry) in entries {
            guard !name.isEmpty, name.utf8.count <= 64 else {
                throw failure(.invalidField, "\(command) field '\(key)' keys must be 1 to 64 bytes")
            }
            guard case .string(let text) = entry, text.utf8.count <= 1024 else {
                throw failure(.invalidField, "\(command) field '\(key).\(name)' must be a string of at most 1024 bytes")
            }
            map[name] = text
        }
        return map
    }

    func object(_ key: String) throws(ProtocolError) -> JSONValue {
        guard let value = members[key] else { throw failure(.missingField, "\(command) needs field '\(key)'") }
        guard case .object = value else {
            throw failure(.invalidField, "\(command) field '\(key)' must be an object, got \(value.typeName)")
        }
        return value
    }
}

extension HeaderReader {
    /// A reader over a nested object (such as PUBLISH's `hints`), reporting errors under `command`.
    init(command: String, members: [String: JSONValue], messageID: String?) {
        self.command = command
        self.members = members
        self.messageID = messageID
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
