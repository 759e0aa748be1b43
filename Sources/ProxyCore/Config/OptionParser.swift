import Shared

/// `option NAME …` and `no option NAME`: a table of option → parser.
enum OptionParser {
    typealias Handler = (ParserState, inout ProxySettings, ConfigLine, _ negate: Bool) -> Void

    struct Entry {
        var side: ProxyKeyword.Side
        /// Accepts `no option …`.
        var negatable: Bool
        var handler: Handler
    }

    static func flag(_ side: ProxyKeyword.Side, _ set: @escaping (inout ProxySettings, Bool) -> Void) -> Entry {
        Entry(side: side, negatable: true) { s, p, l, neg in
            if l.count > 2 {
                s.alert(l, "'option \(l[1])' cannot handle unexpected argument '\(l[2])'.")
                return
            }
            set(&p, !neg)
        }
    }

    /// HAProxy warns when a section sets a log format twice.
    static func noteLogOption(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ option: String,
                              shownAs shown: String? = nil) {
        if let previous = p.logOptionHere {
            s.warningRaw("parsing [\(l.location)]: 'option \(shown ?? option)' overrides previous 'option \(previous)' in '\(s.currentKind)' section.",
                         at: l.location)
        }
        p.logOptionHere = option
    }

    /// An option that takes no argument.
    static func noArguments(_ side: ProxyKeyword.Side = .both, _ handler: @escaping Handler) -> Entry {
        Entry(side: side, negatable: true) { s, p, l, neg in
            if l.count > 2 {
                s.alert(l, "'option \(l[1])' cannot handle unexpected argument '\(l[2])'.")
                return
            }
            handler(s, &p, l, neg)
        }
    }

