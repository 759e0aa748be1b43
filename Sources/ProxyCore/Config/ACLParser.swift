import Shared

/// `acl NAME FETCH [flags] [patterns]` and conditions `if|unless …`.
enum ACLParser {
    struct Failure: Error { var message: String }

    /// Fetch keywords: name → (fetch builder from its argument, default match, implied match).
    struct FetchInfo {
        var takesArgument: Bool
        var argumentRequired: Bool
        var make: (String?) -> SampleFetch?
        var defaultMatch: MatchMethod
    }

    static let fetches: [String: FetchInfo] = {
        var t: [String: FetchInfo] = [:]
        func plain(_ f: SampleFetch, _ m: MatchMethod) -> FetchInfo {
            FetchInfo(takesArgument: false, argumentRequired: false, make: { _ in f }, defaultMatch: m)
        }
        let header = FetchInfo(takesArgument: true, argumentRequired: false, make: { arg in
            guard let arg, !arg.isEmpty else { return .header(name: "", occurrence: nil) }
            let parts = arg.split(separator: ",", maxSplits: 1).map(String.init)
            let occ = parts.count > 1 ? Int(parts[1]) : nil
            return .header(name: parts[0], occurrence: occ)
        }, defaultMatch: .string)
        let resHeader = FetchInfo(takesArgument: true, argumentRequired: false, make: { arg in
            guard let arg, !arg.isEmpty else { return .responseHeader(name: "", occurrence: nil) }
            let parts = arg.split(separator: ",", maxSplits: 1).map(String.init)
            return .responseHeader(name: parts[0], occurrence: parts.count > 1 ? Int(parts[1]) : nil)
        }, defaultMatch: .string)
        t["path"] = plain(.path, .string)
        t["url"] = plain(.url, .string)
        t["req.uri"] = plain(.url, .string)
        t["method"] = plain(.method, .string)
        t["query"] = plain(.query, .string)
        t["src"] = plain(.source, .ip)
        t["dst"] = plain(.destination, .ip)
        t["dst_port"] = plain(.destinationPort, .integer)
        t["src_port"] = plain(.sourcePort, .integer)
        t["ssl_fc"] = plain(.sslFrontend, .boolean)
        t["ssl_fc_sni"] = plain(.sslSNI, .string)
        t["req.ssl_sni"] = plain(.sslSNI, .string)
        t["req_ssl_sni"] = plain(.sslSNI, .string)
        t["req.ssl_hello_type"] = plain(.sslHelloType, .integer)
        t["req_ssl_hello_type"] = plain(.sslHelloType, .integer)
        t["always_true"] = plain(.alwaysTrue, .boolean)
        t["always_false"] = plain(.alwaysFalse, .boolean)
        t["req.ver"] = plain(.httpVersion, .string)
        t["req_ver"] = plain(.httpVersion, .string)
        t["status"] = plain(.status, .integer)
        t["hdr"] = header
        t["req.hdr"] = header
        t["res.hdr"] = resHeader
        t["shdr"] = resHeader
        t["nbsrv"] = FetchInfo(takesArgument: true, argumentRequired: false, make: { .usableServers(backend: $0) },
                               defaultMatch: .integer)
        let param = FetchInfo(takesArgument: true, argumentRequired: true, make: { arg in
            guard let arg, !arg.isEmpty else { return nil }
            return .urlParameter(name: arg)
        }, defaultMatch: .string)
        t["url_param"] = param
        t["urlp"] = param
        return t
    }()

    /// `path_beg` → (`path`, beg), `hdr_dom(host)` → (`hdr`, dom) …
    static let suffixes: [(String, MatchMethod)] = [
        ("_beg", .beginning), ("_end", .end), ("_sub", .substring), ("_reg", .regex), ("_dir", .directory),
        ("_dom", .domain), ("_len", .length), ("_ip", .ip), ("_cnt", .integer),
    ]

