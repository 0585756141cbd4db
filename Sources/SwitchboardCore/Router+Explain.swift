import SwitchboardProtocol

extension Router {
    /// Why a message goes where it goes: the decision, then each step of the rules in order (an
    /// explicit process, intents, keywords per process, the default) with why it did or did not
    /// decide, and what the task needs of a worker. For `switchboard explain` and `rules test`.
    ///
    /// With `customer`, the decision is the one for that customer (rules on the customer and tier
    /// targets checked against it); without, the hub's decision is shown with the alternatives the
    /// ingest statement chooses among by the customer.
    public func explain(_ message: Publish, now: Int64, customer: CustomerFacts? = nil) -> [String] {
        let routed = route(message, now: now)
        let decision = customer.map { routed.resolved(for: $0) } ?? routed
        var lines = ["decision: \(decision.queue) (\(decision.reason)), priority \(decision.priority), deadline \(decision.deadline)"]
        if customer == nil {
            for alternative in routed.alternatives {
                let route = alternative.decision
                lines.append(
                    "  instead, for a customer with \(Self.describe(alternative.condition)): \(route.queue) (\(route.reason)), priority \(route.priority), deadline \(route.deadline)"
                )
            }
        }
        var needs = "needs: language \(decision.needs.language ?? "any")"
        if decision.languageDetected { needs += " (detected from the body)" }
        needs += decision.needs.skills.isEmpty ? ", no required skills" : ", skills \(decision.needs.skills.joined(separator: ", "))"
        if !decision.needs.optionalSkills.isEmpty { needs += ", ranked by \(decision.needs.optionalSkills.joined(separator: ", "))" }
        lines.append(needs)
        if !compiledRules.isEmpty {
            lines.append("rules, in order (the first that matches decides):")
            var facts = MessageFacts(message: message)
            var decided = false
            for rule in compiledRules {
                let head = "   \(rule.rule.id) → \(rule.rule.queue): "
                if decided {
                    lines.append(head + "not tried")
                } else if let miss = miss(rule, &facts) {
                    lines.append(head + "no, " + describe(miss, rule, &facts))
                } else if rule.rule.when.customer.isEmpty {
                    lines.append(head + "matches, decides")
                    decided = true
                } else if let customer {
                    let holds = rule.rule.when.customer.holds(for: customer)
                    lines.append(
                        head + (holds ? "matches, and the customer has " : "no, the customer does not have ") + Self.describe(rule.rule.when.customer)
                    )
                    decided = holds
                } else {
                    lines.append(head + "matches the message; decides for a customer with " + Self.describe(rule.rule.when.customer))
                }
            }
            if decided || decision.rule != nil {
                lines.append("the process steps below are not needed")
            }
        }
        lines.append("1. explicit process: " + (message.process.map { "\($0.rawValue), decides" } ?? "none given"))
        let intentLine: String
        if let intent = message.intent {
            intentLine = intentIndex[intent.lowercased()].map { "'\(intent)' is an intent of \($0.rawValue)" } ?? "'\(intent)' is no process's intent"
        } else {
            intentLine = "none given"
        }
        lines.append("2. intent: " + intentLine + (message.process != nil ? " (not needed)" : ""))
        guard message.isText else {
            lines.append("3. keywords: the body is not text (\(message.contentType)), none read")
            lines.append("4. default: \(rules.defaultProcess.rawValue)")
            return lines
        }
        let folded = TextFolding.foldedWords(utf8: message.body.prefix(Self.scannedBodyBytes))
        lines.append("3. keywords, in the body's first \(Self.scannedBodyBytes) bytes (the process with most wins; a tie goes to the first listed):")
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: keywordIndex.count * keywordCount) { found in
            found.initialize(repeating: false)
            markKeywords(folded, in: found)
            for (index, entry) in keywordIndex.enumerated() {
                let matched = entry.keywords.indices.filter { found[index * keywordCount + $0] }.map { entry.keywords[$0].text }
                lines.append("   \(entry.process.rawValue): " + (matched.isEmpty ? "none" : "\(matched.count): " + matched.joined(separator: ", ")))
            }
        }
        lines.append("4. default: \(rules.defaultProcess.rawValue)" + (decision.reason == "default" ? ", decides" : " (not needed)"))
        return lines
    }

    /// A condition on the customer in words: "tier gold or platinum, kind partner".
    static func describe(_ condition: CustomerCondition) -> String {
        var parts: [String] = []
        if let kind = condition.kind { parts.append("kind " + kind.joined(separator: " or ")) }
        if let segment = condition.segment { parts.append("segment " + segment.joined(separator: " or ")) }
        if let tier = condition.tier { parts.append("tier " + tier.joined(separator: " or ")) }
        if let attributes = condition.attributes {
            parts.append("attributes " + attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        return parts.isEmpty ? "anything" : parts.joined(separator: ", ")
    }

    /// Why a rule's condition on the message does not hold.
    private func describe(_ miss: RuleMiss, _ rule: CompiledRule, _ facts: inout MessageFacts) -> String {
        let when = rule.rule.when
        let message = facts.message
        switch miss {
        case .channel: return "channel \(message.channel) is not \((when.channel ?? []).joined(separator: " or "))"
        case .intent: return "intent \(message.intent.map { "'\($0)'" } ?? "none") is not \((when.intent ?? []).joined(separator: " or "))"
        case .attributes:
            let wanted = (when.attributes ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            return "the message's attributes are not \(wanted)"
        case .language: return "language \(facts.language ?? "unknown") is not \((when.language ?? []).joined(separator: " or "))"
        case .process:
            return "process \(facts.process(self).0.rawValue) is not \((when.process ?? []).map(\.rawValue).joined(separator: " or "))"
        case .keywords: return "none of its keywords starts a word of the body"
        case .regex: return "its regex \(when.regex ?? "") is not found in the body"
        }
    }
}
