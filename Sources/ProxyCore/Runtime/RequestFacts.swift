import NIOCore

/// What ACLs and rules can read about one request (and, for `http-response` rules, its
/// response): the head's bytes in place plus the connection's addresses. Valid only
/// while the head's buffer is borrowed, so it never outlives one evaluation.
struct RequestFacts {
    let bytes: UnsafeRawBufferPointer
    let head: HTTPRequestHead
    let headers: [HTTPHeaderField]
    /// A `var` for `set-src` (Runtime/RuleEffects.swift).
    var connection: ConnectionFacts
    /// For http-response rules: the response's bytes, head and headers.
    var response: (bytes: UnsafeRawBufferPointer, head: HTTPResponseHead, headers: [HTTPHeaderField])?

    /// The target a rule rewrote (`set-path`, `replace-uri` …), which the rules after it
    /// read instead of the head's (Runtime/RequestLineRewrite.swift). Not the method: after
    /// `set-method`, HAProxy 2.6's `method` still gives the one the client sent.
    var targetOverride: UnsafeRawBufferPointer? = nil

    /// The request target: as sent, or as a rule rewrote it.
    var target: UnsafeRawBufferPointer { targetOverride ?? slice(head.targetSpan) }

    /// The status a `set-status` rule gave the response, which later rules read.
    var statusOverride: Int? = nil

    /// Reads the request target and the response status `rewrite` holds, if rules changed them.
    mutating func follow(_ rewrite: HeadRewrite) {
        if let target = rewrite.requestTarget { targetOverride = target.view }
        if let status = rewrite.effects.status { statusOverride = status }
    }

    /// Where the path starts in `target`: after `scheme://authority` in absolute form.
    static func pathStart(in target: UnsafeRawBufferPointer) -> Int {
        guard target.count > 0, target[0] != UInt8(ascii: "/"), let scheme = find("://", in: target) else { return 0 }
        return target[(scheme + 3)...].firstIndex(of: UInt8(ascii: "/")) ?? target.count
    }

    /// `http://A.B.C.D[:PORT]/…` or `https://…` (scheme in any case): the IPv4 address and
    /// the port (80 or 443 by default), as HAProxy's `url_ip`/`url_port` read an absolute
    /// target; nil for another scheme, a relative target or a host that is no IPv4 address.
    static func absoluteAuthority(_ target: UnsafeRawBufferPointer) -> (address: [UInt8], port: Int)? {
        guard let scheme = find("://", in: target) else { return nil }
        let name = target[..<scheme].map { ($0 &- 0x41) < 26 ? $0 | 0x20 : $0 }
        let defaultPort: Int
        switch String(decoding: name, as: UTF8.self) {
        case "http": defaultPort = 80
        case "https": defaultPort = 443
        default: return nil
        }
        var i = scheme + 3
        var octets: [UInt8] = [], current = -1
        while i < target.count, target[i] == UInt8(ascii: ".") || (target[i] &- 0x30) < 10 {
            if target[i] == UInt8(ascii: ".") {
                guard current >= 0, octets.count < 3 else { return nil }
                octets.append(UInt8(current))
                current = -1
            } else {
                current = max(current, 0) * 10 + Int(target[i] - 0x30)
                guard current <= 255 else { return nil }
            }
            i += 1
        }
        guard current >= 0, octets.count == 3 else { return nil }
        octets.append(UInt8(current))
        var port = defaultPort
        if i < target.count, target[i] == UInt8(ascii: ":") {
            i += 1
            var value = 0, digits = 0
            while i < target.count, (target[i] &- 0x30) < 10, digits < 6 {
                value = value * 10 + Int(target[i] - 0x30)
                digits += 1
                i += 1
            }
            port = value & 0xFFFF
        }
        return (octets, port)
    }

    /// The path: the target without scheme and authority (absolute form) and without the query.
    var path: UnsafeRawBufferPointer {
        var target = self.target
        target = UnsafeRawBufferPointer(rebasing: target[Self.pathStart(in: target)...])
        if let question = target.firstIndex(of: UInt8(ascii: "?")) {
            return UnsafeRawBufferPointer(rebasing: target[..<question])
        }
        return target
    }

    /// The query string after `?`, or nil.
    var query: UnsafeRawBufferPointer? {
        let target = self.target
        guard let question = target.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return UnsafeRawBufferPointer(rebasing: target[(question + 1)...])
    }

