import Shared

/// Checks after all files were read (HAProxy's `check_config_validity`) and start-up
/// address resolution (HAProxy's `srv_init_addr`).
enum Validation {
    /// HAProxy's word for a proxy in messages: "proxy" for a listen section.
    static func word(_ c: ProxyCapabilities) -> String { c == .listen ? "proxy" : c.sectionName }

    /// HAProxy 2.6's MAX_THREADS on 64-bit builds.
    static let maxThreads = 64

    /// Returns true when a fatal error was found.
    static func checkValidity(_ s: ParserState) -> Bool {
        var errors = false
        let backendNames = s.proxies.filter { $0.isBackend }.map { $0.name }
        var serverIndex = ServerIndex()
        for index in s.proxies.indices { s.proxies[index].healthCheck.resolve() }
        for index in s.proxies.indices where !s.proxies[index].disabled {
            // The order of the messages below is HAProxy's.
            if checkSwitching(s, index, backendNames) { errors = true }
            if ErrorPagesParser.resolve(s, proxy: index) { errors = true }
            if PersistenceParser.checkUseServer(s, s.proxies[index]) { errors = true }  // issue 15
            if CaptureParser.checkSlots(s, s.proxies[index]) { errors = true }  // issue 15
            if UniqueIDParser.check(s, &s.proxies[index]) { errors = true }  // issue 15
            SmallOptionsParser.applyBacklog(&s.proxies[index])  // issue 15
            let p = s.proxies[index]
            let what = word(p.capabilities)
            if p.isFrontend && p.binds.isEmpty {
                s.warningRaw("\(what) '\(p.name)' has no 'bind' directive. Please declare it as a backend if this was intended.",
                             at: p.location)
            }
            // TLS listeners need a certificate.
            for b in p.binds where b.ssl.enabled && b.ssl.certificates.isEmpty && b.ssl.certificateLists.isEmpty {
                s.alertRaw("Proxy '\(p.name)': no SSL certificate specified for bind '\(b.written)' at [\(b.location)] (use 'crt').",
                           at: b.location)
                errors = true
            }
            // Layer 7 balancing needs HTTP.
            if p.isBackend && p.mode != .http {
                switch p.balance.algorithm {
                case .uri, .urlParam, .header:
                    s.warningRaw("Layer 7 hash not possible for \(what) '\(p.name)' (needs 'mode http'). Falling back to round robin.", at: p.location)
                    s.proxies[index].balance.algorithm = .roundRobin
                default:
                    break
                }
            }
            // `option httplog` on a tcp frontend falls back to tcplog.
            if p.isFrontend && p.httpLog && p.mode != .http {
                let at = p.logOptionLocation.map { "parsing [\($0)] : " } ?? ""
                let option = p.httpsLog ? "httpslog" : "httplog"
                s.warningRaw("\(at)'option \(option)' not usable with \(what) '\(p.name)' (needs 'mode http'). Falling back to 'option tcplog'.",
                             at: p.logOptionLocation)
                s.proxies[index].httpLog = false
                s.proxies[index].httpLogCLF = false
                s.proxies[index].httpsLog = false
                s.proxies[index].tcpLog = true
            }
            if p.isBackend && p.healthCheck.sawHTTPCheckRules && p.healthCheck.option != .httpchk {
                s.warningRaw("\(what) '\(p.name)' uses http-check rules without 'option httpchk', so the rules are ignored.", at: p.location)
            }
            // Missing timeouts (a warning only; HAProxy's fixed text).
            let frontendMissing = p.isFrontend && (p.timeouts.client ?? 0) == 0
            let backendMissing = p.isBackend && !p.servers.isEmpty
                && ((p.timeouts.connect ?? 0) == 0 || (p.timeouts.server ?? 0) == 0)
            if frontendMissing || backendMissing {
                s.warningRaw("missing timeouts for \(what) '\(p.name)'.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
                             at: p.location)
            }
            if p.isBackend && p.healthCheck.sawTCPCheckRules && p.healthCheck.option != .tcpCheck {
                s.warningRaw("\(what) '\(p.name)' uses tcp-check rules without 'option tcp-check', so the rules are ignored.", at: p.location)
            }
            if p.isBackend && checkServers(s, s.proxies[index], &serverIndex) { errors = true }
            // HTTP-only settings on a tcp proxy.
            if p.mode != .http {
                if p.stats.enabled {
                    s.warningRaw("'stats' statement ignored for \(what) '\(p.name)' as it requires HTTP mode.", at: p.location)
                }
                if !p.httpRequestRules.isEmpty {
                    s.warningRaw("'http-request' rules ignored for \(what) '\(p.name)' as they require HTTP mode.", at: p.location)
                }
                if !p.httpResponseRules.isEmpty {
                    s.warningRaw("'http-response' rules ignored for \(what) '\(p.name)' as they require HTTP mode.", at: p.location)
                }
                if !p.redirectRules.isEmpty {
                    s.warningRaw("'redirect' rules ignored for \(what) '\(p.name)' as they require HTTP mode.", at: p.location)
                }
                if p.forwardFor != nil {
                    s.warningRaw("'option forwardfor' ignored for \(what) '\(p.name)' as it requires HTTP mode.", at: p.location)
                }
            }
            if p.mode == .http { warnRawByteFetches(s, p) }
            // The frontend's (or inherited) `log-format`, checked as HAProxy checks it once
            // the frontend is known: the last one only, even without a log target.
            var emptyLogFormat = false
            if p.isFrontend, let format = p.logFormat, let problem = LogFormat.problem(in: format) {
                let at = p.logFormatLocation.map { "Parsing [\($0)]: " } ?? ""
                s.alertRaw("\(at)\(problem.message)", at: p.logFormatLocation)
                errors = true
                emptyLogFormat = problem.offset == 0
            }
            // A log format without a log target. HAProxy's check looks at what it parsed of
            // the format: nothing when the first element failed..
            let q = s.proxies[index]
            if !emptyLogFormat, q.isFrontend && q.logs.isEmpty && (q.httpLog || q.tcpLog || q.logFormat != nil) {
                s.warningRaw("log format ignored for \(what) '\(q.name)' since it has no log address.", at: q.location)
            }
        }
        // Userlists: groups named by users and users named by groups must exist.
        for list in s.userlists {
            for user in list.users {
                for group in user.groups where !list.groups.contains(where: { $0.name == group }) {
                    s.alertRaw("userlist '\(list.name)': no such group '\(group)' specified in user '\(user.name)'", at: user.location)
                    errors = true
                }
            }
            for group in list.groups {
                for user in group.users where !list.users.contains(where: { $0.name == user }) {
                    s.alertRaw("userlist '\(list.name)': no such user '\(user)' specified in group '\(group.name)'", at: group.location)
                    errors = true
                }
            }
        }
        if PeersParser.checkSections(s) { errors = true }  // peers sections (issue 15)
        if StickTableParser.checkReferences(s) { errors = true }  // stick tables (issue 15)
        if StickTableParser.checkStickRules(s) { errors = true }
        return errors
    }

