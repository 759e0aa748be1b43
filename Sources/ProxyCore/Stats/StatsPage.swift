import NIOCore

/// The statistics page of a proxy with `stats enable`: answers requests whose URI starts
/// with `stats uri`, after basic authentication when `stats auth` is set. HTML (one table
/// per proxy, no JavaScript), `;csv`, `;json`, `;norefresh`, `;up`, and the admin form
/// (`stats admin if …`) that drains, readies or puts servers in maintenance.
public final class StatsPage: @unchecked Sendable {
    let settings: StatsSettings
    let proxyName: String
    let context: StatsContext
    private let uri: [UInt8]
    /// `user:password` of each `stats auth`, compared in constant time.
    private let credentials: [[UInt8]]
    private let adminCondition: CompiledCondition?

    init(settings: StatsSettings, proxyName: String, context: StatsContext, plane: ControlPlane) {
        self.settings = settings
        self.proxyName = proxyName
        self.context = context
        self.uri = Array(settings.uri.utf8)
        self.credentials = settings.auth.map { Array("\($0.user):\($0.password)".utf8) }
        var backends: [String: RuntimeBackend] = [:]
        for backend in context.runtime.backends { backends[backend.name] = backend }
        self.adminCondition = settings.admin.map {
            CompiledCondition($0, backends: backends, currentBackend: context.runtime.backend(named: proxyName))
        }
    }

    /// The whole response for a stats request, or nil when the request is not for the page.
    func answer(_ facts: RequestFacts) -> ByteBuffer? {
        let target = facts.slice(facts.head.targetSpan)
        guard target.count >= uri.count, target.starts(with: uri) else { return nil }
        let reply = build(facts, target: target)
        // A HEAD request gets the headers only.
        guard facts.head.method == .head,
              let end = reply.readableBytesView.firstRange(of: [13, 10, 13, 10]) else { return reply }
        return reply.getSlice(at: reply.readerIndex, length: end.upperBound - reply.readableBytesView.startIndex) ?? reply
    }

    private func build(_ facts: RequestFacts, target: UnsafeRawBufferPointer) -> ByteBuffer {
        guard authorized(facts) else { return unauthorized() }
        let request = StatsRequestOptions(String(decoding: target[uri.count...], as: UTF8.self))
        let isAdmin = adminCondition?.evaluate(facts) ?? false
        if facts.head.method == .post {
            let body = UnsafeRawBufferPointer(rebasing: facts.bytes[min(facts.head.headLength, facts.bytes.count)...])
            let outcome = isAdmin ? applyAdminForm(String(decoding: body, as: UTF8.self)) : "DENY"
            return response(status: "303 See Other", contentType: nil, body: "",
                            extra: "location: \(settings.uri);st=\(outcome)\r\n")
        }
        if request.words.contains("csv") {
            let text = StatsFormat.csv(visibleRows(request))
            return response(status: "200 OK", contentType: "text/plain", body: text, refresh: !request.noRefresh)
        }
        if request.words.contains("json") {
            let text = StatsFormat.json(visibleRows(request))
            return response(status: "200 OK", contentType: "application/json", body: text, refresh: false)
        }
        let html = StatsHTML.render(self, request: request, isAdmin: isAdmin)
        return response(status: "200 OK", contentType: "text/html", body: html, refresh: !request.noRefresh)
    }

    /// `stats scope` limits the page to the proxies it names; a `scope` in the request
    /// further to those whose name contains it.
    func isVisible(_ proxyName: String, request: StatsRequestOptions) -> Bool {
        guard settings.scopes.isEmpty || settings.scopes.contains(proxyName) else { return false }
        guard let scope = request.scope, !scope.isEmpty else { return true }
        return proxyName.contains(scope)
    }

    func visibleRows(_ request: StatsRequestOptions) -> [StatRow] {
        context.proxies
            .filter { isVisible($0.name, request: request) }
            .flatMap { context.rows(of: $0, userLevel: true) }
            .filter { request.shows($0) }
    }

    // MARK: - Authentication

    private func authorized(_ facts: RequestFacts) -> Bool {
        guard !credentials.isEmpty else { return true }
        var presented: [UInt8]?
        _ = RequestFacts.forEachValue(of: Array("authorization".utf8), in: facts.bytes, headers: facts.headers,
                                      split: false) { value in
            let bytes = Array(value)
            if bytes.count > 6, bytes[..<6].map({ $0 | 0x20 }) == Array("basic ".utf8) {
                presented = Base64.decode(bytes[6...].drop { $0 == 0x20 })
            }
            return true
        }
        guard let presented else { return false }
        var matched = false
        for expected in credentials where Self.constantTimeEquals(presented, expected) { matched = true }
        return matched
    }

