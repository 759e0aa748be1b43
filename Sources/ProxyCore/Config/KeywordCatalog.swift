/// Every configuration keyword the parser knows, taken from its own keyword tables, for
/// `proxyd --dump-keywords` and the proxyd.cfg(5) page generated from it (scripts/man), so
/// that the documented list cannot drift from the code.
///
/// The tables give the candidates; whether each one works is asked of the parser itself:
/// a one-line configuration with the keyword is parsed, and its answer says `supported`
/// (parsed, perhaps with an error about missing arguments), `ignored` (a warning says it
/// is ignored, as `tune.*`) or `unsupported` (an error says proxyd does not support it).
/// The families a `switch` decides (bind options, timeouts, algorithms, stats and userlist
/// keywords) have HAProxy 2.6's own names as candidates.
public enum KeywordCatalog {
    public enum Status: String, Sendable, Comparable {
        case supported, ignored, unsupported

        public static func < (a: Status, b: Status) -> Bool {
            let order: [Status] = [.supported, .ignored, .unsupported]
            return order.firstIndex(of: a)! < order.firstIndex(of: b)!
        }
    }

    public struct Entry: Sendable, Equatable {
        /// The family, as the man page's sections: `section`, `global`, `proxy`, `option`, …
        public var family: String
        public var keyword: String
        public var status: Status
        /// Where a proxy keyword or option may appear (`defaults frontend listen`), or empty.
        public var note: String
    }

    /// The families in the order of the man page.
    public static let families = ["section", "global", "proxy", "option", "bind", "server", "timeout", "balance",
                                  "http-request", "http-response", "acl", "stats", "userlist", "resolvers", "peers"]

    /// All entries, by family (in `families` order) then keyword.
    public static func entries() -> [Entry] {
        var all: [Entry] = []
        all += sections()
        all += global()
        all += proxy()
        all += options()
        all += bind()
        all += server()
        all += probed("timeout", HAProxy26.timeouts.map { ($0, "listen l\n  mode http\n  timeout \($0) 1s") })
        all += probed("balance", HAProxy26.algorithms.map { name, line in (name, "backend b\n  balance \(line)") })
        all += actions("http-request", supported: HTTPRuleParser.requestActions + RequestLineRuleParser.actions
                        + RuleEffectParser.requestActions, unsupported: HTTPRuleParser.requestUnsupported)
        all += actions("http-response", supported: HTTPRuleParser.responseActions + RuleEffectParser.responseActions,
                       unsupported: HTTPRuleParser.responseUnsupported)
        all += acl()
        all += probed("stats", HAProxy26.stats.map { name, line in (name, "listen l\n  mode http\n  bind 127.0.0.1:1\n  stats \(line)") })
        all += probed("userlist", ["user", "group"].map { ($0, "userlist u\n  \($0) x") })
        all += probed("resolvers", ResolversParser.table.keys.map { ($0, "resolvers r\n  \($0)") })
        all += probed("peers", [("peer", "peer a 127.0.0.1:1"), ("bind", "bind 127.0.0.1:1"), ("server", "server a"),
                                ("disabled", "disabled"), ("enabled", "enabled"), ("table", "table t type ip size 1"),
                                ("default-server", "default-server"), ("default-bind", "default-bind"), ("log", "log global")].map { ($0, "peers p\n  \($1)") })
        let rank = Dictionary(uniqueKeysWithValues: families.enumerated().map { ($1, $0) })
        return all.sorted { ($1.family != $0.family) ? rank[$0.family]! < rank[$1.family]! : $0.keyword < $1.keyword }
    }

    /// One line per keyword: `FAMILY<TAB>KEYWORD<TAB>STATUS<TAB>NOTE`.
    public static func dump() -> String {
        entries().map { "\($0.family)\t\($0.keyword)\t\($0.status.rawValue)\t\($0.note)" }.joined(separator: "\n") + "\n"
    }

    /// The `balance` algorithms proxyd runs (for `proxyd -vv`).
    public static func balanceAlgorithms() -> [String] {
        entries().filter { $0.family == "balance" && $0.status == .supported }.map(\.keyword)
    }

    // MARK: families

    static func sections() -> [Entry] {
        Loader.supportedSections.map { Entry(family: "section", keyword: $0, status: .supported, note: "") }
            + Loader.unsupportedSections.map { Entry(family: "section", keyword: $0, status: .unsupported, note: "") }
    }

    static func global() -> [Entry] {
        let candidates = Set(GlobalParser.table.keys).union(GlobalParser.unsupported)
            .union(GlobalParser.performanceKnobs).union(GlobalParser.tuneKeywords)
        return candidates.map { keyword in
            Entry(family: "global", keyword: keyword,
                  status: status(of: keyword, in: ["global\n  \(keyword)\n", "global\n  \(keyword) 1\n"]), note: "")
        }
    }

    static func proxy() -> [Entry] {
        ProxyParser.table.map { keyword, entry in
            Entry(family: "proxy", keyword: keyword, status: status(of: keyword, in: ["listen l\n  mode http\n  \(keyword)\n", "listen l\n  mode http\n  \(keyword) 1\n"]),
                  note: places(entry.side, inDefaults: entry.inDefaults))
        } + ProxyParser.unsupported.map {
            Entry(family: "proxy", keyword: $0, status: status(of: $0, in: ["listen l\n  mode http\n  \($0)\n", "listen l\n  mode http\n  \($0) 1\n"]), note: "")
        }
    }

