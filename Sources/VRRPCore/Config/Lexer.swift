#if canImport(Glibc)
import Glibc
#endif
import Shared

/// A problem found in a configuration, as keepalived reports it: `(file: Line n) message`.
public struct ConfigDiagnostic: Equatable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public var severity: Severity
    public var location: SourceLocation?
    public var message: String

    public var description: String {
        guard let l = location else { return message }
        return "(\(l.file): Line \(l.line)) \(message)"
    }
}

public struct Diagnostics: Sendable {
    public private(set) var items: [ConfigDiagnostic] = []
    public init() {}
    public mutating func error(_ loc: SourceLocation?, _ msg: String) {
        items.append(ConfigDiagnostic(severity: .error, location: loc, message: msg))
    }
    public mutating func warning(_ loc: SourceLocation?, _ msg: String) {
        items.append(ConfigDiagnostic(severity: .warning, location: loc, message: msg))
    }
    public var errors: [ConfigDiagnostic] { items.filter { $0.severity == .error } }
    public var warnings: [ConfigDiagnostic] { items.filter { $0.severity == .warning } }
    public var hasErrors: Bool { items.contains { $0.severity == .error } }
}

/// Reads files for the lexer; tests substitute an in-memory one.
public protocol ConfigFileSource {
    func read(_ path: String) -> String?
    /// The paths a glob names, sorted (glob(3) order).
    func glob(_ pattern: String) -> [String]
}

public struct DiskFileSource: ConfigFileSource {
    /// A configuration is kilobytes. Past this it is not one (`include /dev/zero`), and
    /// reading on would only exhaust memory: the file is refused as unreadable.
    public static let maxBytes = 16 << 20

    public init() {}
    public func read(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes += buf[0..<n]
            if bytes.count > DiskFileSource.maxBytes { return nil }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
    public func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        var out: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
        }
        return out
    }
}

public struct Token: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case word(String, quoted: Bool), open, close, newline }
    public var kind: Kind
    public var location: SourceLocation
}

/// keepalived's lexical rules: whitespace separates words, `{` and `}` are tokens of their
/// own, `#` and `!` start a comment, double quotes make one word, `include GLOB` splices in
/// files (relative to the including file's directory).
public struct ConfigLexer {
    let source: ConfigFileSource
    public var diagnostics = Diagnostics()
    private var depth = 0
    /// The files being lexed, outermost first: a file that includes one of them loops.
    private var including: [String] = []
    /// Every file read so far: a second inclusion would only define its blocks twice, and
    /// globs that include each other would otherwise multiply up to the depth bound.
    private var read: Set<String> = []

    public init(source: ConfigFileSource = DiskFileSource()) { self.source = source }

    public mutating func lex(file path: String) -> [Token]? {
        guard let text = source.read(path) else { return nil }
        return lex(text: text, file: path)
    }

    public mutating func lex(text: String, file: String) -> [Token] {
        including.append(file)
        read.insert(file)
        defer { including.removeLast() }
        var out: [Token] = []
        var lineNo = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let loc = SourceLocation(file: file, line: lineNo)
            var lineTokens: [Token] = []
            var chars = Array(rawLine)
            if chars.last == "\r" { chars.removeLast() }
            var i = 0
            var word = ""
            var inWord = false
            func flush() {
                if inWord { lineTokens.append(Token(kind: .word(word, quoted: false), location: loc)) }
                word = ""; inWord = false
            }
            scan: while i < chars.count {
                let c = chars[i]
                switch c {
                case " ", "\t":
                    flush()
                case "{":
                    flush(); lineTokens.append(Token(kind: .open, location: loc))
                case "}":
                    flush(); lineTokens.append(Token(kind: .close, location: loc))
                case "#" where !inWord, "!" where !inWord:
                    break scan
                case "\"" where !inWord:
                    var j = i + 1
                    var s = ""
                    var closed = false
                    while j < chars.count {
                        if chars[j] == "\\", j + 1 < chars.count, chars[j + 1] == "\"" {
                            s.append("\""); j += 2; continue
                        }
                        if chars[j] == "\"" { closed = true; break }
                        s.append(chars[j]); j += 1
                    }
                    if !closed { diagnostics.error(loc, "missing closing quote") }
                    lineTokens.append(Token(kind: .word(s, quoted: true), location: loc))
                    i = j
                default:
                    word.append(c); inWord = true
                }
                i += 1
            }
            flush()
            if case .word("include", quoted: false)? = lineTokens.first?.kind {
                include(lineTokens, from: file, at: loc, into: &out)
                continue
            }
            out += lineTokens
            out.append(Token(kind: .newline, location: loc))
        }
        return out
    }

    private mutating func include(_ t: [Token], from file: String, at loc: SourceLocation, into out: inout [Token]) {
        guard t.count >= 2, case .word(let pattern, _) = t[1].kind else {
            diagnostics.error(loc, "include requires a file name or pattern")
            return
        }
        guard depth < 8 else {
            diagnostics.error(loc, "include nesting too deep (more than 8) at '\(pattern)'")
            return
        }
        var full = pattern
        if !pattern.hasPrefix("/") {
            if let slash = file.lastIndex(of: "/") { full = String(file[..<slash]) + "/" + pattern }
        }
        let files = source.glob(full)
        if files.isEmpty {
            diagnostics.warning(loc, "include '\(pattern)' matches no file")
            return
        }
        for f in files {
            if including.contains(f) {
                diagnostics.error(loc, "include '\(pattern)' loops: \(f) is already being read")
                continue
            }
            if read.contains(f) {
                diagnostics.error(loc, "include '\(pattern)': \(f) is already included")
                continue
            }
            depth += 1
            if let toks = lex(file: f) { out += toks } else {
                diagnostics.error(loc, "cannot read included file '\(f)'")
            }
            depth -= 1
        }
    }
}

