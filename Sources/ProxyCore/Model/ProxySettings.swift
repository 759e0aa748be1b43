import Shared

/// What a proxy section can do: `frontend` accepts, `backend` forwards, `listen` both.
public struct ProxyCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let frontend = ProxyCapabilities(rawValue: 1)
    public static let backend = ProxyCapabilities(rawValue: 2)
    public static let listen: ProxyCapabilities = [.frontend, .backend]

    /// HAProxy's word for it: "frontend", "backend", "listen" ("proxy" in some messages).
    public var sectionName: String {
        switch self {
        case .frontend: return "frontend"
        case .backend: return "backend"
        default: return "listen"
        }
    }
}

/// `mode tcp|http` (HAProxy's default: tcp).
public enum ProxyMode: String, Sendable, Equatable {
    case tcp, http
}

/// The `timeout` family, in milliseconds; nil = not set (HAProxy then waits forever,
/// and warns about missing client/connect/server timeouts).
public struct Timeouts: Sendable, Equatable {
    public var connect: Int?
    public var client: Int?
    public var server: Int?
    /// Bidirectional idle timeout once a connection became a tunnel (WebSocket, CONNECT,
    /// or tcp mode after both sides spoke): replaces client/server there.
    public var tunnel: Int?
    /// Time in the queue waiting for a server slot; nil = use `connect`.
    public var queue: Int?
    /// Time to receive a complete HTTP request head; nil = use `client`.
    public var httpRequest: Int?
    /// Idle time between two requests of a keep-alive connection; nil = use `http-request`.
    public var httpKeepAlive: Int?
    /// Extra read timeout of health checks once connected; nil = `inter`.
    public var check: Int?
    public var clientFin: Int?
    public var serverFin: Int?
    public var tarpit: Int?

    /// HAProxy's fallbacks, for the engine: `queue` → `connect`; `http-request` →
    /// `client`; `http-keep-alive` → `http-request` → `client`; `tunnel` → nil means the
    /// client/server timeouts keep applying; `client-fin`/`server-fin` → client/server.
    public var effectiveQueue: Int? { queue ?? connect }
    public var effectiveHTTPRequest: Int? { httpRequest ?? client }
    public var effectiveHTTPKeepAlive: Int? { httpKeepAlive ?? httpRequest ?? client }
    public var effectiveClientFin: Int? { clientFin ?? client }
    public var effectiveServerFin: Int? { serverFin ?? server }

    public init(connect: Int? = nil, client: Int? = nil, server: Int? = nil, tunnel: Int? = nil,
                queue: Int? = nil, httpRequest: Int? = nil, httpKeepAlive: Int? = nil,
                check: Int? = nil, clientFin: Int? = nil, serverFin: Int? = nil, tarpit: Int? = nil) {
        self.connect = connect
        self.client = client
        self.server = server
        self.tunnel = tunnel
        self.queue = queue
        self.httpRequest = httpRequest
        self.httpKeepAlive = httpKeepAlive
        self.check = check
        self.clientFin = clientFin
        self.serverFin = serverFin
        self.tarpit = tarpit
    }
}

/// How HTTP connections are handled across requests (HAProxy 2.6: keep-alive by default).
public enum HTTPConnectionMode: String, Sendable, Equatable {
    /// `option http-keep-alive` (default): both sides kept alive.
    case keepAlive
    /// `option http-server-close`: client side kept alive, server side closed after each response.
    case serverClose
    /// `option httpclose`: both sides closed after each exchange.
    case close
}

/// `option forwardfor [except <network>] [header <name>] [if-none]`.
public struct ForwardFor: Sendable, Equatable {
    /// Header to add (default `X-Forwarded-For`).
    public var header: String
    /// Clients in this network get no header.
    public var except: IPNetwork?
    /// Add the header only if the request has none.
    public var ifNone: Bool

    public init(header: String = "X-Forwarded-For", except: IPNetwork? = nil, ifNone: Bool = false) {
        self.header = header
        self.except = except
        self.ifNone = ifNone
    }
}

