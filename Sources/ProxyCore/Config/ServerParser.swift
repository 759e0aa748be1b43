import Shared

/// `server NAME ADDR[:PORT] [options…]` and `default-server [options…]`: a table of
/// server keywords (keyword → argument count and parser).
enum ServerParser {
    /// Returns an error message (HAProxy's text, without the `'server b/s' : ` prefix) or nil.
    typealias Handler = (ParserState, inout ServerSettings, String, ProxySettings) -> String?

    struct Entry {
        var takesArgument: Bool
        /// HAProxy's message when the argument is missing (nil: "'kw' expects an argument.").
        var missing: String? = nil
        /// The argument is a time value (HAProxy warns about what follows its unit).
        var readsTime = false
        var handler: Handler

        init(takesArgument: Bool, missing: String? = nil, readsTime: Bool = false, handler: @escaping Handler) {
            self.takesArgument = takesArgument
            self.missing = missing
            self.readsTime = readsTime
            self.handler = handler
        }
    }

    static func time(_ kw: String, _ apply: @escaping (inout ServerSettings, Int) -> Void) -> Entry {
        Entry(takesArgument: true, missing: "'\(kw)' expects a delay as argument.", readsTime: true) { _, srv, v, _ in
            switch ConfigUnits.milliseconds(v) {
            case let .success(ms) where ms > 0:
                apply(&srv, ms)
                return nil
            case let .failure(.unexpectedCharacter(c)):
                return "unexpected character '\(c)' in '\(kw)' argument of server \(srv.name).."
            case .failure(.overflow):
                return "timer overflow in argument <\(v)> to <\(kw)> of server \(srv.name), maximum value is 2147483647 ms (~24.8 days).."
            default:
                return "invalid value \(v) for argument '\(kw)' of server \(srv.name).."
            }
        }
    }

    static func integer(_ kw: String, min: Int = 0, _ apply: @escaping (inout ServerSettings, Int) -> Void) -> Entry {
        Entry(takesArgument: true, missing: "'\(kw)' expects an integer argument.") { _, srv, v, _ in
            guard let n = ConfigUnits.integer(v) else {
                // HAProxy reads these with atoi(): garbage is 0, refused by the range check.
                if kw == "error-limit" { return "error-limit has to be > 0.." }
                return min > 0 ? "'\(kw)' has to be > 0.." : "'\(kw)' expects an integer argument.."
            }
            if n < min { return kw == "error-limit" ? "error-limit has to be > 0.." : "'\(kw)' has to be > 0.." }
            apply(&srv, n)
            return nil
        }
    }

    static func flag(_ apply: @escaping (inout ServerSettings) -> Void) -> Entry {
        Entry(takesArgument: false) { _, srv, _, _ in apply(&srv); return nil }
    }

    static func port(_ kw: String, _ apply: @escaping (inout ServerSettings, Int) -> Void) -> Entry {
        Entry(takesArgument: true, missing: "'\(kw)' expects a port number as argument.") { _, srv, v, _ in
            guard let n = ConfigUnits.integer(v), (1...65535).contains(n) else {
                return "invalid port '\(v)' for '\(kw)'."
            }
            apply(&srv, n)
            return nil
        }
    }

