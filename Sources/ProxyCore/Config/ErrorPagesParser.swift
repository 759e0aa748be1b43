import Shared

/// Where a proxy's own responses come from, as HAProxy 2.6 reads them: `errorfile CODE
/// FILE`, `errorloc`/`errorloc302`/`errorloc303 CODE URL` (a redirect instead of the
/// error), `errorfiles NAME [CODE…]` (the pages of an `http-errors NAME` section), and
/// that section's own `errorfile` lines. Directives apply in the order written, each
/// replacing what an earlier one gave for the same code ("exactly the same as declaring
/// all error files by hand"); `errorfiles` is resolved once every section is read, since
/// the section may come later in the file.
enum ErrorPagesParser {
    /// The codes HAProxy can produce, hence replace.
    static let codes: Set<Int> = [200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504]

    /// HAProxy reads the code as atol() does: leading digits, else 0.
    static func code(_ word: String) -> Int {
        Int(String(word.prefix { $0.isASCII && $0.isNumber }).prefix(9)) ?? 0
    }

    /// `errorfile CODE FILE`: the code and the file's bytes, or nil after an alert.
    static func errorFile(_ s: ParserState, _ l: ConfigLine) -> (Int, [UInt8])? {
        guard l.count >= 3 else {
            s.alert(l, "errorfile : expects <status_code> and <file> as arguments.\n")
            return nil
        }
        let code = code(l[1])
        guard codes.contains(code) else {
            s.alert(l, "errorfile : status code '\(code)' not handled.")
            return nil
        }
        if FileSystem.kind(l[2]) == .directory {
            s.alert(l, "errorfile : error reading file '\(l[2])'.")
            return nil
        }
        switch FileSystem.read(l[2]) {
        case .failure:
            s.alert(l, "errorfile : error opening file '\(l[2])'.")
            return nil
        case let .success(bytes):
            if let problem = ErrorFileParser.problem(bytes) {
                s.alert(l, "errorfile : '\(l[2])': \(problem)")
                return nil
            }
            return (code, bytes)
        }
    }

    /// `errorfile` in a proxy.
    static func proxyErrorFile(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard let (code, bytes) = errorFile(s, l) else { return }
        p.errorFiles[code] = bytes
        p.errorPageDirectives.append(.page(code: code, bytes: bytes))
    }

    /// `errorloc`, `errorloc302`, `errorloc303`: HAProxy's redirect, with its spelling.
    static func errorLocation(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let kw = l.keyword
        guard l.count >= 3, !l[2].isEmpty else {
            s.alert(l, "\(kw) : expects <status_code> and <url> as arguments.\n")
            return
        }
        let code = code(l[1])
        guard codes.contains(code) else {
            s.alert(l, "\(kw) : status code '\(code)' not handled.")
            return
        }
        let status = kw == "errorloc303" ? "303 See Other" : "302 Found"
        let bytes = Array("HTTP/1.1 \(status)\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: \(l[2])\r\n\r\n".utf8)
        p.errorFiles[code] = bytes
        p.errorPageDirectives.append(.page(code: code, bytes: bytes))
    }

    /// `errorfiles NAME [CODE…]`.
    static func errorFiles(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard l.count >= 2, !l[1].isEmpty else {
            s.alert(l, "errorfiles : expects <name> as argument.")
            return
        }
        var wanted: [Int] = []
        for word in l.words.dropFirst(2) {
            let code = code(word)
            guard codes.contains(code) else {
                s.alert(l, "errorfiles : status code '\(code)' not handled.")
                return
            }
            wanted.append(code)
        }
        p.errorPageDirectives.append(.imported(section: l[1], codes: wanted, location: l.location))
    }

    // MARK: The http-errors section

    static func openSection(_ s: ParserState, _ l: ConfigLine) {
        guard l.count >= 2, !l[1].isEmpty else {
            s.alert(l, "missing name for http-errors section.")
            s.abort = true
            return
        }
        if let other = s.httpErrors.first(where: { $0.name == l[1] }) {
            // Not fatal to the file: HAProxy reads on, and skips this section's lines.
            s.alertRaw("parsing [\(l.location)]: http-errors section '\(l[1])' already exists (declared at \(other.location)).",
                       at: l.location)
            s.section = .unsupported("http-errors")
            return
        }
        s.httpErrors.append(HTTPErrorsSection(name: l[1], location: l.location))
        s.section = .httpErrors(s.httpErrors.count - 1)
    }

    static func parseSectionLine(_ s: ParserState, _ index: Int, _ l: ConfigLine) {
        guard l.keyword == "errorfile" else {
            s.alert(l, "unknown keyword '\(l.keyword)' in 'http-errors' section")
            return
        }
        guard let (code, bytes) = errorFile(s, l) else { return }
        s.httpErrors[index].pages[code] = bytes
    }

    // MARK: After the last section

    /// Applies every proxy's directives in order, with HAProxy's messages for a section
    /// that does not exist or a code it does not declare.
    static func resolve(_ s: ParserState, proxy index: Int) -> Bool {
        let directives = s.proxies[index].errorPageDirectives
        guard directives.contains(where: { if case .imported = $0 { return true } else { return false } }) else {
            return false
        }
        let name = s.proxies[index].name
        var pages: [Int: [UInt8]] = [:]
        var failed = false
        for directive in directives {
            switch directive {
            case let .page(code, bytes):
                pages[code] = bytes
            case let .imported(section, codes, location):
                guard let found = s.httpErrors.first(where: { $0.name == section }) else {
                    s.alertRaw("proxy '\(name)': unknown http-errors section '\(section)' (at \(location)).", at: location)
                    failed = true
                    continue
                }
                if codes.isEmpty {
                    pages.merge(found.pages) { _, new in new }
                }
                for code in codes {
                    if let bytes = found.pages[code] {
                        pages[code] = bytes
                    } else {
                        s.warningRaw("config: proxy '\(name)' : status '\(code)' not declared in http-errors section '\(section)' (at \(location)).",
                                     at: location)
                    }
                }
            }
        }
        s.proxies[index].errorFiles = pages
        return failed
    }
}

/// An `http-errors NAME` section while the configuration is read.
struct HTTPErrorsSection {
    var name: String
    var location: SourceLocation
    var pages: [Int: [UInt8]] = [:]
}
