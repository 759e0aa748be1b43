import Shared

/// `resolvers NAME` sections (HAProxy 2.6's DNS service discovery), with HAProxy's wording
/// for every mistake: `nameserver`, `parse-resolv-conf`, `resolve_retries`, `timeout
/// resolve|retry`, `hold EVENT TIME`, `accepted_payload_size`.
enum ResolversParser {
    typealias Handler = (ParserState, inout ResolversSettings, ConfigLine) -> Void

    static let table: [String: Handler] = [
        "nameserver": nameserver,
        "parse-resolv-conf": { s, r, l in
            r.parseResolvConf = true
            for server in resolvConfNameservers(location: l.location)
            where !r.nameservers.contains(where: { $0.name == server.name }) {
                r.nameservers.append(server)
            }
        },
        "resolve_retries": { s, r, l in
            guard l.count > 1, !l[1].isEmpty else {
                s.alert(l, "'resolve_retries' expects <nb> as argument.")
                return
            }
            r.resolveRetries = ControlCommands.atoi(l[1])  // HAProxy reads it with atoi()
        },
        "timeout": { s, r, l in
            guard l[1] == "resolve" || l[1] == "retry" else {
                s.alert(l, "'timeout' expects 'retry' or 'resolve' and <time> as arguments got '\(l[1])'.")
                return
            }
            guard let ms = time(s, l, value: l[2], what: "timeout \(l[1])") else { return }
            if l[1] == "resolve" { r.timeoutResolve = ms } else { r.timeoutRetry = ms }
        },
        "hold": { s, r, l in
            guard l.count > 2, !l[2].isEmpty else {
                s.alert(l, "'hold' expects an <event> and a <time> as arguments.")
                s.alertRaw("<event> can be either 'valid', 'nx', 'refused', 'timeout', or 'other'", at: l.location)
                return
            }
            let events: [String: WritableKeyPath<ResolversSettings.HoldTimes, Int>] = [
                "valid": \.valid, "nx": \.nx, "timeout": \.timeout, "refused": \.refused,
                "other": \.other, "obsolete": \.obsolete,
            ]
            guard let field = events[l[1]] else {
                s.alert(l, "'hold' unknown <event>: '\(l[1])', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'.")
                return
            }
            guard let ms = time(s, l, value: l[2], what: "hold") else { return }
            r.hold[keyPath: field] = ms
        },
        "accepted_payload_size": { s, r, l in
            guard l.count > 1, !l[1].isEmpty else {
                s.alert(l, "'accepted_payload_size' expects <nb> as argument.")
                return
            }
            let size = ControlCommands.atoi(l[1])
            guard (12...65535).contains(size) else {
                s.alert(l, "'accepted_payload_size' must be between 12 and 65535 inclusive (was \(l[1])).")
                return
            }
            r.acceptedPayloadSize = size
        },
    ]

    /// `resolvers NAME`: a new section (a second one of the same name stops the load).
    static func openSection(_ s: ParserState, _ l: ConfigLine) {
        guard l.count > 1, !l[1].isEmpty else {
            s.alert(l, "missing name for resolvers section.")
            s.abort = true
            return
        }
        if let bad = Loader.validName(l[1]) {
            s.alert(l, "character '\(bad)' is not permitted in 'resolvers' name '\(l[1])'.")
            s.abort = true
            return
        }
        if let other = s.resolvers.first(where: { $0.name == l[1] }) {
            s.alertRaw("Parsing [\(l.location)]: resolvers '\(l[1])' has same name as another resolvers (declared at \(other.location)).",
                       at: l.location)
            s.abort = true
            return
        }
        s.resolvers.append(ResolversSettings(name: l[1], location: l.location))
        s.section = .resolvers(s.resolvers.count - 1)
    }

    static func parseLine(_ s: ParserState, _ index: Int, _ l: ConfigLine) {
        // Refused by HAProxy 2.6 too, in these words (operators' configs still carry it);
        // outside the table, so that the keyword list does not offer it.
        if l.keyword == "resolution_pool_size" {
            s.alert(l, "'resolution_pool_size' directive is not supported anymore (it never appeared in a stable release).")
            return
        }
        guard let handler = table[l.keyword] else {
            s.alert(l, "unknown keyword '\(l.keyword)' in 'resolvers' section")
            return
        }
        handler(s, &s.resolvers[index], l)
    }

