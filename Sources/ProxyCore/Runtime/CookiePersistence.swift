#if canImport(Glibc)
import Glibc  // sockaddr_in, in6_addr of a server address (dynamic cookies)
#endif
import NIOCore

/// What one request's persistence decided (issue 15), kept until its response.
struct PersistenceDecision {
    /// The server named by `use-server` or the cookie (HAProxy's SF_DIRECT): no cookie is
    /// inserted for it, and with `indirect` the server's own cookie is removed.
    var server: RuntimeServer?
    /// `ignore-persist` matched: the cookie is not used and none is inserted.
    var ignored = false
    /// HAProxy's log characters (3rd and 4th of `%tsc`): the request's cookie
    /// (`N`one, `I`nvalid, `D`own, `V`alid, `U`nused; `-` without `cookie`), then what
    /// became of the response's (`N`, `P`reserved, `D`eleted, `I`nserted, `R`ewritten).
    var requestFlag = UInt8(ascii: "-")
    var responseFlag = UInt8(ascii: "-")
    /// The dates the client's cookie carried (`NAME=VALUE|LAST|FIRST`), Unix seconds.
    var lastSeen: Int?
    var firstSeen: Int?
}

/// A backend's `cookie`, `use-server`, `force-persist`/`ignore-persist` and `option
/// persist`, compiled (issue 15). Read-only after start: shared by every event loop.
final class CookiePersistence: @unchecked Sendable {
    let settings: CookieSettings?
    private let name: [UInt8]
    private let servers: [RuntimeServer]
    /// `cookie VALUE` of each server, by index.
    private let serverCookies: [[UInt8]?]
    private let persistRules: [(kind: PersistRule.Kind, condition: CompiledCondition)]
    private let useServerRules: [(server: RuntimeServer, condition: CompiledCondition?)]
    private let persistWhileDown: Bool
    /// `option prefer-last-server`, when the session keeps its server connection to
    /// itself (`http-reuse never`) and `balance` does not hash: HAProxy 2.6 looks for the
    /// previous server among the session's own connections only, and under `http-reuse
    /// safe` an HTTP/1 connection goes back to the server's shared pool, so the option
    /// changes nothing there.
    private let preferLastServer: Bool

