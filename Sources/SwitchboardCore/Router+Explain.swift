import SwitchboardProtocol

extension Router {
    /// Why a message goes where it goes: the decision, then each step of the rules in order (an
    /// explicit process, intents, keywords per process, the default) with why it did or did not
    /// decide, and what the task needs of a worker. For `switchboard explain` and `rules test`.
    public func explain(_ message: Publish, now: Int64) -> [String] {
        let decision = route(message, now: now)
        var lines = ["decision: \(decision.queue) (\(decision.reason)), priority \(decision.priority), deadline \(decision.deadline)"]
        var needs = "needs: language \(decision.needs.language ?? "any")"
        if decision.languageDetected { needs += " (detected from the body)" }
        needs += decision.needs.skills.isEmpty ? ", no required skills" : ", skills \(decision.needs.skills.joined(separator: ", "))"
        if !decision.needs.optionalSkills.isEmpty { needs += ", ranked by \(decision.needs.optionalSkills.joined(separator: ", "))" }
        lines.append(needs)
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
}
