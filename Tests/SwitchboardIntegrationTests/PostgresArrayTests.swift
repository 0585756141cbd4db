import Postgres
import Testing

@Suite("Binary array parameters")
struct PostgresArrayTests {
    /// What the server made of an array parameter: each element as text, NULL as nil, in order.
    func elements(_ parameter: PostgresValue, as type: String, _ database: TestDatabase) throws -> [String?] {
        try database.connect().query("SELECT e FROM unnest($1::\(type)) WITH ORDINALITY AS a (e, n) ORDER BY n", [parameter]).rows.map {
            $0[0]
        }
    }

    @Test("every element type arrives as written, NULLs and all, in order")
    func roundTrip() throws {
        let database = try TestDatabase()
        var texts = PostgresArray<String>()
        for text in ["ascii", "", nil, "فارسی ۱۲۳", "emoji 🙂", "quote \" backslash \\ {brace}, comma"] { texts.append(text) }
        #expect(
            try elements(texts.parameter(), as: "text[]", database) == [
                "ascii", "", nil, "فارسی ۱۲۳", "emoji 🙂", "quote \" backslash \\ {brace}, comma",
            ])

        // Text given as its UTF-8, beside text given as strings.
        var utf8 = PostgresArray<String>()
        utf8.append(utf8: Array("сломался 😀".utf8))
        utf8.append(utf8: [UInt8]?.none)
        utf8.append("string")
        utf8.append(utf8: [])
        #expect(try elements(utf8.parameter(), as: "text[]", database) == ["сломался 😀", nil, "string", ""])

        var bigints = PostgresArray<Int64>()
        for number in [Int64.min, -1, 0, nil, Int64.max] { bigints.append(number) }
        #expect(try elements(bigints.parameter(), as: "bigint[]", database) == ["-9223372036854775808", "-1", "0", nil, "9223372036854775807"])

        var integers = PostgresArray<Int32>()
        for number in [Int32.min, 7, Int32.max] { integers.append(number) }
        #expect(try elements(integers.parameter(), as: "integer[]", database) == ["-2147483648", "7", "2147483647"])

        var smallints = PostgresArray<Int16>()
        for number in [Int16.min, nil, 9] { smallints.append(number) }
        #expect(try elements(smallints.parameter(), as: "smallint[]", database) == ["-32768", nil, "9"])

        var bytes = PostgresArray<PostgresBytes>()
        for value in [PostgresBytes([0, 1, 0xFF, 0]), nil, PostgresBytes([])] { bytes.append(value) }
        #expect(try elements(bytes.parameter(), as: "bytea[]", database) == ["\\x0001ff00", nil, "\\x"])

        var documents = PostgresArray<PostgresJSONB>()
        for text in ["{\"b\": 1, \"a\": [true, null]}", nil] { documents.append(text.map { PostgresJSONB(Array($0.utf8)) }) }
        #expect(try elements(documents.parameter(), as: "jsonb[]", database) == ["{\"a\": [true, null], \"b\": 1}", nil])
    }

    @Test("a result's values are read in place as text, bytes and integers; NULL, out of range or not a number is nil")
    func resultReaders() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try connection.sendPrepared(
            "readers",
            """
            SELECT * FROM (VALUES (1, '-9223372036854775808', 'فارسی'), (2, '9223372036854775807', NULL), (3, '9223372036854775808', ''),
                                  (4, '-', '{"a": 1}'), (5, '', NULL), (6, '12a', NULL), (7, NULL, NULL), (8, '007', NULL),
                                  (9, '-9223372036854775809', NULL)) AS v (n, number, text) ORDER BY n
            """, [])
        let result = try connection.receiveResult()
        #expect(result.rowCount == 9 && result.columnCount == 3)
        #expect((0..<9).map { result.int64($0, 1) } == [.min, .max, nil, nil, nil, nil, nil, 7, nil])
        #expect(result.string(0, 2) == "فارسی" && result.string(1, 2) == nil && result.string(2, 2) == "")
        #expect(result.bytes(3, 2) == Array(#"{"a": 1}"#.utf8) && result.bytes(4, 2) == nil)
        #expect(result.int64(9, 0) == nil && result.string(0, 3) == nil && result.int64(-1, 0) == nil)
    }

    @Test("a parallel unnest of several arrays keeps each row's elements together")
    func parallelColumns() throws {
        let database = try TestDatabase()
        var names = PostgresArray<String>()
        var counts = PostgresArray<Int64>()
        for index in 0..<1000 {
            names.append("name-\(index)")
            counts.append(index % 7 == 0 ? nil : Int64(index))
        }
        let rows = try database.connect().query(
            "SELECT count(*), count(*) FILTER (WHERE c IS NULL), bool_and(c IS NULL OR name = 'name-' || c) FROM unnest($1::text[], $2::bigint[]) AS a (name, c)",
            [names.parameter(), counts.parameter()]
        ).rows
        #expect(rows.first == ["1000", "143", "t"])
    }

    @Test("an array of another element type than the statement's is refused by the server, not converted")
    func wrongElementType() throws {
        let database = try TestDatabase()
        var numbers = PostgresArray<Int64>()
        numbers.append(1)
        #expect(throws: PostgresError.self) { try database.connect().query("SELECT $1::text[]", [numbers.parameter()]) }
    }

    @Test("binary COPY rows arrive as written, NULLs, booleans and times too, and a refused row stops the COPY")
    func copyRows() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try connection.execute(script: "SET TIME ZONE 'UTC'; CREATE TEMP TABLE copied (n bigint, t text, b boolean, at timestamptz, s smallint)")
        var rows = PostgresCopyRows()
        for (number, text, flag) in [(Int64(1), "فارسی", true), (-7, nil, false)] {
            rows.startRow(fields: 5)
            rows.field(number)
            rows.field(text)
            rows.field(flag)
            rows.timestamp(unixMs: 1_700_000_000_123)
            rows.field(Int16(3))
        }
        #expect(rows.count == 2)
        #expect(try connection.copyIn("COPY copied FROM STDIN (FORMAT binary)", rows.data()) == 2)
        #expect(
            try connection.query("SELECT n, t, b, at, s FROM copied ORDER BY n DESC").rows == [
                ["1", "فارسی", "t", "2023-11-14 22:13:20.123+00", "3"], ["-7", nil, "f", "2023-11-14 22:13:20.123+00", "3"],
            ])

        // A row of the wrong shape fails the whole COPY with the server's error; the connection stays usable.
        var wrong = PostgresCopyRows()
        wrong.startRow(fields: 1)
        wrong.field(Int64(9))
        #expect(throws: PostgresError.self) { try connection.copyIn("COPY copied FROM STDIN (FORMAT binary)", wrong.data()) }
        #expect(throws: PostgresError.self) { try connection.copyIn("SELECT 1", []) }
        #expect(try connection.query("SELECT count(*) FROM copied").scalar() == "2")
    }
}
