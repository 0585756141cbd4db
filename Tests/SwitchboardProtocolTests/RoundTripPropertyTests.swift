import Testing

@testable import SwitchboardProtocol

/// A seeded generator of valid commands with awkward content: any script, escapes, edge numbers.
struct CommandGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    static let alphabet: [Character] = Array("aZ09_-.:@ سلامпривет\"\\/\n\t\u{1}😀é") + ["\u{200C}"]

    mutating func text(_ length: ClosedRange<Int> = 1...20) -> String {
        String((0..<int(length)).map { _ in Self.alphabet[int(0...Self.alphabet.count - 1)] })
    }

    mutating func identifier() -> String {
        let characters = Array("abcXYZ019_-.:@/سلامпривет")
        return String((0..<int(1...24)).map { _ in characters[int(0...characters.count - 1)] })
    }

    mutating func optional<T>(_ make: (inout CommandGenerator) -> T) -> T? { next() % 2 == 0 ? make(&self) : nil }

    mutating func bytes() -> [UInt8] { (0..<int(0...64)).map { _ in UInt8(truncatingIfNeeded: next()) } }

    /// Feedback valid for its kind: a score in its range, a category where one is needed, answers for a survey.
    mutating func feedback() -> Feedback {
        let kind = Feedback.Kind.allCases[int(0...Feedback.Kind.allCases.count - 1)]
        let range = Feedback.scoreRange(of: kind)
        return Feedback(
            kind: kind, score: range.map { int(Int($0.lowerBound)...Int($0.upperBound)) },
            category: kind == .complaint || next() % 2 == 0 && kind == .return ? identifier() : nil,
            answers: kind == .survey ? ["q1": .integer(Int64(int(1...5))), "q2": .string(text())] : [:],
            about: optional { Int64($0.int(1...Int(Int32.max))) })
    }

    mutating func command() -> Command {
        switch int(0...7) {
        case 0:
            let text = next() % 3 != 0
            return .publish(
                Publish(
                    messageID: identifier(), channel: ["phone", "email", "sms", "fax"][int(0...3)], occurredAt: Int64(int(0...Int(Int32.max))),
                    hints: IdentityHints(phone: optional { $0.text() }, email: optional { $0.text() }, name: optional { $0.text() }),
                    intent: optional { $0.text() }, process: optional { CRMProcess.allCases[$0.int(0...3)] }, priority: int(0...9),
                    language: optional { _ in "fa" }, contentType: text ? Publish.defaultContentType : "application/octet-stream",
                    body: text ? Array(self.text(0...40).utf8.filter { $0 != 0 }) : bytes(),
                    attributes: Dictionary(uniqueKeysWithValues: (0..<int(0...3)).map { index in ("k\(index)", self.text()) }),
                    feedback: optional { $0.feedback() }))
        case 1:
            return .ready(
                Ready(
                    workerID: identifier(), queues: Array(Set((0..<int(1...4)).map { _ in identifier() })), capacity: int(1...10_000),
                    holding: (0..<int(0...3)).map { _ in Int64(int(1...Int(Int32.max))) }))
        case 2:
            let resolution = optional { $0.text(1...50) }
            return .done(
                Done(
                    deliveryID: Int64(int(1...Int(Int32.max))), outcome: identifier(), notes: optional { $0.text(0...50) }, resolution: resolution,
                    complaintID: resolution == nil ? nil : optional { Int64($0.int(1...99)) }, feedback: optional { $0.feedback() },
                    customer: optional {
                        CustomerUpdate(
                            name: $0.optional { $0.text() }, segment: $0.identifier(), consent: ["marketing": $0.next() % 2 == 0],
                            attributes: ["plan": $0.text()])
                    }))
        case 3:
            let disposition: Fail.Disposition =
                switch next() % 3 {
                case 0: .retryAfter(milliseconds: int(0...86_400_000))
                case 1: .retryWithBackoff
                default: .reject(reason: text())
                }
            return .fail(Fail(deliveryID: Int64(int(1...Int(Int32.max))), disposition: disposition))
        case 4:
            return .nack(
                Nack(
                    messageID: optional { $0.text() }, code: NackCode.allCases[int(0...NackCode.allCases.count - 1)], detail: text(), reason: text(),
                    retryAfterMs: optional { $0.int(0...60_000) }))
        case 5:
            return .task(
                TaskOffer(
                    deliveryID: Int64(int(1...Int(Int32.max))), attempt: int(1...9), deadline: Int64(int(0...Int(Int32.max))), queue: identifier(),
                    priority: int(0...9), interaction: .object(["text": .string(text()), "n": .double(Double(int(0...1000)) / 8)]),
                    customer: .object(["ids": .array([.integer(-5), .bool(true), .null])]), body: bytes()))
        case 6:
            return .ack(
                Ack(messageID: text(), interactionID: Int64(int(1...Int(Int32.max))), customerID: 1, queue: identifier(), duplicate: next() % 2 == 0))
        default:
            return .error(
                WorkerError(
                    code: WorkerError.Code.allCases[int(0...3)], detail: text(), reason: text(), deliveryID: optional { Int64($0.int(1...99)) }))
        }
    }
}

@Suite("Codec properties")
struct RoundTripPropertyTests {
    @Test("every generated command decodes to itself and re-encodes to identical frames", arguments: 0..<4)
    func roundTrip(seed: UInt64) throws {
        var generator = CommandGenerator(seed: seed)
        for _ in 0..<500 {
            let command = generator.command()
            let frames = Codec.encode(command)
            let decoded = try Codec.decode(frames, limits: DecodingLimits(maxBodyBytes: 1 << 16))
            #expect(decoded == command)
            #expect(Codec.encode(decoded) == frames)
            #expect(JSONWriter.bytes(try JSONParser.parse(frames[2])) == frames[2], "header not canonical: \(command.name)")
        }
    }
}
