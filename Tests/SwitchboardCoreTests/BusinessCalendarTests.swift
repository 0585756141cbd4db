import Foundation
import SwitchboardProtocol
import Testing

@testable import SwitchboardCore

@Suite("Business calendars: the service-level clock runs only while the queue is open")
struct BusinessCalendarTests {
    /// Tehran: Saturday to Wednesday 08:00–17:00, Thursday mornings, Friday closed; Nowruz a holiday.
    static let tehran = try! BusinessCalendar(
        timeZone: "Asia/Tehran",
        hours: ["sat": "08:00-17:00", "sun": "08:00-17:00", "mon": "08:00-17:00", "tue": "08:00-17:00", "wed": "08:00-17:00", "thu": "08:00-12:00"],
        holidays: ["2026-03-21"])
    static let hour: Int64 = 3_600_000

    @Test("a message on Friday night in Tehran is due two open hours after Saturday's opening, not on Saturday at midnight")
    func fridayNight() throws {
        let compiled = try Self.tehran.compiled()
        // Friday 2026-12-04 22:00 Tehran → Saturday 10:00 Tehran.
        #expect(compiled.deadline(from: 1_796_409_000_000, adding: 2 * Self.hour) == 1_796_452_200_000)
    }

    @Test("the local date decides: Thursday 23:30 UTC is Friday 03:00 in Tehran, closed, so the clock starts on Saturday")
    func timeZoneBoundary() throws {
        let compiled = try Self.tehran.compiled()
        #expect(compiled.deadline(from: 1_796_340_600_000, adding: Self.hour) == 1_796_448_600_000)
    }

    @Test("a holiday is closed all day: Thursday's last open hour, then Friday and the Nowruz Saturday skipped, then Sunday")
    func holiday() throws {
        let compiled = try Self.tehran.compiled()
        // Thursday 2026-03-19 11:00 + 3 h → 1 h on Thursday, 2 h from Sunday 2026-03-22 08:00 → 10:00.
        #expect(compiled.deadline(from: 1_773_905_400_000, adding: 3 * Self.hour) == 1_774_161_000_000)
    }

    @Test("a weekend: London, Monday to Friday 09:00–17:00; Friday 16:00 plus four hours is Monday 12:00")
    func weekend() throws {
        let weekdays = Dictionary(uniqueKeysWithValues: ["mon", "tue", "wed", "thu", "fri"].map { ($0, "09:00-17:00") })
        let london = try BusinessCalendar(timeZone: "Europe/London", hours: weekdays).compiled()
        #expect(london.deadline(from: 1_796_400_000_000, adding: 4 * Self.hour) == 1_796_644_800_000)
        // Within the day it is plain addition.
        #expect(london.deadline(from: 1_796_400_000_000 - 2 * Self.hour, adding: Self.hour) == 1_796_400_000_000 - Self.hour)
    }

    @Test("always open across a daylight-saving change: 24 open hours are 24 real hours, though the day had 23")
    func daylightSaving() throws {
        let always = Dictionary(uniqueKeysWithValues: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map { ($0, "00:00-24:00") })
        let berlin = try BusinessCalendar(timeZone: "Europe/Berlin", hours: always).compiled()
        // Saturday 2026-03-28 12:00 CET + 24 h → Sunday 13:00 CEST.
        #expect(berlin.deadline(from: 1_774_695_600_000, adding: 24 * Self.hour) == 1_774_782_000_000)
    }

    @Test("a lunch break is not counted")
    func lunchBreak() throws {
        let split = try BusinessCalendar(timeZone: "UTC", hours: ["mon": "09:00-12:00, 13:00-17:00"]).compiled()
        // Monday 2026-12-07 11:00 UTC + 2 h → 1 h before lunch, 1 h after: 14:00.
        let monday11: Int64 = 1_796_641_200_000
        #expect(split.deadline(from: monday11, adding: 2 * Self.hour) == monday11 + 3 * Self.hour)
    }

    @Test("the router counts a process's target in its business hours; without a calendar, around the clock")
    func routerUsesCalendar() {
        var rules = RoutingRules.standard
        rules.processes["support"]?.calendar = Self.tehran
        rules.processes["support"]?.targetMs = ["default": 2 * Self.hour]
        let message = Publish(messageID: "m", channel: "mail", occurredAt: 0, body: Array("I need help".utf8))
        #expect(Router(rules: rules).route(message, now: 1_796_409_000_000).deadline == 1_796_452_200_000)
        #expect(Router(rules: .standard).route(message, now: 1_796_409_000_000).deadline == 1_796_409_000_000 + 7_200_000)
    }

    @Test(
        "a calendar that cannot work is refused with the reason",
        arguments: [
            ("Mars/Olympus", ["mon": "09:00-17:00"], [String](), "unknown time zone"),
            ("UTC", ["monday": "09:00-17:00"], [], "unknown weekday"),
            ("UTC", ["mon": "17:00-09:00"], [], "not an interval"),
            ("UTC", ["mon": "closed"], [], "never open"),
            ("UTC", ["mon": "09:00-17:00"], ["21/03/2026"], "not a date"),
        ])
    func invalid(_ zone: String, _ hours: [String: String], _ holidays: [String], _ reason: String) {
        do {
            _ = try BusinessCalendar(timeZone: zone, hours: hours, holidays: holidays)
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains(reason), "\(error)")
        }
    }
}
