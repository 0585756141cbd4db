import SwitchboardProtocol

/// A routing decision and the reason for it, stored with the delivery so it can be explained.
public struct RouteDecision: Sendable, Equatable {
    public var process: CRMProcess
    /// The queue the delivery goes to (v1: the process's own queue).
    public var queue: String
    public var priority: Int
    /// Unix milliseconds by which the contact should be handled (received + service-level target).
    public var deadline: Int64
    /// Why: "explicit process", "intent 'billing'", "keywords: refund, возврат", "default".
    public var reason: String
    /// What the worker offered this contact must have and what ranks the eligible ones.
    public var needs: TaskNeeds
    /// Whether `needs.language` was detected from the body (the message did not say).
    public var languageDetected: Bool

    public init(
        process: CRMProcess, queue: String, priority: Int, deadline: Int64, reason: String, needs: TaskNeeds = .none,
        languageDetected: Bool = false
    ) {
        self.process = process
        self.queue = queue
        self.priority = priority
        self.deadline = deadline
        self.reason = reason
        self.needs = needs
        self.languageDetected = languageDetected
    }
}

/// Maps a message to a CRM process: explicit process, else intent, else keywords, else the default.
/// Pure: the same rules, message and clock give the same decision.
public struct Router: Sendable {
    /// Keywords are looked for in the first this many bytes of a text body: the opening says what a
    /// message is about, and a long body (an e-mail thread, a pasted log) must not make routing slow.
    public static let scannedBodyBytes = 4096

    public let rules: RoutingRules
    /// Each process's keywords, folded, as the UTF-8 bytes of " keyword" (a space marks the word start).
    let keywordIndex: [(process: CRMProcess, keywords: [(text: String, pattern: [UInt8])])]
    /// Where each keyword sits in `keywordIndex`, by the first two bytes of its word (its first
    /// byte and 0xFF, which UTF-8 never uses, for a one-byte keyword): a word of the text can
    /// only start a keyword filed under its own first bytes.
    private let keywordsByStart: [UInt16: [(process: Int, keyword: Int)]]
    let keywordCount: Int
    let intentIndex: [String: CRMProcess]
    /// Each process's skills as its tasks carry them, made once: routing runs once per message.
    private let skillsByProcess: [CRMProcess: TaskNeeds]
    /// The business calendars of the processes that have one, ready to count deadlines with.
    private let calendars: [CRMProcess: BusinessCalendar.Compiled]

    public init(rules: RoutingRules) {
        self.rules = rules
        keywordIndex = CRMProcess.allCases.map { process in
            (process, rules.rules(for: process).keywords.map(TextFolding.fold).filter { !$0.isEmpty }.map { ($0, Array(" \($0)".utf8)) })
        }
        var byStart: [UInt16: [(process: Int, keyword: Int)]] = [:]
        for (process, entry) in keywordIndex.enumerated() {
            for (keyword, (_, pattern)) in entry.keywords.enumerated() {
                byStart[Self.startKey(pattern[1], pattern.count > 2 ? pattern[2] : 0xFF), default: []].append((process, keyword))
            }
        }
        keywordsByStart = byStart
        keywordCount = keywordIndex.map(\.keywords.count).max() ?? 0
        var intents: [String: CRMProcess] = [:]
        for process in CRMProcess.allCases {
            for intent in rules.rules(for: process).intents where intents[intent.lowercased()] == nil {
                intents[intent.lowercased()] = process
            }
        }
        intentIndex = intents
        var calendars: [CRMProcess: BusinessCalendar.Compiled] = [:]
        for process in CRMProcess.allCases {
            if let compiled = try? rules.rules(for: process).calendar?.compiled() { calendars[process] = compiled }
        }
        self.calendars = calendars
        skillsByProcess = Dictionary(
            uniqueKeysWithValues: CRMProcess.allCases.map { process in
                let processRules = rules.rules(for: process)
                return (process, TaskNeeds(skills: processRules.skills, optionalSkills: processRules.optionalSkills))
            })
    }

