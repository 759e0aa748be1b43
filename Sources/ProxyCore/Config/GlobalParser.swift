import Glibc
import Shared

/// The `global` section: a keyword table, keyword → parser.
enum GlobalParser {
    static let table: [String: GlobalKeyword] = [
        "daemon": { s, l in flag(s, l) { s.global.daemon = true } },
        "set-var": { s, l in VariableParser.parseGlobal(s, l) },
        "set-var-fmt": { s, l in VariableParser.parseGlobal(s, l) },
        // `master-worker [no-exit-on-failure]`, as -W; the option keeps the master up when a
        // worker dies instead of stopping everything (HAProxy 2.6).
        "master-worker": { s, l in
            s.global.masterWorker = true
            if l.count > 1 {
                if l[1] == "no-exit-on-failure" {
                    s.global.masterWorkerExitOnFailure = false
                } else {
                    s.alert(l, "'master-worker' only supports 'no-exit-on-failure' option.\n")
                }
            }
        },
        "mworker-max-reloads": { s, l in
            guard l.count > 1, let v = ConfigUnits.integer(l[1]), v >= 0 else {
                s.alert(l, "'mworker-max-reloads' expects an integer argument.\n")
                return
            }
            s.global.mworkerMaxReloads = v
        },
        "zero-warning": { s, l in flag(s, l) { s.global.zeroWarning = true } },
        "quiet": { s, l in flag(s, l) {} },
        "nbthread": { s, l in
            guard let v = ConfigUnits.integer(l[1]) else {
                s.alert(l, "'nbthread' passed a missing or unparsable integer value in '\(l[1])'")
                return
            }
            guard (1...Validation.maxThreads).contains(v) else {
                s.alert(l, "'nbthread' value must be between 1 and \(Validation.maxThreads) (was \(v))")
                return
            }
            s.global.nbthread = v
        },
        "maxconn": { s, l in
            if s.global.maxconn != nil { s.alertNonFatal(l, "'maxconn' already specified. Continuing."); return }
            guard let v = ConfigUnits.integer(l[1]) else {
                s.alert(l, "'maxconn' expects an integer argument.")
                return
            }
            s.global.maxconn = v
        },
        "ulimit-n": { s, l in
            guard let v = ConfigUnits.integer(l[1]) else {
                s.alert(l, "'ulimit-n' expects an integer argument.")
                return
            }
            s.global.ulimitN = v
        },
        "pidfile": { s, l in
            if s.global.pidfile != nil { s.alertNonFatal(l, "'pidfile' already specified. Continuing."); return }
            guard !l[1].isEmpty else { s.alert(l, "'pidfile' expects a file name as an argument."); return }
            s.global.pidfile = l[1]
        },
        "server-state-base": { s, l in
            if s.global.serverStateBase != nil { s.alertNonFatal(l, "'server-state-base' already specified. Continuing."); return }
            guard !l[1].isEmpty else { s.alert(l, "'server-state-base' expects one argument: a directory path."); return }
            s.global.serverStateBase = l[1]
        },
        "server-state-file": { s, l in
            if s.global.serverStateFile != nil { s.alertNonFatal(l, "'server-state-file' already specified. Continuing."); return }
            guard !l[1].isEmpty else { s.alert(l, "'server-state-file' expects one argument: a file path."); return }
            s.global.serverStateFile = l[1]
        },
        "nosplice": { s, l in s.global.noSplice = true },
        "chroot": { s, l in
            if s.global.chroot != nil { s.alertNonFatal(l, "'chroot' already specified. Continuing."); return }
            guard !l[1].isEmpty else { s.alert(l, "'chroot' expects a directory as an argument."); return }
            s.global.chroot = l[1]
        },
        "user": { s, l in
            if s.global.uid != nil { s.alertNonFatal(l, "user/uid already specified. Continuing."); return }
            errno = 0
            guard !l[1].isEmpty, let pw = getpwnam(l[1]) else {
                s.alert(l, "cannot find user id for '\(l[1])' (\(errno):\(String(cString: strerror(errno))))")
                return
            }
            s.global.user = l[1]
            s.global.uid = pw.pointee.pw_uid
        },
        "group": { s, l in
            if s.global.gid != nil { s.alertNonFatal(l, "gid/group was already specified. Continuing."); return }
            errno = 0
            guard !l[1].isEmpty, let gr = getgrnam(l[1]) else {
                s.alert(l, "cannot find group id for '\(l[1])' (\(errno):\(String(cString: strerror(errno))))")
                return
            }
            s.global.group = l[1]
            s.global.gid = gr.pointee.gr_gid
        },
        "uid": { s, l in
            guard let v = ConfigUnits.integer(l[1]), v <= Int(UInt32.max) else {
                s.warning(l, " uid: string '\(l[1])' is not a number.\n   | You might want to use the 'user' parameter to use a system user name.")
                return
            }
            s.global.uid = UInt32(v)
        },
        "gid": { s, l in
            guard let v = ConfigUnits.integer(l[1]), v <= Int(UInt32.max) else {
                s.warning(l, " gid: string '\(l[1])' is not a number.\n   | You might want to use the 'group' parameter to use a system group name.")
                return
            }
            s.global.gid = UInt32(v)
        },
        "log": { s, l in
            if l[1] == "global" && l.count == 2 {
                s.alert(l, "log : 'global' is not supported for a global syslog server")
                return
            }
            if let t = LogParser.parse(s, l) { s.global.logs.append(t) }
        },
        "log-tag": { s, l in
            guard !l[1].isEmpty else { s.alert(l, "'log-tag' expects a tag for use in syslog."); return }
            s.global.logTag = l[1]
        },
        "log-send-hostname": { s, l in s.global.logSendHostname = l[1] },
        "stats": { s, l in stats(s, l) },
        "ca-base": { s, l in
            guard !l[1].isEmpty else { s.alert(l, "global statement 'ca-base' expects a directory path as an argument."); return }
            if s.global.caBase != nil { s.alert(l, "'ca-base' already specified."); return }
            s.global.caBase = l[1]
        },
        "crt-base": { s, l in
            guard !l[1].isEmpty else { s.alert(l, "global statement 'crt-base' expects a directory path as an argument."); return }
            if s.global.crtBase != nil { s.alert(l, "'crt-base' already specified."); return }
            s.global.crtBase = l[1]
        },
        "ssl-default-bind-ciphers": { s, l in
            if let v = oneArg(s, l, "a cipher suite") { s.global.sslDefaultBind.ciphers = v }
        },
        "ssl-default-bind-ciphersuites": { s, l in
            if let v = oneArg(s, l, "a cipher suite") { s.global.sslDefaultBind.cipherSuites = v }
        },
        "ssl-default-server-ciphers": { s, l in
            if let v = oneArg(s, l, "a cipher suite") { s.global.sslDefaultServer.ciphers = v }
        },
        "ssl-default-server-ciphersuites": { s, l in
            if let v = oneArg(s, l, "a cipher suite") { s.global.sslDefaultServer.cipherSuites = v }
        },
        "ssl-default-bind-curves": { s, l in
            if let v = oneArg(s, l, "a curve list") { s.global.sslDefaultBind.curves = v }
        },
        "ssl-default-bind-options": { s, l in
            if let o = sslOptions(s, l) { s.global.sslDefaultBind.options.append(contentsOf: o) }
        },
        "ssl-default-server-options": { s, l in
            if let o = sslOptions(s, l) { s.global.sslDefaultServer.options.append(contentsOf: o) }
        },
        "ssl-server-verify": { s, l in
            switch l[1] {
            case "none": s.global.sslServerVerifyRequired = false
            case "required": s.global.sslServerVerifyRequired = true
            default: s.alert(l, "'ssl-server-verify' expects 'none' or 'required' as argument.")
            }
        },
        "tune.bufsize": { s, l in
            guard let v = ConfigUnits.integer(l[1]), v > 0 else {
                s.alert(l, "'tune.bufsize' expects a positive integer argument.")
                return
            }
            s.global.bufferSize = v
        },
        "tune.maxrewrite": { s, l in
            guard let v = ConfigUnits.integer(l[1]) else {
                s.alert(l, "'tune.maxrewrite' expects an integer argument.")
                return
            }
            s.global.maxRewrite = v
        },
        "tune.ssl.default-dh-param": { s, l in
            guard let v = ConfigUnits.integer(l[1]), v >= 1024 else {
                s.alert(l, "'tune.ssl.default-dh-param' expects a value >= 1024.")
                return
            }
            s.global.sslDefaultDHParam = v
        },
        "node": { s, l in
            guard !l[1].isEmpty, Loader.validName(l[1]) == nil, !l[1].contains(":") else {
                s.alertRaw("parsing [\(l.location)]: 'node' requires valid node name - non-empty string with digits(0-9), letters(A-Z, a-z), dot(.), hyphen(-) or underscode(_).", at: l.location)
                return
            }
            s.global.node = l[1]
        },
        "description": { s, l in
            guard l.count > 1 else {
                s.alertRaw("parsing [\(l.location)]: 'description' expects a string argument.", at: l.location)
                return
            }
            s.global.description = l.words[1...].joined(separator: " ")
        },
        "spread-checks": { s, l in
            guard let v = ConfigUnits.integer(l[1]), v <= 50 else {
                s.alertRaw("parsing [\(l.location)]: 'spread-checks' needs a positive value in range 0..50.", at: l.location)
                return
            }
            s.global.spreadChecks = v
        },
        "hard-stop-after": { s, l in
            switch s.timer(l, l[1]) {
            case let .success(v): s.global.hardStopAfter = v
            case let .failure(.unexpectedCharacter(c)): s.alert(l, "unexpected character '\(c)' in argument to <hard-stop-after>.\n")
            case .failure: s.alert(l, "'hard-stop-after' expects <time> as argument.\n")
            }
        },
        // HAProxy 2.5 moved `grace` from the proxies to global: how long a stopping process
        // keeps accepting before its listeners close. proxyd also tells HA subscribers
        // (Control/HAHub) how long it will wait for them.
        "grace": { s, l in
            switch s.timer(l, l[1]) {
            case let .success(v): s.global.grace = v
            case let .failure(.unexpectedCharacter(c)): s.alert(l, "unexpected character '\(c)' in argument to <grace>.\n")
            case .failure: s.alert(l, "'grace' expects <time> as argument.\n")
            }
        },
        "setenv": { s, l in
            guard l.count == 3 else { s.alert(l, "'\(l.keyword)' expects exactly two arguments."); return }
            s.environment[l[1]] = l[2]
        },
        "presetenv": { s, l in
            guard l.count == 3 else { s.alert(l, "'\(l.keyword)' expects exactly two arguments."); return }
            if s.environment[l[1]] == nil { s.environment[l[1]] = l[2] }
        },
        "unsetenv": { s, l in
            guard l.count >= 2 else { s.alert(l, "'\(l.keyword)' expects at least one argument."); return }
            for name in l.words.dropFirst() { s.environment[name] = nil }
        },
        "resetenv": { s, l in
            let keep = Set(l.words.dropFirst())
            s.environment = s.environment.filter { keep.contains($0.key) }
        },
        "localpeer": { s, l in PeersParser.parseLocalPeer(s, l) },
        "nbproc": { s, l in
            s.alert(l, "nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available.")
        },
    ]