    /// HAProxy's warning for a rule of an http proxy whose condition reads raw bytes
    /// (`req.ssl_sni`, `req.payload`, `RDP_COOKIE`…): the bytes are HTTP there, so the
    /// fetch finds nothing. Once per rule, at the rule's line.
    static func warnRawByteFetches(_ s: ParserState, _ p: ProxySettings) {
        var conditions: [(Condition, SourceLocation?)] = []
        conditions += p.tcpRequestRules.compactMap { r in r.condition.map { ($0, r.location) } }
        conditions += p.httpRequestRules.compactMap { r in r.condition.map { ($0, r.location) } }
        conditions += p.useBackendRules.compactMap { r in r.condition.map { ($0, r.location) } }
        conditions += p.httpResponseRules.compactMap { r in r.condition.map { ($0, r.location) } }
        for (condition, location) in conditions {
            let readsRaw = condition.alternatives.joined().contains { term in
                term.criteria.contains { c in
                    let raw = HAProxySamples.readsRawBytes(ACLParser.keyword(c))
                    return raw.request || raw.response
                }
            }
            guard readsRaw, let location else { continue }
            s.warningRaw("Proxy '\(p.name)': L6 sample fetches ignored on HTTP proxies (declared at \(location)).", at: location)
        }
    }

    /// `default_backend` and `use_backend` targets: exist, not a loop, compatible mode.
    static func checkSwitching(_ s: ParserState, _ index: Int, _ backendNames: [String]) -> Bool {
        let p = s.proxies[index]
        guard p.isFrontend else { return false }
        var errors = false
        func incompatible(_ target: ProxySettings) -> Bool {
            target.mode != p.mode && !(p.mode == .tcp && target.mode == .http)
        }
        if let name = p.defaultBackend, name == p.name && p.isBackend {
            s.alertRaw("Proxy '\(p.name)': loop detected for default_backend: '\(name)'.", at: p.location)
            errors = true
        } else if let name = p.defaultBackend {
            if let t = s.backendIndex(named: name) {
                let target = s.proxies[t]
                if incompatible(target) {
                    s.alertRaw("\(p.mode.rawValue) \(word(p.capabilities)) '\(p.name)' (\(p.location)) tries to use incompatible \(target.mode.rawValue) \(word(target.capabilities)) '\(target.name)' (\(target.location)) as its default backend (see 'mode').",
                               at: p.location)
                    errors = true
                }
            } else {
                var message = "Proxy '\(p.name)': unable to find required default_backend: '\(name)'."
                if let sug = DidYouMean.suggest(name, among: backendNames) { message += " Did you mean '\(sug)' ?" }
                s.alertRaw(message, at: p.location)
                errors = true
            }
        }
        // A map file that cannot be read, said as HAProxy says it once the sections are read
        // (Runtime/MapFiles.swift).
        for rule in p.useBackendRules where rule.isDynamic {
            guard case let .success(format) = HTTPRuleParser.format(rule.backend) else { continue }
            for case .sample(let expression) in format.parts {
                if let problem = MapFiles.fileProblem(expression), let location = rule.location {
                    s.alertRaw("Parsing [\(location)]: failed to parse use_backend rule '\(rule.backend)' : failed to parse sample expression <\(expression)]> : \(problem).", at: location)
                    errors = true
                }
            }
        }
        for rule in p.useBackendRules where !rule.isDynamic {
            if let t = s.backendIndex(named: rule.backend) {
                let target = s.proxies[t]
                if incompatible(target) {
                    s.alertRaw("\(p.mode.rawValue) \(word(p.capabilities)) '\(p.name)' (\(p.location)) tries to use incompatible \(target.mode.rawValue) \(word(target.capabilities)) '\(target.name)' (\(target.location)) in a 'use_backend' rule (see 'mode').",
                               at: rule.location)
                    errors = true
                }
            } else {
                var message = "Proxy '\(p.name)': unable to find required use_backend: '\(rule.backend)'."
                if let sug = DidYouMean.suggest(rule.backend, among: backendNames) { message += " Did you mean '\(sug)' ?" }
                s.alertRaw(message, at: rule.location)
                errors = true
            }
        }
        return errors
    }

