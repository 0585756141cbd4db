import ArgumentParser
import Foundation
import SwitchboardConfig
import SwitchboardCore
import SwitchboardStore

struct Campaign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, start, pause and report marketing campaigns (docs/campaigns.md); running hubs contact their targets.",
        subcommands: [Create.self, Start.self, Pause.self, Finish.self, Report.self], defaultSubcommand: Report.self)

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a campaign from a YAML file; it starts as a draft.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The campaign file.") var file: String

        func run() throws {
            let config = try options.loadConfig()
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let campaign: CampaignDefinition
            do {
                campaign = try RulesFile.campaign(yaml: text)
            } catch {
                throw ValidationError("\(file):\(error.line):\(error.column): \(error.message)")
            }
            guard config.channels.contains(campaign.channel) else {
                throw ValidationError(
                    "channel '\(campaign.channel)' is not configured; expected one of \(config.channels.sorted().joined(separator: ", "))")
            }
            if let queue = campaign.queue, config.routing.settings(ofQueue: queue) == nil {
                throw ValidationError("queue '\(queue)' does not exist; expected one of \(config.routing.queueNames.joined(separator: ", "))")
            }
            let store = try Store(conninfo: config.database, owner: "switchboard-campaign")
            do {
                let id = try store.createCampaign(campaign)
                print("campaign \(id) '\(campaign.name)' created as a draft; start it with: switchboard campaign start \(campaign.name)")
            } catch let error as CampaignError {
                throw ValidationError("\(file): \(error.description)")
            }
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start (or resume) a campaign: running hubs contact its targets in their windows.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The campaign's name.") var name: String
        func run() throws { try setState(options, name, "running") }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a campaign: no new contacts; messages already queued still go, responses are still attributed.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The campaign's name.") var name: String
        func run() throws { try setState(options, name, "paused") }
    }

    struct Finish: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Finish a campaign for good; responses within its window are still attributed.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The campaign's name.") var name: String
        func run() throws { try setState(options, name, "finished") }
    }

    static func setState(_ options: CommonOptions, _ name: String, _ state: String) throws {
        let config = try options.loadConfig()
        let store = try Store(conninfo: config.database, owner: "switchboard-campaign")
        do {
            try store.setCampaignState(name: name, to: state)
        } catch let error as CampaignError {
            throw ValidationError(error.description)
        }
        print("campaign '\(name)' is \(state)")
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each campaign's reach, delivered, responded, converted and opted out (analytics_campaign_responses).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "Only this campaign.") var name: String?
        @Flag(help: "As JSON.") var json = false

        func run() throws {
            let config = try options.loadConfig()
            let store = try Store(conninfo: config.database, owner: "switchboard-campaign")
            let reports = try store.campaignReports(name: name)
            if let name, reports.isEmpty { throw ValidationError("no campaign named '\(name)'") }
            if json {
                let objects: [[String: Any]] = reports.map { report in
                    [
                        "campaign_id": report.id, "campaign": report.name, "state": report.state, "mode": report.mode, "channel": report.channel,
                        "reached": report.reached, "skipped": report.skipped, "skipped_by": report.skippedBy, "delivered": report.delivered,
                        "undelivered": report.undelivered, "responded": report.responded, "converted": report.converted,
                        "opted_out": report.optedOut,
                    ]
                }
                let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            guard !reports.isEmpty else {
                print("no campaigns; create one with: switchboard campaign create FILE")
                return
            }
            for report in reports {
                func rate(_ count: Int) -> String {
                    report.reached == 0 ? "-" : String(format: "%.1f %%", 100.0 * Double(count) / Double(report.reached))
                }
                print("campaign \(report.id) '\(report.name)' (\(report.state), \(report.mode) on \(report.channel))")
                print("  reached      \(report.reached)")
                print("  delivered    \(report.delivered)   not delivered \(report.undelivered)")
                print("  responded    \(report.responded)   (\(rate(report.responded)))")
                print("  converted    \(report.converted)   (\(rate(report.converted)))")
                print("  opted out    \(report.optedOut)   (\(rate(report.optedOut)))")
                let skipped = report.skippedBy.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                print("  skipped      \(report.skipped)\(skipped.isEmpty ? "" : "   (\(skipped))")")
                for (language, figures) in report.byLanguage.sorted(by: { $0.key < $1.key }) {
                    print("  language \(language): reached \(figures.reached), responded \(figures.responded), converted \(figures.converted)")
                }
            }
        }
    }
}

struct Outbound: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List outbound messages (replies, campaign messages) and replay the dead ones.", subcommands: [List.self, Replay.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Outbound messages, newest first.")
        @OptionGroup var options: CommonOptions
        @Option(help: "Only this state: pending, sending, sent, dead, cancelled.") var state: String?
        @Option(help: "At most this many.") var limit = 50

        func run() throws {
            let config = try options.loadConfig()
            let store = try Store(conninfo: config.database, owner: "switchboard-outbound")
            let messages = try store.outboundMessages(state: state, limit: limit)
            guard !messages.isEmpty else {
                print(state.map { "no \($0) outbound messages" } ?? "no outbound messages")
                return
            }
            print("id\tcustomer\tchannel\tstate\tattempts\tauthor\tgateway\tcreated\tlast error")
            for message in messages {
                print(
                    [
                        String(message.id), String(message.customerID), message.channel, message.state, String(message.attempts), message.author,
                        message.gateway ?? "-", message.createdAt, message.lastError ?? "-",
                    ].joined(separator: "\t"))
            }
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue dead outbound messages again (attempts from zero, a fresh expiry).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The messages' ids.") var ids: [Int64] = []
        @Flag(help: "Every dead outbound message.") var allDead = false

        func run() throws {
            guard allDead != !ids.isEmpty else { throw ValidationError("give the ids to replay, or --all-dead") }
            let config = try options.loadConfig()
            let store = try Store(conninfo: config.database, owner: "switchboard-outbound")
            let count = try store.replayOutbound(ids: allDead ? nil : ids, expireAfterMs: config.outbound.expireAfterMs)
            print("\(count) outbound messages queued again")
        }
    }
}