    /// Valid HAProxy 2.6 global keywords proxyd does not implement (errors, never ignored).
    static let unsupported: [String] = [
        "external-check",
        "lua-load", "lua-load-per-thread", "lua-prepend-path",
        "maxconnrate", "maxcomprate", "maxcompcpuusage", "maxpipes", "maxsessrate", "maxsslconn", "maxsslrate",
        "maxzlibmem", "noepoll", "nokqueue", "noevports", "nopoll", "nogetaddrinfo", "noreuseport",
        "profiling.tasks", "set-dumpable",        "ssl-mode-async", "ssl-dh-param-file", "ssl-load-extra-files", "ssl-load-extra-del-ext",
                "ssl-skip-self-issued-ca",
        "strict-limits", "thread-group", "thread-groups", "unix-bind",
        "h1-case-adjust", "h1-case-adjust-file",
        "busy-polling", "expose-experimental-directives", "issuers-chain-path",
        "numa-cpu-mapping", "pp2-never-send-local", "httpclient.ssl.verify",
        "httpclient.ssl.ca-file", "httpclient.resolvers.id", "httpclient.resolvers.prefer",
        "cluster-secret", "default-path", "h1-accept-payload-with-any-method",
        "ssl-propquery", "ssl-provider", "ssl-provider-path",
    ]