    init(_ proxy: ProxySettings, servers: [RuntimeServer], backends: [String: RuntimeBackend], current: RuntimeBackend) {
        let persistence = proxy.persistence
        settings = persistence.cookie
        name = Array((persistence.cookie?.name ?? "").utf8)
        self.servers = servers
        serverCookies = zip(proxy.servers, servers).map { settings, server in
            if let cookie = settings.cookie { return Array(cookie.utf8) }
            guard persistence.cookie?.dynamic == true, let key = persistence.dynamicCookieKey else { return nil }
            return Self.dynamicCookie(key: key, address: server.initialAddress)
        }
        persistRules = persistence.persistRules.map {
            ($0.kind, CompiledCondition($0.condition, backends: backends, currentBackend: current))
        }
        useServerRules = persistence.useServerRules.compactMap { rule in
            guard let server = servers.first(where: { $0.name == rule.server }) else { return nil }  // validated
            return (server, rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: current) })
        }
        persistWhileDown = persistence.persistWhileDown
        switch proxy.balance.algorithm {
        case .source, .uri, .urlParam, .header, .rdpCookie: preferLastServer = false
        default: preferLastServer = persistence.preferLastServer && proxy.httpReuse == .never
        }
    }

    /// `option prefer-last-server`: the server whose connection the client's previous
    /// request left idle, if it can take this one.
    func lastServer(_ previous: RuntimeServer?) -> RuntimeServer? {
        guard preferLastServer, let previous, servers.indices.contains(previous.index),
              servers[previous.index] === previous, previous.isUsable.load(ordering: .relaxed) else { return nil }
        return previous
    }

    /// HAProxy's `dynamic` cookie: XXH64 of the key, the server's IP address bytes and
    /// its port as 4 bytes in network order, written as 16 hex digits; none for a server
    /// that is not an IP address (a Unix socket).
    static func dynamicCookie(key: String, address: SocketAddress) -> [UInt8]? {
        var input = Array(key.utf8)
        switch address {
        case .v4(let a):
            withUnsafeBytes(of: a.address.sin_addr.s_addr) { input += $0 }  // already network order
        case .v6(let a):
            withUnsafeBytes(of: a.address.sin6_addr) { input += $0 }
        default:
            return nil
        }
        let port = UInt32(address.port ?? 0)
        input += [UInt8(port >> 24), UInt8((port >> 16) & 0xFF), UInt8((port >> 8) & 0xFF), UInt8(port & 0xFF)]
        let hex = String(XXHash64.hash(input), radix: 16)
        return Array((String(repeating: "0", count: 16 - hex.count) + hex).utf8)
    }

    /// Nothing to do for this backend.
    static func isNeeded(_ proxy: ProxySettings) -> Bool {
        proxy.persistence.cookie != nil || !proxy.persistence.persistRules.isEmpty
            || !proxy.persistence.useServerRules.isEmpty || proxy.persistence.preferLastServer
    }

    // MARK: the request

    /// Decides, before the balancer, whether the request goes to a given server; fills
    /// `rewrite` with the `Cookie` headers to send the server instead (cookie removed
    /// with `insert indirect`, server id removed with `prefix`). HAProxy's order:
    /// persist rules, then `use-server`, then the cookie.
    func decide(_ facts: RequestFacts, rewrite: inout HeadRewrite) -> PersistenceDecision {
        var decision = PersistenceDecision()
        var forced = false
        for rule in persistRules where rule.condition.evaluate(facts) {
            if rule.kind == .force { forced = true } else { decision.ignored = true }
            break
        }
        for rule in useServerRules where rule.condition?.evaluate(facts) ?? true {
            if rule.server.isUsable.load(ordering: .relaxed) || persistWhileDown || forced {
                decision.server = rule.server
                break
            }
        }
        guard let settings else { return decision }
        if logsFlags {
            decision.requestFlag = UInt8(ascii: "N")
            decision.responseFlag = UInt8(ascii: "N")  // also when no response comes
        }
        let cookieName = Array("cookie".utf8)
        for field in facts.headers {
            let isCookie = cookieName.withUnsafeBufferPointer { field.name.equalsCaseInsensitive(lowercased: $0, in: facts.bytes) }
            guard isCookie else { continue }
            let header = Array(facts.bytes[field.value.start..<field.value.end])
            var edits: [CookieCodec.Edit] = []
            for pair in CookieCodec.pairs(header) {
                guard header[pair.name].elementsEqual(name) else { edits.append(.keep); continue }
                let value = header[pair.value]
                let tilde = settings.mode == .prefix ? value.firstIndex(of: UInt8(ascii: "~")) : nil
                var id = tilde.map { value[..<$0] } ?? value
                if settings.mode != .prefix, let bar = value.firstIndex(of: UInt8(ascii: "|")) {
                    id = value[..<bar]
                    readDates(Array(value[(bar + 1)...]), into: &decision)
                }
                if decision.ignored || decision.server != nil {
                    if logsFlags { decision.requestFlag = UInt8(ascii: "U") }
                } else if let stale = staleness(&decision) {
                    if logsFlags { decision.requestFlag = stale }  // as if there were no cookie
                } else {
                    find(Array(id), forced: forced, into: &decision)
                }
                if let tilde {
                    edits.append(.value(Array(value[(tilde + 1)...])))
                } else if settings.mode == .insert && settings.indirect {
                    edits.append(.delete)
                } else {
                    edits.append(.keep)
                }
            }
            if let edited = CookieCodec.apply(edits, to: header) {
                let original = Array(facts.bytes[field.name.start..<field.name.end])
                rewrite.replace(lineAt: field.lineStart,
                                with: edited.isEmpty ? [] : original + Array(": ".utf8) + edited + [0x0D, 0x0A])
            }
        }
        return decision
    }

    /// `|LAST[|FIRST]` after a server's id: HAProxy's 4-second dates.
    private func readDates(_ text: [UInt8], into decision: inout PersistenceDecision) {
        if text.count >= 5, let last = CookieDate.decode(text[0..<5]), last > 0 { decision.lastSeen = last << 2 }
        if let bar = text.firstIndex(of: UInt8(ascii: "|")), text.count - bar > 5,
           let first = CookieDate.decode(text[(bar + 1)..<(bar + 6)]), first > 0 {
            decision.firstSeen = first << 2
        }
    }

    /// `O` for a cookie older than `maxlife`, `E` for one idle beyond `maxidle` (or dated
    /// more than a day ahead); nil when it still counts. A stale cookie's dates are dropped.
    private func staleness(_ decision: inout PersistenceDecision) -> UInt8? {
        let now = CookieDate.now()
        var flag: UInt8? = nil
        if let first = decision.firstSeen, let maxLife = settings?.maxLife, now - first > maxLife || first - now > 86400 {
            flag = UInt8(ascii: "O")
        } else if let last = decision.lastSeen, let maxIdle = settings?.maxIdle, now - last > maxIdle || last - now > 86400 {
            flag = UInt8(ascii: "E")
        }
        if flag != nil { decision.firstSeen = nil; decision.lastSeen = nil }
        return flag
    }

    /// The flags of a request answered before persistence was looked at (a rule's `deny`):
    /// no cookie seen, none set.
    var flagsWithoutDecision: (UInt8, UInt8) {
        logsFlags ? (UInt8(ascii: "N"), UInt8(ascii: "N")) : (UInt8(ascii: "-"), UInt8(ascii: "-"))
    }

    /// HAProxy logs the persistence flags only for a cookie with a mode or `indirect` (a
    /// bare `cookie NAME` that only reads leaves `--`).
    private var logsFlags: Bool { settings.map { $0.mode != .passive || $0.indirect } ?? false }

    /// The first server with this cookie value that may take the request; a match that
    /// is down is remembered (`D`) while the search goes on, as HAProxy does.
    private func find(_ id: [UInt8], forced: Bool, into decision: inout PersistenceDecision) {
        var sawDown = false
        for server in servers {
            guard let cookie = serverCookies[server.index], !cookie.isEmpty, cookie == id,
                  !server.isDeleted.load(ordering: .relaxed) else { continue }
            let up = server.isUsable.load(ordering: .relaxed)
            if up || persistWhileDown || forced {
                decision.server = server
                if logsFlags { decision.requestFlag = UInt8(ascii: up ? "V" : "D") }
                return
            }
            sawDown = true
        }
        guard logsFlags else { return }
        // An earlier occurrence of the cookie already said down, expired or old.
        if !sawDown, [UInt8(ascii: "D"), UInt8(ascii: "E"), UInt8(ascii: "O")].contains(decision.requestFlag) { return }
        decision.requestFlag = UInt8(ascii: sawDown ? "D" : "I")
    }

    // MARK: the response

    /// Edits the response's `Set-Cookie` headers of our name and inserts ours, as the
    /// mode says; returns the log's response flag.
    func editResponse(_ bytes: UnsafeRawBufferPointer, headers: [HTTPHeaderField], status: Int,
                      server: RuntimeServer?, method: HTTPMethod, decision: PersistenceDecision,
                      rewrite: inout HeadRewrite) -> UInt8 {
        guard let settings else { return UInt8(ascii: "-") }
        var flag = UInt8(ascii: "N")
        var found = false
        // A redispatch took the request elsewhere: the client learns its new server.
        let direct = decision.server != nil && decision.server === server
        let ownValue = server.flatMap { serverCookies[$0.index] }
        var pragma: [[UInt8]] = [], cacheControl: [[UInt8]] = []
        var hasExpires = false
        func named(_ field: HTTPHeaderField, _ lowercased: String) -> Bool {
            Array(lowercased.utf8).withUnsafeBufferPointer { field.name.equalsCaseInsensitive(lowercased: $0, in: bytes) }
        }
        for field in headers {
            let value = Array(bytes[field.value.start..<field.value.end])
            if named(field, "pragma") { pragma.append(value); continue }
            if named(field, "cache-control") { cacheControl.append(value); continue }
            if named(field, "expires") { hasExpires = true; continue }
            guard named(field, "set-cookie"), let pair = CookieCodec.setCookiePair(value),
                  value[pair.name].elementsEqual(name) else { continue }
            found = true
            flag = UInt8(ascii: "P")
            if settings.preserve { continue }
            if (server != nil && settings.mode == .insert) || (direct && settings.indirect) {
                rewrite.replace(lineAt: field.lineStart, with: [])
                flag = UInt8(ascii: "D")
                continue
            }
            guard let ownValue, settings.mode == .rewrite || settings.mode == .prefix else { continue }
            var edited = Array(value[..<pair.value.lowerBound])
            edited += settings.mode == .rewrite ? ownValue : ownValue + [UInt8(ascii: "~")] + value[pair.value]
            edited += value[pair.value.upperBound...]
            let original = Array(bytes[field.name.start..<field.name.end])
            rewrite.replace(lineAt: field.lineStart, with: original + Array(": ".utf8) + edited + [0x0D, 0x0A])
            flag = UInt8(ascii: "R")
        }
        // A client sent here by its cookie gets it again only to refresh its dates.
        let now = CookieDate.now()
        let refresh = ((settings.maxIdle != nil || decision.lastSeen != nil) && (decision.lastSeen.map { $0 - now < 0 } ?? true))
            || (settings.maxLife != nil && decision.firstSeen == nil)
            || (settings.maxLife == nil && decision.firstSeen != nil)
        if settings.mode == .insert, !(found && settings.preserve), let ownValue, !direct || refresh, !decision.ignored,
           !settings.postOnly || method == .post {
            var value = ownValue
            if settings.maxIdle != nil || settings.maxLife != nil {
                let stamp = (now + 3) >> 2  // as HAProxy rounds it
                value += [UInt8(ascii: "|")] + CookieDate.encode(stamp)
                if settings.maxLife != nil {
                    value += [UInt8(ascii: "|")] + CookieDate.encode(decision.firstSeen.map { $0 >> 2 } ?? stamp)
                }
            }
            rewrite.add(Array("Set-Cookie".utf8), CookieCodec.insertedCookie(settings, value: value))
            flag = UInt8(ascii: direct ? "U" : "I")
            if settings.noCache, CookieCodec.isCacheable(method: method, status: status, pragma: pragma,
                                                          cacheControl: cacheControl, hasExpires: hasExpires) {
                rewrite.add(Array("Cache-control".utf8), Array("private".utf8))
            }
        }
        return logsFlags ? flag : UInt8(ascii: "-")
    }
}

extension SessionLogRecord {
    /// What `option dontlog-normal` still logs, as HAProxy 2.6 judges it: a termination
    /// cause other than none or local, a retry, or a 5xx status.
    var endedInError: Bool {
        (cause != UInt8(ascii: "-") && cause != UInt8(ascii: "L")) || retries > 0 || status >= 500
    }
}