    /// Routes one message received at `now` (Unix milliseconds).
    public func route(_ message: Publish, now: Int64) -> RouteDecision {
        // The body's opening, folded, once: for keywords and for its language.
        var folded: [UInt8]?
        func foldedBody() -> [UInt8]? {
            guard message.isText else { return nil }
            if folded == nil { folded = TextFolding.foldedWords(utf8: message.body.prefix(Self.scannedBodyBytes)) }
            return folded
        }
        let (process, reason) = choose(message, foldedBody)
        let processRules = rules.rules(for: process)
        var language = message.language?.lowercased()
        var detected = false
        if language == nil, let words = foldedBody() {
            language = LanguageDetection.detect(utf8: message.body.prefix(Self.scannedBodyBytes), folded: words)
            detected = language != nil
        }
        var needs = skillsByProcess[process] ?? .none
        needs.language = language
        return RouteDecision(
            process: process, queue: process.rawValue, priority: message.priority,
            deadline: deadline(process, processRules.target(for: message.channel), from: now), reason: reason, needs: needs,
            languageDetected: detected)
    }

    /// The service-level deadline: `target` after `now`, counted in business hours when the process has a calendar.
    private func deadline(_ process: CRMProcess, _ target: Int64, from now: Int64) -> Int64 {
        guard let calendar = calendars[process] else { return now + target }
        return calendar.deadline(from: now, adding: target)
    }

    private func choose(_ message: Publish, _ foldedBody: () -> [UInt8]?) -> (CRMProcess, String) {
        if let process = message.process { return (process, "explicit process") }
        if let intent = message.intent, let process = intentIndex[intent.lowercased()] {
            return (process, "intent '\(intent)'")
        }
        if let folded = foldedBody(), let (process, reason) = keywordMatch(folded) {
            return (process, reason)
        }
        return (rules.defaultProcess, "default")
    }

    /// The process whose keywords start the most words of `folded` (as made by
    /// `TextFolding.foldedWords`), and the reason naming them; nil if no keyword does. The flags
    /// of the keywords found live on the stack: routing runs once per message.
    private func keywordMatch(_ folded: [UInt8]) -> (CRMProcess, String)? {
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: keywordIndex.count * keywordCount) { found in
            found.initialize(repeating: false)
            markKeywords(folded, in: found)
            var best: (process: Int, count: Int)?
            for process in keywordIndex.indices {
                let count = found[process * keywordCount..<(process + 1) * keywordCount].lazy.filter { $0 }.count
                if count > 0, count > (best?.count ?? 0) { best = (process, count) }
            }
            guard let best else { return nil }
            var reason = "keywords: "
            reason.reserveCapacity(64)
            var first = true
            for (keyword, entry) in keywordIndex[best.process].keywords.enumerated() where found[best.process * keywordCount + keyword] {
                if !first { reason += ", " }
                reason += entry.text
                first = false
            }
            return (keywordIndex[best.process].process, reason)
        }
    }

    /// Marks which keywords start at a word of `folded`, as flags by process and keyword: only the
    /// keywords filed under each word's first bytes are compared.
    func markKeywords(_ folded: [UInt8], in found: UnsafeMutableBufferPointer<Bool>) {
        folded.withUnsafeBufferPointer { text in
            for start in text.indices where text[start] == 0x20 && start + 1 < text.count {
                let second = start + 2 < text.count ? text[start + 2] : 0x20
                // Keywords of two bytes or more filed under this word's first two, then those of one byte.
                for pass in 0..<2 {
                    let key = Self.startKey(text[start + 1], pass == 0 ? second : 0xFF)
                    for (process, keyword) in keywordsByStart[key] ?? []
                    where !found[process * keywordCount + keyword] {
                        let pattern = keywordIndex[process].keywords[keyword].pattern
                        if start + pattern.count <= text.count, pattern.indices.allSatisfy({ text[start + $0] == pattern[$0] }) {
                            found[process * keywordCount + keyword] = true
                        }
                    }
                }
            }
        }
    }

    private static func startKey(_ first: UInt8, _ second: UInt8) -> UInt16 { UInt16(first) << 8 | UInt16(second) }
}

/// Case and script folding so keywords match however a customer typed them.
public enum TextFolding {
    /// Lower-cases, maps Arabic yeh/kaf to their Persian forms, turns ZWNJ and punctuation into spaces.
    public static func fold(_ text: String) -> String {
        String(decoding: foldedWords(text).dropFirst(), as: UTF8.self)
    }

