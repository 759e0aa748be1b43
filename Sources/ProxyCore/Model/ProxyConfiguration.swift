import Shared

// The validated model of a HAProxy-dialect configuration: what `ConfigurationLoader`
// produces and the engine consumes. Value types only; every default below is HAProxy's.

/// A whole configuration, after parsing, defaults inheritance and validation.
public struct ProxyConfiguration: Sendable, Equatable {
    /// The `global` section (all `global` sections merged, in file order).
    public var global: GlobalSettings
    /// Every `frontend`, `backend` and `listen` section, in file order. `defaults`
    /// sections are not here: their settings were copied into the proxies that follow them.
    public var proxies: [ProxySettings]
    /// `userlist` sections, in file order.
    public var userlists: [Userlist]
    /// `resolvers` sections, in file order (issue 15).
    public var resolvers: [ResolversSettings]
    /// `peers` sections that have a local peer, in file order (Model/Peers.swift).
    public var peers: [PeersSection] = []

    public init(global: GlobalSettings = GlobalSettings(), proxies: [ProxySettings] = [],
                userlists: [Userlist] = [], resolvers: [ResolversSettings] = []) {
        self.global = global
        self.proxies = proxies
        self.userlists = userlists
        self.resolvers = resolvers
    }

    /// The proxy named `name` (HAProxy's namespaces: a frontend and a backend may share
    /// a name; pass `capability` to pick one).
    public func proxy(named name: String, capability: ProxyCapabilities? = nil) -> ProxySettings? {
        proxies.first { proxy in
            proxy.name == name && (capability.map { proxy.capabilities.isSuperset(of: $0) } ?? true)
        }
    }

    /// The backend (a `backend` or `listen`) named `name`.
    public func backend(named name: String) -> ProxySettings? {
        proxies.first { $0.name == name && $0.capabilities.contains(.backend) }
    }

    /// The proxies that accept connections (`frontend` and `listen` with at least one bind).
    public var listeners: [ProxySettings] {
        proxies.filter { $0.capabilities.contains(.frontend) && !$0.binds.isEmpty && !$0.disabled }
    }
}

/// A `log` line: where log messages go, HAProxy's `log <target> [len <n>] [format <f>]
/// <facility> [<max level> [<min level>]]`.
public struct LogTarget: Sendable, Equatable {
    public enum Destination: Sendable, Equatable {
        /// A Unix datagram socket, e.g. `/dev/log`.
        case unixSocket(path: String)
        /// UDP syslog at `host:port` (port 514 when omitted).
        case udp(host: String, port: Int)
        /// TCP syslog at `host:port` (`tcp@`), HAProxy needs a ring for it; kept for completeness.
        case tcp(host: String, port: Int)
        /// `stdout` / `stderr` (HAProxy 2.x, usually with `format raw`).
        case stdout
        case stderr
        /// `fd@N`.
        case fileDescriptor(Int32)
    }
    /// Syslog severities, in HAProxy's spelling.
    public enum Level: Int, Sendable, Equatable, Comparable, CaseIterable {
        case emerg = 0, alert, crit, err, warning, notice, info, debug
        public var name: String {
            switch self {
            case .emerg: return "emerg"
            case .alert: return "alert"
            case .crit: return "crit"
            case .err: return "err"
            case .warning: return "warning"
            case .notice: return "notice"
            case .info: return "info"
            case .debug: return "debug"
            }
        }
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }
    /// `format`: rfc3164 (default), rfc5424, short, raw, iso, timed, priority.
    public enum Format: String, Sendable, Equatable, CaseIterable {
        case rfc3164, rfc5424, short, raw, iso, timed, priority
    }

    public var destination: Destination
    /// Syslog facility name (`local0` … `local7`, `daemon`, `user`, …) and its number.
    public var facility: String
    public var facilityCode: Int
    /// Messages more verbose than this are dropped (default `debug`: keep all).
    public var maxLevel: Level
    /// Messages less important than this are raised to it (default `emerg`: none).
    public var minLevel: Level
    /// Maximum line length (`len`), default 1024.
    public var length: Int
    public var format: Format
    public var location: SourceLocation?