    /// `nameserver ID ADDR:PORT` (UDP; `udp@` is the same; `tcp@` for DNS over TCP).
    static func nameserver(_ s: ParserState, _ r: inout ResolversSettings, _ l: ConfigLine) {
        guard l.count > 2, !l[1].isEmpty, !l[2].isEmpty else {
            s.alert(l, "'nameserver' expects <name> and <addr>[:<port>] as arguments.")
            return
        }
        if let other = r.nameservers.first(where: { $0.name == l[1] }) {
            s.alertRaw("Parsing [\(l.location)]: nameserver '\(l[1])' has same name as another nameserver (declared at \(other.location)).",
                       at: l.location)
            return
        }
        var text = l[2]
        for prefix in ["udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"] where text.hasPrefix(prefix) {
            text = String(text.dropFirst(prefix.count))
        }
        var overTCP = false
        for prefix in ["tcp@", "tcp4@", "tcp6@"] where text.hasPrefix(prefix) {
            text = String(text.dropFirst(prefix.count))
            overTCP = true
        }
        guard let (host, port) = AddressParser.splitHostPortText(text), let port, !port.isEmpty else {
            s.alert(l, "'nameserver \(l[1])' : missing port specification in '\(l[2])'")
            return
        }
        guard let number = ConfigUnits.integer(port), (1...65535).contains(number) else {
            s.alert(l, "'nameserver \(l[1])' : invalid port '\(port)'")
            return
        }
        guard let address = AddressParser.resolve(host).first else {
            s.alert(l, "'nameserver \(l[1])' : could not resolve address '\(host)'.")
            return
        }
        r.nameservers.append(.init(name: l[1], address: address, port: number, location: l.location, overTCP: overTCP))
    }

    /// A delay, with HAProxy's wording when it is not one.
    static func time(_ s: ParserState, _ l: ConfigLine, value: String, what: String) -> Int? {
        guard !value.isEmpty else {
            s.alert(l, "'\(what)' expects <time> as argument.")
            return nil
        }
        switch s.timer(l, value) {
        case let .success(ms): return ms
        case let .failure(.unexpectedCharacter(c)):
            s.alertRaw("parsing [\(l.location)]: unexpected character '\(c)' in argument to <\(what)>.", at: l.location)
        case .failure(.overflow):
            s.alertRaw("parsing [\(l.location)]: timer overflow in argument <\(value)> to <\(what)>, maximum value is 2147483647 ms (~24.8 days).",
                       at: l.location)
        case .failure(.empty):
            s.alert(l, "'\(what)' expects <time> as argument.")
        }
        return nil
    }

    /// The `nameserver` lines of /etc/resolv.conf, each named by its address (as HAProxy
    /// labels them), port 53.
    static func resolvConfNameservers(location: SourceLocation, path: String = "/etc/resolv.conf") -> [ResolversSettings.Nameserver] {
        guard !LoaderIsolation.enabled, case let .success(bytes) = FileSystem.read(path) else { return [] }
        var found: [ResolversSettings.Nameserver] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver", let ip = AddressParser.numericIP(String(words[1])) else { continue }
            found.append(.init(name: String(words[1]), address: ip, port: 53, location: location))
        }
        return found
    }

    /// After parsing: HAProxy 2.6's implicit `default` section (from /etc/resolv.conf,
    /// dropped when that gives no nameserver), the warning for an empty section, and every
    /// server's `resolvers` name checked.
    static func finish(_ s: ParserState) -> Bool {
        if !s.resolvers.contains(where: { $0.name == "default" }) {
            let here = SourceLocation(file: "/etc/resolv.conf", line: 0)
            var implicit = ResolversSettings(name: "default", location: here)
            implicit.parseResolvConf = true
            implicit.isImplicitDefault = true
            implicit.nameservers = resolvConfNameservers(location: here)
            if !implicit.nameservers.isEmpty { s.resolvers.append(implicit) }
        }
        for r in s.resolvers where r.nameservers.isEmpty {
            s.warningRaw("resolvers '\(r.name)' [\(r.location)] has no nameservers configured!", at: r.location)
        }
        var ok = true
        for proxy in s.proxies {
            for server in proxy.servers {
                guard let name = server.resolution.resolvers else { continue }
                if !s.resolvers.contains(where: { $0.name == name }) {
                    s.alertRaw("backend '\(proxy.name)', server '\(server.name)': unable to find required resolvers '\(name)'",
                               at: server.location)
                    ok = false
                }
            }
        }
        return ok
    }
}
