import Shared

/// `http-request` and `http-response` rules, and the legacy `redirect` keyword.
enum HTTPRuleParser {
    struct Failure: Error { var message: String }

    /// Parses a log-format string into literal text, `%[sample]` and `%var` parts.
    /// HAProxy's log-format variables (`%ci`, `%{+Q}r` …), without the `%` and flags.
    static let formatVariables: Set<String> = [
        "o", "B", "CC", "CS", "H", "HM", "HP", "HPO", "HQ", "HU", "HV", "ID", "ST", "T", "Ta", "Tc", "Td", "Tl",
        "Th", "Ti", "Tq", "TR", "Tr", "Ts", "Tt", "Tu", "Tw", "U", "ac", "b", "bc", "bi", "bp", "bq", "ci", "cp",
        "f", "fc", "fi", "fp", "ft", "lc", "hr", "hrl", "hs", "hsl", "ms", "pid", "r", "rc", "rt", "s", "sc",
        "si", "sp", "sq", "sslc", "sslv", "t", "tr", "trg", "trl", "ts", "tsc",
    ]

    /// Parses a log-format string into literal text, `%[sample]` and `%var` parts. With a
    /// `place`, each sample expression is checked as HAProxy does: known fetch and
    /// converters, and a fetch that can give a sample there.
    static func format(_ raw: String, place: HAProxySamples.Usage? = nil) -> Result<FormatString, Failure> {
        var parts: [FormatString.Part] = []
        var literal = ""
        let chars = Array(raw)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "%" && i + 1 == chars.count && place != nil {
                return .failure(Failure(message: "truncated line after '%'"))
            }
            if c == "%" && i + 1 < chars.count {
                let n = chars[i + 1]
                if n == "%" { literal.append("%"); i += 2; continue }
                if n == "[" {
                    var depth = 0
                    var j = i + 1
                    var expr = ""
                    while j < chars.count {
                        if chars[j] == "[" { depth += 1; if depth == 1 { j += 1; continue } }
                        if chars[j] == "]" { depth -= 1; if depth == 0 { break } }
                        expr.append(chars[j])
                        j += 1
                    }
                    guard j < chars.count else {
                        return .failure(Failure(message: "missing ']' after '\(String(chars[(i + 2)...]))'"))
                    }
                    if let place, let problem = sampleProblem(expr, rest: String(chars[(i + 2)...]), place: place) {
                        return .failure(Failure(message: problem))
                    }
                    if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                    parts.append(.sample(expr))
                    i = j + 1
                    continue
                }
                var j = i + 1
                var flags = ""
                if chars[j] == "{" {
                    while j < chars.count && chars[j] != "}" { flags.append(chars[j]); j += 1 }
                    guard j < chars.count else { return .failure(Failure(message: "missing '}' in log-format '\(raw)'")) }
                    flags.append("}")
                    j += 1
                }
                var name = ""
                while j < chars.count, chars[j].isASCII, chars[j].isLetter { name.append(chars[j]); j += 1 }
                if place != nil && !formatVariables.contains(name) {
                    return .failure(Failure(message: "no such format variable '\(name)'. If you wanted to emit the '%' character verbatim, you need to use '%%'"))
                }
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                parts.append(.variable(flags + name))
                i = j
                continue
            }
            literal.append(c)
            i += 1
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return .success(FormatString(raw: raw, parts: parts))
    }

    /// What HAProxy says about a `%[expr]` (`rest` is the text from the expression to the
    /// end of the string, as HAProxy quotes it), or nil when it is acceptable.
    static func sampleProblem(_ expr: String, rest: String, place: HAProxySamples.Usage) -> String? {
        // Split `fetch[(args)][,conv[(args)]]...` at top-level commas.
        var items: [String] = []
        var current = ""
        var depth = 0
        for ch in expr {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 { items.append(current); current = ""; continue }
            current.append(ch)
        }
        items.append(current)
        func name(_ item: String) -> String {
            String(item.prefix { $0 != "(" }).trimmingSpaces
        }
        let fetch = name(items[0])
        guard !fetch.isEmpty else { return "failed to parse sample expression <\(rest)> : missing fetch method" }
        guard let usage = HAProxySamples.fetches[fetch] else {
            return "failed to parse sample expression <\(rest)> : unknown fetch method '\(fetch)'"
        }
        for conv in items.dropFirst() where !HAProxySamples.converters.contains(name(conv)) {
            return "failed to parse sample expression <\(rest)> : unknown converter '\(name(conv))'"
        }
        guard usage.isDisjoint(with: place) else { return nil }
        // What is missing here, named as HAProxy does, from the first place the fetch works.
        let first = (0..<22).first { usage.contains(HAProxySamples.Usage(rawValue: 1 << $0)) }
        let needs: String?
        switch first {
        case 2?: needs = "HTTP request headers"
        case 6?: needs = "backend"
        case 10?: needs = "server"
        case 11?: needs = fetch == "status" ? "HTTP response" : "HTTP response headers"
        default: needs = nil
        }
        guard let needs else { return nil }
        return "sample fetch <\(rest)> may not be reliably used here because it needs '\(needs)' which is not available here"
    }

