import Postgres
import SwitchboardCore
import SwitchboardProtocol

/// A campaign's figures (`analytics_campaign_responses`), as `switchboard campaign report` prints them.
public struct CampaignReport: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var state: String
    public var mode: String
    public var channel: String
    public var reached: Int
    public var skipped: Int
    public var delivered: Int
    public var undelivered: Int
    public var responded: Int
    public var converted: Int
    public var optedOut: Int
    /// Targets passed over for good, by reason (opted_out, no_address, ...).
    public var skippedBy: [String: Int]
    /// Contacted, responded and converted per language.
    public var byLanguage: [String: (reached: Int, responded: Int, converted: Int)]

    public static func == (lhs: CampaignReport, rhs: CampaignReport) -> Bool {
        lhs.id == rhs.id && lhs.reached == rhs.reached && lhs.delivered == rhs.delivered && lhs.responded == rhs.responded
            && lhs.converted == rhs.converted && lhs.optedOut == rhs.optedOut && lhs.skippedBy == rhs.skippedBy
    }
}

/// Why a campaign could not be created or changed.
public struct CampaignError: Error, CustomStringConvertible {
    public let description: String
}

extension Store {
    /// Creates a campaign in state draft; answers its id.
    public func createCampaign(_ campaign: CampaignDefinition) throws -> Int64 {
        let problems = campaign.problems
        guard problems.isEmpty else { throw CampaignError(description: problems.joined(separator: "; ")) }
        let zoneKnown = try connection.query("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", [.init(campaign.timeZone)])
        guard zoneKnown.rows.first?.first == "t" else {
            throw CampaignError(
                description: "time_zone '\(campaign.timeZone)' is not a time zone PostgreSQL knows (an IANA name such as Asia/Tehran)")
        }
        if try connection.query("SELECT 1 FROM campaigns WHERE name = $1", [.init(campaign.name)]).rows.count > 0 {
            throw CampaignError(description: "a campaign named '\(campaign.name)' exists already")
        }
        var target: [String: JSONValue] = [:]
        if let kind = campaign.target.kind { target["kind"] = .string(kind.rawValue) }
        if let tiers = campaign.target.valueTier { target["value_tier"] = .array(tiers.map(JSONValue.string)) }
        if let segments = campaign.target.segment { target["segment"] = .array(segments.map(JSONValue.string)) }
        if let attributes = campaign.target.attributes { target["attributes"] = .object(attributes.mapValues(JSONValue.string)) }
        if let days = campaign.target.lastContactDays {
            var range: [String: JSONValue] = [:]
            if let min = days.min { range["min"] = .integer(Int64(min)) }
            if let max = days.max { range["max"] = .integer(Int64(max)) }
            target["last_contact_days"] = .object(range)
        }
        if let stages = campaign.target.lifecycle { target["lifecycle"] = .array(stages.map { .string($0.rawValue) }) }
        let row = try connection.query(
            """
            INSERT INTO campaigns (name, mode, channel, queue, target, templates, default_language, time_zone, window_days, window_start,
                                   window_end, response_days, conversion_outcomes, batch_size)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9::smallint[], $10::time, $11::time, $12::smallint, $13::text[], $14::integer)
            RETURNING id
            """,
            [
                .init(campaign.name), .init(campaign.mode.rawValue), .init(campaign.channel), .init(campaign.queue),
                .init(String(decoding: JSONWriter.bytes(.object(target)), as: UTF8.self)),
                .init(String(decoding: JSONWriter.bytes(.object(campaign.templates.mapValues(JSONValue.string))), as: UTF8.self)),
                .init(campaign.defaultLanguage), .init(campaign.timeZone),
                .text("{" + campaign.window.days.map(String.init).joined(separator: ",") + "}"),
                .init(campaign.window.from), .init(campaign.window.to), .init(campaign.responseDays),
                .text(Store.textArrayLiteral(campaign.conversionOutcomes)), .init(campaign.batchSize),
            ]
        ).rows.first
        guard let id = row?.first.flatMap({ $0 }).flatMap({ Int64($0) }) else {
            throw PostgresError(code: .unexpectedResult, message: "the campaign was not created")
        }
        return id
    }

    /// start (draft or paused → running), pause (running → paused), finish (→ finished).
    public func setCampaignState(name: String, to state: String) throws {
        let allowed: [String: [String]] = ["running": ["draft", "paused"], "paused": ["running"], "finished": ["draft", "running", "paused"]]
        guard let from = allowed[state] else { throw CampaignError(description: "unknown campaign state '\(state)'") }
        let current = try connection.query("SELECT state FROM campaigns WHERE name = $1", [.init(name)]).rows.first?.first ?? nil
        guard let current else { throw CampaignError(description: "no campaign named '\(name)'") }
        guard from.contains(current) else { throw CampaignError(description: "campaign '\(name)' is \(current); it cannot become \(state)") }
        try connection.query(
            """
            UPDATE campaigns SET state = $2,
                   started_at = CASE WHEN $2 = 'running' THEN coalesce(started_at, now()) ELSE started_at END,
                   paused_at = CASE WHEN $2 = 'paused' THEN now() ELSE paused_at END
             WHERE name = $1
            """, [.init(name), .init(state)])
    }

    /// Every campaign's figures, or the one named.
    public func campaignReports(name: String? = nil) throws -> [CampaignReport] {
        let rows = try connection.query(
            """
            SELECT campaign_id, campaign, state, mode, channel, reached, skipped, delivered, undelivered, responded, converted, opted_out
              FROM analytics_campaign_responses WHERE $1::text IS NULL OR campaign = $1 ORDER BY campaign_id
            """, [.init(name)]
        ).rows
        return try rows.map { row in
            func int(_ index: Int) -> Int { row[index].flatMap { Int($0) } ?? 0 }
            let id = Int64(int(0))
            var skippedBy: [String: Int] = [:]
            for reason in try connection.query(
                "SELECT skip_reason, count(*) FROM campaign_targets WHERE campaign_id = $1 AND state = 'skipped' GROUP BY 1", [.init(id)]
            ).rows {
                skippedBy[reason[0] ?? "-"] = reason[1].flatMap { Int($0) } ?? 0
            }
            var byLanguage: [String: (reached: Int, responded: Int, converted: Int)] = [:]
            for language in try connection.query(
                """
                SELECT coalesce(language, '-'), count(*), count(responded_at), count(converted_at)
                  FROM campaign_targets WHERE campaign_id = $1 AND state = 'contacted' GROUP BY 1
                """, [.init(id)]
            ).rows {
                byLanguage[language[0] ?? "-"] = (
                    language[1].flatMap { Int($0) } ?? 0, language[2].flatMap { Int($0) } ?? 0, language[3].flatMap { Int($0) } ?? 0
                )
            }
            return CampaignReport(
                id: id, name: row[1] ?? "", state: row[2] ?? "", mode: row[3] ?? "", channel: row[4] ?? "", reached: int(5), skipped: int(6),
                delivered: int(7), undelivered: int(8), responded: int(9), converted: int(10), optedOut: int(11), skippedBy: skippedBy,
                byLanguage: byLanguage)
        }
    }
}