    static func options() -> [Entry] {
        OptionParser.table.map { keyword, entry in
            Entry(family: "option", keyword: keyword, status: status(of: keyword, in: ["listen l\n  mode http\n  option \(keyword)\n", "listen l\n  mode http\n  option \(keyword) 1\n"]),
                  note: places(entry.side, inDefaults: true))
        } + OptionParser.unsupported.map {
            Entry(family: "option", keyword: $0, status: status(of: $0, in: ["listen l\n  mode http\n  option \($0)\n", "listen l\n  mode http\n  option \($0) 1\n"]), note: "")
        }
    }

    static func bind() -> [Entry] {
        BindParser.withArgument.map { ($0, "frontend f\n  bind 127.0.0.1:1 \($0) x\n") }
            .map { Entry(family: "bind", keyword: $0.0, status: status(of: $0.0, in: $0.1), note: "") }
            + BindParser.flags.map { ($0, "frontend f\n  bind 127.0.0.1:1 \($0)\n") }
            .map { Entry(family: "bind", keyword: $0.0, status: status(of: $0.0, in: $0.1), note: "") }
    }

    static func server() -> [Entry] {
        Set(ServerParser.table.keys).union(ServerParser.unsupported).map { keyword in
            Entry(family: "server", keyword: keyword,
                  status: status(of: keyword, in: ["backend b\n  server s 127.0.0.1:1 \(keyword)\n",
                                                   "backend b\n  server s 127.0.0.1:1 \(keyword) 1\n"]), note: "")
        }
    }

    static func actions(_ family: String, supported: [String], unsupported: [String]) -> [Entry] {
        Set(supported + unsupported).map { action in
            Entry(family: family, keyword: action, status: status(of: action, in: "listen l\n  mode http\n  \(family) \(action)\n"), note: "")
        }
    }

    static func acl() -> [Entry] {
        ACLParser.fetches.keys.map { Entry(family: "acl", keyword: $0, status: .supported, note: "fetch") }
            + ACLParser.predefined.keys.map { Entry(family: "acl", keyword: $0, status: .supported, note: "predefined") }
            + StickTableParser.fetchNames.map { Entry(family: "acl", keyword: $0, status: .supported, note: "stick table fetch") }
    }

    static func probed(_ family: String, _ cases: [(String, String)]) -> [Entry] {
        cases.map { Entry(family: family, keyword: $0.0, status: status(of: $0.0, in: $0.1 + "\n"), note: "") }
    }

    static func places(_ side: ProxyKeyword.Side, inDefaults: Bool) -> String {
        var where_: [String] = inDefaults ? ["defaults"] : []
        switch side {
        case .frontend: where_ += ["frontend", "listen"]
        case .backend: where_ += ["listen", "backend"]
        case .both: where_ += ["frontend", "listen", "backend"]
        }
        return where_.joined(separator: " ")
    }

    // MARK: asking the parser

    /// What the parser says about `keyword` in `text`: an error saying proxyd does not
    /// support it (or does not know it) makes it `unsupported`, a warning saying it is
    /// ignored `ignored`, anything else (errors about its arguments included) `supported`.
    static func status(of keyword: String, in text: String) -> Status {
        var options = LoadOptions(resolveServers: false, checkOnly: true)
        options.ignoreResolutionFailures = true
        let result = ConfigurationLoader.load(text: text, name: "probe.cfg", options: options)
        // HAProxy quotes the keyword alone ('stick') or after its directive ('option
        // tcpka'), or names it bare ("nbproc is not supported any more").
        func names(_ d: Diagnostic) -> Bool { d.message.contains("\(keyword)'") || d.message.contains(" \(keyword) ") }
        for d in result.diagnostics where d.severity == .alert {
            if names(d) && (d.message.contains("not supported") || d.message.contains("does not support")) { return .unsupported }
            if d.message.contains("unknown keyword '\(keyword)'") { return .unsupported }
        }
        for d in result.diagnostics where d.severity == .warning && names(d) && d.message.contains("ignored") {
            return .ignored
        }
        return .supported
    }

    /// The least supported of what the parser says about each text.
    static func status(of keyword: String, in texts: [String]) -> Status {
        texts.map { status(of: keyword, in: $0) }.max()!
    }

    /// HAProxy 2.6's names for the families a `switch` decides.
    enum HAProxy26 {
        static let timeouts = ["client", "client-fin", "connect", "check", "http-keep-alive", "http-request", "queue",
                               "server", "server-fin", "tarpit", "tunnel", "clitimeout", "contimeout", "srvtimeout"]
        /// Name as documented, and the line that uses it.
        static let algorithms: [(String, String)] = [
            ("roundrobin", "roundrobin"), ("static-rr", "static-rr"), ("leastconn", "leastconn"), ("first", "first"),
            ("source", "source"), ("uri", "uri"), ("url_param", "url_param id"), ("hdr", "hdr(host)"),
            ("random", "random"), ("rdp-cookie", "rdp-cookie"), ("hash", "hash req.hdr(host)"),
        ]
        static let stats: [(String, String)] = [
            ("admin", "admin if TRUE"), ("auth", "auth u:p"), ("enable", "enable"), ("hide-version", "hide-version"),
            ("http-request", "http-request deny"), ("realm", "realm r"), ("refresh", "refresh 5s"), ("scope", "scope s"),
            ("show-desc", "show-desc"), ("show-legends", "show-legends"), ("show-modules", "show-modules"),
            ("show-node", "show-node"), ("uri", "uri /s"),
        ]
    }
}
