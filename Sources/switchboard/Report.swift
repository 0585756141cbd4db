import ArgumentParser
import Foundation
import SwitchboardStore

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The key figures of a period: tables on the terminal, and with --html a self-contained page with a chart a section.",
        discussion: """
            Contacts per day and per channel and process, service level per queue, work per worker, \
            customers by value tier and the journeys before a sale, for the interactions received \
            from --from (inclusive) to --to (exclusive), both UTC dates (YYYY-MM-DD). The HTML file \
            holds its charts as inline SVG and loads nothing from elsewhere.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "First day (UTC), YYYY-MM-DD; default: seven days before --to.") var from: String?
    @Option(help: "Day after the last (UTC), YYYY-MM-DD; default: tomorrow.") var to: String?
    @Option(help: "Also write the report as an HTML file here.") var html: String?

    func run() throws {
        let config = try options.loadConfig()
        let day: Int64 = 86_400_000
        let tomorrow = (Int64(Date().timeIntervalSince1970 * 1000) / day + 1) * day
        let toMs = try to.map { try Self.dayMs($0, "--to") } ?? tomorrow
        let fromMs = try from.map { try Self.dayMs($0, "--from") } ?? toMs - 7 * day
        guard fromMs < toMs else { throw ValidationError("--from must come before --to") }
        let report = try Store(conninfo: config.database, owner: "switchboard-report").report(fromMs: fromMs, toMs: toMs)
        print(ReportText.terminal(report))
        if let html {
            try ReportText.html(report).write(toFile: html, atomically: true, encoding: .utf8)
            print("written: \(html)")
        }
    }

    static func dayMs(_ text: String, _ option: String) throws -> Int64 {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        guard let date = formatter.date(from: text) else { throw ValidationError("\(option) '\(text)' is not a date YYYY-MM-DD") }
        return Int64(date.timeIntervalSince1970 * 1000)
    }
}

/// How a report is written: aligned tables for the terminal, a page with inline SVG for a browser.
enum ReportText {
    static func period(_ report: Report) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return "\(formatter.string(from: Date(timeIntervalSince1970: Double(report.fromMs) / 1000))) to "
            + formatter.string(from: Date(timeIntervalSince1970: Double(report.toMs) / 1000))
    }

    static func terminal(_ report: Report) -> String {
        var out = "Switchboard report, \(period(report)) (UTC)\n"
        for section in report.sections {
            out += "\n\(section.title)\n"
            guard !section.rows.isEmpty else {
                out += "  (none)\n"
                continue
            }
            let widths = section.columns.indices.map { column in
                ([section.columns[column]] + section.rows.map { $0[column] }).map(\.count).max() ?? 0
            }
            func line(_ cells: [String]) -> String {
                String(
                    ("  "
                        + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(
                            separator: "  "))
                        .reversed().drop { $0 == " " }.reversed())
            }
            out += line(section.columns) + "\n" + line(widths.map { String(repeating: "-", count: $0) }) + "\n"
            for row in section.rows { out += line(row) + "\n" }
        }
        return out
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A horizontal bar a row: its label, a bar as long as its value against the largest, the value.
    static func chart(_ section: Report.Section) -> String {
        let bars = section.rows.map { row in
            (label: section.chartLabels.map { row[$0] }.joined(separator: " "), value: Double(row[section.chartValue]) ?? 0)
        }
        let largest = max(bars.map(\.value).max() ?? 0, 1)
        let rowHeight = 22
        let height = max(bars.count, 1) * rowHeight + 10
        var svg = #"<svg xmlns="http://www.w3.org/2000/svg" width="720" height="\#(height)" role="img" aria-label="\#(escape(section.title))">"#
        for (index, bar) in bars.enumerated() {
            let y = 5 + index * rowHeight
            let width = Int(440 * bar.value / largest)
            svg += #"<text x="0" y="\#(y + 15)" font-size="12">\#(escape(String(bar.label.prefix(36))))</text>"#
            svg += ##"<rect x="240" y="\##(y + 3)" width="\##(width)" height="16" fill="#3b6ea8"/>"##
            svg += #"<text x="\#(248 + width)" y="\#(y + 15)" font-size="12">\#(escape(section.rows[index][section.chartValue]))</text>"#
        }
        return svg + "</svg>"
    }

    static func html(_ report: Report) -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"/><title>Switchboard report, \(period(report))</title>
            <style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1em}\
            td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}th{background:#eef}h2{margin-top:1.5em}</style></head><body>
            <h1>Switchboard report</h1><p>Interactions received from \(period(report)) (UTC).</p>

            """
        for section in report.sections {
            page += "<section><h2>\(escape(section.title))</h2>\n"
            if section.rows.isEmpty {
                page += "<p>None in this period.</p>\n"
            } else {
                page += chart(section) + "\n<table><tr>" + section.columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
                for row in section.rows { page += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
                page += "</table>\n"
            }
            page += "</section>\n"
        }
        return page + "</body></html>\n"
    }
}