    static let table: [String: Entry] = [
        "redispatch": Entry(side: .backend, negatable: true) { s, p, l, neg in
            if l.count > 2 {
                guard ConfigUnits.integer(l[2]) != nil || l[2].hasPrefix("-") && ConfigUnits.integer(String(l[2].dropFirst())) != nil else {
                    s.alert(l, "'option redispatch' expects an integer value.")
                    return
                }
            }
            p.redispatch = !neg
        },
        "forwardfor": Entry(side: .both, negatable: false) { s, p, l, _ in
            var ff = ForwardFor()
            var i = 2
            while i < l.count {
                switch l[i] {
                case "except":
                    guard !l[i + 1].isEmpty, let net = ACLParser.parseNetwork(l[i + 1]) else {
                        s.alert(l, "'option forwardfor' 'except' requires an IPv4 or IPv6 network address.")
                        return
                    }
                    ff.except = net
                    i += 2
                case "header":
                    guard !l[i + 1].isEmpty else {
                        s.alert(l, "'option forwardfor' 'header' requires a header name.")
                        return
                    }
                    ff.header = l[i + 1]
                    i += 2
                case "if-none":
                    ff.ifNone = true
                    i += 1
                default:
                    s.alert(l, "'option forwardfor' only supports optional values: 'except', 'header' and 'if-none'.")
                    return
                }
            }
            p.forwardFor = ff
        },
        "http-server-close": noArguments { s, p, l, neg in
            p.httpConnectionMode = neg ? .keepAlive : .serverClose
        },
        "httpclose": noArguments { s, p, l, neg in
            p.httpConnectionMode = neg ? .keepAlive : .close
        },
        "http-buffer-request": noArguments { s, p, l, neg in
            // HAProxy also waits in a backend, after routing; proxyd waits before
            // routing only, so a backend's own line would change nothing: say so.
            if s.currentKind == "backend", !neg {
                s.warning(l, "proxyd honours 'option http-buffer-request' in frontend, listen and defaults sections only; it is ignored in a backend.")
            }
            p.httpBufferRequest = !neg
        },
        // Kernel splicing (DataPath/SplicePump): `mode tcp` streams between plain
        // sockets. `auto` splices both ways from the start, where HAProxy guesses when it
        // pays; bytes then never enter user space.
        "splice-auto": noArguments { s, p, l, neg in
            p.spliceRequest = !neg
            p.spliceResponse = !neg
        },
        "splice-request": noArguments { s, p, l, neg in p.spliceRequest = !neg },
        "splice-response": noArguments { s, p, l, neg in p.spliceResponse = !neg },
        "http-keep-alive": noArguments { s, p, l, neg in
            p.httpConnectionMode = neg ? .close : .keepAlive
        },
        "httplog": Entry(side: .both, negatable: true) { s, p, l, neg in
            if l.count > 3 {
                s.alert(l, "'option httplog' cannot handle unexpected argument '\(l[3])'.")
                return
            }
            if l.count > 2 {
                guard l[2] == "clf" else {
                    s.alert(l, "keyword 'httplog' only supports option 'clf'.")
                    return
                }
                p.httpLogCLF = !neg
            }
            if !neg { noteLogOption(s, &p, l, l.count > 2 ? "httplog clf" : "httplog") }
            p.httpLog = !neg
            p.httpsLog = false
            if !neg { p.tcpLog = false }
            p.logOptionLocation = l.location
        },
        // HAProxy 2.6 takes no argument here but does not check for extra ones, and has no
        // `no option httpslog`. Its "overrides" warning names the new option `httplog`.
        "httpslog": Entry(side: .both, negatable: false) { s, p, l, _ in
            noteLogOption(s, &p, l, "httpslog", shownAs: "httplog")
            p.httpLog = true
            p.httpsLog = true
            p.httpLogCLF = false
            p.tcpLog = false
            p.logOptionLocation = l.location
        },
        "tcplog": noArguments { s, p, l, neg in
            if !neg { noteLogOption(s, &p, l, "tcplog") }
            p.tcpLog = !neg
            if !neg { p.httpLog = false; p.httpsLog = false }
            p.logOptionLocation = l.location
        },
        "dontlognull": flag(.frontend) { $0.dontLogNull = $1 },
        "log-health-checks": flag(.backend) { $0.logHealthChecks = $1 },
        "allbackups": flag(.backend) { $0.allBackups = $1 },
        "abortonclose": flag(.backend) { $0.abortOnClose = $1 },
        "tcp-check": Entry(side: .backend, negatable: false) { s, p, l, _ in
            if l.count > 2 {
                s.alert(l, "'option tcp-check' cannot handle unexpected argument '\(l[2])'.")
                return
            }
            p.healthCheck.option = .tcpCheck
        },
        "httpchk": Entry(side: .backend, negatable: false) { s, p, l, _ in
            var request = HTTPCheckRequest()
            let args = Array(l.words.dropFirst(2))
            switch args.count {
            case 0: break
            case 1: request.uri = args[0]
            case 2: request.method = args[0]; request.uri = args[1]
            case 3: request.method = args[0]; request.uri = args[1]; request.version = args[2]
            default:
                s.alert(l, "'option httpchk' cannot handle unexpected argument '\(args[3])'.")
                return
            }
            // A version may carry headers after "\r\n" (HAProxy's old trick).
            if let r = request.version.range(of: "\r\n") {
                let rest = String(request.version[r.upperBound...])
                request.version = String(request.version[..<r.lowerBound])
                for h in rest.components(separatedBy: "\r\n") where !h.isEmpty {
                    if let c = h.firstIndex(of: ":") {
                        request.headers.append((String(h[..<c]), String(h[h.index(after: c)...]).trimmingSpaces))
                    }
                }
            }
            p.healthCheck.option = .httpchk
            p.healthCheck.request = request
        },
    ].merging(PersistenceParser.options) { own, _ in own }.merging(SmallOptionsParser.options) { own, _ in own }
        .merging(ProtocolCheckParser.options) { own, _ in own }

    /// Valid HAProxy 2.6 options proxyd does not implement yet.
    static let unsupported: [String] = [
        "accept-invalid-http-request", "accept-invalid-http-response", "checkcache",
        "disable-h2-upgrade", "external-check", "h1-case-adjust-bogus-client",
        "h1-case-adjust-bogus-server", "http-ignore-probes", "http-no-delay",
        "http-restrict-req-hdr-names", "http-use-proxy-header",
        "idle-close-on-response", "independent-streams", "log-separate-errors",
        "nolinger", "originalto", "socket-stats",
        "spop-check", "tcp-smart-accept", "tcp-smart-connect",
        "transparent",
    ]

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        parse(s, &p, l, ctx, negate: false)
    }

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext, negate: Bool) {
        let name = l[1]
        guard !name.isEmpty else {
            s.alertRaw("parsing [\(l.location)]: '\(l.keyword)' expects an option name.", at: l.location)
            return
        }
        guard let entry = table[name] else {
            if unsupported.contains(name) {
                s.alert(l, "'option \(name)' is valid in HAProxy but not supported by proxyd yet.")
                return
            }
            var message = "unknown option '\(name)'"
            if let sug = DidYouMean.suggest(name, among: Array(table.keys) + unsupported) {
                message += "; did you mean '\(sug)' maybe ?"
            } else {
                message += "."
            }
            s.alert(l, message)
            return
        }
        if negate && !entry.negatable {
            s.alertRaw("parsing [\(l.location)]: negation/default is not supported for option '\(name)'.", at: l.location)
            return
        }
        if !ctx.isDefaults {
            if entry.side == .backend && !p.isBackend {
                s.warning(l, "'\(name)' ignored because \(ctx.kind) '\(p.name)' has no backend capability.")
                return
            }
            if entry.side == .frontend && !p.isFrontend {
                s.warning(l, "'\(name)' ignored because \(ctx.kind) '\(p.name)' has no frontend capability.")
                return
            }
        }
        entry.handler(s, &p, l, negate)
    }
}