    /// Splits `name(arg)`.
    static func splitFetch(_ word: String) -> (String, String?) {
        guard let open = word.firstIndex(of: "("), word.hasSuffix(")") else { return (word, nil) }
        return (String(word[..<open]), String(word[word.index(after: open)..<word.index(before: word.endIndex)]))
    }

    /// Parses a criterion from words `FETCH [flags] [patterns]`.
    static func parseCriterion(_ s: ParserState, _ words: [String], location: SourceLocation, warnings: inout [Diagnostic]) -> Result<ACLCriterion, Failure> {
        guard let first = words.first, !first.isEmpty else {
            return .failure(Failure(message: "missing fetch method in ACL expression ''"))
        }
        let (name, arg) = splitFetch(first)
        var info = fetches[name]
        var match: MatchMethod? = nil
        if let sample = expressionFetch(first, name: name) {  // variables, converters (issue 15)
            switch sample {
            case let .success(i): info = i
            case let .failure(e): return .failure(e)
            }
        }
        if info == nil {
            for (suffix, m) in suffixes where name.hasSuffix(suffix) {
                let base = String(name.dropLast(suffix.count))
                if let i = fetches[base] {
                    info = i
                    match = m
                    break
                }
            }
        }
        if info == nil, let stick = StickTableParser.fetch(name, arg, proxyName: s.currentProxyName) {  // stick tables (issue 15)
            switch stick {
            case let .success(f):
                info = FetchInfo(takesArgument: true, argumentRequired: false, make: { _ in f }, defaultMatch: .integer)
            case let .failure(e):
                return .failure(Failure(message: e.message))
            }
        }
        guard let info else {
            if HAProxySamples.fetches[name] != nil || HAProxySamples.aclKeywords[name] != nil {
                return .failure(Failure(message: "fetch method '\(name)' is valid in HAProxy but not supported by proxyd yet"))
            }
            return .failure(Failure(message: "unknown fetch method '\(name)' in ACL expression '\(first)'"))
        }
        if info.argumentRequired && (arg ?? "").isEmpty {
            return .failure(Failure(message: "fetch method '\(name)' : missing arg 1 in ACL expression '\(first)'"))
        }
        if !info.takesArgument && arg != nil {
            return .failure(Failure(message: "fetch method '\(name)' does not support any args in ACL expression '\(first)'"))
        }
        guard let fetch = info.make(arg) else {
            return .failure(Failure(message: "unknown fetch method '\(name)' in ACL expression '\(first)'"))
        }
        var ignoreCase = false
        var i = 1
        var sawDoubleDash = false
        var patternFiles: [String] = []  // `-f FILE` (Config/PatternFile.swift)
        var mapFiles = false             // `-M`
        flagLoop: while i < words.count, words[i].hasPrefix("-") {
            switch words[i] {
            case "-i": ignoreCase = true; i += 1
            case "-n": i += 1
            case "-u": i = min(i + 2, words.count)
            case "--": sawDoubleDash = true; i += 1; break flagLoop
            case "-m":
                guard i + 1 < words.count else {
                    return .failure(Failure(message: "missing matching method"))
                }
                guard let m = MatchMethod(rawValue: words[i + 1]) else {
                    return .failure(Failure(message: "unknown matching method '\(words[i + 1])' when parsing ACL expression"))
                }
                match = m
                i += 2
            case "-f":
                patternFiles.append(i + 1 < words.count ? words[i + 1] : "")
                i = min(i + 2, words.count)  // a last `-f` has no file
            case "-M":
                mapFiles = true
                i += 1
            default:
                // A pattern that starts with '-' such as a negative number.
                if words[i].count > 1, words[i].dropFirst().allSatisfy({ $0.isNumber }) { break flagLoop }
                return .failure(Failure(message: "'\(words[i])' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'"))
            }
        }
        if match == nil, case .expression(let e) = fetch, e.converters.isEmpty, e.fetch.name == "var" {
            return .failure(Failure(message: "matching method must be specified first (using '-m') when using a sample fetch of this type ('var')"))
        }
        let method = match ?? info.defaultMatch
        let values = Array(words[i...])
        var patterns: [ACLPattern] = []
        // Each file's lines are checked here; the runtime reads them again (Runtime/ACLFiles.swift).
        for file in patternFiles {
            switch PatternFile.read(file, asMap: mapFiles) {
            case let .failure(e): return .failure(e)
            case let .success(entries):
                for entry in entries {
                    if case let .failure(e) = PatternFile.pattern(entry.key, method: method, ignoreCase: ignoreCase, name: name) {
                        return .failure(Failure(message: "\(e.message) at line \(entry.line) of file '\(file)'"))
                    }
                }
            }
        }
        var pendingOperator: String? = nil
        for v in values {
            switch method {
            case .regex:
                switch CompiledRegex.compile(v, caseInsensitive: ignoreCase) {
                case let .success(r): patterns.append(.regex(r))
                case let .failure(e):
                    return .failure(Failure(message: "regex '\(v)' is invalid (error=\(e.message))"))
                }
            case .ip:
                guard let net = parseNetwork(v) else {
                    return .failure(Failure(message: "'\(v)' is not a valid IPv4 or IPv6 address"))
                }
                patterns.append(.network(net))
            case .integer, .length:
                // `eq|ge|gt|le|lt N` apply to the next number.
                if ["eq", "ge", "gt", "le", "lt"].contains(v) {
                    pendingOperator = v
                    continue
                }
                if let op = pendingOperator {
                    guard let n = Int(v) else { return .failure(Failure(message: "'\(v)' is not a number")) }
                    switch op {
                    case "eq": patterns.append(.integerRange(lower: n, upper: n))
                    case "ge": patterns.append(.integerRange(lower: n, upper: nil))
                    case "gt": patterns.append(.integerRange(lower: n + 1, upper: nil))
                    case "le": patterns.append(.integerRange(lower: nil, upper: n))
                    default: patterns.append(.integerRange(lower: nil, upper: n - 1))
                    }
                    pendingOperator = nil
                    continue
                }
                guard let r = parseRange(v) else {
                    return .failure(Failure(message: "'\(v)' is not a number"))
                }
                patterns.append(r)
            case .found, .boolean:
                return .failure(Failure(message: "fetch method '\(name)' : no pattern expected with '-m \(method.rawValue)' (got '\(v)')"))
            default:
                patterns.append(.string(v))
            }
        }
        if values.isEmpty && patternFiles.isEmpty && !sawDoubleDash && method != .found && method != .boolean {
            warnings.append(.warning("parsing acl keyword '\(first)' :\n  no pattern to match against were provided, so this ACL will never match.\n  If this is what you intended, please add '--' to get rid of this warning.\n  If you intended to match only for existence, please use '-m found'.\n  If you wanted to force an int to match as a bool, please use '-m bool'.\n",
                                     at: location))
        }
        var criterion = ACLCriterion(fetch: fetch, match: method, ignoreCase: ignoreCase, patterns: patterns,
                                     text: words.joined(separator: " "))
        criterion.patternFiles = patternFiles
        criterion.patternFilesAreMaps = mapFiles
        return .success(criterion)
    }