/// `http-reuse never|safe|aggressive|always` (default safe).
public enum HTTPReuse: String, Sendable, Equatable {
    case never, safe, aggressive, always
}

/// A `use_backend NAME [if|unless COND]` rule.
public struct BackendSwitchingRule: Sendable, Equatable {
    /// The backend's name (validated to exist, unless it is a log-format expression).
    public var backend: String
    /// True when `backend` contains `%[...]`: it is a log-format string resolved per request.
    public var isDynamic: Bool
    public var condition: Condition?
    public var location: SourceLocation?

    public init(backend: String, isDynamic: Bool = false, condition: Condition? = nil,
                location: SourceLocation? = nil) {
        self.backend = backend
        self.isDynamic = isDynamic
        self.condition = condition
        self.location = location
    }
}

/// `stats ...` on a proxy: the statistics page.
public struct StatsSettings: Sendable, Equatable {
    /// `stats enable` (or any other stats keyword, which implies it).
    public var enabled: Bool
    /// `stats uri` (default `/haproxy?stats`).
    public var uri: String
    /// `stats refresh`, milliseconds.
    public var refresh: Int?
    /// `stats auth user:password` pairs; empty = no authentication.
    public var auth: [(user: String, password: String)]
    /// `stats realm` (default `HAProxy Statistics`).
    public var realm: String
    /// `stats show-node [name]`: nil = not shown; "" = the global node name.
    public var showNode: String?
    /// `stats show-desc [text]`: nil = not shown; "" = the global description.
    public var showDescription: String?
    public var showLegends: Bool
    /// `stats show-modules`: per-module statistics columns.
    public var showModules: Bool = false
    public var hideVersion: Bool
    /// `stats admin if|unless COND`: when admin actions are allowed.
    public var admin: Condition?
    /// `stats scope <proxy>`: restrict to these proxies (empty = all).
    public var scopes: [String]

    public init() {
        enabled = false
        uri = "/haproxy?stats"
        refresh = nil
        auth = []
        realm = "HAProxy Statistics"
        showNode = nil
        showDescription = nil
        showLegends = false
        hideVersion = false
        admin = nil
        scopes = []
    }

    public static func == (a: StatsSettings, b: StatsSettings) -> Bool {
        a.enabled == b.enabled && a.uri == b.uri && a.refresh == b.refresh
            && a.auth.map { $0.user } == b.auth.map { $0.user }
            && a.auth.map { $0.password } == b.auth.map { $0.password }
            && a.realm == b.realm && a.showNode == b.showNode
            && a.showDescription == b.showDescription && a.showLegends == b.showLegends
            && a.showModules == b.showModules
            && a.hideVersion == b.hideVersion && a.admin == b.admin && a.scopes == b.scopes
    }
}

