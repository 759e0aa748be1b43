import Shared

/// `bind ADDR[,ADDR…] [options…]`.
enum BindParser {
    static let usage = "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments."

    /// Bind options with one argument (stored or refused) and without.
    static let withArgument: Set<String> = [
        "crt", "crt-list", "ca-file", "crl-file", "ciphers", "ciphersuites", "alpn", "npn", "curves", "ecdhe",
        "verify", "name", "id", "interface", "maxconn", "backlog", "mode", "user", "group", "uid", "gid",
        "process", "thread", "ssl-min-ver", "ssl-max-ver", "tcp-ut", "mss", "namespace", "nice", "level",
        "severity-output", "proto", "ca-ignore-err", "crt-ignore-err", "ca-sign-file", "ca-sign-pass",
        "ca-verify-file", "shards", "sigalgs", "client-sigalgs", "tls-ticket-keys",
    ]
    static let flags: Set<String> = [
        "ssl", "accept-proxy", "accept-netscaler-cip", "transparent", "v4v6", "v6only", "defer-accept", "tfo",
        "strict-sni", "no-sslv3", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13", "force-sslv3",
        "force-tlsv10", "force-tlsv11", "force-tlsv12", "force-tlsv13", "no-tls-tickets", "prefer-client-ciphers",
        "allow-0rtt", "no-ca-names", "generate-certificates", "expose-fd",
    ]

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard !l[1].isEmpty else {
            s.alert(l, usage)
            return
        }
        var binds: [BindSettings] = []
        for spec in l[1].split(separator: ",").map(String.init) {
            guard let more = addresses(s, l, spec) else { return }
            binds += more
        }
        var ssl = BindSSLSettings()
        ssl.options = s.global.sslDefaultBind.options
        ssl.ciphers = s.global.sslDefaultBind.ciphers
        ssl.cipherSuites = s.global.sslDefaultBind.cipherSuites
        ssl.curves = s.global.sslDefaultBind.curves
        var template = BindSettings(address: .unix(path: ""), written: "", location: l.location)
        let prefix = "'bind \(l[1])' in section '\(ctx.kind)'"
        var i = 2
        while i < l.count {
            let o = l[i]
            if flags.contains(o) {
                switch o {
                case "ssl": ssl.enabled = true
                case "accept-proxy": template.acceptProxy = true
                case "transparent": template.transparent = true
                case "v4v6": template.v4v6 = true
                case "v6only": template.v6only = true
                case "defer-accept": template.deferAccept = true
                case "tfo": template.tfo = true
                case "strict-sni": ssl.strictSNI = true
                case "accept-netscaler-cip", "generate-certificates", "expose-fd":
                    s.alert(l, "\(prefix) : '\(o)' is valid in HAProxy but not supported by proxyd yet.")
                    return
                default: ssl.options.append(o)
                }
                i += 1
                continue
            }
            guard withArgument.contains(o) else {
                var message = "\(prefix): unknown keyword '\(o)'"
                if let sug = DidYouMean.suggest(o, among: Array(withArgument) + Array(flags)) {
                    message += "; did you mean '\(sug)' maybe ?"
                } else {
                    message += "."
                }
                s.alert(l, message)
                return
            }
            guard i + 1 < l.count, !l[i + 1].isEmpty else {
                s.alert(l, o == "crt" ? "\(prefix) : 'crt' : missing certificate location" : "\(prefix) : '\(o)' : missing value.")
                return
            }
            let v = l[i + 1]
            switch o {
            case "crt":
                let path = s.resolve(v, base: s.global.crtBase)
                guard FileSystem.exists(path) || !TLSSetup.bundleFiles(path).isEmpty else {
                    s.alert(l, "\(prefix) : unable to stat SSL certificate from file '\(path)' : \(FileSystem.lastError()).")
                    return
                }
                if FileSystem.kind(path) == .file, let problem = certificateProblem(path) {
                    s.alert(l, "\(prefix) : \(problem)")
                    return
                }
                ssl.certificates.append(path)
            case "crt-list":
                // HAProxy 2.6 reads the list's own path as written (crt-base applies to the
                // certificates inside it, not to it).
                let path = v
                guard FileSystem.exists(path) else {
                    s.alert(l, "\(prefix) : 'crt-list' : cannot open file '\(path)' : No such file or directory")
                    return
                }
                ssl.certificateLists.append(path)
            case "ca-file":
                let path = s.resolve(v, base: s.global.caBase)
                if let why = caFileProblem(path) {
                    s.alertRaw("Couldn't open the ca-file '\(path)' (\(why)).", at: l.location)
                    s.alert(l, "\(prefix) : 'ca-file' : unable to load \(path)")
                    return
                }
                ssl.caFile = path
            case "crl-file":
                let path = s.resolve(v, base: s.global.caBase)
                guard FileSystem.exists(path) else {
                    s.alert(l, "\(prefix) : unable to load \(path).")
                    return
                }
                ssl.crlFile = path
            case "tls-ticket-keys":
                guard FileSystem.kind(v) == .file else {
                    s.alert(l, "\(prefix) : 'tls-ticket-keys' : failed to open file '\(v)'.")
                    return
                }
                ssl.ticketKeysFile = v
            case "ciphers": ssl.ciphers = v
            case "ciphersuites": ssl.cipherSuites = v
            case "alpn": ssl.alpn = v.split(separator: ",").map(String.init)
            case "npn": ssl.npn = v.split(separator: ",").map(String.init)
            case "curves": ssl.curves = v
            case "ecdhe": ssl.ecdhe = v
            case "verify":
                guard ["none", "optional", "required"].contains(v) else {
                    s.alert(l, "\(prefix) : 'verify' : unknown verify method '\(v)', only 'none', 'optional', and 'required' are supported")
                    return
                }
                ssl.verify = v
            case "ssl-min-ver", "ssl-max-ver":
                guard ["SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"].contains(v) else {
                    s.alert(l, "\(prefix) : '\(v)' : unknown ssl/tls version")
                    return
                }
                ssl.options.append("\(o) \(v)")
            case "name": template.name = v
            case "id":
                guard let n = ConfigUnits.integer(v), n > 0 else {
                    s.alert(l, "\(prefix) : custom id has to be > 0")
                    return
                }
                template.id = n
            case "interface": template.interface = v
            case "maxconn", "backlog":
                guard let n = ConfigUnits.integer(v) else {
                    s.alert(l, "\(prefix) : '\(o)' : invalid value \(v), must be >= 0")
                    return
                }
                if o == "maxconn" { template.maxconn = n } else { template.backlog = n }
            case "mode":
                guard let m = UInt32(v, radix: 8) else {
                    s.alert(l, "\(prefix) : '\(o)' : missing or invalid mode '\(v)' (octal integer expected)")
                    return
                }
                template.unixMode = m
            case "user": template.unixUser = v
            case "group": template.unixGroup = v
            case "uid": template.unixUID = UInt32(v)
            case "gid": template.unixGID = UInt32(v)
            case "process":
                s.warning(l, "\(prefix) : 'process \(v)' on 'bind' lines is deprecated and will be removed in 2.7.")
                template.thread = v
            case "thread": template.thread = v
            default:
                s.alert(l, "\(prefix) : '\(o)' is valid in HAProxy but not supported by proxyd yet.")
                return
            }
            i += 2
        }
        if ssl.enabled == false && !ssl.certificates.isEmpty {
            // HAProxy accepts crt without ssl (it is then unused); keep it.
        }
        for var b in binds {
            let address = b.address, written = b.written
            b = template
            b.address = address
            b.written = written
            b.location = l.location
            b.ssl = ssl
            p.binds.append(b)
        }
    }

    /// Why a CA file cannot be used (HAProxy's words), or nil: it must hold a certificate or a CRL.
    static func caFileProblem(_ path: String) -> String? {
        switch FileSystem.read(path) {
        case let .failure(e):
            return e.message
        case let .success(bytes):
            let text = String(decoding: bytes, as: UTF8.self)
            if text.contains("-----BEGIN CERTIFICATE-----") || text.contains("-----BEGIN TRUSTED CERTIFICATE-----")
                || text.contains("-----BEGIN X509 CRL-----") {
                return nil
            }
            return "no certificate or crl found"
        }
    }

    /// Checks a PEM certificate file as HAProxy loads it: a certificate, and a private key
    /// in the same file or in `FILE.key`. Returns HAProxy's message, or nil when fine.
    static func certificateProblem(_ path: String) -> String? {
        guard case let .success(bytes) = FileSystem.read(path) else {
            return "unable to load certificate from file '\(path)'."
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("-----BEGIN CERTIFICATE-----") || text.contains("-----BEGIN TRUSTED CERTIFICATE-----") else {
            return "unable to load certificate from file '\(path)'."
        }
        if text.contains("PRIVATE KEY-----") { return nil }
        if case let .success(key) = FileSystem.read(path + ".key"),
           String(decoding: key, as: UTF8.self).contains("PRIVATE KEY-----") {
            return nil
        }
        return "No Private Key found in '\(path).key'."
    }

    /// One comma-separated element: `[host]:port[-end]`, `/path`, `unix@path`, `abns@`, `fd@`.
    static func addresses(_ s: ParserState, _ l: ConfigLine, _ spec: String) -> [BindSettings]? {
        let loc = l.location
        if spec.hasPrefix("/") || spec.hasPrefix("unix@") {
            let path = spec.hasPrefix("unix@") ? String(spec.dropFirst(5)) : spec
            return [BindSettings(address: .unix(path: path), written: spec, location: loc)]
        }
        if spec.hasPrefix("abns@") {
            return [BindSettings(address: .abstract(name: String(spec.dropFirst(5))), written: spec, location: loc)]
        }
        if spec.hasPrefix("fd@") {
            guard let fd = Int32(spec.dropFirst(3)) else {
                s.alert(l, "'bind' : invalid address: '\(spec)'")
                return nil
            }
            return [BindSettings(address: .fileDescriptor(fd), written: spec, location: loc)]
        }
        var text = spec
        var family: Int? = nil
        for (prefix, fam) in [("ipv4@", 4), ("ipv6@", 6), ("tcp@", 0), ("tcp4@", 4), ("tcp6@", 6)] where text.hasPrefix(prefix) {
            text = String(text.dropFirst(prefix.count))
            family = fam
        }
        if text.hasPrefix("udp") {
            s.alert(l, "'bind' : dgram-type address not acceptable in '\(spec)'")
            return nil
        }
        if text.hasPrefix("quic") || text.hasPrefix("sockpair@") {
            s.alert(l, "'bind' : '\(spec)' : this address family is valid in HAProxy but not supported by proxyd yet.")
            return nil
        }
        guard let (host, portText) = AddressParser.splitHostPortText(text), let portText, !portText.isEmpty else {
            s.alert(l, "'bind' : missing port specification in '\(spec)'")
            return nil
        }
        // Port or range.
        var low: Int, high: Int
        var parts: [String] = []
        for part in portText.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false) {
            if let digits = AddressParser.leadingPortDigits(part) {
                parts.append(String(digits))
            } else if let bad = part.first {
                s.alert(l, "'bind' : invalid character '\(bad)' in port number '\(portText)' in '\(spec)'")
                return nil
            } else {
                parts.append("")
            }
        }
        guard let a = ConfigUnits.integer(parts[0]) else {
            s.alert(l, "'bind' : invalid port '\(parts[0])'")
            return nil
        }
        low = a
        high = a
        if parts.count == 2 {
            guard let b = ConfigUnits.integer(parts[1]) else {
                s.alert(l, "'bind' : invalid port '\(parts[1])'")
                return nil
            }
            high = b
        }
        guard (1...65535).contains(low) else { s.alert(l, "'bind' : invalid port '\(low)'"); return nil }
        guard (1...65535).contains(high) else { s.alert(l, "'bind' : invalid port '\(high)'"); return nil }
        guard low <= high else {
            s.alert(l, "'bind' : invalid port range '\(portText)'")
            return nil
        }
        var ip: IPAddress? = nil
        if !(host.isEmpty || host == "*") {
            let found = AddressParser.resolve(host, preferIPv6: family == 6)
            let filtered = found.filter { family == nil || family == 0 || (family == 6) == $0.isIPv6 }
            guard let first = filtered.first else {
                s.alert(l, "'bind' : invalid address: '\(host)' in '\(spec)'")
                return nil
            }
            ip = first
        } else if family == 6 {
            ip = .v6([UInt8](repeating: 0, count: 16))
        }
        return (low...high).map { port in
            BindSettings(address: .inet(host: ip, port: port), written: spec, location: loc)
        }
    }
}
