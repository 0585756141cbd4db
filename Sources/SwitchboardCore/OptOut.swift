import SwitchboardProtocol

/// An inbound request to stop marketing contact, on any channel: a message whose intent says so
/// (`opt_out`, `unsubscribe`), or whose whole text body is one of the keywords carriers and
/// customers use ("STOP", "UNSUBSCRIBE", Persian "لغو", Russian "СТОП", ...). It withdraws the
/// customer's marketing consent in the same transaction that stores the message.
public enum OptOut {
    /// The intent an opt-out message is stored and routed with when the gateway gave none.
    public static let intent = "opt_out"

    static let intents: Set<String> = ["opt_out", "unsubscribe"]

    /// Upper-cased, without surrounding spaces and punctuation.
    static let keywords: Set<String> = [
        "STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "OPT OUT", "OPT-OUT", "REVOKE",
        "لغو", "توقف", "СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА",
    ]

    public static func requested(by publish: Publish) -> Bool {
        if let intent = publish.intent { return intents.contains(intent.lowercased()) }
        // A keyword is short: a longer body is a message that mentions one, not a request.
        guard publish.body.count <= 32, let text = publish.bodyText else { return false }
        let trimmed = text.uppercased().trimmingCharacters(in: " \t\r\n.!")
        return keywords.contains(trimmed)
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