    /// Performance and platform knobs that do not change behaviour: warned about and ignored
    /// (as `tune.*`).
    static let performanceKnobs: Set<String> = [
        "cpu-map", "busy-polling", "noepoll", "nopoll", "nogetaddrinfo", "noreuseport",
        "maxpipes", "profiling.tasks", "numa-cpu-mapping", "strict-limits", "set-dumpable", "ssl-mode-async",
        "nokqueue", "noevports", "thread-groups", "thread-group", "maxzlibmem", "maxcompcpuusage",
        "maxcomprate", "close-spread-time", "no-memory-trimming", "fd-hard-limit", "max-spread-checks",
        "insecure-fork-wanted", "insecure-setuid-wanted",
    ]

    /// HAProxy 2.6's `tune.*` keywords: warned about and ignored unless parsed above; any
    /// other `tune.*` word is an unknown keyword, as in HAProxy.
    static let tuneKeywords: Set<String> = [
        "tune.buffers.limit", "tune.buffers.reserve", "tune.bufsize", "tune.comp.maxlevel", "tune.fail-alloc",
        "tune.fd.edge-triggered", "tune.h2.header-table-size", "tune.h2.initial-window-size",
        "tune.h2.max-concurrent-streams", "tune.h2.max-frame-size", "tune.http.cookielen", "tune.http.logurilen",
        "tune.http.maxhdr", "tune.idle-pool.shared", "tune.idletimer", "tune.listener.multi-queue",
        "tune.lua.forced-yield", "tune.lua.maxmem", "tune.lua.service-timeout", "tune.lua.session-timeout",
        "tune.lua.task-timeout", "tune.maxaccept", "tune.maxpollevents", "tune.maxrewrite",
        "tune.pattern.cache-size", "tune.peers.max-updates-at-once", "tune.pipesize", "tune.pool-high-fd-ratio",
        "tune.pool-low-fd-ratio", "tune.rcvbuf.client", "tune.rcvbuf.server", "tune.recv_enough",
        "tune.runqueue-depth", "tune.sched.low-latency", "tune.sndbuf.client", "tune.sndbuf.server",
        "tune.ssl.cachesize", "tune.ssl.capture-buffer-size", "tune.ssl.capture-cipherlist-size",
        "tune.ssl.default-dh-param", "tune.ssl.force-private-cache", "tune.ssl.hard-maxrecord", "tune.ssl.keylog",
        "tune.ssl.lifetime", "tune.ssl.maxrecord", "tune.ssl.ssl-ctx-cache-size", "tune.vars.check-max-size",
        "tune.vars.global-max-size", "tune.vars.proc-max-size", "tune.vars.reqres-max-size",
        "tune.vars.sess-max-size", "tune.vars.txn-max-size", "tune.chksize",
    ]