    static let table: [String: Entry] = [
        "check": flag { $0.check.enabled = true },
        "no-check": flag { $0.check.enabled = false },
        "inter": time("inter") { $0.check.interval = $1 },
        "fastinter": time("fastinter") { $0.check.fastInterval = $1 },
        "downinter": time("downinter") { $0.check.downInterval = $1 },
        "rise": integer("rise", min: 1) { $0.check.rise = $1 },
        "fall": integer("fall", min: 1) { $0.check.fall = $1 },
        "port": port("port") { $0.check.port = $1 },
        "addr": Entry(takesArgument: true) { _, srv, v, _ in
            guard AddressParser.numericIP(v) != nil || !AddressParser.resolve(v).isEmpty else {
                return "'addr' : invalid address: '\(v)' in '\(v)'."
            }
            srv.check.address = v
            return nil
        },
        "weight": Entry(takesArgument: true, missing: "'weight' expects an integer argument.") { _, srv, v, _ in
            guard let n = ConfigUnits.integer(v) else { return "'weight' expects an integer argument.." }
            guard n <= 256 else { return "weight of server \(srv.name) is not within 0 and 256 (\(n)).." }
            srv.weight = n
            return nil
        },
        "backup": flag { $0.backup = true },
        "no-backup": flag { $0.backup = false },
        "disabled": flag { $0.disabled = true },
        "enabled": flag { $0.disabled = false },
        "maxconn": integer("maxconn") { $0.maxconn = $1 },
        "maxqueue": integer("maxqueue") { $0.maxqueue = $1 },
        "minconn": integer("minconn") { $0.minconn = $1 },
        "ssl": flag { $0.ssl.enabled = true },
        "no-ssl": flag { $0.ssl.enabled = false },
        "check-ssl": flag { $0.check.ssl = true },
        "no-check-ssl": flag { $0.check.ssl = false },
        "check-sni": Entry(takesArgument: true) { _, srv, v, _ in srv.check.sni = v; return nil },
        "check-send-proxy": flag { $0.check.sendProxy = true },
        "send-proxy": flag { $0.sendProxyVersion = 1 },
        "send-proxy-v2": flag { $0.sendProxyVersion = 2 },
        "no-send-proxy": flag { $0.sendProxyVersion = 0 },
        "no-send-proxy-v2": flag { $0.sendProxyVersion = 0 },
        "no-check-send-proxy": flag { $0.check.sendProxy = false },
        "crt": Entry(takesArgument: true, missing: "'crt' : missing certificate file path") { s, srv, v, _ in
            // Loaded (and checked) after parsing, as HAProxy does.
            srv.ssl.certificate = s.resolve(v, base: s.global.crtBase)
            return nil
        },
        "ca-file": Entry(takesArgument: true) { s, srv, v, _ in
            let path = s.resolve(v, base: s.global.caBase)
            if let why = BindParser.caFileProblem(path) {
                return "Couldn't open the ca-file '\(path)' (\(why))."
            }
            srv.ssl.caFile = path
            return nil
        },
        "crl-file": Entry(takesArgument: true) { s, srv, v, _ in
            let path = s.resolve(v, base: s.global.caBase)
            guard FileSystem.exists(path) else { return "unable to load \(path)." }
            srv.ssl.crlFile = path
            return nil
        },
        "verify": Entry(takesArgument: true) { _, srv, v, _ in
            guard v == "none" || v == "required" else {
                return "'verify' : unknown verify method '\(v)', only 'none' and 'required' are supported."
            }
            srv.ssl.verify = v
            return nil
        },
        "verifyhost": Entry(takesArgument: true) { _, srv, v, _ in srv.ssl.verifyHost = v; return nil },
        "sni": Entry(takesArgument: true) { _, srv, v, _ in srv.ssl.sni = v; return nil },
        "ciphers": Entry(takesArgument: true) { _, srv, v, _ in srv.ssl.ciphers = v; return nil },
        "ciphersuites": Entry(takesArgument: true) { _, srv, v, _ in srv.ssl.cipherSuites = v; return nil },
        "alpn": Entry(takesArgument: true) { _, srv, v, _ in srv.ssl.alpn = v.split(separator: ",").map(String.init); return nil },
        "ssl-min-ver": Entry(takesArgument: true) { _, srv, v, _ in srv.ssl.options.append("ssl-min-ver \(v)"); return nil },
        "ssl-max-ver": Entry(takesArgument: true) { _, srv, v, _ in srv.ssl.options.append("ssl-max-ver \(v)"); return nil },
        "no-sslv3": flag { $0.ssl.options.append("no-sslv3") },
        "no-tlsv10": flag { $0.ssl.options.append("no-tlsv10") },
        "no-tlsv11": flag { $0.ssl.options.append("no-tlsv11") },
        "no-tlsv12": flag { $0.ssl.options.append("no-tlsv12") },
        "no-tlsv13": flag { $0.ssl.options.append("no-tlsv13") },
        "init-addr": Entry(takesArgument: true) { _, srv, v, _ in
            var methods: [InitAddrMethod] = []
            for m in v.split(separator: ",").map(String.init) {
                switch m {
                case "last": methods.append(.last)
                case "libc": methods.append(.libc)
                case "none": methods.append(.none)
                default:
                    guard let ip = AddressParser.numericIP(m) else {
                        return "'init-addr' : unknown init-addr method '\(m)', supported methods are 'libc', 'last', 'none'.."
                    }
                    methods.append(.ip(ip))
                }
            }
            srv.initAddr = methods
            return nil
        },
        // DNS service discovery (issue 15): Config/ResolversParser.swift, DNS/.
        "resolvers": Entry(takesArgument: true, missing: "'resolvers' expects <resolvers id> as argument.") { _, srv, v, _ in
            srv.resolution.resolvers = v
            return nil
        },
        "resolve-prefer": Entry(takesArgument: true, missing: "'resolve-prefer' expects either ipv4 or ipv6 as argument.") { _, srv, v, _ in
            guard let family = ResolveFamily(rawValue: v) else {
                return "'resolve-prefer' expects either ipv4 or ipv6 as argument.."
            }
            srv.resolution.prefer = family
            return nil
        },
        "resolve-net": Entry(takesArgument: true, missing: "'resolve-net' expects a list of networks.") { _, srv, v, _ in
            var networks: [IPNetwork] = []
            for word in v.split(separator: ",") {
                guard let network = ACLParser.parseNetwork(String(word)) else {
                    return "'resolve-net' invalid network '\(word)'.."
                }
                networks.append(network)
            }
            srv.resolution.preferredNetworks = networks
            return nil
        },
        "resolve-opts": Entry(takesArgument: true, missing: "'resolve-opts' expects a comma separated list of options.") { _, srv, v, _ in
            for option in v.split(separator: ",") {
                switch option {
                case "allow-dup-ip": srv.resolution.allowDuplicateIP = true
                case "prevent-dup-ip": srv.resolution.allowDuplicateIP = false
                case "ignore-weight": srv.resolution.ignoreWeight = true
                default:
                    return "'resolve-opts' : unknown resolve-opts option '\(option)', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'.."
                }
            }
            return nil
        },
        "agent-check": flag { $0.agent.enabled = true },
        "no-agent-check": flag { $0.agent.enabled = false },
        "agent-port": port("agent-port") { $0.agent.port = $1 },
        "agent-inter": time("agent-inter") { $0.agent.interval = $1 },
        "agent-addr": Entry(takesArgument: true) { _, srv, v, _ in srv.agent.address = v; return nil },
        "agent-send": Entry(takesArgument: true) { _, srv, v, _ in srv.agent.send = v; return nil },
        "observe": Entry(takesArgument: true) { s, srv, v, p in
            switch v {
            case "none": srv.observe = .none
            case "layer4": srv.observe = .layer4
            case "layer7":
                guard p.mode == .http else {
                    // HAProxy prints an alert but keeps the server (observe stays off).
                    s.alertNonFatalRaw("[\(srv.location)] : 'server \(p.name)/\(srv.name)' : 'layer7' can only be used in http proxies..", at: srv.location)
                    return nil
                }
                srv.observe = .layer7
            default: return "'observe' expects one of 'none', 'layer4', 'layer7' but got '\(v)'."
            }
            return nil
        },
        "error-limit": integer("error-limit", min: 1) { $0.errorLimit = $1 },
        "on-error": Entry(takesArgument: true) { _, srv, v, _ in
            guard let e = ServerOnError(rawValue: v) else {
                return "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '\(v)'."
            }
            srv.onError = e
            return nil
        },
        "on-marked-down": Entry(takesArgument: true) { _, srv, v, _ in
            guard v == "shutdown-sessions" else {
                return "'on-marked-down' expects 'shutdown-sessions' but got '\(v)'."
            }
            srv.shutdownSessionsOnMarkedDown = true
            return nil
        },
        "on-marked-up": Entry(takesArgument: true) { _, srv, v, _ in
            guard v == "shutdown-backup-sessions" else {
                return "'on-marked-up' expects 'shutdown-backup-sessions' but got '\(v)'."
            }
            srv.shutdownBackupSessionsOnMarkedUp = true
            return nil
        },
        "cookie": Entry(takesArgument: true, missing: "'cookie' expects <value> as argument.") { _, srv, v, _ in srv.cookie = v; return nil },
        "id": Entry(takesArgument: true) { _, srv, v, _ in
            guard let n = ConfigUnits.integer(v), n > 0 else { return "'id' : custom id has to be > 0." }
            srv.id = n
            return nil
        },
        "slowstart": time("slowstart") { $0.slowStart = $1 },
        "source": Entry(takesArgument: true, missing: "'source' expects <addr>[:<port>[-<port>]], and optionally 'usesrc' <addr>, and 'interface' <name> as argument.") { _, srv, v, _ in
            switch SourceParser.parse([v], portRangeAllowed: true) {
            case .success(let binding): srv.source = binding; return nil
            case .failure(let failure): return failure.message
            }
        },
        // After `source` on the line: its transparent half (Config/SourceParser.swift).
        "usesrc": Entry(takesArgument: true, missing: "'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument.") { _, srv, v, _ in
            guard var binding = srv.source else { return "'usesrc' only allowed after a 'source' statement.." }
            switch SourceParser.parse(["0.0.0.0", "usesrc", v], portRangeAllowed: true) {
            case .success(let transparent):
                binding.transparent = transparent.transparent
                srv.source = binding
                return nil
            case .failure(let failure): return failure.message
            }
        },
        "track": Entry(takesArgument: true) { _, srv, v, _ in srv.track = v; return nil },
        // Unlike the other delays, 0 is valid here: no idle connection is kept.
        "pool-purge-delay": Entry(takesArgument: true, missing: "'pool-purge-delay' expects <value> as argument.", readsTime: true) { _, srv, v, _ in
            switch ConfigUnits.milliseconds(v) {
            case let .success(ms):
                srv.poolPurgeDelay = ms
                return nil
            case let .failure(.unexpectedCharacter(c)):
                return "unexpected character '\(c)' in argument to <pool-purge-delay>.."
            case .failure(.overflow):
                return "timer overflow in argument <\(v)> to <pool-purge-delay> of server \(srv.name), maximum value is 2147483647 ms (~24.8 days).."
            default:
                return "invalid value \(v) for argument 'pool-purge-delay' of server \(srv.name).."
            }
        },
    ]