    /// The value of query parameter `name` (bytes), or nil.
    func urlParameter(_ name: [UInt8]) -> UnsafeRawBufferPointer? {
        guard let query else { return nil }
        var start = 0
        while start <= query.count {
            let end = query[start...].firstIndex(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: ";") }) ?? query.count
            let pair = UnsafeRawBufferPointer(rebasing: query[start..<end])
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")), equals == name.count,
               pair.starts(with: name) {
                return UnsafeRawBufferPointer(rebasing: pair[(equals + 1)...])
            }
            start = end + 1
        }
        return nil
    }

    func slice(_ span: HTTPSpan) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[span.start..<span.end])
    }

    /// Calls `body` with each value of header `name` (lower-case), comma-split when
    /// `split` (HAProxy's `hdr` in ACLs), whole otherwise; stops when `body` returns true.
    static func forEachValue(of name: [UInt8], in bytes: UnsafeRawBufferPointer, headers: [HTTPHeaderField],
                             split: Bool, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        for field in headers {
            let matches = name.withUnsafeBufferPointer { field.name.equalsCaseInsensitive(lowercased: $0, in: bytes) }
            guard matches else { continue }
            let value = UnsafeRawBufferPointer(rebasing: bytes[field.value.start..<field.value.end])
            if !split {
                if body(value) { return true }
                continue
            }
            var start = 0
            while start <= value.count {
                let end = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.count
                var a = start, b = end
                while a < b, value[a] == 0x20 || value[a] == 0x09 { a += 1 }
                while b > a, value[b - 1] == 0x20 || value[b - 1] == 0x09 { b -= 1 }
                if body(UnsafeRawBufferPointer(rebasing: value[a..<b])) { return true }
                start = end + 1
            }
        }
        return false
    }

    static func find(_ needle: StaticString, in haystack: UnsafeRawBufferPointer) -> Int? {
        let n = needle.utf8CodeUnitCount
        guard haystack.count >= n else { return nil }
        for i in 0...(haystack.count - n) {
            var equal = true
            for k in 0..<n where haystack[i + k] != needle.utf8Start[k] { equal = false; break }
            if equal { return i }
        }
        return nil
    }
}

/// Facts about the client connection, computed once per connection.
struct ConnectionFacts {
    /// The client's address bytes (4 or 16), empty for a Unix socket.
    var clientAddress: [UInt8] = []
    var clientPort: Int = 0
    var localAddress: [UInt8] = []
    var localPort: Int = 0
    /// The client's address as text, for `X-Forwarded-For`.
    var clientAddressText: [UInt8] = []
    /// TLS (issue 5): the connection came over TLS terminated here (`ssl_fc`), and the SNI
    /// name of its handshake or of a ClientHello peeked in `mode tcp` (`ssl_fc_sni`, `req.ssl_sni`).
    var isTLS = false
    var tlsServerName: [UInt8]? = nil
    /// The handshake message type of a ClientHello peeked in `mode tcp` (`req.ssl_hello_type`).
    var tlsHelloType: Int? = nil
    /// The connection's stick counters (Runtime/StickTracking.swift), when its frontend tracks.
    var stickTrackers: StickTrackers? = nil
    /// The connection's variables, captures and unique id (Runtime/StreamValues.swift),
    /// when the configuration uses any.
    var values: StreamValues? = nil
    /// The bytes a `mode tcp` content inspection read before deciding (`req.rdp_cookie`).
    var inspectedPayload: [UInt8]? = nil
    /// `set-dst`/`set-dst-port` changed `localAddress`/`localPort` (Runtime/DestinationRewrite.swift).
    var destinationChanged = false

    init(channel: Channel) {
        self.init(remote: channel.remoteAddress, local: channel.localAddress, tls: TLSHandler.find(in: channel)?.engine)
    }

    init(transport: SessionTransport) {
        self.init(remote: transport.remoteAddress, local: transport.localAddress, tls: transport.tls)
    }

    init(remote: SocketAddress?, local: SocketAddress?, tls: TLSEngine?) {
        if let remote {
            clientAddress = Self.bytes(of: remote)
            clientPort = remote.port ?? 0
            clientAddressText = Array((remote.ipAddress ?? "").utf8)
        }
        if let local {
            localAddress = Self.bytes(of: local)
            localPort = local.port ?? 0
        }
        if let tls {  // TLS (issue 5)
            isTLS = true
            tlsServerName = tls.serverName.map { Array($0.utf8) }
        }
    }

    static func bytes(of address: SocketAddress) -> [UInt8] {
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) }
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // An IPv4-mapped IPv6 client is an IPv4 client for ACLs.
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return Array(bytes[12..<16])
            }
            return bytes
        case .unixDomainSocket:
            return []
        }
    }
}