    /// Keywords taking at most this many arguments (HAProxy's "cannot handle unexpected argument").
    static let maxArguments: [String: Int] = [
        "chroot": 1, "pidfile": 1, "server-state-base": 1, "server-state-file": 1, "ca-base": 1, "crt-base": 1, "ssl-default-bind-ciphers": 1,
        "ssl-default-bind-ciphersuites": 1, "ssl-default-server-ciphers": 1, "ssl-default-server-ciphersuites": 1,
        "user": 1, "group": 1, "node": 1, "nbthread": 1, "maxconn": 1, "ulimit-n": 1, "uid": 1, "gid": 1,
        "log-tag": 1, "spread-checks": 1, "ssl-server-verify": 1, "tune.bufsize": 1, "tune.maxrewrite": 1,
        "master-worker": 1, "zero-warning": 0, "quiet": 0, "daemon": 0, "tune.ssl.default-dh-param": 1,
    ]

    static func parse(_ state: ParserState, _ line: ConfigLine) {
        let kw = line.keyword
        if let max = maxArguments[kw], line.count > max + 1 {
            state.alert(line, "'\(kw)' cannot handle unexpected argument '\(line[max + 1])'.")
            return
        }
        if let handler = table[kw] {
            handler(state, line)
            return
        }
        if tuneKeywords.contains(kw) || performanceKnobs.contains(kw) {
            state.global.tunables[kw] = line.words.dropFirst().joined(separator: " ")
            state.warning(line, "'\(kw)' is not supported by proxyd yet and is ignored.")
            return
        }
        if unsupported.contains(kw) {
            state.alert(line, "'\(kw)' is a valid HAProxy keyword in 'global' section, but proxyd does not support it yet.")
            return
        }
        var message = "unknown keyword '\(kw)' in 'global' section"
        if let s = DidYouMean.suggest(kw, among: Array(table.keys) + unsupported + Array(tuneKeywords) + Array(performanceKnobs)
                                        + Loader.sectionKeywords) {
            message += "; did you mean '\(s)' maybe ?"
        }
        state.alert(line, message)
    }

    static func flag(_ s: ParserState, _ l: ConfigLine, _ apply: () -> Void) {
        if l.count > 1 {
            s.alert(l, "'\(l.keyword)' cannot handle unexpected argument '\(l[1])'.")
            return
        }
        apply()
    }

    static func oneArg(_ s: ParserState, _ l: ConfigLine, _ what: String) -> String? {
        guard !l[1].isEmpty else {
            s.alert(l, "global statement '\(l.keyword)' expects \(what) as an argument.")
            return nil
        }
        return l[1]
    }

