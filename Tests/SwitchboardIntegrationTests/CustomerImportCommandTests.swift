import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

@Suite("switchboard import customers: external data merged by identity, all or nothing, once")
struct CustomerImportCommandTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString).csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(
        "rows find customers by any identity or make new ones, set profile and attributes with their source; the same file again changes nothing; a bad file writes nothing"
    )
    func importFile() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let database = try TestDatabase()
        let hub = try RunningHub(RunningHub.config(database))
        defer { hub.shutdown() }
        let gateway = try GatewayClient(name: "sms", endpoint: hub.endpoints.gateway)
        let known = try gateway.publish(Messages.publish("k-1", hints: IdentityHints(phone: "+98 912 345 6789")))
        let other = try gateway.publish(Messages.publish("k-2", hints: IdentityHints(email: "omid@example.com")))

        let good = try write(
            """
            phone,email,name,value_tier,kind,consent.sms,credit_rating,region
            +۹۸ ۹۱۲ ۳۴۵ ۶۷۸۹,sara@example.com,Sara Ahmadi,gold,,yes,A,north
            ,orders@reseller.example,"Reseller, Ltd.",silver,partner,no,B,south
            """)
        let run = try runProgram(binary, ["import", "customers", "--database", database.conninfo, "--source", "credit-bureau", good])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains(#""created":1"#) && run.output.contains(#""matched":1"#), "\(run.output)")
        #expect(
            try database.value(
                "SELECT concat_ws('|', display_name, value_tier, kind, consent::text, attributes::text) FROM customers WHERE id = $1",
                [.init(known.customerID)]) == #"Sara Ahmadi|gold|consumer|{"sms": true}|{"region": "north", "credit_rating": "A"}"#)
        #expect(
            try database.value(
                "SELECT string_agg(purpose || '=' || granted || '@' || source, ', ') FROM consent_changes WHERE customer_id = $1",
                [.init(known.customerID)]) == "sms=true@import:credit-bureau")
        #expect(
            try database.value(
                "SELECT string_agg(kind || '=' || value, ' ' ORDER BY kind) FROM customer_identities WHERE customer_id = $1",
                [.init(known.customerID)])
                == "email=sara@example.com phone=+989123456789")
        #expect(
            try database.value(
                "SELECT concat_ws('|', c.display_name, c.value_tier, c.kind) FROM customers c JOIN customer_identities i ON i.customer_id = c.id WHERE i.value = 'orders@reseller.example'"
            )
                == "Reseller, Ltd.|silver|partner")
        #expect(
            try database.value("SELECT string_agg(DISTINCT source, ',') || ':' || count(*) FROM customer_attribute_sources") == "credit-bureau:11")
        let snapshot = try database.value("SELECT string_agg(c::text, ';' ORDER BY id) FROM customers c")

        let again = try runProgram(binary, ["import", "customers", "--database", database.conninfo, "--source", "credit-bureau", good])
        #expect(again.status == 0 && again.output.contains("were imported before"), "\(again.output)")
        #expect(try database.value("SELECT string_agg(c::text, ';' ORDER BY id) FROM customers c") == snapshot)

        // One row bad: none written, and each problem is named by its line.
        let bad = try write(
            """
            email,segment
            lena@example.com,smb
            sara@,smb
            """)
        let refused = try runProgram(binary, ["import", "customers", "--database", database.conninfo, "--source", "crm", bad])
        #expect(refused.status != 0)
        #expect(refused.output.contains("\(bad):3: email 'sara@' is not one"), "\(refused.output)")
        // A row whose identities belong to two customers is found in the database: still nothing written.
        let ambiguous = try write(
            """
            email,phone,segment
            lena@example.com,,smb
            omid@example.com,+989123456789,smb
            """)
        let conflict = try runProgram(binary, ["import", "customers", "--database", database.conninfo, "--source", "crm", ambiguous])
        #expect(conflict.status != 0)
        #expect(
            conflict.output.contains(
                "\(ambiguous):3: its identities belong to customers \(min(known.customerID, other.customerID)) and \(max(known.customerID, other.customerID))"
            ),
            "\(conflict.output)")
        #expect(try database.value("SELECT string_agg(c::text, ';' ORDER BY id) FROM customers c") == snapshot)
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE value = 'lena@example.com'") == 0)
        #expect(try database.count("SELECT count(*) FROM customer_imports") == 1)
    }
}