    /// Compares every byte whatever the first difference, so timing tells nothing.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let length = max(a.count, b.count)
        for i in 0..<length {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }

    private func unauthorized() -> ByteBuffer {
        let body = "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n"
        return response(status: "401 Unauthorized", contentType: "text/html", body: body, refresh: false,
                        extra: "www-authenticate: Basic realm=\"\(settings.realm)\"\r\n")
    }

    // MARK: - Admin form

    /// Applies `s=SERVER&…&action=ACTION&b=#IID`; answers HAProxy's `st=` code.
    func applyAdminForm(_ body: String) -> String {
        var servers: [String] = []
        var action = ""
        var backendRef = ""
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { Self.formDecode(String($0)) }
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "s": servers.append(parts[1])
            case "action": action = parts[1]
            case "b": backendRef = parts[1]
            default: break
            }
        }
        let proxy: StatsContext.Proxy?
        if backendRef.hasPrefix("#"), let id = Int(backendRef.dropFirst()) {
            proxy = context.proxy(id: id)
        } else {
            proxy = context.proxy(named: backendRef)
        }
        guard let proxy, let backend = proxy.backend, !action.isEmpty else { return "ERRP" }
        guard !servers.isEmpty else { return "NONE" }
        var done = 0
        for name in servers {
            guard let server = backend.servers.first(where: { $0.name == name }) else { continue }
            let change: ((inout ServerStatus) -> Void)?
            switch action {
            // The operator's state, with HAProxy's sentence (Runtime/AdminChanges.swift).
            case "ready", "drain", "maint":
                context.runtime.setAdmin(action == "ready" ? .ready : action == "drain" ? .drain : .maintenance,
                                         of: server, in: backend)
                done += 1
                continue
            case "dhlth": change = { $0.checksEnabled = false }
            case "ehlth": change = { $0.checksEnabled = true }
            case "hrunn": change = { $0.operationalUp = true }
            case "hdown": change = { $0.operationalUp = false }
            default: change = nil
            }
            guard let change else { return "ERRP" }
            context.runtime.updateServer(server, in: backend, change)
            done += 1
        }
        return done == servers.count ? "DONE" : done > 0 ? "PART" : "NONE"
    }

    static func formDecode(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "%"), utf8.count >= 2,
                      let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: - Responses

    private func response(status: String, contentType: String?, body: String, refresh: Bool = false,
                          extra: String = "") -> ByteBuffer {
        var head = "HTTP/1.1 \(status)\r\ncontent-length: \(body.utf8.count)\r\ncache-control: no-cache\r\n"
        if let contentType { head += "content-type: \(contentType)\r\n" }
        if refresh, let milliseconds = settings.refresh { head += "refresh: \(max(1, milliseconds / 1000))\r\n" }
        head += extra + "\r\n"
        var buffer = ByteBufferAllocator().buffer(capacity: head.utf8.count + body.utf8.count)
        buffer.writeString(head)
        buffer.writeString(body)
        return buffer
    }
}

/// What follows `stats uri` in a request: `;csv`, `;json`, `;up`, `;norefresh`, `;st=DONE`
/// and a scope, given as `;scope=NAME` or by the page's form as `?scope=NAME`.
struct StatsRequestOptions {
    var words: Set<String> = []
    var scope: String?

    init(_ suffix: String) {
        let parts = suffix.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        for word in (parts.first ?? "").split(separator: ";") {
            if word.hasPrefix("scope=") { scope = String(word.dropFirst(6)) } else { words.insert(String(word)) }
        }
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") where pair.hasPrefix("scope=") {
                scope = StatsPage.formDecode(String(pair.dropFirst(6)))
            }
        }
        // As HAProxy, a scope is at most 20 characters, and an empty one shows everything.
        scope = scope.map { String($0.prefix(20)) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    var upOnly: Bool { words.contains("up") }
    var noRefresh: Bool { words.contains("norefresh") }
    var message: String? { words.first { $0.hasPrefix("st=") }.map { String($0.dropFirst(3)) } }

    /// `;up` hides servers that are neither UP, unchecked nor draining.
    func shows(_ row: StatRow) -> Bool {
        guard upOnly, row.kind == .server, case .string(let status) = row["status"] else { return true }
        return status.hasPrefix("UP") || status == "no check" || status.hasPrefix("DRAIN")
    }
}

/// Base64 decoding for `Authorization: Basic` (RFC 4648, padding optional).
enum Base64 {
    static func decode<C: Collection>(_ input: C) -> [UInt8]? where C.Element == UInt8 {
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for c in input {
            let value: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="), 0x20, 0x09: continue
            default: return nil
            }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }
}
