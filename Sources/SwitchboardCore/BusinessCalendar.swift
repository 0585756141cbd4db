import Foundation

/// A queue's business hours: when its service-level time runs. A letter received on Friday night
/// by a queue open Monday to Friday is not late on Saturday: its target counts from Monday's opening.
///
/// Opening hours are per weekday in the queue's time zone (a day not listed is closed; a day may
/// have several intervals, e.g. a lunch break), and holidays (local dates) are closed all day.
/// Daylight-saving changes follow the time zone's rules.
public struct BusinessCalendar: Sendable, Equatable, Codable {
    public var timeZone: String
    /// Weekday (`mon` … `sun`) → intervals "HH:MM-HH:MM", comma-separated; `24:00` ends a day.
    public var hours: [String: String]
    /// Local dates "YYYY-MM-DD" when the queue is closed.
    public var holidays: [String]

    public init(timeZone: String, hours: [String: String], holidays: [String] = []) throws {
        self.timeZone = timeZone
        self.hours = hours
        self.holidays = holidays
        _ = try compiled()
    }

    enum CodingKeys: String, CodingKey {
        case timeZone = "time_zone"
        case hours, holidays
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        timeZone = try container.decode(String.self, forKey: .timeZone)
        hours = try container.decodeIfPresent([String: String].self, forKey: .hours) ?? [:]
        holidays = try container.decodeIfPresent([String].self, forKey: .holidays) ?? []
        if let problem = problem {
            throw DecodingError.dataCorruptedError(forKey: .hours, in: container, debugDescription: problem)
        }
    }

    public struct CalendarError: Error, Equatable {
        public var reason: String
    }

    /// The calendar in the form `deadline` reads: the zone, minutes open per weekday, holiday dates.
    struct Compiled: Sendable {
        var calendar: Calendar
        /// Index 1 (Sunday) … 7 (Saturday), as `Calendar` numbers weekdays: open intervals in minutes of the day.
        var intervals: [[(open: Int, close: Int)]]
        var holidays: Set<String>
    }

    static let weekdays = ["sun": 1, "mon": 2, "tue": 3, "wed": 4, "thu": 5, "fri": 6, "sat": 7]

    /// What is wrong with the calendar, or nil.
    var problem: String? {
        do {
            _ = try compiled()
            return nil
        } catch {
            return (error as? CalendarError)?.reason ?? "\(error)"
        }
    }

    func compiled() throws -> Compiled {
        guard let zone = TimeZone(identifier: timeZone) else { throw CalendarError(reason: "unknown time zone '\(timeZone)'") }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var intervals = [[(open: Int, close: Int)]](repeating: [], count: 8)
        for (day, text) in hours {
            guard let index = Self.weekdays[day.lowercased()] else {
                throw CalendarError(reason: "unknown weekday '\(day)' in hours; use mon, tue, wed, thu, fri, sat, sun")
            }
            if text.lowercased() == "closed" { continue }
            for part in text.split(separator: ",") {
                let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-")
                guard bounds.count == 2, let open = Self.minutes(bounds[0]), let close = Self.minutes(bounds[1]), open < close else {
                    throw CalendarError(reason: "hours of \(day): '\(part)' is not an interval such as 08:00-17:00")
                }
                intervals[index].append((open, close))
            }
            intervals[index].sort { $0.open < $1.open }
        }
        for holiday in holidays where Self.date(holiday) == nil {
            throw CalendarError(reason: "holiday '\(holiday)' is not a date such as 2026-03-20")
        }
        guard intervals.contains(where: { !$0.isEmpty }) else {
            throw CalendarError(reason: "the calendar is never open: give hours for some weekday")
        }
        return Compiled(calendar: calendar, intervals: intervals, holidays: Set(holidays))
    }

    private static func minutes(_ text: Substring) -> Int? {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ":")
        guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0...24).contains(hour), (0..<60).contains(minute),
            hour * 60 + minute <= 24 * 60
        else { return nil }
        return hour * 60 + minute
    }

    private static func date(_ text: String) -> (Int, Int, Int)? {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else { return nil }
        return (parts[0], parts[1], parts[2])
    }
}

extension BusinessCalendar.Compiled {
    /// The time `targetMs` of open business time after `startMs` (Unix ms): the clock runs only
    /// while the queue is open. Looks at most a year ahead.
    func deadline(from startMs: Int64, adding targetMs: Int64) -> Int64 {
        var remaining = targetMs
        var day = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(startMs) / 1000))
        for _ in 0..<366 {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            let key = String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
            if !holidays.contains(key) {
                for interval in intervals[parts.weekday ?? 1] {
                    let open = max(at(day, minutes: interval.open), startMs)
                    let close = at(day, minutes: interval.close)
                    guard open < close else { continue }
                    if remaining <= close - open { return open + remaining }
                    remaining -= close - open
                }
            }
            guard let next = calendar.date(byAdding: .day, value: 1, to: day) else { break }
            day = next
        }
        return startMs + targetMs
    }

    /// Unix ms of a local time of day (minutes) on the day starting at `day`.
    private func at(_ day: Date, minutes: Int) -> Int64 {
        let time =
            minutes >= 24 * 60
            ? calendar.date(byAdding: .day, value: 1, to: day)!
            : calendar.date(bySettingHour: minutes / 60, minute: minutes % 60, second: 0, of: day)!
        return Int64((time.timeIntervalSince1970 * 1000).rounded())
    }
}
