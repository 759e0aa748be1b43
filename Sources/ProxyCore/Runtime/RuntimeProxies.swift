import Atomics
import NIOCore

/// A backend as the running proxy sees it.
public final class RuntimeBackend: @unchecked Sendable {
    public let name: String
    /// Position in the runtime's backend list: per-loop state indexes by it.
    public let index: Int
    public let mode: ProxyMode
    /// The servers as listed (stats, runtime API, checks): the config's, then those `add
    /// server` added, less those `del server` took out. A snapshot replaced whole on each
    /// change (Runtime/DynamicServers.swift), so readers on any thread need no lock.
    public var servers: [RuntimeServer] { serverList.load(ordering: .acquiring).listed }
    /// Every server this backend ever had, by `RuntimeServer.index`: deleted ones stay, so
    /// that the indices the pools and the balancer hold remain valid.
    var serversByIndex: [RuntimeServer] { serverList.load(ordering: .acquiring).byIndex }
    let serverList: ManagedAtomic<ServerList>
    /// A server binds the client's address before its connects (`source … usesrc client|
    /// clientip`): sessions hand the connector their client's address.
    var usesClientSource: Bool { clientSource.load(ordering: .relaxed) }
    let clientSource: ManagedAtomic<Bool>
    /// `stick match|on|store-request` (Runtime/StickPersistence.swift), set by the builder.
    var stickRules: StickRules?
    /// `persist rdp-cookie` (Runtime/RDPPersistence.swift), issue 15.
    var rdpPersistence: RDPPersistence?
    public let timeouts: BackendTimeouts
    /// Connection attempts after the first failed one (`retries`, default 3).
    public let retries: Int
    /// `option redispatch`: the last retry may go to another server.
    public let redispatch: Bool
    public let balance: Balance
    public let httpConnectionMode: HTTPConnectionMode
    public let forwardFor: ForwardForRule?
    public let errorPages: ErrorPages
    public let allBackups: Bool
    /// The balancer and the queue, shared by every event loop (issue 10).
    let balancer: BackendBalancer
    /// Requests waiting in this backend's queue, all loops together.
    var waiting: ManagedAtomic<Int> { balancer.waiting }
    /// Traffic of this backend for the stats page and the runtime API (issue 4).
    public let counters: SessionCounters
    /// Its log targets, for what HAProxy logs on the backend itself (a server socket it
    /// could not get); set with the logs (RuntimeLogging).
    var logger: ProxyLogger?
    /// When the backend last went DOWN (no usable server) or back UP (ProcessClock ms),
    /// the process start until then: the stats' backend `lastchg`.
    let lastStatusChange = ManagedAtomic<Int>(ProcessClock.milliseconds)
    /// The stats page this backend answers (`stats enable`), set at start (issue 4).
    public var statsPage: StatsPage?
    /// Kernel splicing each way (`option splice-*`, unless `nosplice`), set at start.
    var splice = SpliceDirections()
    /// `http-request` / `http-response` rules of the backend, set once at build time.
    var requestRules: [CompiledRule] = []
    var responseRules: [CompiledRule] = []
    /// `http-after-response` (Session/HTTPSession+AfterResponse.swift).
    var afterResponseRules: [CompiledRule] = []
    /// `retry-on` (Session/HTTPSession+RetryOn.swift).
    var retryOn = RetryConditions()
    /// Connection attempts after a failed one: `retries`, unless `retry-on` leaves out
    /// `conn-failure`.
    var connectRetries: Int { retryOn.connectionFailure ? retries : 0 }
    /// TLS (issue 5): some server's `sni` reads the request or the client connection; the
    /// headers it reads (lower case). Set by TLSSetup.
    var dynamicServerName = false
    var serverNameHeaders: [String] = []
    /// `cookie`, `use-server`, `force-persist`/`ignore-persist` (issue 15); nil without.
    var persistence: CookiePersistence?
    /// `option http-pretend-keepalive` (issue 15): no `Connection: close` to the server.
    var pretendKeepAlive = false
    /// `compression …` (issue 15); nil without.
    var compression: CompressionSettings?
    /// `option srvtcpka` (issue 15): keep-alive probes on server sockets; nil = none.
    var serverKeepAliveProbes: KeepAliveTimings?

    public init(name: String, index: Int, mode: ProxyMode, servers: [RuntimeServer],
                timeouts: BackendTimeouts, retries: Int, redispatch: Bool,
                balance: Balance, httpConnectionMode: HTTPConnectionMode,
                forwardFor: ForwardForRule?, errorPages: ErrorPages, allBackups: Bool) {
        self.name = name
        self.index = index
        self.mode = mode
        self.serverList = ManagedAtomic(ServerList(listed: servers, byIndex: servers))
        clientSource = ManagedAtomic(servers.contains { $0.bindsClientAddress })
        self.timeouts = timeouts
        self.retries = retries
        self.redispatch = redispatch
        self.balance = balance
        self.httpConnectionMode = httpConnectionMode
        self.forwardFor = forwardFor
        self.errorPages = errorPages
        self.allBackups = allBackups
        let counters = SessionCounters()
        self.counters = counters
        self.balancer = BackendBalancer(balancer: Balancer(servers: servers, balance: balance, allBackups: allBackups),
                                        servers: servers, counters: counters)
    }
}

/// A backend's servers at one moment (`RuntimeBackend.serverList`).
final class ServerList: AtomicReference, @unchecked Sendable {
    let listed: [RuntimeServer]
    let byIndex: [RuntimeServer]
    init(listed: [RuntimeServer], byIndex: [RuntimeServer]) {
        self.listed = listed
        self.byIndex = byIndex
    }
}

