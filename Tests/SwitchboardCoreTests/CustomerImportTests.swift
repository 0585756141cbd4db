import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Customer import files: CSV read to the letter, every bad row named by its line")
struct CustomerImportTests {
    let normalizer = IdentityNormalizer(defaultCountryCode: "98")

    @Test("quoted fields hold commas, quotes and line breaks; CR LF and a missing last line break are fine; records keep their first line")
    func csv() throws {
        let text = "email,note,region\r\nsara@example.com,\"Vali-Asr St. 12, \"\"blue door\"\"\",north\r\n\r\nomid@example.com,\"two\nlines\",south"
        let records = try CSV.records(text)
        #expect(records.map(\.line) == [1, 2, 4])
        #expect(records[1].fields == ["sara@example.com", "Vali-Asr St. 12, \"blue door\"", "north"])
        #expect(records[2].fields == ["omid@example.com", "two\nlines", "south"])
        #expect(throws: CSV.Malformed(line: 2, reason: "a quoted field is not closed")) { try CSV.records("email\n\"sara@example.com\n") }
        #expect(throws: CSV.Malformed(line: 2, reason: "a quote inside an unquoted field")) { try CSV.records("email\nsa\"ra\n") }
    }

    @Test("identities are normalized as hints are; fields set the profile, the rest are attributes")
    func rows() {
        let (rows, problems) = CustomerImport.rows(
            csv: """
                Phone,Email,name,value_tier,kind,consent.sms,credit_rating,industry
                ۰۹۱۲ ۳۴۵ ۶۷۸۹,Sara@Example.com,Sara Ahmadi,gold,consumer,yes,A,retail
                ,orders@reseller.example,,,partner,no,,wholesale
                """, normalizer: normalizer)
        #expect(problems.isEmpty)
        #expect(rows.count == 2)
        #expect(
            rows[0]
                == CustomerImport.Row(
                    line: 2,
                    identities: [
                        NormalizedIdentity(kind: .phone, value: "+989123456789"), NormalizedIdentity(kind: .email, value: "sara@example.com"),
                    ],
                    fields: [
                        "name": "Sara Ahmadi", "value_tier": "gold", "kind": "consumer", "consent.sms": "true", "credit_rating": "A",
                        "industry": "retail",
                    ]))
        #expect(rows[1].fields == ["kind": "partner", "consent.sms": "false", "industry": "wholesale"])
    }

    @Test("every bad row is reported with its line, and a file with any is not imported")
    func problems() {
        let (_, problems) = CustomerImport.rows(
            csv: """
                email,phone,kind,consent.email
                sara@example.com,,consumer,yes
                sara@,,consumer,yes
                ,call me,consumer,yes
                ,,consumer,yes
                omid@example.com,,reseller,maybe
                lena@example.com,,consumer
                """, normalizer: normalizer)
        #expect(
            problems.map(\.description) == [
                "line 3: email 'sara@' is not one",
                "line 4: phone 'call me' is not one",
                "line 5: no identity: a row needs a value in one of the identity columns",
                "line 6: kind 'reseller' is neither consumer nor partner",
                "line 6: consent.email 'maybe' is neither yes nor no",
                "line 7: 3 fields; the header has 4",
            ])
        #expect(
            CustomerImport.rows(csv: "name,region\nSara,north\n", normalizer: normalizer).problems.first?.reason.hasPrefix("no identity column")
                == true)
        #expect(
            CustomerImport.rows(csv: "email,email\na@b.io,c@d.io\n", normalizer: normalizer).problems.first?.reason == "column 'email' is named twice"
        )
    }
}