    /// Valid HAProxy 2.6 server keywords proxyd does not implement yet.
    static let unsupported: [String] = [
        "redir", "namespace", "proto", "ws",
        "socks4", "proxy-v2-options", "pool-low-conn", "pool-max-conn",
        "max-reuse", "tcp-ut", "log-proto", "npn", "allow-0rtt", "no-tls-tickets", "tfo", "check-proto",
        "check-alpn", "check-via-socks4", "force-sslv3", "force-tlsv10", "force-tlsv11", "force-tlsv12",
        "force-tlsv13", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "stick",
        "non-stick", "ssl-reuse", "no-ssl-reuse", "agent-send",
        "tls-tickets", "no-send-proxy-v2-ssl",
        "no-send-proxy-v2-ssl-cn", "no-tfo",
    ].filter { table[$0] == nil }

    static func parseDefaultServer(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        var srv = p.defaultServer
        srv.name = "default-server"
        if applyOptions(s, &srv, l, from: 1, proxy: p, prefix: "'default-server'") {
            p.defaultServer = srv
        }
    }

    static func parseServer(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard l.count >= 3, !l[1].isEmpty, !l[2].isEmpty else {
            s.alertRaw("[\(l.location)] : 'server' expects <name> and <addr>[:<port>] as arguments.", at: l.location)
            return
        }
        let name = l[1]
        if let bad = Loader.validName(name) {
            s.alertRaw("[\(l.location)] : character '\(bad)' is not permitted in server name '\(name)'.", at: l.location)
            return
        }
        let prefix = "'server \(p.name)/\(name)'"
        func fail(_ message: String) {
            s.alertRaw("[\(l.location)] : \(prefix) : \(message)", at: l.location)
        }
        var srv = p.defaultServer
        srv.name = name
        srv.location = l.location
        let spec = l[2]
        srv.host = spec
        if spec.hasPrefix("/") || spec.hasPrefix("unix@") {
            srv.unixPath = spec.hasPrefix("unix@") ? String(spec.dropFirst(5)) : spec
        } else if spec.hasPrefix("abns@") || spec.hasPrefix("fd@") || spec.hasPrefix("sockpair@") || spec.hasPrefix("udp") {
            fail("address family of '\(spec)' is valid in HAProxy but not supported by proxyd yet.")
            return
        } else {
            var text = spec
            for prefix in ["ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"] where text.hasPrefix(prefix) {
                text = String(text.dropFirst(prefix.count))
            }
            guard let (host, portText) = AddressParser.splitHostPortText(text) else {
                fail("invalid address: '\(spec)'")
                return
            }
            srv.host = host
            if let portText, !portText.isEmpty {
                var digits = Substring(portText)
                var sign = 0
                if digits.first == "+" { sign = 1; digits = digits.dropFirst() } else if digits.first == "-" { sign = -1; digits = digits.dropFirst() }
                if portText.contains("-") && sign == 0 {
                    fail("port range not permitted here in '\(spec)'")
                    return
                }
                // After a sign, HAProxy's atoi takes whatever digits follow (`-x` is 0).
                if let read = AddressParser.leadingPortDigits(digits) {
                    digits = read
                } else if sign != 0 {
                    digits = "0"
                } else {
                    fail("invalid character '\(digits.first!)' in port number '\(portText)' in '\(spec)'\n")
                    return
                }
                guard let n = ConfigUnits.integer(String(digits)), n <= 65535 else {
                    fail("invalid port '\(portText)'")
                    return
                }
                if sign != 0 { srv.portOffset = sign * n } else { srv.port = n }
            }
            if host.isEmpty || host == "*" {
                // No address: connect to the address the client connected to (HAProxy's 0.0.0.0).
                srv.addresses = [.v4(0, 0, 0, 0)]
            } else if let ip = AddressParser.numericIP(host) {
                srv.addresses = [ip]
            }
        }
        guard applyOptions(s, &srv, l, from: 3, proxy: p, prefix: prefix) else { return }
        p.servers.append(srv)
    }

