import Foundation
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
        let (identities, unverified) = iran.normalize(
            IdentityHints(
                phone: "۰۹۱۲۳۴۵۶۷۸۹", email: "A@B.io", externalID: " CRM-1 ", deviceID: "c-9", name: "Sara", fax: "021 8888 1234",
                chat: "livechat:V-88", social: "Telegram: @Sara_K"))
        #expect(
            identities == [
                NormalizedIdentity(kind: .phone, value: "+989123456789"), NormalizedIdentity(kind: .email, value: "a@b.io"),
                NormalizedIdentity(kind: .external, value: "CRM-1"), NormalizedIdentity(kind: .device, value: "c-9"),
                NormalizedIdentity(kind: .fax, value: "+982188881234"), NormalizedIdentity(kind: .chat, value: "livechat:V-88"),
                NormalizedIdentity(kind: .social, value: "telegram:sara_k"),
            ])
        #expect(unverified.isEmpty)
    }

    /// One hint each: its kind, as the gateway wrote it, and its normalized value (nil: kept unverified, as written, trimmed).
    static let table: [(NormalizedIdentity.Kind, String, String?)] = [
        // Phones: Latin, Persian and Arabic-Indic digits; spaces, dashes, dots, slashes, brackets; +, 00 and the trunk 0.
        (.phone, "09123456789", "+989123456789"),
        (.phone, "۰۹۱۲ ۳۴۵ ۶۷۸۹", "+989123456789"),
        (.phone, "۰۹۱۲-۳۴۵-۶۷۸۹", "+989123456789"),
        (.phone, "٠٩١٢٣٤٥٦٧٨٩", "+989123456789"),
        (.phone, "٠٠٩٨٩١٢٣٤٥٦٧٨٩", "+989123456789"),
        (.phone, "+۹۸ ۹۱۲ ۳۴۵ ۶۷۸۹", "+989123456789"),
        (.phone, "+98 (912) 345.67.89", "+989123456789"),
        (.phone, "0098/912/345/6789", "+989123456789"),
        (.phone, "\u{200F}+98 912 345 6789\u{200F}", "+989123456789"),
        (.phone, "＋7 912 345-67-89", "+79123456789"),
        (.phone, "+7 (916) 123–45–67", "+79161234567"),
        (.phone, "00 44 20 7946 0958", "+442079460958"),
        (.phone, "+1 415.555.0100", "+14155550100"),
        (.phone, "9123456789", "+989123456789"),
        (.phone, "call me", nil),
        (.phone, "0912", nil),
        (.phone, "+0912345678", nil),
        (.phone, "12+34", nil),
        (.phone, "  ext. 12  ", nil),
        // Fax numbers normalize as phones do.
        (.fax, "۰۲۱ ۸۸۸۸ ۱۲۳۴", "+982188881234"),
        (.fax, "+49 30 1234567", "+49301234567"),
        (.fax, "fax it", nil),
        // E-mail: trimmed and lower-cased, any script.
        (.email, "  Sara.Ahmadi@Example.COM ", "sara.ahmadi@example.com"),
        (.email, "ÿvonne@Exämple.com", "ÿvonne@exämple.com"),
        (.email, "sara@", nil),
        (.email, "a@b@c.io", nil),
        (.email, "not an address", nil),
        // Handles.
        (.social, "Telegram:@Sara_K", "telegram:sara_k"),
        (.social, " instagram : Omid.R ", "instagram:omid.r"),
        (.social, "@sara", nil),
        (.social, "x:@", nil),
        (.chat, " livechat:V-8812 ", "livechat:V-8812"),
        (.chat, "widget:۱۲۳", "widget:۱۲۳"),
        (.external, " CRM-42 ", "CRM-42"),
        (.device, "\u{2003}", nil),
    ]

    @Test("the normalization table: each hint becomes its identity, or is kept unverified as written", arguments: table.indices)
    func normalizationTable(_ index: Int) {
        let (kind, raw, expected) = Self.table[index]
        let (identities, unverified) = iran.normalize(IdentityHints(kind, raw))
        if let expected {
            #expect(identities == [NormalizedIdentity(kind: kind, value: expected)], "\(raw)")
            #expect(unverified.isEmpty)
        } else {
            #expect(identities.isEmpty, "\(raw)")
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            #expect(unverified == (trimmed.isEmpty ? [] : [UnverifiedIdentity(kind: kind, value: trimmed)]), "\(raw)")
        }
    }

    @Test("the table has the thirty cases and more the customer database asks for")
    func tableSize() {
        #expect(Self.table.count >= 30)
        #expect(Set(Self.table.map(\.0)) == Set(NormalizedIdentity.Kind.allCases))
    }
}
