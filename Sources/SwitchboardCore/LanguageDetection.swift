/// The language of a text that did not say, from its letters: what routing needs to offer a
/// Russian SMS to a worker who reads Russian, without a language model.
///
/// The script most of the letters are in decides: Cyrillic is Russian, or Ukrainian when a letter
/// only Ukrainian uses appears (і ї є ґ); the Arabic script is Persian when a letter only Persian
/// uses appears (پ چ ژ گ and the Persian forms of kaf and yeh), else Arabic; Greek and Hebrew are
/// their own. Latin letters are shared by too many languages to guess from: Latin text is English
/// only if it has one of English's commonest words, else the language stays unknown (and any
/// worker may take it). Only the text's first bytes are read, as for keywords.
public enum LanguageDetection {
    /// The language (ISO 639-1) of UTF-8 text, or nil when it cannot be told.
    public static func detect(utf8 text: ArraySlice<UInt8>, folded: [UInt8]) -> String? {
        var counts = ScriptCounts()
        text.withContiguousStorageIfAvailable { counts.count($0) } ?? Array(text).withUnsafeBufferPointer { counts.count($0) }
        let scripts: [(Int, Script)] = [
            (counts.latin, .latin), (counts.cyrillic, .cyrillic), (counts.arabic, .arabic), (counts.greek, .greek), (counts.hebrew, .hebrew),
        ]
        guard let (letters, script) = scripts.max(by: { $0.0 < $1.0 }), letters > 0 else { return nil }
        switch script {
        case .cyrillic: return counts.ukrainianMarks > 0 ? "uk" : "ru"
        case .arabic: return counts.persianMarks > 0 ? "fa" : "ar"
        case .greek: return "el"
        case .hebrew: return "he"
        case .latin: return hasEnglishWord(folded) ? "en" : nil
        }
    }

    private enum Script { case latin, cyrillic, arabic, greek, hebrew }

    /// Letters by script, counted from UTF-8 lead bytes (no scalar is decoded).
    private struct ScriptCounts {
        var latin = 0, cyrillic = 0, arabic = 0, greek = 0, hebrew = 0
        var ukrainianMarks = 0, persianMarks = 0

        mutating func count(_ bytes: UnsafeBufferPointer<UInt8>) {
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                let next = index + 1 < bytes.count ? bytes[index + 1] : 0
                switch byte {
                case 0x41...0x5A, 0x61...0x7A, 0xC3...0xC9: latin += 1
                case 0xCE, 0xCF: greek += 1
                case 0xD0...0xD3:
                    cyrillic += 1
                    // і ї є (U+0456, U+0457, U+0454) and ґ (U+0491).
                    if (byte == 0xD1 && (next == 0x96 || next == 0x97 || next == 0x94)) || (byte == 0xD2 && next == 0x91) { ukrainianMarks += 1 }
                case 0xD6, 0xD7: hebrew += 1
                case 0xD8...0xDB:
                    arabic += 1
                    // پ چ ژ ک گ (U+067E, U+0686, U+0698, U+06A9, U+06AF) and ی (U+06CC).
                    if (byte == 0xD9 && next == 0xBE) || (byte == 0xDA && [0x86, 0x98, 0xA9, 0xAF].contains(next)) || (byte == 0xDB && next == 0x8C) {
                        persianMarks += 1
                    }
                default: break
                }
                index += 1
            }
        }
    }

    /// Whether folded text (as `TextFolding.foldedWords` makes it) has one of English's commonest words.
    private static func hasEnglishWord(_ folded: [UInt8]) -> Bool {
        folded.withUnsafeBufferPointer { text in
            var start = 0
            while start < text.count {
                var end = start + 1
                while end < text.count && text[end] != 0x20 { end += 1 }
                if end - start - 1 <= 7, englishWords.contains(Array(text[(start + 1)..<end])) { return true }
                start = end
            }
            return false
        }
    }

    private static let englishWords: Set<[UInt8]> = Set(
        [
            "the", "and", "is", "are", "my", "you", "your", "to", "of", "for", "not", "please", "with", "have", "this", "that", "it", "was",
            "we", "our", "hello", "hi", "thanks", "would", "can", "want", "need",
        ].map { Array($0.utf8) })
}
