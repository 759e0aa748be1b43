import Shared

/// `defaults`, `frontend`, `backend` and `listen` sections: a keyword table.
enum ProxyParser {
    typealias Handler = (ParserState, inout ProxySettings, ConfigLine, ProxyParseContext) -> Void

    static let table: [String: ProxyKeyword] = [
        "mode": ProxyKeyword(side: .both, inDefaults: true, handler: mode),
        "bind": ProxyKeyword(side: .frontend, inDefaults: false, handler: BindParser.parse),
        "server": ProxyKeyword(side: .backend, inDefaults: false, handler: ServerParser.parseServer),
        "server-template": ProxyKeyword(side: .backend, inDefaults: false, handler: ServerTemplateParser.parse),
        "default-server": ProxyKeyword(side: .backend, inDefaults: true, handler: ServerParser.parseDefaultServer),
        "default_backend": ProxyKeyword(side: .frontend, inDefaults: true, handler: defaultBackend),
        "use_backend": ProxyKeyword(side: .frontend, inDefaults: false, handler: useBackend),
        "acl": ProxyKeyword(side: .both, inDefaults: true, handler: ACLParser.parseACLLine),
        "balance": ProxyKeyword(side: .backend, inDefaults: true, handler: balance),
        "hash-type": ProxyKeyword(side: .backend, inDefaults: true, handler: hashType),
        "hash-balance-factor": ProxyKeyword(side: .backend, inDefaults: true, handler: { s, p, l, _ in
            guard let v = ConfigUnits.integer(l[1]), v == 0 || v > 100 else {
                s.alert(l, "'hash-balance-factor' must be 0 or greater than 100.")
                return
            }
            p.hashBalanceFactor = v
        }),
        "timeout": ProxyKeyword(side: .both, inDefaults: true, handler: timeout),
        "maxconn": ProxyKeyword(side: .frontend, inDefaults: true, handler: { s, p, l, _ in
            guard let v = ConfigUnits.integer(l[1]) else { s.alert(l, "'maxconn' expects an integer argument."); return }
            p.maxconn = v
        }),
        "fullconn": ProxyKeyword(side: .backend, inDefaults: true, handler: { s, p, l, _ in
            guard let v = ConfigUnits.integer(l[1]) else { s.alert(l, "'fullconn' expects an integer argument."); return }
            p.fullconn = v
        }),
        "load-server-state-from-file": ProxyKeyword(side: .backend, inDefaults: true, handler: { s, p, l, _ in
            guard let source = ServerStateSource(rawValue: l[1]) else {
                s.alert(l, "'load-server-state-from-file' expects 'global', 'local' or 'none'. Got '\(l[1])'")
                return
            }
            p.loadServerState = source
        }),
        "server-state-file-name": ProxyKeyword(side: .backend, inDefaults: true, handler: { s, p, l, _ in
            p.serverStateFileName = l[1].isEmpty || l[1] == "use-backend-name" ? nil : l[1]
        }),
        "retries": ProxyKeyword(side: .backend, inDefaults: true, handler: { s, p, l, _ in
            guard let v = ConfigUnits.integer(l[1]) else { s.alert(l, "'retries' expects an integer argument."); return }
            p.retries = v
        }),
        "option": ProxyKeyword(side: .both, inDefaults: true, handler: OptionParser.parse),
        "http-request": ProxyKeyword(side: .both, inDefaults: true, handler: HTTPRuleParser.parseRequest),
        "http-response": ProxyKeyword(side: .both, inDefaults: true, handler: HTTPRuleParser.parseResponse),
        "http-check": ProxyKeyword(side: .backend, inDefaults: true, handler: CheckParser.parseHTTPCheck),
        "tcp-check": ProxyKeyword(side: .backend, inDefaults: true, handler: CheckParser.parseTCPCheck),
        "errorfile": ProxyKeyword(side: .both, inDefaults: true, handler: ErrorPagesParser.proxyErrorFile),
        "errorfiles": ProxyKeyword(side: .both, inDefaults: true, handler: ErrorPagesParser.errorFiles),
        "errorloc": ProxyKeyword(side: .both, inDefaults: true, handler: ErrorPagesParser.errorLocation),
        "errorloc302": ProxyKeyword(side: .both, inDefaults: true, handler: ErrorPagesParser.errorLocation),
        "errorloc303": ProxyKeyword(side: .both, inDefaults: true, handler: ErrorPagesParser.errorLocation),
        "log": ProxyKeyword(side: .both, inDefaults: true, handler: log),
        "log-format": ProxyKeyword(side: .both, inDefaults: true, handler: { s, p, l, ctx in
            guard l.count == 2 else {
                s.alert(l, "log-format expects one argument (did you forget to quote it?)")
                return
            }
            if !p.isFrontend && !ctx.isDefaults {
                s.warning(l, "backend '\(p.name)' : 'log-format' directive is ignored in backends.")
                return
            }
            p.logFormat = l[1]
            p.logFormatLocation = l.location
        }),
        "stats": ProxyKeyword(side: .both, inDefaults: true, handler: StatsParser.parse),
        "http-reuse": ProxyKeyword(side: .backend, inDefaults: true, handler: { s, p, l, _ in
            guard let r = HTTPReuse(rawValue: l[1]) else {
                s.alert(l, "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.")
                return
            }
            if l.count > 2 {
                s.alert(l, "'http-reuse \(l[1])' cannot handle unexpected argument '\(l[2])'.")
                return
            }
            p.httpReuse = r
        }),
        "description": ProxyKeyword(side: .both, inDefaults: false, handler: { s, p, l, _ in
            guard l.count > 1 else {
                s.alertRaw("parsing [\(l.location)]: 'description' expects a string argument.", at: l.location)
                return
            }
            p.description = l.words[1...].joined(separator: " ")
        }),
        "disabled": ProxyKeyword(side: .both, inDefaults: true, handler: { s, p, l, _ in p.disabled = true }),
        "enabled": ProxyKeyword(side: .both, inDefaults: true, handler: { s, p, l, _ in p.disabled = false }),
        "id": ProxyKeyword(side: .both, inDefaults: false, handler: { s, p, l, ctx in
            guard let v = ConfigUnits.integer(l[1]), v > 0 else {
                s.alert(l, "\(ctx.kind) '\(p.name)' : custom id has to be > 0.")
                return
            }
            p.id = v
        }),
        "monitor-uri": ProxyKeyword(side: .frontend, inDefaults: true, handler: { s, p, l, _ in
            guard l[1].hasPrefix("/") else { s.alert(l, "'monitor-uri' expects an URI."); return }
            p.monitorURI = l[1]
        }),
        "redirect": ProxyKeyword(side: .frontend, inDefaults: false, handler: { s, p, l, ctx in
            HTTPRuleParser.parseLegacyRedirect(s, &p, l, ctx)
        }),
        "tcp-request": ProxyKeyword(side: .frontend, inDefaults: true, handler: tcpRequest),
        // One process since HAProxy 2.5: accepted with HAProxy's warning, without effect.
        "bind-process": ProxyKeyword(side: .both, inDefaults: true, handler: { s, _, l, _ in
            s.warningRaw("parsing [\(l.location)]: 'bind-process' has no effect, is deprecated, and will be removed in version 2.7.",
                         at: l.location)
        }),
        "stick-table": ProxyKeyword(side: .both, inDefaults: false, handler: StickTableParser.parseTable),
        "stick": ProxyKeyword(side: .backend, inDefaults: false, handler: StickTableParser.parseStickRule),
        // HAProxy 2.6 refuses it here with these words; `grace` now lives in `global`.
        "grace": ProxyKeyword(side: .both, inDefaults: true, handler: { s, _, l, _ in
            s.alertRaw("parsing [\(l.location)]: the 'grace' keyword is not supported any more since HAProxy version 2.5.",
                       at: l.location)
        }),
    ].merging(PersistenceParser.keywords) { own, _ in own }.merging(SmallOptionsParser.keywords) { own, _ in own }
        .merging(CompressionParser.keywords) { own, _ in own }
        .merging(CaptureParser.keywords) { own, _ in own }.merging(UniqueIDParser.keywords) { own, _ in own }
        .merging(AfterResponseParser.keywords) { own, _ in own }.merging(RateLimitParser.keywords) { own, _ in own }
        .merging(HTTPErrorParser.keywords) { own, _ in own }.merging(RetryOnParser.keywords) { own, _ in own }
        .merging(SourceParser.keywords) { own, _ in own }

