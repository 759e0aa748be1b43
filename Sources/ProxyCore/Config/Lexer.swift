/// HAProxy's line lexer: one configuration line → words.
///
/// - words are separated by spaces and tabs; `#` outside quotes starts a comment;
/// - `'…'` is literal; `"…"` allows `\` escapes and `$VAR` / `${VAR}` / `${VAR-default}`
///   environment expansion (only inside double quotes, as HAProxy does);
/// - outside single quotes `\\ \" \' \  \# \$` give the character, `\r \n \t \xHH` give
///   the control byte, and any other `\c` stays as written;
/// - quotes may be glued to other text (`a"b c"d` is one word `ab cd`);
/// - an unclosed quote is an error that points at its opening quote.
public enum ConfigLexer {
    /// A line HAProxy's lexer refuses, with where (HAProxy prints the line and a caret).
    public struct LexError: Error, Equatable, Sendable {
        public enum Kind: Equatable, Sendable {
            case unmatchedQuote
            case invalidHexSequence
            case unmatchedBrace
            case forbiddenVariableCharacter
            /// More than 64 words; `lastWord` is the 64th, kept.
            case tooManyWords(lastWord: String)
        }
        public var kind: Kind
        /// 1-based byte position in the line (for `tooManyWords`: HAProxy's offset of the 64th word).
        public var position: Int
        /// The line from its first non-blank character, and the caret's column in it.
        public var trimmedLine: String
        public var column: Int

        /// The echoed line and caret column as HAProxy shows them: tabs as spaces, at most
        /// 80 characters; an error further right is shown in a window between "...".
        var echo: (text: String, column: Int) {
            let chars = Array(trimmedLine.map { $0 == "\t" ? " " : $0 })
            if column < 80 {
                return (String(chars.prefix(80)), column)
            }
            // `column` counts bytes and `chars` characters: with multi-byte characters the
            // window may start past the end (a crash the fuzzer found); keep it inside.
            let end = min(chars.count, column + 37)
            let start = min(column - 37, end)
            return ("..." + String(chars[start..<end]) + "...", 40)
        }

        /// HAProxy's text, after `parsing [file:line]: `.
        public var message: String {
            let (text, col) = echo
            let caret = String(repeating: " ", count: col + 2) + "^"
            func located(_ what: String) -> String { "\(what) at position \(position):\n  \(text)\n\(caret)" }
            switch kind {
            case .unmatchedQuote: return located("unmatched quote")
            case .invalidHexSequence: return located("truncated or invalid hexadecimal sequence")
            case .unmatchedBrace: return located("unmatched brace in environment variable name")
            case .forbiddenVariableCharacter: return located("forbidden first char in environment variable name")
            case let .tooManyWords(last): return "too many words, truncating after word 64, position \(position): <\(last)>."
            }
        }
    }

    /// HAProxy's MAX_LINE_ARGS.
    public static let maxWords = 64

    /// Splits `line` (without its newline) into words.
    public static func split(_ line: String, environment: [String: String]) -> Result<[String], LexError> {
        split(line) { environment[$0] }
    }

    /// HAProxy's pseudo-variables (`${.FILE}`, `${.LINE}`, `${.SECTION}`): the only names
    /// that may start with a dot.
    public static let pseudoVariables: Set<String> = [".FILE", ".LINE", ".SECTION"]