/// One `frontend`, `backend` or `listen` section, with its `defaults` already applied.
public struct ProxySettings: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    public var capabilities: ProxyCapabilities
    /// `mode` (default tcp).
    public var mode: ProxyMode
    /// `disabled` / `enabled`.
    public var disabled: Bool
    public var description: String?
    /// `id <n>` (HAProxy numbers proxies from 1 when not set).
    public var id: Int?

    // MARK: Frontend side
    public var binds: [BindSettings]
    /// `maxconn` of a frontend (HAProxy's default: the global maxconn). nil = not set.
    public var maxconn: Int?
    public var defaultBackend: String?
    public var useBackendRules: [BackendSwitchingRule]
    /// ACLs of this proxy by name; an ACL name used several times ORs its criteria.
    /// (Rules below may come first from a named `defaults` section: HAProxy runs those
    /// before the proxy's own; their conditions already hold the ACL criteria.)
    public var acls: [ACLDefinition]
    public var httpRequestRules: [HTTPRequestRule]
    /// `redirect …` lines (each a `.redirect` action): HAProxy evaluates them after the
    /// `http-request` rules, whatever their order in the file.
    public var redirectRules: [HTTPRequestRule]
    public var httpResponseRules: [HTTPResponseRule]
    /// `http-after-response …` (Config/AfterResponseParser.swift).
    public var httpAfterResponseRules: [HTTPResponseRule] = []
    /// `rate-limit sessions N` (Config/RateLimitParser.swift): new sessions per second.
    public var rateLimitSessions: Int? = nil
    /// `source`: where connections to this backend's servers leave from (a server's own
    /// `source` wins).
    public var source: SourceBinding? = nil
    /// `retry-on …` (Config/RetryOnParser.swift).
    public var retryOn = RetryConditions()
    /// `tcp-request connection|content accept|reject [if|unless COND]`.
    public var tcpRequestRules: [TCPRequestRule]
    /// `stick-table …` (Model/StickTable.swift): the table named after this proxy.
    public var stickTable: StickTableDefinition? = nil
    /// `capture …`, `declare capture`, `http-request capture … len` (issue 15).
    public var captures = CaptureDeclarations()
    /// `unique-id-format` and `unique-id-header` (issue 15).
    public var uniqueIDFormat: FormatString? = nil
    public var uniqueIDHeader: String? = nil
    var uniqueIDFormatLocation: SourceLocation? = nil
    /// `stick match|on|store-request …` (Model/StickTable.swift), in order.
    public var stickRules: [StickRule] = []

    // MARK: Both sides
    public var timeouts: Timeouts
    public var httpConnectionMode: HTTPConnectionMode
    /// `option http-buffer-request`: the request body is awaited (up to the buffer's
    /// size) before a server is chosen, under `timeout http-request`.
    public var httpBufferRequest: Bool
    /// `option splice-request` / `splice-response` (`splice-auto`: both): `mode tcp`
    /// streams between plain sockets go through a pipe, not user space, that way.
    public var spliceRequest = false
    public var spliceResponse = false
    public var forwardFor: ForwardFor?
    public var dontLogNull: Bool
    public var httpLog: Bool
    /// `option httplog clf`.
    public var httpLogCLF: Bool
    /// `option httpslog`: the httplog format followed by the client connection's TLS facts
    /// (`httpLog` is set too, so what applies to httplog applies to it).
    public var httpsLog: Bool
    public var tcpLog: Bool
    public var logHealthChecks: Bool
    /// `log-format` string (raw) if set.
    public var logFormat: String?
    /// Where that `log-format` was written: HAProxy checks it once the frontend is known.
    public var logFormatLocation: SourceLocation?
    /// Where `option httplog`/`tcplog` was set (for messages).
    public var logOptionLocation: SourceLocation?
    /// The log option set in this very section (not inherited), for HAProxy's "overrides" warning.
    var logOptionHere: String? = nil
    /// Log targets (with `log global` already replaced by the global targets).
    public var logs: [LogTarget]
    /// Raw HTTP responses by status (`errorfile CODE FILE`): the file's exact bytes, checked
    /// to be a complete HTTP/1 response; an empty file means "send nothing, just close".
    public var errorFiles: [Int: [UInt8]]
    /// The `errorfile`/`errorloc*`/`errorfiles` lines in order, `errorFiles` once the
    /// `http-errors` sections they import are known (Config/ErrorPagesParser).
    public var errorPageDirectives: [ErrorPageDirective] = []
    public var stats: StatsSettings
    /// `monitor-uri`.
    public var monitorURI: String?

    // MARK: Backend side
    /// `retries` (default 3).
    public var retries: Int
    /// `load-server-state-from-file`: where the servers' state at start comes from.
    public var loadServerState: ServerStateSource = .none
    /// `server-state-file-name NAME` (nil: the backend's name, `use-backend-name`).
    public var serverStateFileName: String?
    /// `option redispatch [interval]`: on retry, may pick another server.
    public var redispatch: Bool
    /// `option abortonclose`.
    public var abortOnClose: Bool
    public var balance: Balance
    /// `option allbackups`: use all backup servers at once when all active ones are down.
    public var allBackups: Bool
    /// `http-reuse` (default safe).
    public var httpReuse: HTTPReuse
    /// `default-server` options, as applied to the servers (after defaults inheritance).
    public var defaultServer: ServerSettings
    public var servers: [ServerSettings]
    public var healthCheck: HealthCheckSettings
    /// `fullconn` (dynamic maxconn); nil = not set.
    public var fullconn: Int?
    /// `hash-balance-factor`.
    public var hashBalanceFactor: Int?
    /// Cookie persistence, `use-server`, `force-persist`/`ignore-persist` (issue 15).
    public var persistence = PersistenceSettings()
    /// `option tcpka`, `dontlog-normal`, `contstats`, `backlog`, … (issue 15).
    public var smallOptions = SmallProxyOptions()
    /// `compression algo|type|offload` (issue 15).
    public var compression = CompressionSettings()

    public init(name: String, location: SourceLocation, capabilities: ProxyCapabilities) {
        self.name = name
        self.location = location
        self.capabilities = capabilities
        mode = .tcp
        disabled = false
        description = nil
        id = nil
        binds = []
        maxconn = nil
        defaultBackend = nil
        useBackendRules = []
        acls = []
        httpRequestRules = []
        redirectRules = []
        httpResponseRules = []
        tcpRequestRules = []
        timeouts = Timeouts()
        httpConnectionMode = .keepAlive
        httpBufferRequest = false
        forwardFor = nil
        dontLogNull = false
        httpLog = false
        httpLogCLF = false
        httpsLog = false
        tcpLog = false
        logHealthChecks = false
        logFormat = nil
        logFormatLocation = nil
        logOptionLocation = nil
        logs = []
        errorFiles = [:]
        stats = StatsSettings()
        monitorURI = nil
        retries = 3
        redispatch = false
        abortOnClose = false
        balance = Balance()
        allBackups = false
        httpReuse = .safe
        defaultServer = ServerSettings(name: "", location: location)
        servers = []
        healthCheck = HealthCheckSettings()
        fullconn = nil
        hashBalanceFactor = nil
    }

    public var isFrontend: Bool { capabilities.contains(.frontend) }
    public var isBackend: Bool { capabilities.contains(.backend) }

    /// The ACL definitions named `name` (several `acl` lines with one name are OR'ed).
    public func acl(named name: String) -> [ACLDefinition] {
        acls.filter { $0.name == name }
    }
}