    /// Fetches the sample evaluator reads (and any fetch followed by converters): nil for
    /// the fetches of the table above, which ACLs match in place.
    static func expressionFetch(_ word: String, name: String) -> Result<FetchInfo, Failure>? {
        var depth = 0
        let hasConverter = word.contains { c in
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
            return c == "," && depth == 0
        }
        let fetchName = String(word.prefix { $0 != "(" && $0 != "," })
        guard hasConverter || (fetches[name] == nil && SampleExpression.supportedFetches.contains(fetchName)) else {
            return nil
        }
        switch SampleExpression.parse(word) {
        case let .failure(e):
            return .failure(Failure(message: "\(e.message) in ACL expression '\(word)'"))
        case let .success(expression):
            let match: MatchMethod
            switch expression.converters.last?.name ?? expression.fetch.name {
            case "int", "req.hdr_cnt", "hdr_cnt", "src_port", "dst_port", "status", "length",
                 "req.rdp_cookie_cnt", "rdp_cookie_cnt", "url_port",
                 "add", "sub", "mul", "div", "mod", "neg", "and", "or", "xor":
                match = .integer
            case "bool", "not", "even", "odd", "always_true", "always_false": match = .boolean
            case "src", "dst", "url_ip": match = .ip
            default: match = .string
            }
            return .success(FetchInfo(takesArgument: true, argumentRequired: false,
                                      make: { _ in .expression(expression) }, defaultMatch: match))
        }
    }

