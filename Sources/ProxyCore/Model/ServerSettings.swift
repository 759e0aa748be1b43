import Shared

/// `init-addr` methods, tried in order at start-up until one yields an address
/// (HAProxy's default: `last,libc`).
public enum InitAddrMethod: Sendable, Equatable {
    /// From the server-state file (we have none: skipped).
    case last
    /// The system resolver (`getaddrinfo`).
    case libc
    /// Start without an address: the server is in maintenance until it gets one.
    case none
    /// A fixed IP.
    case ip(IPAddress)
}

/// Health-check settings of one server (`check`, `inter`, `rise`, … on `server` lines).
public struct ServerCheckSettings: Sendable, Equatable {
    /// `check`: health checks enabled.
    public var enabled: Bool
    /// `inter`: interval between checks while the server is up (default 2000 ms).
    public var interval: Int
    /// `fastinter`: interval while changing state; nil = `inter`.
    public var fastInterval: Int?
    /// `downinter`: interval while down; nil = `inter`.
    public var downInterval: Int?
    /// `rise`: consecutive successes to be considered up (default 2).
    public var rise: Int
    /// `fall`: consecutive failures to be considered down (default 3).
    public var fall: Int
    /// `port`: check port; nil = the server's port.
    public var port: Int?
    /// `addr`: check address; nil = the server's address.
    public var address: String?
    /// `check-ssl` / `no-check-ssl`: checks over TLS; nil = same as the server's `ssl`.
    public var ssl: Bool?
    /// `check-sni`.
    public var sni: String?
    /// `check-send-proxy`.
    public var sendProxy: Bool

    public init() {
        enabled = false
        interval = 2000
        fastInterval = nil
        downInterval = nil
        rise = 2
        fall = 3
        port = nil
        address = nil
        ssl = nil
        sni = nil
        sendProxy = false
    }
}

/// `agent-check` settings of one server.
public struct AgentCheckSettings: Sendable, Equatable {
    public var enabled: Bool
    public var port: Int?
    public var address: String?
    /// `agent-inter` (default 2000 ms).
    public var interval: Int
    /// `agent-send` string.
    public var send: String?

    public init() {
        enabled = false
        port = nil
        address = nil
        interval = 2000
        send = nil
    }
}

/// TLS towards a server (`ssl`, `crt`, `ca-file`, `verify`, `sni`, …).
public struct ServerSSLSettings: Sendable, Equatable {
    public var enabled: Bool
    /// Client certificate (`crt`), resolved against `crt-base`.
    public var certificate: String?
    /// `ca-file`, resolved against `ca-base`.
    public var caFile: String?
    public var crlFile: String?
    /// `verify none|required`; nil = global `ssl-server-verify` (default required).
    public var verify: String?
    /// `verifyhost`.
    public var verifyHost: String?
    /// `sni <expr>` (a sample expression, e.g. `req.hdr(host)` or `str(example.com)`).
    public var sni: String?
    public var ciphers: String?
    public var cipherSuites: String?
    public var alpn: [String]
    public var options: [String]

    public init() {
        enabled = false
        certificate = nil
        caFile = nil
        crlFile = nil
        verify = nil
        verifyHost = nil
        sni = nil
        ciphers = nil
        cipherSuites = nil
        alpn = []
        options = []
    }
}

/// `observe layer4|layer7`, `on-error`, `on-marked-down` and friends.
public enum ServerObserve: String, Sendable, Equatable { case none, layer4, layer7 }
public enum ServerOnError: String, Sendable, Equatable {
    case fastinter, failCheck = "fail-check", suddenDeath = "sudden-death", markDown = "mark-down"
}