    /// Marks a word found where only `if`/`unless` may come (HAProxy's "expects either
    /// 'if' or 'unless' followed by a condition but found …").
    static let misplaced: Character = "\u{0}"

    /// How many words an action takes before its condition, for actions of fixed arity
    /// (HAProxy reads exactly these, so a value may itself be the word `if`).
    static func arity(_ action: String, _ args: [String]) -> Int? {
        switch action {
        case "set-header", "add-header": return 2
        case "replace-header", "replace-value": return 3
        case "set-path", "set-query", "set-uri", "set-method", "set-dst", "set-dst-port": return 1
        case "del-header": return args.count > 1 && args[1] == "-m" ? 3 : 1
        case "set-status": return args.count > 1 && args[1] == "reason" ? 3 : 1
        case "allow", "reject", "silent-drop": return 0
        default: return VariableParser.arity(action)
        }
    }

    static func splitCondition(_ s: ParserState, _ p: ProxySettings, _ words: [String], _ loc: SourceLocation,
                               arity: Int? = nil, context: ACLParser.RuleContext = .httpRequest) -> Result<([String], Condition?), Failure> {
        let at: Int
        if let n = arity {
            guard words.count > n else { return .success((words, nil)) }
            guard words[n] == "if" || words[n] == "unless" else {
                return .failure(Failure(message: String(misplaced) + words[n]))
            }
            at = n
        } else {
            guard let i = words.firstIndex(where: { $0 == "if" || $0 == "unless" }) else {
                return .success((words, nil))
            }
            at = i
        }
        switch ACLParser.parseCondition(s, p, Array(words[at...]), loc, context: context) {
        case let .success(c): return .success((Array(words[..<at]), c))
        case let .failure(e): return .failure(Failure(message: e.message))
        }
    }

    /// The arguments of an `http-request|http-response ACTION … [if|unless COND]` line and
    /// its condition; nil after an alert (the parse is then aborted).
    static func ruleArguments(_ s: ParserState, _ p: ProxySettings, _ l: ConfigLine, _ action: String,
                              context: ACLParser.RuleContext, directive named: String? = nil) -> ([String], Condition?)? {
        let directive = named ?? (context == .httpRequest ? "http-request" : "http-response")
        let words = Array(l.words.dropFirst(2))
        switch splitCondition(s, p, words, l.location, arity: arity(action, words), context: context) {
        case let .success(r):
            return r
        case let .failure(e) where e.message.first == misplaced:
            s.alertRaw("parsing [\(l.location)]: '\(directive) \(action)' expects either 'if' or 'unless' followed by a condition but found '\(e.message.dropFirst())'.", at: l.location)
            s.abort = true
            return nil
        case let .failure(e):
            s.alert(l, "error detected while parsing an '\(directive) \(action)' condition : \(e.message).")
            s.abort = true
            return nil
        }
    }

    static let requestActions = [
        "reject", "set-header", "add-header", "del-header", "redirect", "deny", "return", "allow", "auth", "tarpit",
        "set-path", "set-query", "set-uri", "set-method", "replace-header", "replace-value",
        "use-service", "capture", "track-sc0", "track-sc1", "track-sc2", "sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt0",
    ]
    static let requestUnsupported = [
        "add-acl", "cache-use", "del-acl", "del-map", "disable-l7-retry", "do-resolve",
        "early-hint", "normalize-uri",
        "sc-inc-gpc", "send-spoe-group", "set-map", "set-mark", "set-nice", "set-priority-class",
        "set-priority-offset", "set-timeout", "set-tos",
        "strict-mode", "wait-for-body",
        "wait-for-handshake", "set-bandwidth-limit",
    ]
    static let responseActions = [
        "set-header", "add-header", "del-header", "replace-header", "replace-value", "set-status", "deny",
        "return", "redirect", "allow", "capture", "sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt0",
    ]
    static let responseUnsupported = [
        "add-acl", "cache-store", "del-acl", "del-map", "sc-inc-gpc",
        "send-spoe-group", "set-map", "set-mark", "set-nice", "set-tos",
        "strict-mode", "track-sc0", "track-sc1", "track-sc2",
        "wait-for-body", "set-timeout", "set-bandwidth-limit",
    ]

