import Shared

/// A `resolvers NAME` section: the DNS servers proxyd asks about the names of servers that
/// say `resolvers NAME`, and how long each kind of answer is trusted. Defaults are
/// HAProxy 2.6's.
public struct ResolversSettings: Sendable, Equatable {
    public struct Nameserver: Sendable, Equatable {
        /// The label in `show resolvers` (the address itself for `parse-resolv-conf`).
        public var name: String
        public var address: IPAddress
        public var port: Int
        public var location: SourceLocation
        /// `tcp@ADDR:PORT`: DNS over TCP (DNS/DNSStreamConnection.swift), else UDP.
        public var overTCP: Bool
        public init(name: String, address: IPAddress, port: Int, location: SourceLocation, overTCP: Bool = false) {
            self.name = name
            self.address = address
            self.port = port
            self.location = location
            self.overTCP = overTCP
        }
    }

    /// `hold EVENT TIME`: how long the last answer stands after each kind of outcome.
    public struct HoldTimes: Sendable, Equatable {
        public var valid = 10_000
        public var nx = 30_000
        public var timeout = 30_000
        public var refused = 30_000
        public var other = 30_000
        /// How long an address that vanished from the answers keeps its server.
        public var obsolete = 0
        public init() {}
    }

    public var name: String
    public var location: SourceLocation
    public var nameservers: [Nameserver] = []
    /// `resolve_retries`: queries sent per resolution before it counts as timed out.
    public var resolveRetries = 3
    /// `timeout resolve`: time between two resolutions of a name.
    public var timeoutResolve = 1000
    /// `timeout retry`: time before a query without an answer is sent again.
    public var timeoutRetry = 1000
    public var hold = HoldTimes()
    /// `accepted_payload_size`: the EDNS0 UDP size announced (512: no EDNS0 record).
    public var acceptedPayloadSize = 512
    /// `parse-resolv-conf` was written (its nameservers are in `nameservers`).
    public var parseResolvConf = false
    /// The `default` section HAProxy 2.6 makes from /etc/resolv.conf when none is written.
    public var isImplicitDefault = false

    public init(name: String, location: SourceLocation) {
        self.name = name
        self.location = location
    }
}

/// `resolve-prefer ipv4|ipv6`: which family a server takes when a name has both.
public enum ResolveFamily: String, Sendable, Equatable {
    case ipv4, ipv6
}

/// How a server follows DNS (`resolvers`, `resolve-prefer`, `resolve-net`).
public struct ServerResolution: Sendable, Equatable {
    /// The `resolvers` section name; nil: the server does not follow DNS.
    public var resolvers: String? = nil
    /// HAProxy's default is IPv6.
    public var prefer: ResolveFamily = .ipv6
    /// `resolve-net`: addresses inside these networks are preferred.
    public var preferredNetworks: [IPNetwork] = []
    /// `resolve-opts allow-dup-ip`, `ignore-weight`, `prevent-dup-ip`.
    public var allowDuplicateIP = false
    public var ignoreWeight = false
    public init() {}
}