/// Backend-side timeouts; nil means none (wait forever), as in HAProxy.
public struct BackendTimeouts: Sendable {
    public var connect: TimeAmount?
    public var server: TimeAmount?
    public var queue: TimeAmount?
    public var tunnel: TimeAmount?
    public init(connect: TimeAmount? = nil, server: TimeAmount? = nil,
                queue: TimeAmount? = nil, tunnel: TimeAmount? = nil) {
        self.connect = connect
        self.server = server
        self.queue = queue
        self.tunnel = tunnel
    }
}

/// Frontend-side timeouts; nil means none.
public struct FrontendTimeouts: Sendable {
    public var client: TimeAmount?
    public var httpRequest: TimeAmount?
    public var httpKeepAlive: TimeAmount?
    public var tunnel: TimeAmount?
    public init(client: TimeAmount? = nil, httpRequest: TimeAmount? = nil,
                httpKeepAlive: TimeAmount? = nil, tunnel: TimeAmount? = nil) {
        self.client = client
        self.httpRequest = httpRequest
        self.httpKeepAlive = httpKeepAlive
        self.tunnel = tunnel
    }
}

/// `option forwardfor [except NET] [header NAME] [if-none]`.
public struct ForwardForRule: Sendable {
    /// Lower-case header name, `x-forwarded-for` by default, as bytes ready to write.
    public var header: [UInt8]
    public var ifNone: Bool
    public var except: IPNetwork?
    public init(header: String = "X-Forwarded-For", ifNone: Bool = false, except: IPNetwork? = nil) {
        self.header = Array(header.utf8)
        self.ifNone = ifNone
        self.except = except
    }
}

/// A frontend (or the frontend half of a `listen`) as the running proxy sees it.
public final class RuntimeFrontend: @unchecked Sendable {
    public let name: String
    public let mode: ProxyMode
    public let binds: [BindSettings]
    public let timeouts: FrontendTimeouts
    /// `maxconn` on the frontend; nil means the global limit only.
    public let maxConnections: Int?
    let router: Router
    public let httpConnectionMode: HTTPConnectionMode
    public let forwardFor: ForwardForRule?
    public let errorPages: ErrorPages
    /// The stats page of a `frontend` section with `stats enable`, set at start (issue 4);
    /// a `listen` section's page is its backend's.
    public var statsPage: StatsPage?
    /// `option http-buffer-request`: a request's body (up to the buffer's size) is read
    /// before it is routed, under the head's `timeout http-request` deadline.
    public var bufferRequestBody = false
    /// Kernel splicing each way (`option splice-*`, unless `nosplice`), set at start.
    var splice = SpliceDirections()
    /// `option clitcpka` (issue 15): keep-alive probes on client sockets; nil = none.
    var clientKeepAliveProbes: KeepAliveTimings?
    /// `compression …` (issue 15); nil without.
    var compression: CompressionSettings?
    let requestRules: [CompiledRule]
    let responseRules: [CompiledRule]
    /// `http-after-response` (Session/HTTPSession+AfterResponse.swift).
    var afterResponseRules: [CompiledRule] = []
    /// `rate-limit sessions` (Runtime/SessionRateLimit.swift).
    var sessionRate: SessionRateLimit?
    /// `maxconn` of this frontend, answering to the process-wide one; set by the runtime.
    var gate: AdmissionGate!
    /// Stick tables (issue 15): `tcp-request connection` rules run at accept, and whether
    /// its connections carry stick counters at all.
    var connectionRules: ConnectionRules?
    /// `tcp-request … set-dst|set-dst-port` (Runtime/DestinationRewrite.swift), issue 15.
    var destinationRules: DestinationRules?
    /// `mode http`: `tcp-request content track-scN`, run for each request.
    var requestContentTracks: ContentTracks?
    var tracksStickCounters = false
    /// What each connection's `StreamValues` holds (variables, captures), issue 15.
    var streamValues = StreamValuesLayout()
    /// `unique-id-format` / `unique-id-header` (issue 15).
    var uniqueID: UniqueIDRule?
    /// `tcp-request session|content set-var` in `mode http` (issue 15).
    var tcpVariableRules: TCPVariableRules?
    /// TLS (issue 5): the context of each bind with `ssl` (same order as `binds`, nil
    /// without ssl); set by RuntimeBuilder through TLSSetup.
    var tlsContexts: [TLSServerContext?] = []
    /// Traffic logs (Logging/TrafficLog); nil when this frontend does not log, and then
    /// sessions keep no log record at all.
    var trafficLog: TrafficLog?
    /// Where failed TLS handshakes are written (TLS/TLSStatistics); set with the logs.
    var connectionErrors = ConnectionErrorLog()
    /// TLS (issue 5): `mode tcp` content inspection (`tcp-request inspect-delay`, content
    /// rules, `use_backend` with `req.ssl_sni`); nil = straight to the default backend.
    var tcpInspection: TCPInspection?

    init(name: String, mode: ProxyMode, binds: [BindSettings], timeouts: FrontendTimeouts,
                maxConnections: Int?, router: Router, httpConnectionMode: HTTPConnectionMode,
                forwardFor: ForwardForRule?, errorPages: ErrorPages,
                requestRules: [CompiledRule], responseRules: [CompiledRule]) {
        self.requestRules = requestRules
        self.responseRules = responseRules
        self.name = name
        self.mode = mode
        self.binds = binds
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.router = router
        self.httpConnectionMode = httpConnectionMode
        self.forwardFor = forwardFor
        self.errorPages = errorPages
    }
}