    /// The actions HAProxy 2.6 lists in its message (in its order).
    static let haproxyRequestList = "'wait-for-handshake', 'ot-group', 'set-log-level', 'set-nice', 'use-service', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'do-resolve(*)', 'cache-use', 'add-acl(*)', 'add-header', 'allow', 'auth', 'capture', 'del-acl(*)', 'del-header', 'del-map(*)', 'deny', 'disable-l7-retry', 'early-hint', 'normalize-uri', 'redirect', 'reject', 'replace-header', 'replace-path', 'replace-pathq', 'replace-uri', 'replace-value', 'return', 'set-header', 'set-map(*)', 'set-method', 'set-path', 'set-pathq', 'set-query', 'set-uri', 'strict-mode', 'tarpit', 'track-sc(*)', 'set-timeout', 'wait-for-body', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-dst', 'set-dst-port', 'set-mark', 'set-src', 'set-src-port', 'set-tos', 'silent-drop', 'set-priority-class', 'set-priority-offset', "
    static let haproxyResponseList = "'ot-group', 'set-log-level', 'set-nice', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'cache-store', 'add-acl(*)', 'add-header', 'allow', 'capture', 'del-acl(*)', 'del-header', 'del-map(*)', 'deny', 'redirect', 'replace-header', 'replace-value', 'return', 'set-header', 'set-map(*)', 'set-status', 'strict-mode', 'track-sc(*)', 'wait-for-body', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-mark', 'set-tos', 'silent-drop', "

    /// HAProxy aborts the load on a bad http rule; so do we.
    static func unknownAction(_ s: ParserState, _ l: ConfigLine, _ known: [String], _ unsupported: [String]) {
        let kw = l.keyword, action = l[1]
        s.abort = true
        if unsupported.contains(action) || action.hasPrefix("track-sc") {
            s.alert(l, "'\(kw) \(action)' is valid in HAProxy but not supported by proxyd yet.")
            return
        }
        var m = "parsing [\(l.location)]: '\(kw)' expects "
        m += kw == "http-request" ? haproxyRequestList : haproxyResponseList
        m += "but got '\(action)'."
        if let sug = DidYouMean.suggest(action, among: known + unsupported) { m += " Did you mean '\(sug)' maybe ?" }
        s.alertRaw(m, at: l.location)
    }