    static let knownSSLOptions: Set<String> = [
        "no-sslv3", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13", "force-sslv3", "force-tlsv10",
        "force-tlsv11", "force-tlsv12", "force-tlsv13", "no-tls-tickets", "prefer-client-ciphers",
        "ssl-min-ver", "ssl-max-ver", "no-ca-names", "allow-0rtt", "strict-sni",
    ]

    static func sslOptions(_ s: ParserState, _ l: ConfigLine) -> [String]? {
        guard l.count > 1 else {
            s.alert(l, "global statement '\(l.keyword)' expects an option as an argument.")
            return nil
        }
        var out: [String] = []
        var i = 1
        while i < l.count {
            let o = l[i]
            guard knownSSLOptions.contains(o) else {
                s.alert(l, "unknown option '\(o)' on global statement '\(l.keyword)'.")
                return nil
            }
            if o == "ssl-min-ver" || o == "ssl-max-ver" {
                let v = l[i + 1]
                guard ["SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"].contains(v) else {
                    s.alert(l, "'\(v)' : unknown ssl/tls version on global statement '\(l.keyword)'.")
                    return nil
                }
                out.append(o + " " + v)
                i += 2
                continue
            }
            out.append(o)
            i += 1
        }
        return out
    }

    static func stats(_ s: ParserState, _ l: ConfigLine) {
        switch l[1] {
        case "socket":
            guard !l[2].isEmpty else {
                s.alert(l, "'stats socket' in global section expects an address or a path to a UNIX socket")
                return
            }
            guard let address = AddressParser.listenAddress(l[2]) else {
                if !l[2].contains(":") {
                    // Neither a path nor host:port: HAProxy reads it as an address without port.
                    s.alert(l, "parsing [\(l.location)] : 'stats socket' : missing port specification in '\(l[2])'\n")
                } else {
                    s.alert(l, "'stats socket' : invalid address: '\(l[2])'")
                }
                return
            }
            var sock = StatsSocket(address: address, location: l.location)
            var i = 3
            while i < l.count {
                let o = l[i]
                let v = l[i + 1]
                switch o {
                case "mode":
                    guard let m = UInt32(v, radix: 8) else { s.alert(l, "'stats socket' : ''\(o)' : missing or invalid mode '\(v)' (octal integer expected)'"); return }
                    sock.mode = m
                    i += 2
                case "level":
                    guard let lv = StatsSocket.Level(rawValue: v) else {
                        s.alert(l, "'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got '\(v)')'")
                        return
                    }
                    sock.level = lv
                    i += 2
                case "expose-fd":
                    guard !v.isEmpty else {
                        s.alert(l, "'stats socket' : ''expose-fd' : missing fd type'")
                        return
                    }
                    guard v == "listeners" else {
                        s.alert(l, "'stats socket' : ''expose-fd' only supports 'listeners' (got '\(v)')'")
                        return
                    }
                    sock.exposeListenerFDs = true
                    i += 2
                case "user": sock.user = v; i += 2
                case "group": sock.group = v; i += 2
                case "uid":
                    guard let n = UInt32(v) else { s.alert(l, "'stats socket' : 'uid' expects an integer argument"); return }
                    sock.uid = n; i += 2
                case "gid":
                    guard let n = UInt32(v) else { s.alert(l, "'stats socket' : 'gid' expects an integer argument"); return }
                    sock.gid = n; i += 2
                case "process", "thread", "name", "id", "maxconn", "backlog":
                    i += 2
                case "accept-netscaler", "accept-proxy", "transparent", "v4v6", "v6only":
                    i += 1
                default:
                    var message = "'stats socket' : unknown keyword '\(o)'."
                    let candidates = Array(BindParser.withArgument) + Array(BindParser.flags)
                    if let sug = DidYouMean.suggest(o, among: candidates) { message += " Did you mean '\(sug)' maybe ?" }
                    s.alert(l, message)
                    return
                }
            }
            s.global.statsSockets.append(sock)
        case "timeout":
            switch s.timer(l, l[2]) {
            case let .success(v) where v > 0:
                s.global.statsTimeout = v
            case let .failure(.unexpectedCharacter(c)):
                s.alert(l, "'stats timeout' : unexpected character '\(c)'")
            default:
                s.alert(l, "'stats timeout' expects a positive value")
            }
        case "bind-process":
            // HAProxy 2.6 still accepts it, without effect since it runs one process; so
            // does proxyd.
            break
        case "maxconn":
            guard let v = ConfigUnits.integer(l[2]), v > 0 else {
                s.alert(l, "'stats maxconn' expects a positive value")
                return
            }
            s.global.statsMaxconn = v
        default:
            s.alert(l, "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '\(l[1])')")
        }
    }
}