/// `stats …` in a proxy: the statistics page.
enum StatsParser {
    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let sub = l[1]
        switch sub {
        case "":
            s.alertRaw("parsing [\(l.location)]: missing keyword in 'stats', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'.", at: l.location)
        case "enable":
            p.stats.enabled = true
        case "uri":
            guard !l[2].isEmpty else { s.alert(l, "'uri' needs an URI prefix."); return }
            p.stats.enabled = true
            p.stats.uri = l[2]
        case "realm":
            guard !l[2].isEmpty else { s.alert(l, "'realm' needs an realm name."); return }
            p.stats.enabled = true
            p.stats.realm = l[2]
        case "refresh":
            switch s.timer(l, l[2]) {
            case let .success(ms) where l.count > 2:
                p.stats.enabled = true
                p.stats.refresh = ms
            case let .failure(.unexpectedCharacter(c)):
                s.alertRaw("parsing [\(l.location)]: unexpected character '\(c)' in argument to stats refresh interval.", at: l.location)
            default:
                s.alert(l, "'refresh' needs a positive interval in seconds.")
            }
        case "auth":
            guard !l[2].isEmpty else { s.alert(l, "'auth' needs a user:password account."); return }
            p.stats.enabled = true
            // HAProxy accepts a bare user name (with an empty password).
            if let colon = l[2].firstIndex(of: ":") {
                p.stats.auth.append((String(l[2][..<colon]), String(l[2][l[2].index(after: colon)...])))
            } else {
                p.stats.auth.append((l[2], ""))
            }
        case "show-node":
            if l.count > 2 && Loader.validName(l[2]) != nil {
                s.alert(l, "'show-node' requires valid node name - non-empty string with digits(0-9), letters(A-Z, a-z), dot(.), hyphen(-) or underscode(_).")
                return
            }
            p.stats.enabled = true
            p.stats.showNode = l.count > 2 ? l[2] : ""
        case "show-desc":
            p.stats.enabled = true
            p.stats.showDescription = l.count > 2 ? l.words[2...].joined(separator: " ") : ""
        case "show-legends":
            p.stats.enabled = true
            p.stats.showLegends = true
        case "show-modules":
            p.stats.enabled = true
            p.stats.showModules = true
        case "hide-version":
            p.stats.enabled = true
            p.stats.hideVersion = true
        case "scope":
            guard !l[2].isEmpty else { s.alert(l, "'scope' needs a proxy name."); return }
            p.stats.enabled = true
            p.stats.scopes.append(l[2])
        case "admin":
            if ctx.isDefaults {
                s.alertRaw("parsing [\(l.location)]: 'stats admin' not allowed in 'defaults' section.", at: l.location)
                return
            }
            guard l[2] == "if" || l[2] == "unless" else {
                s.alert(l, "'stats admin' requires either 'if' or 'unless' followed by a condition.")
                return
            }
            switch ACLParser.parseCondition(s, p, Array(l.words[2...]), l.location, context: .httpRequest) {
            case let .success(c):
                p.stats.enabled = true
                p.stats.admin = c
            case let .failure(e):
                s.alert(l, "error detected while parsing a 'stats admin' rule : \(e.message).")
            }
        case "http-request":
            s.alert(l, "'stats \(sub)' is valid in HAProxy but not supported by proxyd yet.")
        default:
            s.alertRaw("parsing [\(l.location)]: unknown stats parameter '\(sub)', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'.", at: l.location)
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }

    func components(separatedBy separator: String) -> [String] {
        var out: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: separator) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        let n = Array(needle.utf8)
        guard !n.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].utf8.starts(with: n) {
                return i..<self.utf8.index(i, offsetBy: n.count)
            }
            i = index(after: i)
        }
        return nil
    }
}

extension String {
    func range(of needle: String) -> Range<String.Index>? {
        Substring(self).range(of: needle)
    }
}
