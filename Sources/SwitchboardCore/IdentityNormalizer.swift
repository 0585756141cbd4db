import SwitchboardProtocol

/// One normalized identity of a customer, as stored in `customer_identities`.
public struct NormalizedIdentity: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable { case phone, email, external, device, fax, chat, social }
    public var kind: Kind
    public var value: String

    public init(kind: Kind, value: String) {
        self.kind = kind
        self.value = value
    }
}

/// A hint that did not normalize, kept as the gateway wrote it (`customer_unverified_identities`):
/// the contact is stored all the same, and the value never links customers.
public struct UnverifiedIdentity: Sendable, Hashable {
    public var kind: NormalizedIdentity.Kind
    public var value: String

    public init(kind: NormalizedIdentity.Kind, value: String) {
        self.kind = kind
        self.value = value
    }
}

/// Why an identity hint could not be normalized.
public struct IdentityError: Error, Equatable, Sendable, CustomStringConvertible {
    public let field: String
    public let reason: String
    public var description: String { "hint '\(field)': \(reason)" }
}

/// Turns raw identity hints into the normalized keys customers are matched by.
public struct IdentityNormalizer: Sendable {
    /// Country calling code assumed for national numbers ("0912…"), e.g. "98"; nil refuses them.
    public var defaultCountryCode: String?

    public init(defaultCountryCode: String?) {
        self.defaultCountryCode = defaultCountryCode
    }

    /// A message's hints as the identities customers are matched by, and those that do not
    /// normalize, kept as given: a hint never keeps a contact out.
    public func normalize(_ hints: IdentityHints) -> (identities: [NormalizedIdentity], unverified: [UnverifiedIdentity]) {
        var identities: [NormalizedIdentity] = []
        var unverified: [UnverifiedIdentity] = []
        func add(_ kind: NormalizedIdentity.Kind, _ raw: String?, _ normalize: (String) throws(IdentityError) -> String) {
            guard let raw else { return }
            do {
                identities.append(NormalizedIdentity(kind: kind, value: try normalize(raw)))
            } catch {
                let kept = raw.trimmingWhitespace
                if !kept.isEmpty { unverified.append(UnverifiedIdentity(kind: kind, value: kept)) }
            }
        }
        add(.phone, hints.phone, normalizePhone)
        add(.email, hints.email, normalizeEmail)
        add(.external, hints.externalID) { (raw) throws(IdentityError) in try normalizeToken(raw, field: "external_id") }
        add(.device, hints.deviceID) { (raw) throws(IdentityError) in try normalizeToken(raw, field: "device_id") }
        add(.fax, hints.fax, normalizePhone)
        add(.chat, hints.chat) { (raw) throws(IdentityError) in try normalizeToken(raw, field: "chat") }
        add(.social, hints.social, normalizeSocial)
        return (identities, unverified)
    }

    /// One value of `kind`, as a hint of that kind would be normalized; nil when it does not normalize.
    public func normalize(_ kind: NormalizedIdentity.Kind, _ value: String) -> NormalizedIdentity? {
        normalize(IdentityHints(kind, value)).identities.first
    }

