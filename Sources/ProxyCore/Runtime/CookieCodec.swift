/// The `Cookie` and `Set-Cookie` header values cookie persistence reads and edits
/// (issue 15), as bytes: `a=1; SRV=b2; c=3` splits at `;` into pairs whose names and
/// values are trimmed of spaces; kept pairs go back as they were written, joined by `; `.
enum CookieCodec {
    struct Pair: Equatable {
        /// Offsets in the header value: `name` up to `=` (trimmed), `value` after it.
        var name: Range<Int>
        var value: Range<Int>
        /// The whole pair as written, `name=value`.
        var text: Range<Int> { name.lowerBound..<value.upperBound }
    }

    /// Every `name=value` pair of a `Cookie` header value (a pair without `=` has an
    /// empty value at its end).
    static func pairs(_ header: [UInt8]) -> [Pair] {
        var out: [Pair] = []
        var start = 0
        while start < header.count {
            let end = header[start...].firstIndex(of: UInt8(ascii: ";")) ?? header.count
            if let pair = pair(header, start, end) { out.append(pair) }
            start = end + 1
        }
        return out
    }

    /// The first pair of a `Set-Cookie` value (what follows the first `;` are attributes).
    static func setCookiePair(_ header: [UInt8]) -> Pair? {
        pair(header, 0, header.firstIndex(of: UInt8(ascii: ";")) ?? header.count)
    }

    private static func pair(_ bytes: [UInt8], _ start: Int, _ end: Int) -> Pair? {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        var a = start, b = end
        while a < b, isSpace(bytes[a]) { a += 1 }
        while b > a, isSpace(bytes[b - 1]) { b -= 1 }
        guard a < b else { return nil }
        guard let equals = bytes[a..<b].firstIndex(of: UInt8(ascii: "=")) else {
            return Pair(name: a..<b, value: b..<b)
        }
        var nameEnd = equals
        while nameEnd > a, isSpace(bytes[nameEnd - 1]) { nameEnd -= 1 }
        var valueStart = equals + 1
        while valueStart < b, isSpace(bytes[valueStart]) { valueStart += 1 }
        return Pair(name: a..<nameEnd, value: valueStart..<b)
    }

    /// What becomes of one pair of a request's `Cookie` header.
    enum Edit: Equatable {
        case keep
        case delete
        /// The pair's value becomes these bytes (`prefix` mode takes the server's id off).
        case value([UInt8])
    }

    /// The header value after `edits` (one per pair of `pairs(header)`), or nil when
    /// nothing changed; an empty result means the whole header goes.
    static func apply(_ edits: [Edit], to header: [UInt8]) -> [UInt8]? {
        guard edits.contains(where: { $0 != .keep }) else { return nil }
        var out: [UInt8] = []
        for (pair, edit) in zip(pairs(header), edits) {
            let text: [UInt8]
            switch edit {
            case .keep: text = Array(header[pair.text])
            case .delete: continue
            case .value(let value): text = Array(header[pair.name]) + [UInt8(ascii: "=")] + value
            }
            if !out.isEmpty { out += [UInt8(ascii: ";"), UInt8(ascii: " ")] }
            out += text
        }
        return out
    }

    /// `NAME=VALUE; path=/[; domain=D]…[; HttpOnly][; Secure][; ATTR]…`, HAProxy's order.
    static func insertedCookie(_ settings: CookieSettings, value: [UInt8]) -> [UInt8] {
        var out = Array(settings.name.utf8) + [UInt8(ascii: "=")] + value + Array("; path=/".utf8)
        for domain in settings.domains { out += Array("; domain=\(domain)".utf8) }
        if settings.httpOnly { out += Array("; HttpOnly".utf8) }
        if settings.secure { out += Array("; Secure".utf8) }
        for attribute in settings.attributes { out += Array("; \(attribute)".utf8) }
        return out
    }

    /// Whether a response may be stored by a shared cache, as HAProxy 2.6 decides before
    /// `nocache` adds `Cache-control: private`: a GET or HEAD, a status caches may keep,
    /// no `Pragma: no-cache`, no `Cache-Control` forbidding it, and freshness given
    /// (`max-age`, `s-maxage` or `Expires`).
    static func isCacheable(method: HTTPMethod, status: Int, pragma: [[UInt8]], cacheControl: [[UInt8]],
                            hasExpires: Bool) -> Bool {
        guard method == .get || method == .head else { return false }
        guard [200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501].contains(status) else { return false }
        func lower(_ v: [UInt8]) -> String {
            String(decoding: v, as: UTF8.self).lowercased().trimmingSpaces
        }
        if pragma.contains(where: { lower($0) == "no-cache" }) { return false }
        var fresh = hasExpires
        for header in cacheControl {
            for directive in lower(header).split(separator: ",").map({ String($0).trimmingSpaces }) {
                if ["private", "no-cache", "no-store", "max-age=0", "s-maxage=0"].contains(directive) { return false }
                if directive.hasPrefix("max-age") || directive.hasPrefix("s-maxage") { fresh = true }
            }
        }
        return fresh
    }
}

/// HAProxy's cookie dates (`maxidle`, `maxlife`): Unix time in 4-second steps, a 30-bit
/// number written as 5 base64 digits, most significant first.
enum CookieDate {
    private static let digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ value: Int) -> [UInt8] {
        (0..<5).map { digits[(value >> (6 * (4 - $0))) & 0x3F] }
    }

    /// Nil when a character is not a base64 digit.
    static func decode(_ text: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in text {
            guard let digit = digits.firstIndex(of: byte) else { return nil }
            value = value << 6 | digit
        }
        return value
    }

    static func now() -> Int { Int(WallTime.now().seconds) }
}
