import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Routing rules v1")
struct RouterTests {
    let router = Router(rules: .standard)

    func message(_ text: String, channel: String = "email", intent: String? = nil, process: CRMProcess? = nil) -> Publish {
        Publish(messageID: "m", channel: channel, occurredAt: 0, intent: intent, process: process, body: Array(text.utf8))
    }

    @Test(
        "keywords in English, Persian and Russian pick the process",
        arguments: [
            ("I want to buy the premium plan, what is the price?", CRMProcess.sales),
            ("Please unsubscribe me from the newsletter", .marketing),
            ("The boiler is broken, send a technician", .fieldService),
            ("My password does not work, I need help", .support),
            ("قیمت این محصول چقدر است؟ می‌خواهم خرید کنم", .sales),
            ("لطفاً لغو اشتراک خبرنامه", .marketing),
            ("کولر خراب است، تکنسین برای تعمیر بفرستید", .fieldService),
            ("اینترنت کار نمی‌کند، مشکل دارم", .support),
            ("Хочу купить, какая цена?", .sales),
            ("Отписаться от рассылки", .marketing),
            ("Нужен мастер для ремонта", .fieldService),
            ("Не работает приложение, ошибка", .support),
        ])
    func keywords(_ text: String, _ expected: CRMProcess) {
        let decision = router.route(message(text), now: 0)
        #expect(decision.process == expected, "\(decision.reason)")
        #expect(decision.reason.hasPrefix("keywords: "))
    }

    /// Keyword routing as first written: every keyword searched in the whole folded text.
    func referenceReason(_ text: String) -> String {
        // A keyword matches where it starts a word: " keyword" anywhere in " folded text".
        let folded = Array(" \(TextFolding.fold(text))".utf8)
        var best: [String] = []
        for process in CRMProcess.allCases {
            let matched = Router.standardKeywords(process).filter { folded.firstRange(of: Array(" \($0)".utf8)) != nil }
            if matched.count > best.count { best = matched }
        }
        return best.isEmpty ? "default" : "keywords: " + best.joined(separator: ", ")
    }

    @Test("the indexed keyword search finds what searching every keyword finds, reasons in the same order")
    func indexedSearchMatchesReference() {
        let words = CRMProcess.allCases.flatMap(Router.standardKeywords) + ["the", "a", "x", "плохо", "۱۲", "ok!", "re-fund"]
        var state: UInt64 = 99
        for _ in 0..<3000 {
            var text: [String] = []
            for _ in 0..<(Int(state % 9)) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let word = words[Int((state >> 33) % UInt64(words.count))]
                // Sometimes inflected or glued to the word before, as real text is.
                text.append(state % 5 == 0 ? word + "s" : word)
            }
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let body = text.joined(separator: state % 3 == 0 ? "," : " ")
            #expect(router.route(message(body), now: 0).reason == referenceReason(body), "\(body)")
        }
    }

    @Test("keywords count in a long body's opening only, so a 1 MiB body routes as fast as a short one")
    func longBodiesScanTheirOpening() {
        let padding = String(repeating: "lorem ipsum ", count: 90_000)
        let early = router.route(message("Please send a technician. " + padding), now: 0)
        #expect(early.process == .fieldService)
        let late = router.route(message(padding + " I want to buy"), now: 0)
        #expect(late.process == .support && late.reason == "default")
        let cutMidCharacter = String(repeating: "a", count: Router.scannedBodyBytes - 1) + "ж buy"
        #expect(router.route(message(cutMidCharacter), now: 0).reason == "default")
    }

    @Test("explicit process beats intent, intent beats keywords, nothing means support")
    func precedence() {
        #expect(router.route(message("buy now", intent: "complaint", process: .marketing), now: 0).process == .marketing)
        let byIntent = router.route(message("buy now", intent: "Complaint"), now: 0)
        #expect(byIntent.process == .support)
        #expect(byIntent.reason == "intent 'Complaint'")
        let fallback = router.route(message("hello there"), now: 0)
        #expect(fallback.process == .support)
        #expect(fallback.reason == "default")
    }

    @Test("Arabic letter forms match Persian keywords")
    func arabicForms() {
        // "مشكل" written with Arabic kaf (U+0643) still matches "مشکل".
        #expect(router.route(message("مشكل دارم"), now: 0).process == .support)
    }

    @Test("the deadline is the receive time plus the process's target for the channel")
    func deadline() {
        let phone = router.route(message("help", channel: "phone"), now: 1000)
        #expect(phone.deadline == 1000 + 60_000)
        let mail = router.route(message("help", channel: "mail"), now: 1000)
        #expect(mail.deadline == 1000 + 7_200_000)
    }

    @Test("binary bodies are routed by intent or default, never by bytes")
    func binary() {
        var scan = message("")
        scan.contentType = "image/tiff"
        scan.body = Array("buy".utf8)
        #expect(router.route(scan, now: 0).process == .support)
    }
}