    /// `network:handle`, lower-cased, without whitespace and without the handle's leading `@`
    /// (`Telegram: @Sara_K` → `telegram:sara_k`): networks treat handles in any case as one.
    public func normalizeSocial(_ raw: String) throws(IdentityError) -> String {
        let text = Self.withoutWhitespace(raw).lowercased()
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw IdentityError(field: "social", reason: "'\(raw)' is not network:handle")
        }
        var handle = text[text.index(after: colon)...]
        if handle.first == "@" { handle = handle.dropFirst() }
        guard !handle.isEmpty else { throw IdentityError(field: "social", reason: "'\(raw)' has no handle") }
        return text[..<colon] + ":" + handle
    }

    /// E.164 (`+989123456789`) from digits in any script (Latin, Arabic-Indic, Persian, …),
    /// with `+` or `00` for international numbers and a single leading `0` as national trunk prefix.
    public func normalizePhone(_ raw: String) throws(IdentityError) -> String {
        var digits = ""
        var sawPlus = false
        for scalar in raw.unicodeScalars {
            if let digit = Self.decimalDigit(scalar) {
                digits.append(Character(Unicode.Scalar(UInt8(ascii: "0") + digit)))
            } else if scalar == "+" || scalar == "\u{FF0B}" {
                guard digits.isEmpty, !sawPlus else { throw IdentityError(field: "phone", reason: "'+' may only lead the number") }
                sawPlus = true
            } else if Self.separators.contains(scalar) || scalar.properties.isWhitespace {
                continue
            } else {
                throw IdentityError(field: "phone", reason: "'\(raw)' holds '\(scalar)', which is neither a digit nor a separator")
            }
        }
        var international: Substring
        if sawPlus {
            international = Substring(digits)
        } else if digits.hasPrefix("00") {
            international = digits.dropFirst(2)
        } else if let country = defaultCountryCode {
            international = Substring(country + (digits.hasPrefix("0") ? String(digits.dropFirst()) : digits))
        } else {
            throw IdentityError(field: "phone", reason: "'\(raw)' is a national number and no default country code is configured")
        }
        guard let first = international.first, first != "0" else {
            throw IdentityError(field: "phone", reason: "'\(raw)' has no valid country code")
        }
        guard (8...15).contains(international.count) else {
            throw IdentityError(field: "phone", reason: "'\(raw)' has \(international.count) digits; E.164 numbers have 8 to 15")
        }
        return "+" + international
    }

    /// Trimmed and lower-cased; must have one '@' with a non-empty local part and a dotted domain.
    public func normalizeEmail(_ raw: String) throws(IdentityError) -> String {
        if let email = Self.printableASCIILowercased(raw) {
            guard Self.isAddress(email) else { throw IdentityError(field: "email", reason: "'\(raw)' is not an e-mail address") }
            return email
        }
        let email = Self.withoutWhitespace(raw).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else {
            throw IdentityError(field: "email", reason: "'\(raw)' is not an e-mail address")
        }
        return email
    }

    /// `text` lower-cased byte by byte if it is all printable ASCII without spaces (nearly every
    /// address), else nil: Unicode lower-casing and splitting by characters were most of the
    /// normalizer's time in a `perf record` of the hub.
    private static func printableASCIILowercased(_ text: String) -> String? {
        var hasUpper = false
        for byte in text.utf8 {
            guard byte > 0x20 && byte < 0x7F else { return nil }
            if byte >= 0x41 && byte <= 0x5A { hasUpper = true }
        }
        guard hasUpper else { return text }
        return String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }

    /// One "@" with something before it, and after it a domain with a dot, neither first nor last.
    /// Read in the string's UTF-8 in place (a native string's is contiguous), not copied into an array.
    private static func isAddress(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { isAddress($0) } ?? isAddress(Array(text.utf8))
    }

    private static func isAddress<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes) -> Bool where Bytes.Index == Int {
        guard let at = bytes.firstIndex(of: 0x40), at > bytes.startIndex, bytes.lastIndex(of: 0x40) == at else { return false }
        let domain = bytes[(at + 1)...]
        return domain.contains(0x2E) && domain.first != 0x2E && domain.last != 0x2E
    }

    private func normalizeToken(_ raw: String, field: String) throws(IdentityError) -> String {
        let token = Self.withoutWhitespace(raw)
        guard !token.isEmpty else { throw IdentityError(field: field, reason: "is empty") }
        return token
    }

    /// `text` without its whitespace of any script; printable ASCII (nearly every address) is
    /// returned as it is without looking up each scalar's Unicode properties.
    private static func withoutWhitespace(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return text }
        return String(text.unicodeScalars.filter { !$0.properties.isWhitespace })
    }

    private static let separators: Set<Unicode.Scalar> = [
        "-", "(", ")", ".", "/", "\u{2010}", "\u{2011}", "\u{2012}", "\u{2013}", "\u{200C}", "\u{200E}", "\u{200F}",
    ]

    /// The value of a decimal digit in any script (Unicode Nd), or nil.
    static func decimalDigit(_ scalar: Unicode.Scalar) -> UInt8? {
        guard scalar.properties.numericType == .decimal, let value = scalar.properties.numericValue else { return nil }
        return UInt8(value)
    }
}

extension String {
    /// Without leading and trailing whitespace of any script.
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}

extension IdentityHints {
    /// Hints with one value, of `kind`.
    public init(_ kind: NormalizedIdentity.Kind, _ value: String) {
        self.init()
        switch kind {
        case .phone: phone = value
        case .email: email = value
        case .external: externalID = value
        case .device: deviceID = value
        case .fax: fax = value
        case .chat: chat = value
        case .social: social = value
        }
    }
}