    /// `80`, `1024:65535`, `:1023`, `1024:`, and `eq/ge/gt/le/lt N` (one word at a time).
    static func parseRange(_ v: String) -> ACLPattern? {
        if let colon = v.firstIndex(of: ":") {
            let a = String(v[..<colon]), b = String(v[v.index(after: colon)...])
            let lo = a.isEmpty ? nil : Int(a), hi = b.isEmpty ? nil : Int(b)
            if (!a.isEmpty && lo == nil) || (!b.isEmpty && hi == nil) { return nil }
            return .integerRange(lower: lo, upper: hi)
        }
        guard let n = Int(v) else { return nil }
        return .integerRange(lower: n, upper: n)
    }

    /// `10.0.0.0/8`, `10.0.0.1`, `::1`, `2001:db8::/32`, `10.0.0.0/255.0.0.0`.
    static func parseNetwork(_ text: String) -> IPNetwork? {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let ip = AddressParser.numericIP(first) else { return nil }
        let maxBits = ip.isIPv6 ? 128 : 32
        var bits = maxBits
        if parts.count == 2 {
            if let n = ConfigUnits.integer(parts[1]), n <= maxBits {
                bits = n
            } else if !ip.isIPv6, let mask = AddressParser.numericIP(parts[1]), case .v4 = mask {
                let m = mask.bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                bits = m.nonzeroBitCount
                guard m == 0 || (m << UInt32(bits)) == 0 else { return nil }
            } else {
                return nil
            }
        }
        return IPNetwork(address: ip, prefixLength: bits)
    }