    /// Valid HAProxy 2.6 proxy keywords that proxyd does not implement yet.
    static let unsupported: [String] = [
        "email-alert", "error-log-format", "external-check",
        "filter", "http-send-name-header", "log-format-sd",
        "log-tag", "max-keep-alive-queue", "max-session-srv-conns", "monitor",
        "tcp-response", "dispatch",
        "use-fcgi-app",
    ]

    static var allKeywords: [String] { Array(table.keys) + unsupported }

    /// Keywords taking at most this many arguments (HAProxy's "cannot handle unexpected argument").
    static let maxArguments: [String: Int] = [
        "mode": 1, "maxconn": 1, "backlog": 1, "retries": 1, "load-server-state-from-file": 1, "server-state-file-name": 1, "default_backend": 1, "fullconn": 1, "monitor-uri": 1, "id": 1,
        "disabled": 0, "enabled": 0,
    ]

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ line: ConfigLine, _ ctx: ProxyParseContext) {
        s.currentKind = ctx.kind
        s.currentProxyName = p.name
        var l = line
        var negate = false
        if l.keyword == "no" || l.keyword == "default" {
            guard l.count > 1, l[1] == "option" || l[1] == "log" else {
                s.alert(l, "'\(l.keyword)' only supports 'option' and 'log'.")
                return
            }
            negate = l.keyword == "no"
            if l[1] == "log" {
                p.logs = []
                return
            }
            l.words.removeFirst()
            if !negate { return }       // "default option X": keep the defaults' value
            OptionParser.parse(s, &p, l, ctx, negate: true)
            return
        }
        let kw = l.keyword
        if let max = maxArguments[kw], l.count > max + 1 {
            s.alert(l, "'\(kw)' cannot handle unexpected argument '\(l[max + 1])'.")
            return
        }
        guard let entry = table[kw] else {
            if unsupported.contains(kw) {
                s.alert(l, "'\(kw)' is a valid HAProxy keyword in '\(ctx.kind)' section, but proxyd does not support it yet.")
                return
            }
            var message = "unknown keyword '\(kw)' in '\(ctx.kind)' section"
            if let sug = DidYouMean.suggest(kw, among: allKeywords + Loader.sectionKeywords) { message += "; did you mean '\(sug)' maybe ?" }
            s.alert(l, message)
            return
        }
        // Rules and ACLs are allowed in named defaults only (proxies using them with `from`
        // or implicitly run them first).
        if ctx.isDefaults && !ctx.isNamedDefaults && ["acl", "http-request", "http-response", "tcp-request"].contains(kw) {
            s.alert(l, "'\(kw)' not allowed in anonymous 'defaults' section.")
            return
        }
        if ctx.isDefaults && !entry.inDefaults {
            if kw == "server" || kw == "server-template" {
                s.alertRaw("[\(l.location)] : '\(kw)' not allowed in 'defaults' section.", at: l.location)
            } else if kw == "description" {
                s.alertRaw("parsing [\(l.location)]: 'description' not allowed in 'defaults' section.", at: l.location)
            } else {
                s.alert(l, "'\(kw)' not allowed in 'defaults' section.")
            }
            return
        }
        if !ctx.isDefaults {
            if entry.side == .backend && !p.isBackend {
                if kw == "server" || kw == "server-template" {
                    s.alertRaw("[\(l.location)] : parsing [\(l.location)] : '\(kw)' not allowed because \(ctx.kind) '\(p.name)' has no backend capability.",
                               at: l.location)
                    return
                }
                if kw != "default-server" && kw != "tcp-check" {
                    s.warning(l, "'\(kw)' ignored because \(ctx.kind) '\(p.name)' has no backend capability.")
                    return
                }
            }
            if entry.side == .frontend && !p.isFrontend {
                if kw == "tcp-request" {
                    entry.handler(s, &p, l, ctx)  // refused there, not ignored
                    return
                }
                let hint = kw == "maxconn" ? " Maybe you want 'fullconn' instead ?" : ""
                s.warning(l, "'\(kw)' ignored because \(ctx.kind) '\(p.name)' has no frontend capability.\(hint)")
                if kw == "bind" {
                    // HAProxy still reads the line (and reports its errors), then drops it.
                    var scratch = p
                    entry.handler(s, &scratch, l, ctx)
                }
                return
            }
        }
        entry.handler(s, &p, l, ctx)
    }

    // MARK: Keywords

    static func mode(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        switch l[1] {
        case "http": p.mode = .http
        case "tcp": p.mode = .tcp
        case "health":
            s.alert(l, "'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead.")
        default:
            s.alert(l, "unknown proxy mode '\(l[1])'.")
        }
    }

    static func defaultBackend(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard !l[1].isEmpty else {
            s.alert(l, "'\(l.keyword)' expects a backend name.")
            return
        }
        if l.count > 2 {
            s.alert(l, "'\(l.keyword)' cannot handle unexpected argument '\(l[2])'.")
            return
        }
        p.defaultBackend = l[1]
    }

    static func useBackend(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard !l[1].isEmpty else {
            s.alert(l, "'\(l.keyword)' expects a backend name.")
            return
        }
        var condition: Condition? = nil
        if l.count > 2 {
            guard l[2] == "if" || l[2] == "unless" else {
                s.alert(l, "unexpected keyword '\(l[2])' after switching rule, only 'if' and 'unless' are allowed.")
                return
            }
            switch ACLParser.parseCondition(s, p, Array(l.words[2...]), l.location, context: .useBackend) {
            case let .success(c): condition = c
            case let .failure(e):
                s.alert(l, "error detected while parsing switching rule : \(e.message).")
                return
            }
        }
        let dynamic = l[1].contains("%[")
        p.useBackendRules.append(BackendSwitchingRule(backend: l[1], isDynamic: dynamic, condition: condition,
                                                      location: l.location))
        if ctx.index >= 0 { s.sawUseBackend.insert(ctx.index) }
    }

    static func balance(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let algo = l[1]
        let args = Array(l.words.dropFirst(2))
        // HAProxy ignores extra words after an algorithm without parameters.
        func noArgs() -> Bool { true }
        switch algo {
        case "roundrobin": if noArgs() { p.balance.algorithm = .roundRobin }
        case "static-rr": if noArgs() { p.balance.algorithm = .staticRoundRobin }
        case "leastconn": if noArgs() { p.balance.algorithm = .leastConn }
        case "first": if noArgs() { p.balance.algorithm = .first }
        case "source": if noArgs() { p.balance.algorithm = .source }
        case "uri":
            var whole = false, pathOnly = false
            var len: Int? = nil, depth: Int? = nil
            var i = 0
            while i < args.count {
                switch args[i] {
                case "whole": whole = true; i += 1
                case "path-only": pathOnly = true; i += 1
                case "len":
                    guard let v = ConfigUnits.integer(i + 1 < args.count ? args[i + 1] : "") else {
                        s.alert(l, "'balance uri len' expects a positive integer (got '\(i + 1 < args.count ? args[i + 1] : "")').")
                        return
                    }
                    len = v; i += 2
                case "depth":
                    guard let v = ConfigUnits.integer(i + 1 < args.count ? args[i + 1] : "") else {
                        s.alert(l, "'balance uri depth' expects a positive integer (got '\(i + 1 < args.count ? args[i + 1] : "")').")
                        return
                    }
                    depth = v; i += 2
                default:
                    s.alert(l, "balance uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '\(args[i])').")
                    return
                }
            }
            p.balance.algorithm = .uri(whole: whole, length: len, depth: depth, pathOnly: pathOnly)
        case "url_param":
            guard let name = args.first, !name.isEmpty else {
                s.alert(l, "balance url_param requires an URL parameter name.")
                return
            }
            var checkPost = false
            if args.count > 1 {
                guard args[1] == "check_post" else {
                    s.alert(l, "'balance url_param' only accepts check_post modifier.")
                    return
                }
                checkPost = true
            }
            p.balance.algorithm = .urlParam(name: name, checkPost: checkPost)
        case "random":
            if noArgs() { p.balance.algorithm = .random(draws: 2) }
        default:
            if algo.hasPrefix("random("), algo.hasSuffix(")") {
                // `random(<draws>)`
                guard let v = ConfigUnits.integer(String(algo.dropFirst(7).dropLast())), v >= 1 else {
                    s.alert(l, "'balance random' : invalid number of draws '\(algo)'.")
                    return
                }
                p.balance.algorithm = .random(draws: v)
                return
            }
            if algo.hasPrefix("hdr(") && algo.hasSuffix(")") {
                let name = String(algo.dropFirst(4).dropLast())
                guard !name.isEmpty else {
                    s.alert(l, "balance hdr requires an http header field name.")
                    return
                }
                var domain = false
                if let a = args.first {
                    guard a == "use_domain_only" else {
                        s.alert(l, "'balance hdr()' only accepts 'use_domain_only' modifier (got '\(a)').")
                        return
                    }
                    domain = true
                }
                p.balance.algorithm = .header(name: name, useDomainOnly: domain)
            } else if algo == "rdp-cookie" || algo.hasPrefix("rdp-cookie(") {
                var name = "mstshash"
                if algo != "rdp-cookie" {
                    let inner = algo.dropFirst("rdp-cookie(".count)
                    guard let close = inner.firstIndex(of: ")"), close > inner.startIndex else {
                        s.alert(l, "balance rdp-cookie : missing cookie name.")
                        return
                    }
                    name = String(inner[..<close])
                }
                p.balance.algorithm = .rdpCookie(name: name)
            } else if algo == "hash" || algo == "sticky" {
                s.alert(l, "'balance \(algo)' is valid in HAProxy but not supported by proxyd yet.")
            } else {
                s.alert(l, "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.")
            }
        }
    }

    static func hashType(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard let m = Balance.HashMethod(rawValue: l[1]) else {
            s.alert(l, "'hash-type' only supports 'consistent' and 'map-based'.")
            return
        }
        p.balance.hashMethod = m
        if l.count > 2 {
            guard let f = Balance.HashFunction(rawValue: l[2]) else {
                s.alert(l, "'hash-type' unknown hash function '\(l[2])'.")
                return
            }
            p.balance.hashFunction = f
            if l.count > 3 {
                guard l[3] == "avalanche" else {
                    s.alert(l, "'hash-type' unknown modifier '\(l[3])'.")
                    return
                }
                p.balance.avalanche = true
            }
        }
    }

    static let timeoutNames = "'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin'"

    static func timeout(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        var name = l[1]
        // Legacy names HAProxy still accepts.
        switch name {
        case "clitimeout": name = "client"
        case "srvtimeout": name = "server"
        case "contimeout": name = "connect"
        default: break
        }
        let side: ProxyKeyword.Side
        let setter: (inout Timeouts, Int) -> Void
        switch name {
        case "client": side = .frontend; setter = { $0.client = $1 }
        case "client-fin": side = .frontend; setter = { $0.clientFin = $1 }
        case "http-request": side = .both; setter = { $0.httpRequest = $1 }
        case "http-keep-alive": side = .both; setter = { $0.httpKeepAlive = $1 }
        case "tarpit": side = .both; setter = { $0.tarpit = $1 }
        case "server": side = .backend; setter = { $0.server = $1 }
        case "server-fin": side = .backend; setter = { $0.serverFin = $1 }
        case "connect": side = .backend; setter = { $0.connect = $1 }
        case "check": side = .backend; setter = { $0.check = $1 }
        case "queue": side = .backend; setter = { $0.queue = $1 }
        case "tunnel": side = .backend; setter = { $0.tunnel = $1 }
        default:
            s.alert(l, "'timeout' supports \(timeoutNames) (got '\(l[1])')")
            return
        }
        let what = "timeout \(name)"
        guard l.count > 2, !l[2].isEmpty else {
            s.alert(l, "'\(what)' expects an integer value (in milliseconds)")
            return
        }
        let ms: Int
        switch s.timer(l, l[2]) {
        case let .success(v): ms = v
        case let .failure(.unexpectedCharacter(c)):
            s.alert(l, "unexpected character '\(c)' in '\(what)'")
            return
        case .failure(.overflow):
            s.alert(l, "timer overflow in argument '\(l[2])' to '\(what)' (maximum value is 2147483647 ms or ~24.8 days)")
            return
        case .failure(.empty):
            s.alert(l, "'\(what)' expects an integer value (in milliseconds)")
            return
        }
        if l.count > 3 {
            s.alert(l, "'\(what)' : unexpected extra argument '\(l[3])' after value '\(l[2])'.")
            return
        }
        if !ctx.isDefaults {
            if side == .backend && !p.isBackend {
                s.warning(l, "'\(what)' will be ignored because \(ctx.kind) '\(p.name)' has no backend capability")
                return
            }
            if side == .frontend && !p.isFrontend {
                s.warning(l, "'\(what)' will be ignored because \(ctx.kind) '\(p.name)' has no frontend capability")
                return
            }
        }
        setter(&p.timeouts, ms)
    }

    static func log(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        if l[1] == "global" && l.count == 2 {
            p.logs.append(contentsOf: s.global.logs)
            return
        }
        if let t = LogParser.parse(s, l) { p.logs.append(t) }
    }

    static func tcpRequest(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        if !ctx.isDefaults && !p.isFrontend {
            // A backend: HAProxy refuses the connection and session phases; it runs content
            // rules when the stream enters the backend, which proxyd does not do yet. Refused
            // rather than ignored: a reject or a track-sc the operator wrote must not be
            // dropped in silence.
            if l[1] == "connection" || l[1] == "session" {
                s.alert(l, "tcp-request \(l[1]) is not allowed because \(ctx.kind) \(p.name) is not a frontend")
            } else if l[1] == "content" || l[1] == "inspect-delay" {
                s.alert(l, "'tcp-request \(l[1])' in \(ctx.kind) '\(p.name)' is valid in HAProxy but not supported by proxyd yet "
                        + "(proxyd applies tcp-request rules in frontends and listen sections only).")
            } else {
                s.alert(l, "'tcp-request' expects 'inspect-delay', 'connection', or 'content' in \(ctx.kind) '\(p.name)' (got '\(l[1])')")
            }
            return
        }
        guard let phase = TCPRequestRule.Phase(rawValue: l[1]) else {
            if l[1] == "inspect-delay" {
                switch s.timer(l, l[2]) {
                case let .success(ms):
                    p.tcpRequestRules.append(TCPRequestRule(phase: .content, action: .inspectDelay(milliseconds: ms), location: l.location))
                case .failure:
                    s.alert(l, "'tcp-request inspect-delay' expects a positive delay in milliseconds, in proxy '\(p.name)'")
                }
                return
            }
            s.alert(l, "'tcp-request' expects 'inspect-delay', 'connection', or 'content' in \(ctx.kind) '\(p.name)' (got '\(l[1])')")
            return
        }
        var action: TCPRequestRule.Action
        var conditionAt = 3
        switch l[2] {
        case "accept": action = .accept
        case "reject": action = .reject
        case "silent-drop" where phase != .session: action = .silentDrop  // Runtime/RuleEffects.swift
        case "track-sc0", "track-sc1", "track-sc2" where phase != .session:
            switch StickTableParser.parseTrack(counter: Int(String(l[2].last!))!, Array(l.words.dropFirst(3)), proxy: p) {
            case let .success((track, used)):
                if phase == .connection, let fetch = StickTableParser.httpOnlyKey(track.key, written: l[3]) {
                    s.alert(l, "'tcp-request \(l[1]) \(l[2])' : fetch method '\(fetch)' extracts information from 'HTTP request headers', none of which is available here")
                    return
                }
                action = .track(track)
                conditionAt = 3 + used
            case let .failure(e):
                s.alert(l, "'tcp-request \(l[1]) \(l[2])' : \(e.message) in \(ctx.kind) '\(p.name)'.")
                return
            }
        case "set-dst", "set-dst-port":  // issue 15 (Runtime/DestinationRewrite.swift)
            let args = l.count > 3 && l[3] != "if" && l[3] != "unless" ? [l[3]] : []
            switch RuleEffectParser.destination(l[2], args) {
            case let .success(rewrite): action = .setDestination(rewrite)
            case let .failure(e):
                s.alert(l, e.message)  // HAProxy's words, bare
                return
            }
            conditionAt = 3 + args.count
        case _ where phase != .connection && VariableParser.keyword(l[2]) != nil:  // issue 15
            let arity = VariableParser.arity(l[2]) ?? 0
            let args = Array(l.words.dropFirst(3).prefix(arity))
            let place: HAProxySamples.Usage = phase == .session ? .frontendTCPSession
                : p.isFrontend ? .frontendTCPContent : .backendTCPContent
            switch VariableParser.parse(l[2], args, place: place) {
            case let .success(assignment): action = .setVariable(assignment)
            case let .failure(e):
                s.alert(l, e.message)  // HAProxy's words, bare
                return
            }
            conditionAt = 3 + args.count
        default:
            s.alert(l, "'tcp-request \(l[1]) \(l[2])' is valid in HAProxy but not supported by proxyd yet.")
            return
        }
        // `inspect-delay` is kept as a content rule here but is no rule to HAProxy.
        let contentRuleBefore = p.tcpRequestRules.contains {
            if case .inspectDelay = $0.action { return false }
            return $0.phase == .content
        }
        if phase == .connection && contentRuleBefore {
            s.warning(l, "a 'tcp-request' rule placed after a 'tcp-request content' rule will still be processed before.")
        }
        var condition: Condition? = nil
        if l.count > conditionAt {
            guard l[conditionAt] == "if" || l[conditionAt] == "unless" else {
                s.alert(l, "'tcp-request \(l[1]) \(l[2])' expects 'if' or 'unless' followed by a condition but found '\(l[conditionAt])'.")
                return
            }
            switch ACLParser.parseCondition(s, p, Array(l.words[conditionAt...]), l.location,
                                            context: phase == .connection ? .tcpConnection : .tcpContent) {
            case let .success(c): condition = c
            case let .failure(e):
                s.alert(l, "'tcp-request \(l[1]) \(l[2])' : error detected in \(ctx.kind) '\(p.name)' while parsing '\(l[conditionAt])' condition : \(e.message)")
                return
            }
        }
        p.tcpRequestRules.append(TCPRequestRule(phase: phase, action: action, condition: condition, location: l.location))
    }
}
