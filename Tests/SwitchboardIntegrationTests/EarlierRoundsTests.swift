import Postgres
import SwitchboardStore
import Testing

extension EarlierEntryPointTests {
    /// Hubs up to schema version 0018 send their batches to swb_ingest_rounds, which since 0019
    /// unnests the answers of swb_ingest_rounds_arrays; this hub calls that function itself.
    @Test("swb_ingest_rounds still answers a row per message, with repeats in later rounds and re-sends answered as duplicates")
    func earlierRounds() throws {
        let database = try TestDatabase()
        let store = try Store(conninfo: database.conninfo, owner: "hub-new")
        _ = try store.registerRouting(["rules": "test"])
        let connection = try database.connect()
        // Positions 1 and 2 are the first round; position 3 repeats position 1's message, so it is
        // the second round.
        func rounds(ends: String, ids: String, phones: String, fingerprints: String) throws -> [[String?]] {
            try connection.query(
                """
                SELECT o_position, o_outcome, o_customer_id, o_queue, o_delivery_id IS NOT NULL
                  FROM swb_ingest_rounds('\(ends)', array_fill('gw'::text, ARRAY[cardinality('\(ids)'::text[])]), '\(ids)',
                       array_fill('sms'::text, ARRAY[cardinality('\(ids)'::text[])]), array_fill(1789999999000::bigint, ARRAY[cardinality('\(ids)'::text[])]),
                       NULL, NULL, array_fill('support'::text, ARRAY[cardinality('\(ids)'::text[])]), NULL,
                       array_fill(0::smallint, ARRAY[cardinality('\(ids)'::text[])]), array_fill('text/plain'::text, ARRAY[cardinality('\(ids)'::text[])]),
                       array_fill('help'::text, ARRAY[cardinality('\(ids)'::text[])]), NULL, NULL,
                       array_fill(1790000060000::bigint, ARRAY[cardinality('\(ids)'::text[])]),
                       array_fill('default'::text, ARRAY[cardinality('\(ids)'::text[])]), array_fill(1, ARRAY[cardinality('\(ids)'::text[])]),
                       '\(fingerprints)', '\(phones)', NULL, NULL, NULL, to_timestamp(1790000000))
                 ORDER BY o_position
                """
            ).rows
        }
        let first = try rounds(ends: "{2,3}", ids: "{m-1,m-2,m-1}", phones: "{+4915111,+4915222,+4915111}", fingerprints: "{f1,f2,f1}")
        #expect(
            first.map { [$0[0], $0[1], $0[3], $0[4]] } == [
                ["1", "stored", "support", "t"], ["2", "stored", "support", "t"], ["3", "duplicate", "support", "f"],
            ])
        #expect(first[2][2] == first[0][2], "the repeat answers its first copy's customer")
        #expect(first[1][2] != first[0][2])

        // A re-send in a later batch: the first round's insert is refused, and the round runs again
        // with lookups; a new message with the same phone follows it in the second round.
        let again = try rounds(ends: "{1,2}", ids: "{m-2,m-3}", phones: "{+4915222,+4915222}", fingerprints: "{f2,f3}")
        #expect(again.map { [$0[0], $0[1], $0[2]] } == [["1", "duplicate", first[1][2]], ["2", "stored", first[1][2]]])
        #expect(try database.count("SELECT count(*) FROM interactions") == 3)
        #expect(try database.count("SELECT count(*) FROM deliveries") == 3)
    }
}