    public init(destination: Destination, facility: String = "local0", facilityCode: Int = 16,
                maxLevel: Level = .debug, minLevel: Level = .emerg, length: Int = 1024,
                format: Format = .rfc3164, location: SourceLocation? = nil) {
        self.destination = destination
        self.facility = facility
        self.facilityCode = facilityCode
        self.maxLevel = maxLevel
        self.minLevel = minLevel
        self.length = length
        self.format = format
        self.location = location
    }
}

/// `stats socket <path> [mode <octal>] [level user|operator|admin] [expose-fd listeners]`
/// (also `ipv4@host:port` style inet sockets).
public struct StatsSocket: Sendable, Equatable {
    public enum Level: String, Sendable, Equatable { case user, `operator`, admin }
    public var address: BindAddress
    /// Unix socket permissions (octal in the file); nil keeps the umask's.
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public var user: String?
    public var group: String?
    /// Default `operator` in HAProxy 2.6 ("level" absent).
    public var level: Level
    /// `expose-fd listeners`: the socket may pass listening sockets to a new process.
    public var exposeListenerFDs: Bool
    public var location: SourceLocation?

    public init(address: BindAddress, mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil,
                user: String? = nil, group: String? = nil, level: Level = .operator,
                exposeListenerFDs: Bool = false, location: SourceLocation? = nil) {
        self.address = address
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.user = user
        self.group = group
        self.level = level
        self.exposeListenerFDs = exposeListenerFDs
        self.location = location
    }
}

/// TLS defaults from `global` (`ssl-default-bind-*`, `ssl-default-server-*`).
public struct SSLDefaults: Sendable, Equatable {
    /// OpenSSL cipher list for TLS ≤ 1.2.
    public var ciphers: String?
    /// TLS 1.3 cipher suites.
    public var cipherSuites: String?
    /// Options such as `no-sslv3`, `no-tlsv10`, `ssl-min-ver TLSv1.2`, `prefer-client-ciphers`,
    /// as written (each option one element; `ssl-min-ver X` kept as two words joined by a space).
    public var options: [String]
    public var curves: String?
    public var sigalgs: String?

    public init(ciphers: String? = nil, cipherSuites: String? = nil, options: [String] = [],
                curves: String? = nil, sigalgs: String? = nil) {
        self.ciphers = ciphers
        self.cipherSuites = cipherSuites
        self.options = options
        self.curves = curves
        self.sigalgs = sigalgs
    }
}