/// One `server` line (with `default-server` settings applied first).
public struct ServerSettings: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    /// The host as written (`myweb1`, `10.0.0.1`, `[::1]`, `unix@/path`).
    public var host: String
    /// Addresses found at start-up (first one is used); empty when `init-addr none` (or
    /// `-dr`) left the server without one (it then starts in maintenance), or for a Unix
    /// socket server. `0.0.0.0` (written `:80`, `*:80` or `0.0.0.0:80`) means HAProxy's
    /// "the address the client connected to".
    public var addresses: [IPAddress]
    /// A Unix socket path, for `unix@/path` or `/path` servers.
    public var unixPath: String?
    /// The port; nil = the port the client connected to (no port, or `+N`/`-N` offset).
    public var port: Int?
    /// `+N` / `-N`: an offset to add to the client's destination port.
    public var portOffset: Int?
    /// `weight` 0…256 (default 1).
    public var weight: Int
    /// `backup`: used only when all active servers are down.
    public var backup: Bool
    /// `disabled`: starts in maintenance.
    public var disabled: Bool
    /// `maxconn`: concurrent connections (0 = unlimited, the default); beyond, requests queue.
    public var maxconn: Int
    /// `maxqueue` (0 = unlimited).
    public var maxqueue: Int
    /// `minconn` (dynamic limits with `fullconn`).
    public var minconn: Int
    public var check: ServerCheckSettings
    public var agent: AgentCheckSettings
    public var ssl: ServerSSLSettings
    /// `init-addr` methods in order (default last,libc).
    public var initAddr: [InitAddrMethod]
    public var observe: ServerObserve
    /// `error-limit` (default 10).
    public var errorLimit: Int
    public var onError: ServerOnError
    /// `on-marked-down shutdown-sessions`.
    public var shutdownSessionsOnMarkedDown: Bool
    /// `on-marked-up shutdown-backup-sessions`.
    public var shutdownBackupSessionsOnMarkedUp: Bool
    /// `send-proxy` / `send-proxy-v2`: 0 = none, 1 or 2.
    public var sendProxyVersion: Int
    /// `cookie` value.
    public var cookie: String?
    /// `id`.
    public var id: Int?
    /// `slowstart`, milliseconds.
    public var slowStart: Int?
    /// `source` (with `usesrc`) for this server's connections; nil: the backend's.
    public var source: SourceBinding?
    /// `track [backend/]server`.
    public var track: String?

    /// The server `track` names, as (backend, server); the backend is `ownBackend` when
    /// the line names none.
    func trackedServer(ownBackend: String) -> (backend: String, server: String)? {
        guard let track else { return nil }
        let parts = track.split(separator: "/", maxSplits: 1).map(String.init)
        return parts.count == 2 ? (parts[0], parts[1]) : (ownBackend, parts[0])
    }
    /// `resolvers`, `resolve-prefer`, `resolve-net`, `resolve-opts` (issue 15).
    public var resolution = ServerResolution()
    /// `server-template`: the servers share one name and take its records in turn.
    public var isTemplate = false
    /// `pool-purge-delay`, milliseconds (nil: HAProxy's default, 5 s; 0: keep no idle
    /// connection).
    public var poolPurgeDelay: Int?

    public init(name: String, location: SourceLocation) {
        self.name = name
        self.location = location
        host = ""
        addresses = []
        unixPath = nil
        port = nil
        portOffset = nil
        weight = 1
        backup = false
        disabled = false
        maxconn = 0
        maxqueue = 0
        minconn = 0
        check = ServerCheckSettings()
        agent = AgentCheckSettings()
        ssl = ServerSSLSettings()
        initAddr = [.last, .libc]
        observe = .none
        errorLimit = 10
        onError = .failCheck
        shutdownSessionsOnMarkedDown = false
        shutdownBackupSessionsOnMarkedUp = false
        sendProxyVersion = 0
        cookie = nil
        id = nil
        slowStart = nil
        source = nil
        track = nil
        poolPurgeDelay = nil
    }
}

/// `balance` and `hash-type`.
public struct Balance: Sendable, Equatable {
    public enum Algorithm: Sendable, Equatable {
        /// Weighted, dynamic round robin (the default).
        case roundRobin
        case staticRoundRobin
        case leastConn
        /// The first server with free slots (by id order).
        case first
        /// Hash of the client's source address.
        case source
        /// `uri [whole] [len N] [depth N] [path-only]`: hash of the URI (path only by default:
        /// the part before `?` unless `whole`).
        case uri(whole: Bool, length: Int?, depth: Int?, pathOnly: Bool)
        /// `url_param NAME [check_post]`.
        case urlParam(name: String, checkPost: Bool)
        /// `hdr(NAME) [use_domain_only]`.
        case header(name: String, useDomainOnly: Bool)
        /// `random [draws]` (default 2 draws).
        case random(draws: Int)
        /// `rdp-cookie[(name)]`.
        case rdpCookie(name: String)
    }
    public enum HashMethod: String, Sendable, Equatable { case mapBased = "map-based", consistent }
    public enum HashFunction: String, Sendable, Equatable { case sdbm, djb2, wt6, crc32, none }

    public var algorithm: Algorithm
    /// `hash-type` (default map-based, sdbm, not avalanched).
    public var hashMethod: HashMethod
    public var hashFunction: HashFunction
    public var avalanche: Bool

    public init(algorithm: Algorithm = .roundRobin, hashMethod: HashMethod = .mapBased,
                hashFunction: HashFunction = .sdbm, avalanche: Bool = false) {
        self.algorithm = algorithm
        self.hashMethod = hashMethod
        self.hashFunction = hashFunction
        self.avalanche = avalanche
    }
}