    /// The first server of each name, by backend index, built when a `track` needs it.
    struct ServerIndex {
        private var byBackend: [Int: [String: Int]] = [:]

        mutating func server(named name: String, inBackend t: Int, of s: ParserState) -> Int? {
            if let names = byBackend[t] { return names[name] }
            var names: [String: Int] = [:]
            for k in s.proxies[t].servers.indices where names[s.proxies[t].servers[k].name] == nil {
                names[s.proxies[t].servers[k].name] = k
            }
            byBackend[t] = names
            return names[name]
        }
    }

    /// Server checks of one backend: unique names, `track` targets, TLS verification.
    static func checkServers(_ s: ParserState, _ p: ProxySettings, _ serverIndex: inout ServerIndex) -> Bool {
        var errors = false
        var seen: [String: SourceLocation] = [:]
        for srv in p.servers {
            if let first = seen[srv.name] {
                s.alertRaw("parsing [\(srv.location)] : \(word(p.capabilities)) '\(p.name)', another server named '\(srv.name)' was already defined at line \(first.line), please use distinct names.",
                           at: srv.location)
                errors = true
            } else {
                seen[srv.name] = srv.location
            }
        }
        // `track [backend/]server`: the tracked server must exist and be checked.
        for srv in p.servers {
            guard let (backendName, serverName) = srv.trackedServer(ownBackend: p.name) else { continue }
            let prefix = "[\(srv.location)] : 'server \(p.name)/\(srv.name)' : "
            guard let t = s.backendIndex(named: backendName) else {
                s.alertRaw(prefix + "unable to find required proxy '\(backendName)' for tracking.", at: srv.location)
                errors = true
                continue
            }
            guard let k = serverIndex.server(named: serverName, inBackend: t, of: s) else {
                s.alertRaw(prefix + "unable to find required server '\(serverName)' for tracking.", at: srv.location)
                errors = true
                continue
            }
            // HAProxy's two rules, checked as it resolves the tracks in config order: the
            // tracked server has a check, an agent or a `track` of its own (a chain); and
            // following the tracks resolved so far (those of servers before this one) must
            // not lead back here.
            let tracked = s.proxies[t].servers[k]
            if !tracked.check.enabled && !tracked.agent.enabled && tracked.track == nil {
                s.alertRaw(prefix + "unable to use \(backendName)/\(serverName) for tracking as it does not have any check nor agent enabled.", at: srv.location)
                errors = true
                continue
            }
            let here = (s.backendIndex(named: p.name) ?? Int.max, p.servers.firstIndex { $0.name == srv.name } ?? 0)
            var step = (proxy: t, server: k)
            var loops = step.proxy == here.0 && step.server == here.1
            var steps = 0
            while !loops, steps < 10_000, (step.proxy, step.server) < here,
                  let (b, n) = s.proxies[step.proxy].servers[step.server].trackedServer(ownBackend: s.proxies[step.proxy].name) {
                steps += 1
                guard let nt = s.backendIndex(named: b), let nk = serverIndex.server(named: n, inBackend: nt, of: s) else { break }
                step = (nt, nk)
                loops = nt == here.0 && nk == here.1
            }
            if loops {
                // HAProxy names the looping server with the tracked server's backend.
                s.alertRaw(prefix + "unable to track \(backendName)/\(serverName) as it belongs to a tracking chain looping back to \(backendName)/\(srv.name).",
                           at: srv.location)
                errors = true
            }
        }
        // Client certificates are loaded after parsing, as HAProxy does.
        for srv in p.servers {
            guard let crt = srv.ssl.certificate else { continue }
            if !FileSystem.exists(crt) {
                s.alertRaw("[\(srv.location)] : 'server \(p.name)/\(srv.name)' : unable to stat SSL certificate from file '\(crt)' : No such file or directory.", at: srv.location)
                errors = true
            } else if FileSystem.kind(crt) == .file, let problem = BindParser.certificateProblem(crt) {
                s.alertRaw("[\(srv.location)] : 'server \(p.name)/\(srv.name)' : \(problem)", at: srv.location)
                errors = true
            }
        }
        // Servers reached over TLS must be verified unless told otherwise.
        // (HAProxy prepares TLS for `tcp-check connect ssl` rules even when they end up unused.)
        let tcpCheckSSL = p.healthCheck.tcpRules.contains {
            if case let .connect(_, _, ssl, _, _, _) = $0 { return ssl } else { return false }
        }
        for srv in p.servers where srv.ssl.enabled || srv.check.ssl == true || tcpCheckSSL {
            let verify = srv.ssl.verify.map { $0 == "required" } ?? s.global.sslServerVerifyRequired
            if verify && srv.ssl.caFile == nil {
                s.alertRaw("[\(srv.location)] : 'server \(p.name)/\(srv.name)' : verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.",
                           at: srv.location)
                errors = true
            }
        }
        return errors
    }