    static func parseACLLine(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let name = l[1]
        guard !name.isEmpty else {
            s.alert(l, "'acl' expects an ACL name and a fetch method.")
            return
        }
        if let bad = name.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0))) }) {
            s.alert(l, "character '\(bad)' is not permitted in acl name '\(name)'.")
            return
        }
        // A predefined name (`TRUE`, `RDP_COOKIE`…) may be defined again: HAProxy 2.6 takes
        // it, and the proxy's own definition wins in conditions (`condition` looks there first).
        var warnings: [Diagnostic] = []
        switch parseCriterion(s, Array(l.words.dropFirst(2)), location: l.location, warnings: &warnings) {
        case let .success(c):
            p.acls.append(ACLDefinition(name: name, criterion: c, location: l.location))
            s.diagnostics += warnings
        case let .failure(e):
            s.alert(l, "error detected while parsing ACL '\(name)' : \(e.message).")
        }
    }

    /// HAProxy's predefined ACLs.
    static let predefined: [String: ACLCriterion] = {
        func c(_ f: SampleFetch, _ m: MatchMethod, _ p: [ACLPattern], _ text: String, ci: Bool = false) -> ACLCriterion {
            ACLCriterion(fetch: f, match: m, ignoreCase: ci, patterns: p, text: text)
        }
        return [
            "TRUE": c(.alwaysTrue, .boolean, [], "always_true"),
            "FALSE": c(.alwaysFalse, .boolean, [], "always_false"),
            "HTTP": c(.httpVersion, .found, [], "req.proto_http"),
            "HTTP_1.0": c(.httpVersion, .string, [.string("1.0")], "req.ver 1.0"),
            "HTTP_1.1": c(.httpVersion, .string, [.string("1.1")], "req.ver 1.1"),
            "LOCALHOST": c(.source, .ip, [.network(IPNetwork(address: .v4(127, 0, 0, 0), prefixLength: 8))], "src 127.0.0.1/8"),
            "METH_CONNECT": c(.method, .string, [.string("CONNECT")], "method CONNECT"),
            "METH_DELETE": c(.method, .string, [.string("DELETE")], "method DELETE"),
            "METH_GET": c(.method, .string, [.string("GET"), .string("HEAD")], "method GET HEAD"),
            "METH_HEAD": c(.method, .string, [.string("HEAD")], "method HEAD"),
            "METH_OPTIONS": c(.method, .string, [.string("OPTIONS")], "method OPTIONS"),
            "METH_POST": c(.method, .string, [.string("POST")], "method POST"),
            "METH_PUT": c(.method, .string, [.string("PUT")], "method PUT"),
            "METH_TRACE": c(.method, .string, [.string("TRACE")], "method TRACE"),
            "HTTP_URL_ABS": c(.url, .regex, [], "url_reg ^[^/:]*://"),
            "HTTP_URL_SLASH": c(.url, .beginning, [.string("/")], "url_beg /"),
            "HTTP_URL_STAR": c(.url, .string, [.string("*")], "url *"),
            "SSL_FC": c(.sslFrontend, .boolean, [], "ssl_fc"),
            // issue 15: an RDP cookie in the first packet (Balancing/RDPCookie.swift).
            "RDP_COOKIE": c(.expression(try! SampleExpression.parse("req.rdp_cookie_cnt").get()), .integer,
                            [.integerRange(lower: 1, upper: nil)], "req.rdp_cookie_cnt gt 0"),
        ]
    }()

    /// Where a condition is used: decides which fetches can work there.
    enum RuleContext {
        case httpRequest, httpResponse, useBackend, tcpConnection, tcpContent

        /// HAProxy's name for the place, e.g. `frontend http-request header rule`.
        func name(_ p: ProxySettings) -> String {
            let side = p.isFrontend ? "frontend" : "backend"
            switch self {
            case .httpRequest: return "\(side) http-request header rule"
            case .httpResponse: return "\(side) http-response header rule"
            case .useBackend: return "frontend use-backend rule"
            case .tcpConnection: return "frontend tcp-request connection rule"
            case .tcpContent: return "\(side) tcp-request content rule"
            }
        }

        /// The `haproxy -dKsmp` column of this place.
        func usage(_ p: ProxySettings) -> HAProxySamples.Usage {
            switch self {
            case .httpRequest: return p.isFrontend ? .frontendHTTPRequest : .backendHTTPRequest
            case .httpResponse: return p.isFrontend ? .frontendHTTPResponse : .backendHTTPResponse
            case .useBackend: return .frontendUseBackend
            case .tcpConnection: return .frontendTCPConnection
            case .tcpContent: return p.isFrontend ? .frontendTCPContent : .backendTCPContent
            }
        }

        /// Whether the criterion's fetch gives a sample here, from HAProxy's own table when
        /// it knows the keyword.
        func allows(_ c: ACLCriterion, _ p: ProxySettings) -> Bool {
            let kw = ACLParser.keyword(c)
            let fetch = HAProxySamples.aclKeywords[kw]?.fetch ?? kw
            if let u = HAProxySamples.fetches[fetch] { return !u.isDisjoint(with: usage(p)) }
            return allows(c.fetch)
        }

        /// Whether a fetch gives a sample here.
        func allows(_ f: SampleFetch) -> Bool {
            switch f {
            case .source, .destination, .destinationPort, .sourcePort, .alwaysTrue, .alwaysFalse, .usableServers, .stick:
                return true
            case .sslFrontend, .sslSNI, .sslHelloType:
                return self != .tcpConnection
            case .path, .url, .method, .header, .query, .urlParameter, .httpVersion:
                return self != .tcpConnection && self != .httpResponse
            case .status, .responseHeader:
                return self == .httpResponse
            case .expression:
                return true
            }
        }
    }

    /// The fetch keyword of a criterion as written (`hdr_beg(host) -i x` → `hdr_beg`).
    static func keyword(_ c: ACLCriterion) -> String {
        let first = c.text.split(separator: " ").first.map(String.init) ?? ""
        return splitFetch(first).0
    }

    /// HAProxy's warnings for ACLs that cannot match where they are used.
    static func warnIncompatible(_ s: ParserState, _ p: ProxySettings, _ c: Condition, _ ctx: RuleContext, _ location: SourceLocation) {
        let where_ = ctx.name(p)
        let inConnection = ctx == .tcpConnection ? " in 'tcp-request connection'" : ""
        for term in c.alternatives.joined() {
            let bad = term.criteria.filter { !ctx.allows($0, p) }
            guard let first = bad.first else { continue }
            if let name = term.name {
                if bad.count == term.criteria.count {
                    s.warning(ConfigLine(words: [""], location: location), "acl '\(name)' will never match\(inConnection) because it only involves keywords that are incompatible with '\(where_)'")
                } else {
                    s.warning(ConfigLine(words: [""], location: location), "acl '\(name)' involves keywords '\(keyword(first))' which is incompatible with '\(where_)'")
                }
            } else {
                s.warning(ConfigLine(words: [""], location: location), "anonymous acl will never match\(inConnection) because it uses keyword '\(keyword(first))' which is incompatible with '\(where_)'")
            }
        }
    }

    /// `if|unless` followed by terms; `words[0]` is `if` or `unless`.
    static func parseCondition(_ s: ParserState, _ p: ProxySettings, _ words: [String], _ location: SourceLocation,
                               context: RuleContext) -> Result<Condition, Failure> {
        let r = parseCondition(s, p, words, location)
        if case let .success(c) = r { warnIncompatible(s, p, c, context, location) }
        return r
    }

    static func parseCondition(_ s: ParserState, _ p: ProxySettings, _ words: [String], _ location: SourceLocation) -> Result<Condition, Failure> {
        guard let polarity = Condition.Polarity(rawValue: words.first ?? "") else {
            return .failure(Failure(message: "expects 'if' or 'unless'"))
        }
        var alternatives: [[Condition.Term]] = []
        var current: [Condition.Term] = []
        var i = 1
        // HAProxy's semantics: an empty condition never matches (no alternative), and an
        // empty alternative (`a ||`) always does (AND of nothing).
        if words.count <= 1 {
            return .success(Condition(polarity: polarity, alternatives: [], location: location))
        }
        while i < words.count {
            var w = words[i]
            // HAProxy compares `or` without case (`a OR b`).
            if w == "||" || w.lowercased() == "or" {
                alternatives.append(current)
                current = []
                i += 1
                continue
            }
            var negated = false
            while w.hasPrefix("!") {
                negated.toggle()
                w = String(w.dropFirst())
                if w.isEmpty {
                    i += 1
                    guard i < words.count else { return .failure(Failure(message: "missing ACL after '!'")) }
                    w = words[i]
                }
            }
            if w == "{" {
                var inner: [String] = []
                i += 1
                while i < words.count && words[i] != "}" { inner.append(words[i]); i += 1 }
                guard i < words.count else {
                    return .failure(Failure(message: "missing closing '}' in condition"))
                }
                var warnings: [Diagnostic] = []
                switch parseCriterion(s, inner, location: location, warnings: &warnings) {
                case let .success(c):
                    s.diagnostics += warnings
                    current.append(Condition.Term(negated: negated, name: nil, criteria: [c]))
                case let .failure(e):
                    return .failure(Failure(message: "\(e.message)"))
                }
                i += 1
                continue
            }
            let defs = p.acl(named: w)
            if !defs.isEmpty {
                current.append(Condition.Term(negated: negated, name: w, criteria: defs.map { $0.criterion }))
            } else if let pre = predefined[w] {
                current.append(Condition.Term(negated: negated, name: w, criteria: [pre]))
            } else {
                return .failure(Failure(message: "no such ACL : '\(w)'"))
            }
            i += 1
        }
        alternatives.append(current)
        return .success(Condition(polarity: polarity, alternatives: alternatives, location: location))
    }
}
