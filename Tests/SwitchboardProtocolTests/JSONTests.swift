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
