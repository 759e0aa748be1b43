import Shared

/// A numeric IP address (v4 or v6), as resolved at load time.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Four bytes in network order.
    case v4(UInt8, UInt8, UInt8, UInt8)
    /// Sixteen bytes in network order.
    case v6([UInt8])

    public var isIPv6: Bool { if case .v6 = self { return true } else { return false } }

    /// Bytes in network order (4 or 16).
    public var bytes: [UInt8] {
        switch self {
        case let .v4(a, b, c, d): return [a, b, c, d]
        case let .v6(bytes): return bytes
        }
    }

    /// Dotted quad, or RFC 5952 text for IPv6 (without brackets).
    public var description: String {
        switch self {
        case let .v4(a, b, c, d):
            return "\(a).\(b).\(c).\(d)"
        case let .v6(bytes):
            return IPAddress.formatIPv6(bytes)
        }
    }

    static func formatIPv6(_ bytes: [UInt8]) -> String {
        var groups: [UInt16] = []
        for i in stride(from: 0, to: 16, by: 2) {
            groups.append(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
        }
        // Longest run of zero groups (length ≥ 2) becomes "::".
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ g: UInt16) -> String { String(g, radix: 16) }
        if bestLen < 2 { return groups.map(hex).joined(separator: ":") }
        let head = groups[0..<bestStart].map(hex).joined(separator: ":")
        let tail = groups[(bestStart + bestLen)...].map(hex).joined(separator: ":")
        return head + "::" + tail
    }
}

/// An IP network `addr/prefix` (`src 10.0.0.0/8`, `option forwardfor except 127.0.0.0/8`).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var prefixLength: Int

    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// True when `ip` is inside this network (an IPv4 address never matches an IPv6
    /// network and vice versa, except v4-mapped v6 addresses, which the caller may unmap).
    public func contains(_ ip: IPAddress) -> Bool {
        let a = address.bytes, b = ip.bytes
        guard a.count == b.count else { return false }
        var bits = prefixLength
        for i in 0..<a.count {
            if bits <= 0 { return true }
            let mask: UInt8 = bits >= 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if a[i] & mask != b[i] & mask { return false }
            bits -= 8
        }
        return true
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// Where a `bind` (or `stats socket`) listens.
public enum BindAddress: Sendable, Hashable, CustomStringConvertible {
    /// TCP on `host:port`. `host` nil means "any IPv4 address" (HAProxy's `*:port` and
    /// `:port`); `::` is any IPv6 address (and IPv4 too unless `v6only`).
    case inet(host: IPAddress?, port: Int)
    /// A Unix stream socket (`/path` or `unix@/path`).
    case unix(path: String)
    /// A Linux abstract socket (`abns@name`).
    case abstract(name: String)
    /// An inherited file descriptor (`fd@N`).
    case fileDescriptor(Int32)

    public var description: String {
        switch self {
        case let .inet(host, port):
            guard let host else { return "*:\(port)" }
            return host.isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        case let .unix(path): return path
        case let .abstract(name): return "abns@\(name)"
        case let .fileDescriptor(fd): return "fd@\(fd)"
        }
    }
}

/// TLS settings of a `bind ... ssl` (TLS arrives with a later issue; stored now).
public struct BindSSLSettings: Sendable, Equatable {
    /// `ssl`: TLS is terminated on this listener.
    public var enabled: Bool
    /// `crt` files or directories, resolved against `crt-base`.
    public var certificates: [String]
    /// `crt-list` files.
    public var certificateLists: [String]
    public var caFile: String?
    public var crlFile: String?
    /// `verify none|optional|required` (default none on binds).
    public var verify: String?
    public var ciphers: String?
    public var cipherSuites: String?
    /// `alpn h2,http/1.1` protocol names, in order.
    public var alpn: [String]
    public var npn: [String]
    public var curves: String?
    public var ecdhe: String?
    /// Version options as written: `no-sslv3`, `no-tlsv10`, `ssl-min-ver TLSv1.2`, `force-tlsv12`, ….
    public var options: [String]
    public var strictSNI: Bool
    /// `tls-ticket-keys FILE`: session ticket keys shared by processes and reloads.
    public var ticketKeysFile: String? = nil

    public init() {
        enabled = false
        certificates = []
        certificateLists = []
        caFile = nil
        crlFile = nil
        verify = nil
        ciphers = nil
        cipherSuites = nil
        alpn = []
        npn = []
        curves = nil
        ecdhe = nil
        options = []
        strictSNI = false
    }
}

/// One listening address of a `bind` line (a line with several addresses or a port
/// range becomes several `BindSettings`, as HAProxy makes several listeners).
public struct BindSettings: Sendable, Equatable {
    public var address: BindAddress
    /// The address as written on the line (e.g. `*:8080`).
    public var written: String
    public var location: SourceLocation
    public var ssl: BindSSLSettings
    /// `name`, `id`.
    public var name: String?
    public var id: Int?
    /// `accept-proxy`: expect a PROXY protocol header.
    public var acceptProxy: Bool
    /// `transparent`, `v4v6`, `v6only`, `defer-accept`, `tfo`.
    public var transparent: Bool
    public var v4v6: Bool
    public var v6only: Bool
    public var deferAccept: Bool
    public var tfo: Bool
    /// `interface`.
    public var interface: String?
    /// `maxconn` of this listener; nil = the frontend's.
    public var maxconn: Int?
    /// `backlog`; nil = the frontend's maxconn.
    public var backlog: Int?
    /// Unix sockets: `mode` (octal), `user`, `group`, `uid`, `gid`.
    public var unixMode: UInt32?
    public var unixUser: String?
    public var unixGroup: String?
    public var unixUID: UInt32?
    public var unixGID: UInt32?
    /// `process` / `thread` as written.
    public var thread: String?

    public init(address: BindAddress, written: String, location: SourceLocation) {
        self.address = address
        self.written = written
        self.location = location
        ssl = BindSSLSettings()
        name = nil
        id = nil
        acceptProxy = false
        transparent = false
        v4v6 = false
        v6only = false
        deferAccept = false
        tfo = false
        interface = nil
        maxconn = nil
        backlog = nil
        unixMode = nil
        unixUser = nil
        unixGroup = nil
        unixUID = nil
        unixGID = nil
        thread = nil
    }
}