/// One statement: a keyword, its arguments, and, for blocks, the statements inside.
public struct Statement: Equatable, Sendable {
    public var keyword: String
    public var args: [String]
    public var quoted: [Bool]
    public var location: SourceLocation
    public var block: [Statement]?

    /// All words (keyword and arguments) of a line inside a list block such as
    /// `virtual_ipaddress` or `group`.
    public var words: [String] { [keyword] + args }
}

public enum ConfigSyntax {
    /// Turn tokens into statements. Braces may open on the keyword's line or the next one.
    public static func parse(_ tokens: [Token], diagnostics: inout Diagnostics) -> [Statement] {
        var i = 0
        return parseList(tokens, &i, opener: nil, depth: 0, diagnostics: &diagnostics)
    }

    /// keepalived's deepest block is four levels; the bound keeps a file of braces from
    /// exhausting the stack (one recursion per level).
    static let maxDepth = 16

    private static func parseList(_ t: [Token], _ i: inout Int, opener: SourceLocation?, depth: Int,
                                  diagnostics: inout Diagnostics) -> [Statement] {
        if depth > maxDepth, let o = opener {
            diagnostics.error(o, "blocks nested more than \(maxDepth) deep")
            skipBlock(t, &i)
            return []
        }
        var out: [Statement] = []
        while i < t.count {
            switch t[i].kind {
            case .newline:
                i += 1
            case .close:
                if opener != nil { i += 1; return out }
                diagnostics.error(t[i].location, "unexpected '}' without a matching '{'")
                i += 1
            case .open:
                diagnostics.error(t[i].location, "unexpected '{' without a keyword before it")
                i += 1
                _ = parseList(t, &i, opener: t[i - 1].location, depth: depth + 1, diagnostics: &diagnostics)
            case .word(let kw, let q):
                let loc = t[i].location
                var args: [String] = []
                var quoted: [Bool] = [q]
                i += 1
                while i < t.count, case .word(let w, let wq) = t[i].kind {
                    args.append(w); quoted.append(wq); i += 1
                }
                // A brace on the next line still opens this statement's block.
                var j = i
                while j < t.count, t[j].kind == .newline { j += 1 }
                var block: [Statement]? = nil
                if j < t.count, t[j].kind == .open {
                    i = j + 1
                    block = parseList(t, &i, opener: loc, depth: depth + 1, diagnostics: &diagnostics)
                }
                out.append(Statement(keyword: kw, args: args, quoted: quoted, location: loc, block: block))
            }
        }
        if let o = opener {
            diagnostics.error(o, "missing '}' for the block opened here")
        }
        return out
    }

    /// Past the '}' closing the block just opened (or to the end), without recursion.
    private static func skipBlock(_ t: [Token], _ i: inout Int) {
        var open = 1
        while i < t.count, open > 0 {
            if t[i].kind == .open { open += 1 } else if t[i].kind == .close { open -= 1 }
            i += 1
        }
    }
}