/// The `global` section.
public struct GlobalSettings: Sendable, Equatable {
    /// `nbthread`; nil means HAProxy's default: as many threads as CPUs the process may use.
    public var nbthread: Int?
    /// `maxconn`: per-process connection limit; nil = HAProxy's computed default.
    public var maxconn: Int?
    /// `daemon`: fork into the background (also `-D`).
    public var daemon: Bool
    /// `nosplice`: no kernel splicing, whatever `option splice-*` asks.
    public var noSplice = false
    /// `set-var` / `set-var-fmt`: `proc` variables set at start, in order.
    public var variables: [VariableAssignment] = []
    public var pidfile: String?
    public var chroot: String?
    /// `user` / `group` names, and `uid` / `gid` numbers, as written.
    public var user: String?
    public var group: String?
    public var uid: UInt32?
    public var gid: UInt32?
    public var logs: [LogTarget]
    public var statsSockets: [StatsSocket]
    /// `stats timeout`, milliseconds (HAProxy's default 10 s).
    public var statsTimeout: Int
    /// `stats maxconn` (default 10).
    public var statsMaxconn: Int
    public var caBase: String?
    public var crtBase: String?
    public var sslDefaultBind: SSLDefaults
    public var sslDefaultServer: SSLDefaults
    /// `ssl-server-verify none|required` (default required).
    public var sslServerVerifyRequired: Bool
    /// `tune.bufsize`, bytes (HAProxy's default 16384).
    public var bufferSize: Int
    /// `tune.ssl.default-dh-param` bits (HAProxy's default 2048 in 2.6).
    public var sslDefaultDHParam: Int?
    /// `tune.maxrewrite` (default: half of bufsize, capped at 1024).
    public var maxRewrite: Int?
    /// Other `tune.*` settings, as written: the engine may ignore them.
    public var tunables: [String: String]
    /// `node` (default: the host name) and `description`, shown on the stats page.
    public var node: String?
    public var description: String?
    /// `spread-checks` percentage (0…50, default 0).
    public var spreadChecks: Int
    /// `hard-stop-after`, milliseconds: the longest a stopping process lives on.
    public var hardStopAfter: Int?
    /// `grace`, milliseconds: how long a stopping process keeps accepting first.
    public var grace: Int?
    /// `server-state-base`: the directory of relative server-state file names.
    public var serverStateBase: String?
    /// `server-state-file`: what `load-server-state-from-file global` reads.
    public var serverStateFile: String?
    /// `log-tag` (default: the program name).
    public var logTag: String?
    /// `log-send-hostname [name]`: nil = no host name in syslog headers.
    public var logSendHostname: String?
    /// `ulimit-n`.
    public var ulimitN: Int?
    /// `master-worker`.
    public var masterWorker: Bool
    /// False with `master-worker no-exit-on-failure`: a worker that dies does not stop the master.
    public var masterWorkerExitOnFailure = true
    /// `mworker-max-reloads N`: an old worker that survived more reloads gets SIGTERM.
    public var mworkerMaxReloads: Int?
    /// `zero-warning`: any warning makes the configuration fail (as `-dW`).
    public var zeroWarning: Bool
    public var location: SourceLocation?

    public init() {
        nbthread = nil
        maxconn = nil
        daemon = false
        pidfile = nil
        chroot = nil
        user = nil
        group = nil
        uid = nil
        gid = nil
        logs = []
        statsSockets = []
        statsTimeout = 10_000
        statsMaxconn = 10
        caBase = nil
        crtBase = nil
        sslDefaultBind = SSLDefaults()
        sslDefaultServer = SSLDefaults()
        sslServerVerifyRequired = true
        bufferSize = 16_384
        sslDefaultDHParam = nil
        maxRewrite = nil
        tunables = [:]
        node = nil
        description = nil
        spreadChecks = 0
        hardStopAfter = nil
        grace = nil
        logTag = nil
        logSendHostname = nil
        ulimitN = nil
        masterWorker = false
        zeroWarning = false
        location = nil
    }
}

/// A `userlist` section: users and groups for `http_auth` / `stats auth`-like checks.
public struct Userlist: Sendable, Equatable {
    public struct User: Sendable, Equatable {
        public enum Password: Sendable, Equatable {
            /// `password <hash>`: a crypt(3) hash (`$5$…`, `$6$…`).
            case hashed(String)
            /// `insecure-password <text>`.
            case plain(String)
            /// Neither was given: the user cannot authenticate.
            case none
        }
        public var name: String
        public var password: Password
        public var groups: [String]
        public var location: SourceLocation?
        public init(name: String, password: Password, groups: [String] = [], location: SourceLocation? = nil) {
            self.name = name
            self.password = password
            self.groups = groups
            self.location = location
        }
    }
    public struct Group: Sendable, Equatable {
        public var name: String
        /// Users named by `group <name> users a,b`, merged with users naming the group.
        public var users: [String]
        public var location: SourceLocation?
        public init(name: String, users: [String] = [], location: SourceLocation? = nil) {
            self.name = name
            self.users = users
            self.location = location
        }
    }
    public var name: String
    public var users: [User]
    public var groups: [Group]
    public var location: SourceLocation?

    public init(name: String, users: [User] = [], groups: [Group] = [], location: SourceLocation? = nil) {
        self.name = name
        self.users = users
        self.groups = groups
        self.location = location
    }
}
