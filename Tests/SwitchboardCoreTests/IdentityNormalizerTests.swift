import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Identity normalization")
struct IdentityNormalizerTests {
    let iran = IdentityNormalizer(defaultCountryCode: "98")

    @Test(
        "phone numbers in any digit script become E.164",
        arguments: [
            ("۰۹۱۲ ۳۴۵ ۶۷۸۹", "+989123456789"),  // Persian digits, national trunk prefix
            ("٠٠٩٨٩١٢٣٤٥٦٧٨٩", "+989123456789"),  // Arabic-Indic digits, 00 international prefix
            ("+7 (912) 345-67-89", "+79123456789"),
            ("0098 912 345 6789", "+989123456789"),
            ("09123456789", "+989123456789"),
            ("+98 912-345-6789", "+989123456789"),
            ("\u{200E}+1 415.555.0100", "+14155550100"),
        ])
    func phone(_ raw: String, _ expected: String) throws {
        #expect(try iran.normalizePhone(raw) == expected)
    }

    @Test("numbers that are not phone numbers are refused", arguments: ["anonymous", "+", "12+34", "+0912345678", "0912", "+1234567890123456"])
    func badPhone(_ raw: String) {
        #expect(throws: IdentityError.self) { try iran.normalizePhone(raw) }
    }

    @Test("a national number without a configured country code is refused")
    func nationalWithoutCountry() {
        #expect(throws: IdentityError.self) { try IdentityNormalizer(defaultCountryCode: nil).normalizePhone("0912 345 6789") }
        #expect(try! IdentityNormalizer(defaultCountryCode: nil).normalizePhone("+7 912 345 67 89") == "+79123456789")
    }

    @Test("e-mail is trimmed and lower-cased")
    func email() throws {
        #expect(try iran.normalizeEmail("  Sara.Ahmadi@Example.COM ") == "sara.ahmadi@example.com")
        #expect(throws: IdentityError.self) { try iran.normalizeEmail("not-an-address") }
        #expect(throws: IdentityError.self) { try iran.normalizeEmail("a@localhost") }
        // Printable ASCII takes a path of its own; the rules are the same.
        #expect(try iran.normalizeEmail("Sara.Ahmadi@Example.COM") == "sara.ahmadi@example.com")
        #expect(try iran.normalizeEmail("sara@example.com") == "sara@example.com")
        for address in ["a@b@c.io", "@b.io", "a@.io", "a@b.io.", "a@bio", "ab.io"] {
            #expect(throws: IdentityError.self, "\(address)") { try iran.normalizeEmail(address) }
            #expect(throws: IdentityError.self, "\(address) with a space") { try iran.normalizeEmail(" \(address)") }
        }
        #expect(try iran.normalizeEmail("Ÿvonne@Exämple.com") == "ÿvonne@exämple.com")
    }

    @Test("all hints of a message become identities of their kind")
    func hints() throws {
        let identities = try iran.normalize(
            IdentityHints(phone: "۰۹۱۲۳۴۵۶۷۸۹", email: "A@B.io", externalID: " CRM-1 ", deviceID: "c-9", name: "Sara"))
        #expect(
            identities == [
                NormalizedIdentity(kind: .phone, value: "+989123456789"), NormalizedIdentity(kind: .email, value: "a@b.io"),
                NormalizedIdentity(kind: .external, value: "CRM-1"), NormalizedIdentity(kind: .device, value: "c-9"),
            ])
    }
}