@Suite("Text folding")
struct TextFoldingTests {
    /// Folding as first written, on whole Strings, the slow way: the byte-wise folding must give the same words.
    static func reference(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.lowercased().unicodeScalars {
            switch scalar {
            case "\u{064A}", "\u{0649}": scalars.append("\u{06CC}")
            case "\u{0643}": scalars.append("\u{06A9}")
            case "\u{0451}": scalars.append("\u{0435}")
            case "\u{200C}": scalars.append(" ")
            default:
                let properties = scalar.properties
                scalars.append(
                    properties.isAlphabetic || properties.numericType != nil || properties.generalCategory == .nonspacingMark ? scalar : " ")
            }
        }
        // Split on scalars: a mark after a space starts a word (split on Characters it would glue to the space).
        return scalars.split(separator: " ").map { String(String.UnicodeScalarView($0)) }.joined(separator: " ")
    }

    @Test("folds like the reference on mixed scripts, marks, digits, punctuation and odd spaces")
    func matchesReference() {
        let alphabet = Array(
            "aZ9 ,.!?-_\t\nÉéİıßΣσςЁёЖжكيىی\u{200C}\u{064B}۱۲٣ 中文😀\u{00A0}\u{2003}Ⅻ½".unicodeScalars)
        var state: UInt64 = 42
        for _ in 0..<2000 {
            var text = String.UnicodeScalarView()
            for _ in 0..<(Int(state % 24)) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                text.append(alphabet[Int((state >> 33) % UInt64(alphabet.count))])
            }
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let string = String(text)
            #expect(TextFolding.fold(string) == Self.reference(string), "\(string.unicodeScalars.map { String($0.value, radix: 16) })")
            #expect(TextFolding.foldedWords(string) == (Self.reference(string).isEmpty ? [] : Array(" \(Self.reference(string))".utf8)))
        }
    }

    @Test("folding UTF-8 in place gives what folding its decoded string gives, cut through a character or invalid")
    func foldsBytesLikeTheirString() {
        let text = Array("Привет, I can't pay: نمی‌کند 😀 ß-Straße".utf8)
        var inputs: [[UInt8]] = (0...text.count).map { Array(text.prefix($0)) } + (0..<text.count).map { Array(text.dropFirst($0)) }
        inputs += [
            [0xFF], [0x61, 0xC3], [0xC3, 0x28, 0x61], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xED, 0xA0, 0x80, 0x62], [0x61, 0x80, 0x80, 0x62],
        ]
        for bytes in inputs {
            #expect(TextFolding.foldedWords(utf8: bytes[...]) == TextFolding.foldedWords(String(decoding: bytes, as: UTF8.self)), "\(bytes)")
        }
    }

    @Test("every scalar from U+0080 to U+07FF (folded from a table) folds like the reference, alone and inside a word")
    func twoByteScalars() {
        for value in UInt32(0x80)..<0x800 {
            let scalar = Unicode.Scalar(value)!
            for text in [String(Character(scalar)), "a\(Character(scalar))b"] {
                #expect(TextFolding.fold(text) == Self.reference(text), "U+\(String(value, radix: 16))")
            }
        }
    }
}

extension Router {
    /// The standard rules' keywords of a process, folded, as the router keeps them.
    static func standardKeywords(_ process: CRMProcess) -> [String] {
        RoutingRules.standard.rules(for: process).keywords.map(TextFolding.fold).filter { !$0.isEmpty }
    }
}
