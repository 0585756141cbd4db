import Testing

@testable import SwitchboardProtocol

@Suite("Strict JSON")
struct JSONTests {
    @Test("parses every JSON type and writes it back with sorted keys")
    func roundTrip() throws {
        let text = #"{"b":[1,-2,3.5,true,false,null],"a":"x\"y\\z\n\u00e9 سلام","c":{}}"#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value["a"] == .string("x\"y\\z\né سلام"))
        #expect(value["b"] == .array([1, -2, .double(3.5), true, false, nil]))
        let written = JSONWriter.bytes(value)
        #expect(try JSONParser.parse(written) == value)
        #expect(JSONWriter.string(value).hasPrefix(#"{"a":"#))
    }

    @Test(
        "refuses what RFC 8259 or PostgreSQL does not accept",
        arguments: [
            "", "{", "[1,]", "{\"a\":1,}", "{\"a\":1,\"a\":2}", "01", "1.", "tru", "\"\\ud800\"", "\"\\u0000\"",
            "\"a\u{01}b\"", "{} x", "[\"\\x\"]", "{\"a\" 1}", String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
        ])
    func refuses(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test("refuses invalid UTF-8 inside strings")
    func refusesInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xC0, 0xAF, 0x22]  // overlong encoding of '/'
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(bytes) }
    }
}

@Suite("Strict JSON regressions")
struct JSONRegressionTests {
    @Test("a whole-number double stays a double when written and read back (found by make fuzz)")
    func wholeNumberDoubleStaysDouble() throws {
        for text in ["[1.0]", "[-0.0]", "[1e300]", "[123456789012345678.0]", "[2.5e-8]"] {
            let value = try JSONParser.parse(Array(text.utf8))
            #expect(try JSONParser.parse(JSONWriter.bytes(value)) == value, "\(text)")
        }
    }
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test("integers are written as Swift prints them, to the extremes")
    func integers() {
        var state: UInt64 = 7
        var numbers: [Int64] = [0, 1, -1, 9, 10, -10, Int64.max, Int64.min, Int64.min + 1]
        for _ in 0..<1000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            numbers.append(Int64(bitPattern: state) >> (state % 63))
        }
        for number in numbers { #expect(JSONWriter.string(.integer(number)) == String(number)) }
    }

    @Test("every ASCII character, quotes, backslashes and multi-byte text read back as written")
    func strings() throws {
        // U+0000 aside: the strict parser refuses it, as PostgreSQL does.
        let ascii = String(decoding: (1..<128).map(UInt8.init), as: UTF8.self)
        for text in [ascii, "", "\"", "\\", "\"\\\"", "plain", "é سلام 😀\u{1F}end", ascii + ascii.uppercased()] {
            let written = JSONWriter.string(.string(text))
            #expect(try JSONParser.parse(Array(written.utf8)) == .string(text))
            #expect(!written.utf8.dropFirst().dropLast().contains { $0 < 0x20 })
        }
        #expect(JSONWriter.string(.string("a\u{1}b\n")) == #""a\u0001b\n""#)
    }
}