    /// Resolves server host names; returns false when one could not get an address.
    static func resolveServers(_ s: ParserState) -> Bool {
        var ok = true
        for pi in s.proxies.indices {
            let proxyName = s.proxies[pi].name
            for si in s.proxies[pi].servers.indices {
                var srv = s.proxies[pi].servers[si]
                guard srv.unixPath == nil, srv.addresses.isEmpty else { continue }
                var resolved = false
                // HAProxy warns when the system resolver failed and a later method took over.
                var libcFailed = false
                func fellBack(_ what: String) {
                    guard libcFailed else { return }
                    s.warningRaw("[\(srv.location)] : 'server \(proxyName)/\(srv.name)' : could not resolve address '\(srv.host)', \(what).",
                                 at: srv.location)
                }
                for method in srv.initAddr {
                    switch method {
                    case .last:
                        continue      // no server-state file
                    case .libc:
                        let found = AddressParser.resolve(srv.host)
                        if !found.isEmpty {
                            srv.addresses = found
                            resolved = true
                        } else {
                            libcFailed = true
                        }
                    case .none:
                        resolved = true
                        fellBack("disabling server")
                    case let .ip(ip):
                        srv.addresses = [ip]
                        resolved = true
                        fellBack("falling back to configured address")
                    }
                    if resolved { break }
                }
                if !resolved && srv.resolution.resolvers != nil {
                    // DNS will give it an address: until then it waits in MAINT (resolution).
                    do {
                        s.warningRaw("[\(srv.location)] : 'server \(proxyName)/\(srv.name)' : could not resolve address '\(srv.host)', disabling server.",
                                     at: srv.location)
                    }
                } else if !resolved && s.options.ignoreResolutionFailures {
                    s.warningRaw("[\(srv.location)] : 'server \(proxyName)/\(srv.name)' : could not resolve address '\(srv.host)', disabling server.",
                                 at: srv.location)
                    srv.disabled = true
                } else if !resolved {
                    s.alertRaw("[\(srv.location)] : 'server \(proxyName)/\(srv.name)' : could not resolve address '\(srv.host)'.",
                               at: srv.location)
                    ok = false
                }
                s.proxies[pi].servers[si] = srv
            }
        }
        return ok
    }
}