    static func parseRequest(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let action = l[1]
        guard !action.isEmpty else {
            s.alertRaw("parsing [\(l.location)]: 'http-request' expects \(haproxyRequestList)but got '' (missing argument).", at: l.location)
            s.abort = true
            return
        }
        // `sc-inc-gpc0(N)` carries its counter in its name (Config/StickTableParser.swift).
        let gpcIncrement = StickTableParser.gpcIncrement(action)
        let gptSet = StickTableParser.gptSet(action)
        guard requestActions.contains(action) || RequestLineRuleParser.actions.contains(action)
                || RuleEffectParser.requestActions.contains(action) || gpcIncrement != nil || gptSet != nil
                || VariableParser.keyword(action) != nil else {
            unknownAction(s, l, requestActions, requestUnsupported)
            return
        }
        guard let (args, condition) = ruleArguments(s, p, l, action, context: .httpRequest) else { return }
        let prefix = "error detected in \(ctx.kind) '\(p.name)' while parsing 'http-request \(action)' rule"
        let place: HAProxySamples.Usage = p.isFrontend ? .frontendHTTPRequest : .backendHTTPRequest
        let result: Result<HTTPRequestAction, Failure>
        switch action {
        case "set-header", "add-header":
            result = header(action, args, place: place).map { name, value in
                action == "set-header" ? .setHeader(name: name, value: value) : .addHeader(name: name, value: value)
            }
        case "del-header":
            result = deleteHeader(args).map { .deleteHeader(name: $0.0, match: $0.1) }
        case "replace-header", "replace-value":
            result = replace(action, args, ignoreCase: false, place: place).map { name, re, fmt in
                action == "replace-header" ? .replaceHeader(name: name, regex: re, replacement: fmt)
                    : .replaceValue(name: name, regex: re, replacement: fmt)
            }
        case "set-path", "set-query", "set-uri", "set-method":
            if args.count != 1 {
                result = .failure(Failure(message: "expects exactly 1 argument <format>"))
            } else {
                result = format(args[0], place: place).map { f in
                    switch action {
                    case "set-path": return .setPath(f)
                    case "set-query": return .setQuery(f)
                    case "set-uri": return .setURI(f)
                    default: return .setMethod(f)
                    }
                }
            }
        case _ where RequestLineRuleParser.actions.contains(action):
            result = RequestLineRuleParser.parse(action, args, place: place)
        case _ where RuleEffectParser.requestActions.contains(action):
            result = RuleEffectParser.parseRequest(action, args)
        case "redirect":
            result = redirect(args, place: place).map { .redirect($0) }
        case "deny", "tarpit":
            result = HTTPReplyParser.denial(s, args, defaultStatus: action == "deny" ? 403 : 500, place: place).map {
                action == "deny" ? .deny($0) : .tarpit($0)
            }
        case "return":
            result = HTTPReplyParser.parse(s, args, defaultStatus: 200, place: place).map { .return($0) }
        case "allow":
            result = args.isEmpty ? .success(.allow) : .failure(Failure(message: "unexpected argument '\(args[0])'"))
        case "reject":
            result = args.isEmpty ? .success(.reject) : .failure(Failure(message: "unexpected argument '\(args[0])'"))
        case "auth":
            if args.isEmpty {
                result = .success(.auth(realm: nil))
            } else if args.count == 2 && args[0] == "realm" {
                result = .success(.auth(realm: args[1]))
            } else {
                result = .failure(Failure(message: "expects optional 'realm' followed by a realm name"))
            }
        case "use-service":
            // HAProxy 2.6 as Debian builds it has one service: the Prometheus exporter.
            if let name = args.first, name == "prometheus-exporter", args.count == 1 {
                result = .success(.useService(name: name))
            } else if let name = args.first {
                result = .failure(Failure(message: "'\(name)' unknown service name."))
            } else {
                result = .failure(Failure(message: "expects a service name."))
            }
        case "capture":  // issue 15 (Config/CaptureParser.swift)
            result = CaptureParser.parseAction(&p, args, response: false, place: place).map { .capture($0) }
        case "track-sc0", "track-sc1", "track-sc2":
            result = StickTableParser.parseTrack(counter: Int(String(action.last!))!, args, proxy: p)
                .map { .track($0.0) }.mapError { Failure(message: $0.message) }
        default:
            if VariableParser.keyword(action) != nil {  // set-var, set-var-fmt, unset-var (issue 15)
                result = VariableParser.parse(action, args, place: place).map { .setVariable($0) }
                    .mapError { Failure(message: $0.message) }
                break
            }
            if let (counter, gpc) = gpcIncrement {
                result = args.isEmpty ? .success(.incrementGPC(counter: counter, gpc: gpc))
                    : .failure(Failure(message: "unexpected argument '\(args[0])'"))
                break
            }
            if let counter = gptSet {
                if args.count == 1, let value = Int(args[0]) {
                    result = .success(.setGPT0(counter: counter, value: value))
                } else if args.count == 1 {
                    result = .failure(Failure(message: "'sc-set-gpt0' with a sample expression ('\(args[0])') is not supported by proxyd yet, only an integer"))
                } else {
                    result = .failure(Failure(message: "expects an integer or an expression"))
                }
                break
            }
            result = .failure(Failure(message: "unsupported action"))
        }
        for w in s.pendingWarnings { s.warning(l, w) }
        s.pendingWarnings = []
        switch result {
        case let .success(a):
            if !p.redirectRules.isEmpty {
                s.warning(l, "a 'http-request' rule placed after a 'redirect' rule will still be processed before.")
            }
            if ctx.index >= 0, s.sawUseBackend.contains(ctx.index) {
                s.warning(l, "a 'http-request' rule placed after a 'use_backend' rule will still be processed before.")
            }
            p.httpRequestRules.append(HTTPRequestRule(action: a, condition: condition, location: l.location))
        case let .failure(e) where e.message.first == misplaced:
            // A word the reply parser does not know: HAProxy reads it as a misplaced condition.
            s.alertRaw("parsing [\(l.location)]: 'http-request \(action)' expects either 'if' or 'unless' followed by a condition but found '\(e.message.dropFirst())'.", at: l.location)
            s.abort = true
        case let .failure(e):
            s.alert(l, "\(prefix) : \(e.message).")
            s.abort = true
        }
    }

