import Foundation
import Logging
import SwitchboardConfig
import SwitchboardHub
import Testing

@Suite("Deployment files")
struct DeployTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the systemd unit passes systemd-analyze verify without a single warning")
    func unitVerifies() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let unit = try String(contentsOf: Self.root.appendingPathComponent("deploy/switchboard.service"), encoding: .utf8)
        #expect(unit.contains("Type=notify"))
        #expect(unit.contains("WatchdogSec="))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swb-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("switchboard.service")
        // verify needs the ExecStart binary to exist: point it at the one just built.
        try unit.replacingOccurrences(of: "/usr/local/bin/switchboard", with: binary).write(to: path, atomically: true, encoding: .utf8)
        let (status, output) = try runProgram("/usr/bin/env", ["systemd-analyze", "verify", path.path])
        #expect(status == 0, "\(output)")
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(output)")
    }

    @Test("the packaged configuration file parses and matches the built-in routing rules")
    func packagedConfigParses() throws {
        let yaml = try String(contentsOf: Self.root.appendingPathComponent("deploy/switchboard.yaml"), encoding: .utf8)
        let config = try HubConfig.parse(yaml: yaml)
        #expect(config.defaultCountryCode == "98")
        #expect(config.gatewayEndpoint == "tcp://*:5570")
        #expect(config.routing == .standard)
        #expect(config.transitionWaitMs == HubConfig().transitionWaitMs)
        #expect(config.security == .curve, "the packaged configuration runs with CURVE")
        #expect(config.gatewayKeysFile != nil && config.workerKeysFile != nil && config.serverKeyFile != nil)
    }

    @Test("a process's business calendar is read from the configuration; one that cannot work is refused with the reason")
    func calendarInConfig() throws {
        let yaml = """
            routing:
              processes:
                support:
                  target_ms: {default: 7200000}
                  calendar:
                    time_zone: Asia/Tehran
                    hours: {sat: "08:00-17:00", sun: "08:00-17:00", thu: "08:00-12:00"}
                    holidays: ["2026-03-21"]
            """
        let calendar = try #require(try HubConfig.parse(yaml: yaml).routing.rules(for: .support).calendar)
        #expect(calendar.timeZone == "Asia/Tehran")
        #expect(calendar.holidays == ["2026-03-21"])
        do {
            _ = try HubConfig.parse(yaml: yaml.replacingOccurrences(of: "Asia/Tehran", with: "Asia/Nowhere"))
            Issue.record("an unknown time zone was accepted")
        } catch {
            #expect("\(error)".contains("unknown time zone 'Asia/Nowhere'"), "\(error)")
        }
    }

    @Test("escalation steps are read from the configuration in order; a step that does nothing or names no queue is refused")
    func escalationInConfig() throws {
        let yaml = """
            routing:
              processes:
                support:
                  escalation:
                    - {at_percent: 80, raise_priority: 2}
                    - {at_percent: 100, relax: true}
                    - {at_percent: 150, overflow_to: field_service}
            """
        let steps = try HubConfig.parse(yaml: yaml).routing.rules(for: .support).escalation
        #expect(steps.map(\.atPercent) == [80, 100, 150])
        #expect(steps.last?.overflowTo == "field_service")
        for (bad, reason) in [
            ("overflow_to: field_service", "overflow_to: nowhere"), ("raise_priority: 2}", "}"), ("at_percent: 150", "at_percent: 50"),
        ] {
            do {
                _ = try HubConfig.parse(yaml: yaml.replacingOccurrences(of: bad, with: reason))
                Issue.record("accepted: \(reason)")
            } catch {
                #expect(!"\(error)".isEmpty)
            }
        }
    }

    @Test("security is on unless configured off, and a hub with security on but no keys does not start")
    func securityByDefault() throws {
        #expect(HubConfig().security == .curve)
        #expect(try HubConfig.parse(yaml: "max_body_bytes: 10\n").security == .curve)
        #expect(try HubConfig.parse(yaml: "security: off\n").security == .off)
        #expect(throws: (any Error).self) { try HubConfig.parse(yaml: "security: maybe\n") }
        var config = HubConfig()
        config.database = "dbname=never_used host=/nonexistent"
        #expect {
            try Hub(config: config, logger: Logger(label: "test")).run(stop: StopSignal())
        } throws: { error in
            "\(error)".contains("server_key_file")
        }
    }

    @Test("a configuration with an unknown key or a bad value is refused with the key's name")
    func configErrors() throws {
        #expect(throws: (any Error).self) { try HubConfig.parse(yaml: "gateway_endpont: tcp://*:1\n") }
        do {
            _ = try HubConfig.parse(yaml: "batch_max: 0\n")
            Issue.record("batch_max 0 accepted")
        } catch {
            #expect("\(error)".contains("batch_max"))
        }
        #expect(throws: (any Error).self) { try HubConfig.parse(yaml: "routing:\n  processes:\n    payroll: {}\n") }
        do {
            _ = try HubConfig.parse(yaml: "transition_wait_ms: -1\n")
            Issue.record("transition_wait_ms -1 accepted")
        } catch {
            #expect("\(error)".contains("transition_wait_ms"))
        }
        // 0 is allowed: each batch of transitions goes as soon as the one before it has committed.
        #expect(try HubConfig.parse(yaml: "transition_wait_ms: 0\n").transitionWaitMs == 0)
        // A misspelt key inside a section is refused on its line too, not left at its default.
        for (yaml, line, key) in [
            ("hub_name: h\noutbound:\n  quiet_hour: null\n", 3, "quiet_hour"), ("merges:\n  same_nam: true\n", 2, "same_nam"),
            ("signals:\n  repeat_day: 3\n", 2, "repeat_day"), ("value_tiers:\n  every_hour: 3\n", 2, "every_hour"),
        ] {
            do {
                _ = try RulesFile.configuration(yaml: yaml)
                Issue.record("\(key) accepted")
            } catch {
                #expect(error.line == line && error.message.contains("unknown key '\(key)'"), "\(error)")
            }
        }
        #expect(
            try RulesFile.configuration(yaml: "outbound:\n  quiet_hours: null\n  frequency_cap: {count: 3, days: 7}\n").outbound.quietHours == nil)
    }
}