    /// Applies `name value` / `flag` options; reports the first error and returns false.
    static func applyOptions(_ s: ParserState, _ srv: inout ServerSettings, _ l: ConfigLine, from start: Int,
                             proxy p: ProxySettings, prefix: String) -> Bool {
        let isDefault = prefix.hasPrefix("'default-server")
        func fail(_ message: String) {
            // HAProxy names no server for `default-server` lines.
            s.alertRaw(isDefault ? "[\(l.location)] : \(message)" : "[\(l.location)] : \(prefix) : \(message)", at: l.location)
        }
        var i = start
        while i < l.count {
            let kw = l[i]
            guard let entry = table[kw] else {
                if unsupported.contains(kw) {
                    fail("'\(kw)' is valid in HAProxy but not supported by proxyd yet.")
                    return false
                }
                var message = "unknown keyword '\(kw)'"
                if let sug = DidYouMean.suggest(kw, among: Array(table.keys) + unsupported) {
                    message += "; did you mean '\(sug)' maybe ?"
                } else {
                    message += "."
                }
                if isDefault { message += " Hint: no address was expected for this server." }
                fail(message)
                return false
            }
            var value = ""
            if entry.takesArgument {
                guard i + 1 < l.count, !l[i + 1].isEmpty else {
                    fail((entry.missing ?? "'\(kw)' expects an argument.") + ".")
                    return false
                }
                value = l[i + 1]
            }
            if let error = entry.handler(s, &srv, value, p) {
                fail(error)
                if kw == "ca-file" { s.alertRaw("'ca-file' : unable to load \(s.resolve(value, base: s.global.caBase)).", at: l.location) }
                return false
            }
            if entry.readsTime, let c = ConfigUnits.trailingAfterUnit(value) {
                s.warningRaw("[\(l.location)] : \(prefix) : " + ConfigUnits.trailingAfterUnitWarning(value, c), at: l.location)
            }
            i += entry.takesArgument ? 2 : 1
        }
        if srv.agent.enabled && srv.agent.port == nil && !prefix.hasPrefix("'default-server") {
            fail("server \(srv.name) does not have agent port. Agent check has been disabled..")
            srv.agent.enabled = false
            return false
        }
        return true
    }
}