    /// Splits `line`, reading variables through `lookup`.
    public static func split(_ line: String, lookup: (String) -> String?) -> Result<[String], LexError> {
        let bytes = Array(line.utf8)
        var words: [[UInt8]] = []
        var current: [UInt8] = []
        var inWord = false
        var squote = false, dquote = false
        var quoteStart = 0
        var wordStarts: [Int] = []
        var i = 0
        let n = bytes.count
        var lead = 0
        while lead < n && (bytes[lead] == 0x20 || bytes[lead] == 0x09) { lead += 1 }
        func failure(_ kind: LexError.Kind, at index: Int) -> Result<[String], LexError> {
            .failure(LexError(kind: kind, position: index + 1,
                              trimmedLine: String(decoding: bytes[lead...], as: UTF8.self), column: index - lead))
        }

        func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        func isVarChar(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
        }

        while i < n {
            let c = bytes[i]
            if squote {
                if c == 0x27 { squote = false } else { current.append(c) }
                i += 1
                continue
            }
            if !dquote {
                if c == 0x23 { break }                         // '#': comment
                if isBlank(c) {
                    if inWord { words.append(current); current = []; inWord = false }
                    i += 1
                    continue
                }
            }
            if !inWord { wordStarts.append(i) }
            inWord = true
            switch c {
            case 0x27 where !dquote:                            // '
                squote = true
                quoteStart = i
                i += 1
            case 0x22:                                          // "
                if dquote { dquote = false } else { dquote = true; quoteStart = i }
                i += 1
            case 0x5C where i + 1 < n:                          // backslash
                let e = bytes[i + 1]
                switch e {
                case 0x5C, 0x22, 0x27, 0x20, 0x23, 0x24:
                    current.append(e); i += 2
                case UInt8(ascii: "r"): current.append(0x0D); i += 2
                case UInt8(ascii: "n"): current.append(0x0A); i += 2
                case UInt8(ascii: "t"): current.append(0x09); i += 2
                case UInt8(ascii: "x"):
                    guard i + 3 < n, let hi = hexValue(bytes[i + 2]), let lo = hexValue(bytes[i + 3]) else {
                        return failure(.invalidHexSequence, at: i)
                    }
                    current.append(hi << 4 | lo)
                    i += 4
                default:
                    current.append(c); i += 1
                }
            case 0x24 where dquote:                             // $ inside "…"
                func isFirstVarChar(_ c: UInt8) -> Bool { isVarChar(c) && !(c >= 0x30 && c <= 0x39) }
                var j = i + 1
                var name: [UInt8] = []
                var fallback: [UInt8]? = nil
                if j < n && bytes[j] == 0x7B {                  // ${NAME[-default]}
                    let brace = j
                    j += 1
                    let pseudo = j < n ? pseudoVariables.first { bytes[j...].starts(with: Array(($0 + "}").utf8)) } : nil
                    if let pseudo {
                        name = Array(pseudo.utf8)
                        j += name.count
                    } else {
                        guard j < n, isFirstVarChar(bytes[j]) else { return failure(.forbiddenVariableCharacter, at: j) }
                    }
                    while j < n && isVarChar(bytes[j]) { name.append(bytes[j]); j += 1 }
                    if j < n && bytes[j] == 0x2D {
                        j += 1
                        var d: [UInt8] = []
                        while j < n && bytes[j] != 0x7D && bytes[j] != 0x22 { d.append(bytes[j]); j += 1 }
                        fallback = d
                    }
                    guard j < n && bytes[j] == 0x7D else { return failure(.unmatchedBrace, at: brace) }
                    j += 1
                } else {
                    guard j < n, isFirstVarChar(bytes[j]) else { return failure(.forbiddenVariableCharacter, at: j) }
                    while j < n && isVarChar(bytes[j]) { name.append(bytes[j]); j += 1 }
                }
                let key = String(decoding: name, as: UTF8.self)
                if let value = lookup(key) {
                    current.append(contentsOf: Array(value.utf8))
                } else if let fallback {
                    current.append(contentsOf: fallback)
                }
                i = j
            default:
                current.append(c)
                i += 1
            }
        }
        if squote || dquote {
            return failure(.unmatchedQuote, at: quoteStart)
        }
        if inWord { words.append(current) }
        if words.count > maxWords {
            return .failure(LexError(kind: .tooManyWords(lastWord: String(decoding: words[maxWords - 1], as: UTF8.self)),
                                     position: wordStarts[maxWords - 1], trimmedLine: "", column: 0))
        }
        return .success(words.map { String(decoding: $0, as: UTF8.self) })
    }
}