    /// The folded text as UTF-8: its words separated by single spaces, each word preceded by one
    /// (so " keyword" finds a word start). ASCII is folded byte by byte; other scalars by their
    /// Unicode properties, which is what made folding the router's main cost before.
    public static func foldedWords(_ text: String) -> [UInt8] {
        var words = FoldedWords(capacity: text.utf8.count + 1)
        for scalar in text.unicodeScalars { fold(scalar, into: &words) }
        return words.bytes
    }

    /// The same of text given as UTF-8, read in place: what `foldedWords(String(decoding:
    /// utf8, as: UTF8.self))` gives, without the string. An invalid sequence (a cut through a
    /// multi-byte character) is U+FFFD there, which folds to a space.
    public static func foldedWords(utf8: ArraySlice<UInt8>) -> [UInt8] {
        var words = FoldedWords(capacity: utf8.count + 1)
        var bytes = utf8.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&bytes) {
            case .scalarValue(let scalar): fold(scalar, into: &words)
            case .error: words.append(separator)
            case .emptyInput: return words.bytes
            }
        }
    }

    private static func fold(_ scalar: Unicode.Scalar, into words: inout FoldedWords) {
        if scalar.isASCII {
            let byte = UInt8(scalar.value)
            switch byte {
            case 0x41...0x5A: words.append(UInt32(byte + 0x20))
            case 0x61...0x7A, 0x30...0x39: words.append(UInt32(byte))
            default: words.append(separator)
            }
            return
        }
        let known = scalar.value < 0x800 ? twoByteFolds[Int(scalar.value) - 0x80] : unlisted
        if known != unlisted {
            words.append(known)
            return
        }
        foldByProperties(scalar) { words.append($0) }
    }

    /// Folded text being written: letters as UTF-8, a space before each word. A struct changed in
    /// place, not variables captured by a local function, which Swift checks for exclusive access
    /// on every letter (a tenth of the router's time in a `perf record` of the hub).
    private struct FoldedWords {
        var bytes: [UInt8] = []
        var spaceDue = true

        init(capacity: Int) { bytes.reserveCapacity(capacity) }

        /// A folded scalar, or `separator`.
        mutating func append(_ folded: UInt32) {
            guard folded != separator else {
                spaceDue = true
                return
            }
            if spaceDue {
                bytes.append(0x20)
                spaceDue = false
            }
            if folded < 0x80 {
                bytes.append(UInt8(folded))
            } else {
                UTF8.encode(Unicode.Scalar(folded)!) { bytes.append($0) }
            }
        }
    }

    /// What a non-ASCII scalar folds to, by its Unicode properties: each scalar of its lower-case
    /// mapping as a letter, or `separator` (ZWNJ, punctuation, spaces of every kind).
    private static func foldByProperties(_ scalar: Unicode.Scalar, _ emit: (UInt32) -> Void) {
        for lower in scalar.properties.lowercaseMapping.unicodeScalars {
            switch lower {
            case "\u{064A}", "\u{0649}": emit(0x06CC)
            case "\u{0643}": emit(0x06A9)
            case "\u{0451}": emit(0x0435)
            default:
                let letterLike =
                    lower.properties.isAlphabetic || lower.properties.numericType != nil || lower.properties.generalCategory == .nonspacingMark
                emit(letterLike ? lower.value : separator)
            }
        }
    }

    /// How each scalar from U+0080 to U+07FF folds (Latin, Greek, Cyrillic, Armenian, Hebrew,
    /// Arabic and Persian letters), worked out once by `foldByProperties`: the one scalar it
    /// becomes, `separator`, or `unlisted` when it becomes several (those take the slow path).
    /// Property lookups per scalar were most of the router's time on non-Latin text.
    private static let twoByteFolds: [UInt32] = (UInt32(0x80)..<0x800).map { value in
        var folded: [UInt32] = []
        foldByProperties(Unicode.Scalar(value)!) { folded.append($0) }
        return folded.count == 1 ? folded[0] : unlisted
    }

    private static let separator: UInt32 = 0
    private static let unlisted: UInt32 = .max
}