    static func parseResponse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let action = l[1]
        guard !action.isEmpty else {
            s.alertRaw("parsing [\(l.location)]: 'http-response' expects \(haproxyResponseList)but got '' (missing argument).", at: l.location)
            s.abort = true
            return
        }
        let gpcIncrement = StickTableParser.gpcIncrement(action)
        let gptSet = StickTableParser.gptSet(action)
        guard responseActions.contains(action) || RuleEffectParser.responseActions.contains(action)
                || gpcIncrement != nil || gptSet != nil || VariableParser.keyword(action) != nil else {
            unknownAction(s, l, responseActions, responseUnsupported)
            return
        }
        let place: HAProxySamples.Usage = p.isFrontend ? .frontendHTTPResponse : .backendHTTPResponse
        guard let (args, condition) = ruleArguments(s, p, l, action, context: .httpResponse) else { return }
        let result: Result<HTTPResponseAction, Failure>
        switch action {
        case "set-header", "add-header":
            result = header(action, args, place: place).map { name, value in
                action == "set-header" ? .setHeader(name: name, value: value) : .addHeader(name: name, value: value)
            }
        case "del-header":
            result = deleteHeader(args).map { .deleteHeader(name: $0.0, match: $0.1) }
        case "replace-header", "replace-value":
            result = replace(action, args, ignoreCase: false, place: place).map { name, re, fmt in
                action == "replace-header" ? .replaceHeader(name: name, regex: re, replacement: fmt)
                    : .replaceValue(name: name, regex: re, replacement: fmt)
            }
        case _ where RuleEffectParser.responseActions.contains(action):
            result = RuleEffectParser.parseResponse(action, args)
        case "set-status":
            if let code = args.first.flatMap(ConfigUnits.integer), (100...999).contains(code) {
                if args.count == 1 {
                    result = .success(.setStatus(code: code, reason: nil))
                } else if args.count == 3 && args[1] == "reason" {
                    result = .success(.setStatus(code: code, reason: args[2]))
                } else {
                    result = .failure(Failure(message: "expects <status_code> [reason <str>]"))
                }
            } else {
                result = .failure(Failure(message: "expects an integer status code between 100 and 999"))
            }
        case "deny":
            result = HTTPReplyParser.denial(s, args, defaultStatus: 502, place: place).map { .deny($0) }
        case "return":
            result = HTTPReplyParser.parse(s, args, defaultStatus: 200, place: place).map { .return($0) }
        case "redirect":
            result = redirect(args, place: place).map { .redirect($0) }
        case "allow":
            result = args.isEmpty ? .success(.allow) : .failure(Failure(message: "unexpected argument '\(args[0])'"))
        case "capture":  // issue 15 (Config/CaptureParser.swift)
            result = CaptureParser.parseAction(&p, args, response: true, place: place).map { .capture($0) }
        default:
            if VariableParser.keyword(action) != nil {  // set-var, set-var-fmt, unset-var (issue 15)
                result = VariableParser.parse(action, args, place: place).map { .setVariable($0) }
                    .mapError { Failure(message: $0.message) }
            } else if let (counter, gpc) = gpcIncrement {
                result = args.isEmpty ? .success(.incrementGPC(counter: counter, gpc: gpc))
                    : .failure(Failure(message: "unexpected argument '\(args[0])'"))
            } else if let counter = gptSet {
                result = args.count == 1 && Int(args[0]) != nil ? .success(.setGPT0(counter: counter, value: Int(args[0])!))
                    : .failure(Failure(message: "'sc-set-gpt0' takes an integer here (a sample expression is not supported by proxyd yet)"))
            } else {
                result = .failure(Failure(message: "unsupported action"))
            }
        }
        for w in s.pendingWarnings { s.warning(l, w) }
        s.pendingWarnings = []
        switch result {
        case let .success(a):
            p.httpResponseRules.append(HTTPResponseRule(action: a, condition: condition, location: l.location))
        case let .failure(e):
            s.alert(l, "error detected in \(ctx.kind) '\(p.name)' while parsing 'http-response \(action)' rule : \(e.message).")
            s.abort = true
        }
    }

    static func header(_ action: String, _ args: [String], place: HAProxySamples.Usage? = nil) -> Result<(String, FormatString), Failure> {
        guard args.count == 2 else {
            return .failure(Failure(message: "expects exactly 2 arguments"))
        }
        return format(args[1], place: place).map { (args[0], $0) }
    }

    static func deleteHeader(_ args: [String]) -> Result<(String, MatchMethod), Failure> {
        guard let name = args.first else { return .failure(Failure(message: "expects at least 1 argument")) }
        if args.count == 1 { return .success((name, .string)) }
        guard args.count == 3, args[1] == "-m" else {
            return .failure(Failure(message: "expects exactly 1 argument, optionally followed by '-m <method>'"))
        }
        guard let m = MatchMethod(rawValue: args[2]), [.string, .beginning, .end, .substring, .regex].contains(m) else {
            return .failure(Failure(message: "-m with unsupported matching method '\(args[2])'"))
        }
        return .success((name, m))
    }

    static func replace(_ action: String, _ args: [String], ignoreCase: Bool, place: HAProxySamples.Usage? = nil) -> Result<(String, CompiledRegex, FormatString), Failure> {
        guard args.count == 3 else { return .failure(Failure(message: "expects exactly 3 arguments")) }
        switch CompiledRegex.compile(args[1], caseInsensitive: ignoreCase) {
        case let .failure(e):
            return .failure(Failure(message: "regex '\(args[1])' is invalid (error=\(e.message))"))
        case let .success(re):
            return format(args[2], place: place).map { (args[0], re, $0) }
        }
    }

    static func redirect(_ args: [String], place: HAProxySamples.Usage? = nil) -> Result<RedirectRule, Failure> {
        guard let kindWord = args.first else {
            return .failure(Failure(message: "redirection type expected ('prefix', 'location', or 'scheme')"))
        }
        guard let kind = RedirectRule.Kind(rawValue: kindWord) else {
            return .failure(Failure(message: "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was '\(kindWord)')"))
        }
        guard args.count >= 2 else {
            return .failure(Failure(message: "missing argument after '\(kindWord)'"))
        }
        let target: FormatString
        switch format(args[1], place: place) {
        case let .success(f): target = f
        case let .failure(e): return .failure(e)
        }
        var rule = RedirectRule(kind: kind, target: target)
        var i = 2
        while i < args.count {
            switch args[i] {
            case "code":
                guard i + 1 < args.count, let c = ConfigUnits.integer(args[i + 1]), [301, 302, 303, 307, 308].contains(c) else {
                    return .failure(Failure(message: "'code': unsupported HTTP code '\(i + 1 < args.count ? args[i + 1] : "")' (must be one of 301, 302, 303, 307 or 308)"))
                }
                rule.code = c
                i += 2
            case "drop-query": rule.dropQuery = true; i += 1
            case "ignore-empty": rule.ignoreEmpty = true; i += 1
            case "append-slash": rule.appendSlash = true; i += 1
            case "set-cookie":
                guard i + 1 < args.count else { return .failure(Failure(message: "'set-cookie' expects a cookie")) }
                rule.setCookie = args[i + 1]; i += 2
            case "clear-cookie":
                guard i + 1 < args.count else { return .failure(Failure(message: "'clear-cookie' expects a cookie")) }
                rule.clearCookie = args[i + 1]; i += 2
            default:
                return .failure(Failure(message: "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was '\(args[i])')"))
            }
        }
        return .success(rule)
    }

    /// `redirect location|prefix|scheme … [if|unless COND]` in a proxy.
    static func parseLegacyRedirect(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        // (HAProxy does not check the expressions of legacy `redirect` lines.)
        let place: HAProxySamples.Usage? = nil
        switch splitCondition(s, p, Array(l.words.dropFirst()), l.location, context: .httpRequest) {
        case let .failure(e):
            s.alert(l, "error detected in \(ctx.kind) '\(p.name)' while parsing redirect rule : \(e.message).")
        case let .success((args, condition)):
            switch redirect(args, place: place) {
            case let .success(rule):
                p.redirectRules.append(HTTPRequestRule(action: .redirect(rule), condition: condition, location: l.location))
            case let .failure(e):
                s.alert(l, "error detected in \(ctx.kind) '\(p.name)' while parsing redirect rule : \(e.message).")
            }
        }
    }
}
