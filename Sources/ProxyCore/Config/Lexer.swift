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
    public struct UnmatchedQuote: Error, Equatable, Sendable {
        /// 1-based byte position of the opening quote in the line.
        public var position: Int
        /// The line from its first non-blank character, and the caret's column in it.
        public var trimmedLine: String
        public var column: Int
    }

    /// Splits `line` (without its newline) into words.
    public static func split(_ line: String, environment: [String: String]) -> Result<[String], UnmatchedQuote> {
        let bytes = Array(line.utf8)
        var words: [[UInt8]] = []
        var current: [UInt8] = []
        var inWord = false
        var squote = false, dquote = false
        var quoteStart = 0
        var i = 0
        let n = bytes.count

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
                case UInt8(ascii: "x") where i + 3 < n && hexValue(bytes[i + 2]) != nil && hexValue(bytes[i + 3]) != nil:
                    current.append(hexValue(bytes[i + 2])! << 4 | hexValue(bytes[i + 3])!)
                    i += 4
                default:
                    current.append(c); i += 1
                }
            case 0x24 where dquote && i + 1 < n:                // $ inside "…"
                var j = i + 1
                var name: [UInt8] = []
                var fallback: [UInt8]? = nil
                if bytes[j] == 0x7B {                           // ${NAME[-default]}
                    j += 1
                    while j < n && isVarChar(bytes[j]) { name.append(bytes[j]); j += 1 }
                    if j < n && bytes[j] == 0x2D {
                        j += 1
                        var d: [UInt8] = []
                        while j < n && bytes[j] != 0x7D { d.append(bytes[j]); j += 1 }
                        fallback = d
                    }
                    if j < n && bytes[j] == 0x7D && !name.isEmpty {
                        j += 1
                    } else {
                        current.append(c); i += 1               // not a variable: literal '$'
                        continue
                    }
                } else {
                    while j < n && isVarChar(bytes[j]) { name.append(bytes[j]); j += 1 }
                    if name.isEmpty { current.append(c); i += 1; continue }
                }
                let key = String(decoding: name, as: UTF8.self)
                if let value = environment[key] {
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
            var lead = 0
            while lead < n && (bytes[lead] == 0x20 || bytes[lead] == 0x09) { lead += 1 }
            let trimmed = String(decoding: bytes[lead...], as: UTF8.self)
            return .failure(UnmatchedQuote(position: quoteStart + 1, trimmedLine: trimmed,
                                           column: quoteStart - lead))
        }
        if inWord { words.append(current) }
        return .success(words.map { String(decoding: $0, as: UTF8.self) })
    }
}
