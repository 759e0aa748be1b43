import CLinux  // SOCK_*, IPPROTO_*: a clean build finds them in CLinux's module (which includes their headers)
import Glibc

/// Addresses as HAProxy writes them: `host:port`, `[v6]:port`, `*:port`, `:port`,
/// `unix@/path`, `/path`, `abns@name`, `fd@N`, `ipv4@`/`ipv6@` prefixes.
enum AddressParser {
    /// A numeric IPv4 or IPv6 address (no brackets), or nil.
    static func numericIP(_ text: String) -> IPAddress? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            let b = withUnsafeBytes(of: &v4) { Array($0) }
            return .v4(b[0], b[1], b[2], b[3])
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return .v6(withUnsafeBytes(of: &v6) { Array($0) })
        }
        return nil
    }

    /// Addresses of a host name from the system resolver (`getaddrinfo`), IPv4 first
    /// as HAProxy prefers (unless `preferIPv6`).
    static func resolve(_ host: String, preferIPv6: Bool = false) -> [IPAddress] {
        if let ip = numericIP(host) { return [ip] }
        if LoaderIsolation.enabled { return [] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var v4: [IPAddress] = [], v6: [IPAddress] = []
        var p = result
        while let ai = p {
            if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                let ip = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { s -> IPAddress in
                    var a = s.pointee.sin_addr
                    let b = withUnsafeBytes(of: &a) { Array($0) }
                    return .v4(b[0], b[1], b[2], b[3])
                }
                if !v4.contains(ip) { v4.append(ip) }
            } else if ai.pointee.ai_family == AF_INET6, let sa = ai.pointee.ai_addr {
                let ip = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s -> IPAddress in
                    var a = s.pointee.sin6_addr
                    return .v6(withUnsafeBytes(of: &a) { Array($0) })
                }
                if !v6.contains(ip) { v6.append(ip) }
            }
            p = ai.pointee.ai_next
        }
        return preferIPv6 ? v6 + v4 : v4 + v6
    }

    /// Splits `host:port`: the port follows the last colon (`:::80` is `::` port 80),
    /// `[v6]:port` uses brackets. The port is nil when absent; "" host means any.
    /// Returns nil when the port is present but not a number.
    static func splitHostPort(_ text: String) -> (String, Int?)? {
        guard let (host, port) = splitHostPortText(text) else { return nil }
        guard let port else { return (host, nil) }
        guard let p = ConfigUnits.integer(port) else { return nil }
        return (host, p)
    }

    /// The digits HAProxy reads of a port: it reads a number as C's `atoi` does once the
    /// first character is a digit, so `8080/` is port 8080 (seen in operators' configs) and
    /// `x` is an error. nil when the first character is not a digit.
    static func leadingPortDigits(_ text: Substring) -> Substring? {
        guard let first = text.first, first.isASCII, first.isNumber else { return nil }
        return text.prefix { $0.isASCII && $0.isNumber }
    }

    /// Same, with the port kept as text (it may be a range or an offset).
    static func splitHostPortText(_ text: String) -> (String, String?)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return (host, nil) }
            guard rest.hasPrefix(":") else { return nil }
            return (host, String(rest.dropFirst()))
        }
        guard let colon = text.lastIndex(of: ":") else { return (text, nil) }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// A listening address for `stats socket` (one address, no range).
    static func listenAddress(_ text: String) -> BindAddress? {
        if text.hasPrefix("/") { return .unix(path: text) }
        if text.hasPrefix("unix@") { return .unix(path: String(text.dropFirst(5))) }
        if text.hasPrefix("abns@") { return .abstract(name: String(text.dropFirst(5))) }
        if text.hasPrefix("fd@") { return Int32(text.dropFirst(3)).map { .fileDescriptor($0) } }
        var t = text
        if t.hasPrefix("ipv4@") || t.hasPrefix("ipv6@") || t.hasPrefix("tcp@") || t.hasPrefix("tcp4@") || t.hasPrefix("tcp6@") {
            t = String(t[t.index(after: t.firstIndex(of: "@")!)...])
        }
        guard let (host, port) = splitHostPort(t), let port, (1...65535).contains(port) else { return nil }
        if host.isEmpty || host == "*" { return .inet(host: nil, port: port) }
        guard let ip = resolve(host).first else { return nil }
        return .inet(host: ip, port: port)
    }
}