/// `tcp-request connection|content accept|reject [if|unless COND]`.
public struct TCPRequestRule: Sendable, Equatable {
    public enum Phase: String, Sendable, Equatable { case connection, session, content }
    public enum Action: Sendable, Equatable {
        case accept
        case reject
        /// `silent-drop`: closed without a FIN or reset reaching the client (the content
        /// phase in `mode tcp` only).
        case silentDrop
        /// `track-sc0|1|2 KEY [table T]` (Model/StickTable.swift).
        case track(TrackAction)
        /// `inspect-delay` is not a rule but stored here as the content phase's wait time.
        case inspectDelay(milliseconds: Int)
        /// `set-var`, `set-var-fmt`, `unset-var` (content and session phases), issue 15.
        case setVariable(VariableAssignment)
        /// `set-dst`, `set-dst-port` (Runtime/DestinationRewrite.swift), issue 15.
        case setDestination(DestinationRewrite)
    }
    public var phase: Phase
    public var action: Action
    public var condition: Condition?
    public var location: SourceLocation?

    public init(phase: Phase, action: Action, condition: Condition? = nil, location: SourceLocation? = nil) {
        self.phase = phase
        self.action = action
        self.condition = condition
        self.location = location
    }
}

/// `load-server-state-from-file`: none, the global `server-state-file`, or a file of the
/// backend's own (`server-state-file-name`, in `server-state-base`).
public enum ServerStateSource: String, Sendable, Equatable {
    case none, global, local
}

/// One line that sets a proxy's own responses.
public enum ErrorPageDirective: Sendable, Equatable {
    /// `errorfile CODE FILE`, `errorloc* CODE URL`: the response's bytes.
    case page(code: Int, bytes: [UInt8])
    /// `errorfiles SECTION [CODE…]` (no code: all of the section's pages).
    case imported(section: String, codes: [Int], location: SourceLocation)
}
