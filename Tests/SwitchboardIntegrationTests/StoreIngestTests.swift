import SwitchboardCore
import SwitchboardProtocol
import SwitchboardStore
import Testing

@Suite("Batch ingest in PostgreSQL")
struct StoreIngestTests {
    static let route = RouteDecision(process: .support, queue: "support", priority: 0, deadline: 1_790_000_060_000, reason: "default")

    func record(_ id: String, _ text: String = "help", gateway: String = "gw", identities: [NormalizedIdentity]) -> IngestRecord {
        IngestRecord(gateway: gateway, publish: Messages.publish(id, text), identities: identities, route: Self.route, routingVersion: 1)
    }

    /// Both forms of batch ingest must give the same answers: message by message and set-based.
    static let forms = [1_000_000, 1]

    func store(_ database: TestDatabase, setBasedFrom: Int) throws -> Store {
        let store = try Store(conninfo: database.conninfo, owner: "test")
        store.setBasedFrom = setBasedFrom
        _ = try store.registerRouting(["rules": "test"])
        return store
    }

    @Test("a message repeated inside one batch is stored once; a repeat with other content is a conflict", arguments: forms)
    func repeatsWithinABatch(setBasedFrom: Int) throws {
        let database = try TestDatabase()
        let store = try store(database, setBasedFrom: setBasedFrom)
        let phone = NormalizedIdentity(kind: .phone, value: "+989121234567")
        let outcomes = try store.ingest(
            [
                record("m-1", identities: [phone]), record("m-2", identities: []), record("m-1", identities: [phone]),
                record("m-1", "other", identities: [phone]),
            ],
            receivedAtMs: 1_790_000_000_000)
        guard case .stored(let first, _) = outcomes[0], case .stored(let second, _) = outcomes[1],
            case .duplicate(let repeated) = outcomes[2], case .conflict(_, let original) = outcomes[3]
        else {
            Issue.record("unexpected outcomes \(outcomes)")
            return
        }
        #expect(second.messageID == "m-2")
        #expect(repeated.interactionID == first.interactionID)
        #expect(repeated.customerID == first.customerID)
        #expect(original.interactionID == first.interactionID)
        #expect(try database.count("SELECT count(*) FROM interactions") == 2)
        #expect(try database.count("SELECT count(*) FROM deliveries") == 2)
    }

    @Test("messages of one batch that share a new identity become one customer, in batch order", arguments: forms)
    func newCustomersWithinABatch(setBasedFrom: Int) throws {
        let database = try TestDatabase()
        let store = try store(database, setBasedFrom: setBasedFrom)
        let phone = NormalizedIdentity(kind: .phone, value: "+79123456789")
        let email = NormalizedIdentity(kind: .email, value: "ivan@example.com")
        let outcomes = try store.ingest(
            [
                record("a", identities: [phone]), record("b", identities: [email, phone]), record("c", identities: [email]),
                record("d", identities: []),
            ],
            receivedAtMs: 1_790_000_000_000)
        let customers = outcomes.map { outcome -> Int64 in
            if case .stored(let ack, _) = outcome { return ack.customerID }
            return -1
        }
        #expect(customers[0] == customers[1])
        #expect(customers[1] == customers[2])
        #expect(customers[3] != customers[0])
        #expect(try database.count("SELECT count(*) FROM customers") == 2)
        #expect(try database.count("SELECT count(*) FROM customer_identities WHERE customer_id = $1", [.init(customers[0])]) == 2)
        guard case .stored(_, let task) = outcomes[2] else { return }
        #expect(
            task.payload.customer["identities"] == [["kind": "email", "value": "ivan@example.com"], ["kind": "phone", "value": "+79123456789"]])
    }

    @Test("answers come in the batch's order with one delivery per stored message", arguments: forms)
    func order(setBasedFrom: Int) throws {
        let database = try TestDatabase()
        let store = try store(database, setBasedFrom: setBasedFrom)
        let records = (0..<50).map { record("o-\($0)", identities: [NormalizedIdentity(kind: .device, value: "d-\($0 % 7)")]) }
        let outcomes = try store.ingest(records, receivedAtMs: 1_790_000_000_000)
        var deliveries = Set<Int64>()
        for (index, outcome) in outcomes.enumerated() {
            guard case .stored(let ack, let task) = outcome else {
                Issue.record("\(index) not stored")
                continue
            }
            #expect(ack.messageID == "o-\(index)")
            deliveries.insert(task.deliveryID)
        }
        #expect(deliveries.count == 50)
        #expect(try database.count("SELECT count(DISTINCT customer_id) FROM interactions") == 7)
    }
}
