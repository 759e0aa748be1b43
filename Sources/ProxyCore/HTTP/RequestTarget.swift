// The request target's forms as HAProxy 2.6 accepts them, and the authority it carries,
// compared with `Host` (RFC 9112 §3.2.2). Used by the request head parser.

/// Whether HAProxy 2.6 lets the target through: never with a fragment (`#`); for other
/// methods than CONNECT, only origin-form (`/…`), `*` or absolute-form (`scheme://…`),
/// so an authority-form target on GET (`GET example.com:80`) is a 400.
@inline(__always)
func isAcceptedTarget(_ p: UnsafePointer<UInt8>, _ target: HTTPSpan, isConnect: Bool) -> Bool {
    let s = target.start, e = target.end
    var k = s
    while k < e { if p[k] == 0x23 { return false }; k += 1 }
    if isConnect || s == e || p[s] == 0x2F || (e - s == 1 && p[s] == 0x2A) { return true }
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://"
    guard (p[s] | 0x20) &- 0x61 < 26 else { return false }
    k = s + 1
    while k < e {
        let c = p[k]
        if (c | 0x20) &- 0x61 < 26 || c &- 0x30 < 10 || c == 0x2B || c == 0x2D || c == 0x2E { k += 1; continue }
        break
    }
    return k + 2 < e && p[k] == 0x3A && p[k + 1] == 0x2F && p[k + 2] == 0x2F
}

/// The authority a request target carries: all of it for CONNECT (authority-form),
/// the part after `scheme://` (without userinfo) for absolute-form, nil for
/// origin-form (`/…`) and `*`.
@inline(__always)
func requestAuthority(_ p: UnsafePointer<UInt8>, _ target: HTTPSpan, isConnect: Bool) -> HTTPSpan? {
    if isConnect { return target }
    let s = target.start, e = target.end
    guard s < e, p[s] != 0x2F, p[s] != 0x2A else { return nil }
    var k = s
    while k < e && p[k] != 0x3A && p[k] != 0x2F && p[k] != 0x3F { k += 1 } // scheme ends at ':'
    guard k + 2 < e, p[k] == 0x3A, p[k + 1] == 0x2F, p[k + 2] == 0x2F else { return nil }
    var a = k + 3
    var end = a
    while end < e && p[end] != 0x2F && p[end] != 0x3F && p[end] != 0x23 { end += 1 }
    var u = end
    while u > a { // userinfo ends at the last '@' of the authority
        if p[u - 1] == 0x40 { a = u; break }
        u -= 1
    }
    return HTTPSpan(offset: a, length: end - a)
}

/// The default port of an absolute-form target's scheme: 80 for `http://`, 443 for
/// `https://` (any case), else 0.
@inline(__always)
func schemeDefaultPort(_ p: UnsafePointer<UInt8>, _ target: HTTPSpan) -> Int {
    let s = target.start, n = target.count
    func lower(_ i: Int) -> UInt8 { p[s + i] | 0x20 }
    guard n >= 7, lower(0) == 0x68, lower(1) == 0x74, lower(2) == 0x74, lower(3) == 0x70 else { return 0 } // http
    if p[s + 4] == 0x3A { return 80 }
    if lower(4) == 0x73, p[s + 5] == 0x3A { return 443 } // s:
    return 0
}

/// An authority or Host without the scheme's default port (`a:80` → `a` for http) or an
/// empty port (`a:`), as HAProxy 2.6 compares them: `GET http://a:80/` with `Host: a` is
/// one host, not a mismatch.
@inline(__always)
func withoutDefaultPort(_ p: UnsafePointer<UInt8>, _ span: HTTPSpan, _ defaultPort: Int) -> HTTPSpan {
    let e = span.end
    guard span.count > 0 else { return span }
    if p[e - 1] == 0x3A { return HTTPSpan(offset: span.start, length: span.count - 1) }
    if defaultPort == 80, span.count > 3, p[e - 3] == 0x3A, p[e - 2] == 0x38, p[e - 1] == 0x30 { // :80
        return HTTPSpan(offset: span.start, length: span.count - 3)
    }
    if defaultPort == 443, span.count > 4, p[e - 4] == 0x3A, p[e - 3] == 0x34, p[e - 2] == 0x34, p[e - 1] == 0x33 { // :443
        return HTTPSpan(offset: span.start, length: span.count - 4)
    }
    return span
}
