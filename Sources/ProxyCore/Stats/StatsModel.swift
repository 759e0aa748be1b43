#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import NIOCore

/// One value of a stats row: empty (HAProxy prints nothing), a number or a string.
public enum StatValue: Equatable, Sendable {
    case empty
    case number(Int)
    case string(String)

    var csv: String {
        switch self {
        case .empty: return ""
        case .number(let n): return String(n)
        case .string(let s): return s
        }
    }
}

/// What a row describes, with HAProxy's `type` number.
public enum StatObjectKind: Int, Sendable {
    case frontend = 0, backend = 1, server = 2

    var letter: String { self == .frontend ? "F" : self == .backend ? "B" : "S" }
    var jsonName: String { self == .frontend ? "Frontend" : self == .backend ? "Backend" : "Server" }
}

/// One line of `show stat`: HAProxy's 127 fields (103 fixed, then those of its
/// statistics modules, printed after the `-` column).
public struct StatRow: Sendable {
    public let kind: StatObjectKind
    public let proxyID: Int
    public let serverID: Int
    public var values: [StatValue]

    public subscript(name: String) -> StatValue {
        get { values[StatFields.index[name]!] }
        set { values[StatFields.index[name]!] = newValue }
    }
}

/// The field list and, per object kind, which fields HAProxy fills and how it tags them.
enum StatFields {
    static let names = StatFieldTable.names
    /// Fields before the `-` column.
    static let fixedCount = 103
    static let index: [String: Int] = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })

    /// `origin nature scope : type` of a field for an object kind, as `show stat typed` prints it.
    static func tag(_ field: Int, _ kind: StatObjectKind) -> String {
        let own: String?
        switch kind {
        case .frontend: own = StatFieldTable.frontendTags[field]
        case .backend: own = StatFieldTable.backendTags[field]
        case .server: own = StatFieldTable.serverTags[field]
        }
        if let own { return own }
        if let other = StatFieldTable.backendTags[field] ?? StatFieldTable.serverTags[field]
            ?? StatFieldTable.frontendTags[field] { return other }
        switch names[field] {
        case "check_code", "agent_code", "throttle": return "MOP:u32"
        case "tracked", "cookie", "last_agt", "agent_status", "agent_desc": return "MOP:str"
        default: return "MCP:u64"
        }
    }

    static func mask(_ kind: StatObjectKind, tcp: Bool, checked: Bool) -> [Bool] {
        let text: String
        let tcpEmpty: [String]
        switch kind {
        case .frontend: text = StatFieldTable.frontendMask; tcpEmpty = StatFieldTable.tcpFrontendEmpty
        case .backend: text = StatFieldTable.backendMask; tcpEmpty = StatFieldTable.tcpBackendEmpty
        case .server: text = StatFieldTable.serverMask; tcpEmpty = StatFieldTable.tcpServerEmpty
        }
        var mask = text.utf8.map { $0 == UInt8(ascii: "x") }
        if tcp { for name in tcpEmpty { mask[index[name]!] = false } }
        if checked { for name in StatFieldTable.checkedServerFields { mask[index[name]!] = true } }
        return mask
    }
}

/// Everything the stats page and the runtime API read: the running proxy plus what
/// only the configuration knows (ids, modes, check settings, limits, node name).
public final class StatsContext: @unchecked Sendable {
    public let runtime: ProxyRuntime
    public let configuration: ProxyConfiguration

    /// One proxy in config order, with its runtime halves.
    struct Proxy {
        let name: String
        let id: Int
        let settings: ProxySettings
        let frontend: RuntimeFrontend?
        let backend: RuntimeBackend?
        /// Backend `slim`: `fullconn`, else a tenth of the maxconn of the frontends that
        /// may send to it (HAProxy's default).
        let fullconn: Int
    }

    let proxies: [Proxy]
    let globalMaxconn: Int
    public let nodeName: String
    /// Wall-clock start, seconds since the epoch (`Start_time_sec`).
    let startTime: Int

    public init(runtime: ProxyRuntime, configuration: ProxyConfiguration) {
        self.runtime = runtime
        self.configuration = configuration
        let globalMaxconn = configuration.global.maxconn ?? ResourceLimits.defaultMaxConnections()
        self.globalMaxconn = globalMaxconn
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let hostName = String(cString: host)
        self.nodeName = configuration.global.node ?? hostName
        self.startTime = time(nil)

        // Which frontends reach which backend, for the default `fullconn`.
        var reach: [String: Int] = [:]
        for proxy in configuration.proxies where proxy.isFrontend && !proxy.disabled {
            var targets = Set(proxy.useBackendRules.map { $0.backend })
            if let name = proxy.defaultBackend ?? (proxy.isBackend ? proxy.name : nil) { targets.insert(name) }
            for target in targets { reach[target, default: 0] += proxy.maxconn ?? globalMaxconn }
        }
        // The runtime halves by name, first of each name (as a scan would find them).
        var frontendByName: [String: RuntimeFrontend] = [:]
        for frontend in runtime.frontends where frontendByName[frontend.name] == nil {
            frontendByName[frontend.name] = frontend
        }
        var backendByName: [String: RuntimeBackend] = [:]
        for backend in runtime.backends where backendByName[backend.name] == nil {
            backendByName[backend.name] = backend
        }
        var proxies: [Proxy] = []
        for (position, settings) in configuration.proxies.enumerated() where !settings.disabled {
            let frontend = frontendByName[settings.name]
            let backend = settings.isBackend ? backendByName[settings.name] : nil
            proxies.append(Proxy(
                name: settings.name,
                // HAProxy numbers proxies from 2 in config order unless `id` says otherwise.
                id: settings.id ?? position + 2,
                settings: settings,
                frontend: settings.isFrontend ? frontend : nil,
                backend: backend,
                fullconn: settings.fullconn ?? max(1, ((reach[settings.name] ?? 0) + 9) / 10)))
        }
        self.proxies = proxies
    }

    func proxy(named name: String) -> Proxy? { proxies.first { $0.name == name } }
    func proxy(id: Int) -> Proxy? { proxies.first { $0.id == id } }

    func frontendProxy(named name: String) -> Proxy? {
        proxies.first { $0.name == name && $0.frontend != nil }
    }

    /// The server `backend/server` as the runtime API names it.
    func server(_ path: String) -> Result<(Proxy, RuntimeBackend, RuntimeServer), ServerLookupError> {
        guard let slash = path.firstIndex(of: "/") else { return .failure(.syntax) }
        let backendName = String(path[..<slash])
        let serverName = String(path[path.index(after: slash)...])
        guard let proxy = proxies.first(where: { $0.name == backendName && $0.backend != nil }),
              let backend = proxy.backend else { return .failure(.noBackend) }
        guard let server = backend.servers.first(where: { $0.name == serverName }) else { return .failure(.noServer) }
        return .success((proxy, backend, server))
    }

    enum ServerLookupError: Error { case syntax, noBackend, noServer }

    func serverSettings(_ proxy: Proxy, _ server: RuntimeServer) -> ServerSettings? {
        server.dynamicSettings ?? (server.index < proxy.settings.servers.count ? proxy.settings.servers[server.index] : nil)
    }

    // MARK: - Rows

    /// Every row in HAProxy's order: for each proxy, its frontend, its servers, its backend.
    public func rows(userLevel: Bool = false) -> [StatRow] {
        var rows: [StatRow] = []
        for proxy in proxies {
            rows.append(contentsOf: self.rows(of: proxy, userLevel: userLevel))
        }
        return rows
    }

    func rows(of proxy: Proxy, userLevel: Bool = false) -> [StatRow] {
        var rows: [StatRow] = []
        if let frontend = proxy.frontend { rows.append(frontendRow(proxy, frontend)) }
        if let backend = proxy.backend {
            for server in backend.servers { rows.append(serverRow(proxy, backend, server)) }
            var row = backendRow(proxy, backend)
            // HAProxy shows the balance algorithm to operators and admins only.
            if userLevel { row["algo"] = .empty }
            rows.append(row)
        }
        // … and server addresses too.
        if userLevel { for i in rows.indices where rows[i].kind == .server { rows[i]["addr"] = .empty } }
        return rows
    }

    private func blank(_ kind: StatObjectKind, _ proxy: Proxy, serverID: Int, checked: Bool = false) -> StatRow {
        let mask = StatFields.mask(kind, tcp: proxy.settings.mode == .tcp, checked: checked)
        var row = StatRow(kind: kind, proxyID: proxy.id, serverID: serverID,
                          values: mask.map { $0 ? .number(0) : .empty })
        row["pxname"] = .string(proxy.name)
        row["pid"] = .number(1)
        row["iid"] = .number(proxy.id)
        row["sid"] = .number(serverID)
        row["type"] = .number(kind.rawValue)
        row["mode"] = .string(proxy.settings.mode == .tcp ? "tcp" : "http")
        return row
    }

    private func set(_ row: inout StatRow, _ name: String, _ value: Int) {
        if row[name] != .empty { row[name] = .number(value) }
    }

    private func fill(_ row: inout StatRow, _ counters: SessionCounters) {
        set(&row, "scur", max(0, counters.currentSessions.current))
        set(&row, "smax", counters.maxSessions.current)
        set(&row, "stot", counters.totalSessions.current)
        set(&row, "bin", counters.bytesIn.current)
        set(&row, "bout", counters.bytesOut.current)
        set(&row, "dreq", counters.deniedRequests.current)
        set(&row, "dresp", counters.deniedResponses.current)
        set(&row, "ereq", counters.requestErrors.current)
        set(&row, "econ", counters.connectionErrors.current)
        set(&row, "eresp", counters.responseErrors.current)
        set(&row, "srv_abrt", counters.serverAborts.current)
        set(&row, "wretr", counters.retries.current)
        set(&row, "wredis", counters.redispatches.current)
        for (slot, name) in ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"].enumerated() {
            set(&row, name, counters.responses[slot].current)
        }
        set(&row, "req_tot", counters.requests.current)
        set(&row, "connect", counters.connects.current)
        set(&row, "reuse", counters.reuses.current)
        set(&row, "intercepted", counters.intercepted.current)
        set(&row, "comp_in", counters.compressionIn.current)
        set(&row, "comp_out", counters.compressionOut.current)
        set(&row, "comp_byp", counters.compressionBypass.current)
        set(&row, "comp_rsp", counters.compressedResponses.current)
        set(&row, "rate", counters.sessionRate.perSecond)
        set(&row, "rate_max", counters.sessionRate.maximum.current)
        set(&row, "req_rate", counters.requestRate.perSecond)
        set(&row, "req_rate_max", counters.requestRate.maximum.current)
        if row["lastsess"] != .empty {
            let last = counters.lastSession.current
            row["lastsess"] = .number(last == 0 ? -1 : (ProcessClock.milliseconds - last) / 1000)
        }
    }

    /// qtime/ctime/rtime/ttime and their maxima; `counted` is what the averages run over
    /// (requests in http, connections in tcp).
    private func fillTimes(_ row: inout StatRow, _ times: TimeStatistics, counted: Int) {
        for (kind, name) in zip(TimeStatistics.Kind.allCases, ["qtime", "ctime", "rtime", "ttime"]) {
            set(&row, name, times.average(kind, counted: counted))
            set(&row, name + "_max", times.maximum(kind))
        }
    }

    func frontendRow(_ proxy: Proxy, _ frontend: RuntimeFrontend) -> StatRow {
        var row = blank(.frontend, proxy, serverID: 0)
        row["svname"] = .string("FRONTEND")
        let counters = runtime.counters[frontend.name] ?? SessionCounters()
        fill(&row, counters)
        set(&row, "ssl_failed_handshake", counters.failedHandshakes.current)
        row["slim"] = .number(frontend.gate.limit)
        row["status"] = .string(frontend.gate.isDisabled ? "STOP" : "OPEN")
        set(&row, "conn_tot", counters.totalSessions.current)
        // proxyd accepts a connection and starts its session at once: the same rates.
        set(&row, "conn_rate", counters.sessionRate.perSecond)
        set(&row, "conn_rate_max", counters.sessionRate.maximum.current)
        if proxy.settings.mode == .http {
            // HAProxy's HTTP/1 module: connections and streams of the frontend.
            row["h1_open_connections"] = .number(max(0, counters.currentSessions.current))
            row["h1_total_connections"] = .number(counters.totalSessions.current)
            row["h1_total_streams"] = .number(counters.requests.current)
            row["h1_bytes_in"] = .number(counters.bytesIn.current)
            row["h1_bytes_out"] = .number(counters.bytesOut.current)
        }
        return row
    }

    /// `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check`; while the health counter is between
    /// the two ends, HAProxy's transitional `UP 1/3` (going down: checks left before
    /// DOWN) or `DOWN 1/2` (going up: checks passed towards `rise`).
    func serverStatusText(_ proxy: Proxy, _ server: RuntimeServer, _ status: ServerStatus) -> String {
        let check = serverSettings(proxy, server)?.check
        // A tracking server says UP or DOWN as its tracked server's checks do.
        let checked = (check?.enabled ?? false) || server.tracked != nil
        if status.resolutionMaintenance { return "MAINT (resolution)" }
        if status.admin == .maintenance { return "MAINT" }
        if status.inheritedMaintenance, let via = server.tracked?.path { return "MAINT (via \(via))" }
        let health = checked ? server.health?.snapshot.check?.health : nil
        if !status.operationalUp {
            if let health, let check, health > 0, health < check.rise { return "DOWN \(health)/\(check.rise)" }
            return "DOWN"
        }
        // HAProxy names the agent in a drain whenever one runs, whoever asked for the drain.
        if status.admin == .drain, runtime.healthMonitor?.checksEnabled(server, agent: true) == true {
            return "DRAIN (agent)"
        }
        let base = status.admin == .drain ? "DRAIN" : checked ? "UP" : "no check"
        if let health, let check, health >= check.rise, health < check.rise + check.fall - 1 {
            return base + " \(health - check.rise + 1)/\(check.fall)"
        }
        return base
    }

    func serverRow(_ proxy: Proxy, _ backend: RuntimeBackend, _ server: RuntimeServer) -> StatRow {
        let settings = serverSettings(proxy, server)
        let checked = settings?.check.enabled ?? false
        var row = blank(.server, proxy, serverID: server.id, checked: checked)
        row["svname"] = .string(server.name)
        fill(&row, server.counters)
        let status = server.status.withLockedValue { $0 }
        let now = ProcessClock.milliseconds
        row["scur"] = .number(max(0, server.currentConnections.load(ordering: .relaxed)))
        let pool = ShowServersConn.Figures(runtime.loopStates.ordered, backend, server)
        row["srv_icur"] = .number(pool.idle)
        row["idle_conn_cur"] = .number(pool.idle - pool.safe)
        row["safe_conn_cur"] = .number(pool.safe)
        row["used_conn_cur"] = .number(pool.used)
        row["need_conn_est"] = .number(pool.needed)
        row["stot"] = .number(server.totalConnections.load(ordering: .relaxed))
        row["lbtot"] = .number(server.counters.balancedPicks.current)
        if let limit = server.maxConnections { row["slim"] = .number(limit) }
        if let queue = settings?.maxqueue, queue > 0 { row["qlimit"] = .number(queue) }
        row["status"] = .string(serverStatusText(proxy, server, status))
        // HAProxy shows the weight the server has, also while it is down or draining.
        row["weight"] = .number(status.weight)
        row["uweight"] = .number(status.weight)
        row["act"] = .number(server.isBackup ? 0 : 1)
        row["bck"] = .number(server.isBackup ? 1 : 0)
        row["lastchg"] = .number((now - status.lastChange) / 1000)
        if checked, let check = settings?.check {
            let down = status.isUsable ? 0 : now - status.lastChange
            row["downtime"] = .number((status.downtimeBeforeMs + down) / 1000)
            row["check_rise"] = .number(check.rise)
            row["check_fall"] = .number(check.fall)
            // HAProxy's health counter: rise+fall-1 when fully UP, 0 when DOWN.
            row["check_health"] = .number(status.operationalUp ? check.rise + check.fall - 1 : 0)
            if let report = server.health?.snapshot.check {
                // What the health-check engine found last (Health/).
                // While a check runs, HAProxy marks the last status with `* `, zeroes its
                // code and blanks what it found; the duration stays the last one's.
                row["check_status"] = .string((report.inProgress ? "* " : "") + report.result.status.code)
                row["check_code"] = report.result.status.showsCode ? .number(report.inProgress ? 0 : report.result.code ?? 0) : .empty
                row["check_duration"] = .number(report.result.durationMilliseconds)
                row["last_chk"] = .string(report.inProgress ? "" : report.result.info ?? "")
                row["check_desc"] = .string(report.result.status.description)
                row["chkfail"] = .number(report.failures)
                row["chkdown"] = .number(report.downTransitions)
                row["check_health"] = .number(report.health)
            } else {
                row["check_status"] = .empty
                row["check_duration"] = .empty
                row["last_chk"] = .empty
                row["check_desc"] = .empty
            }
            // Checks are paused in maintenance (forced, or while DNS gives no address:
            // issue 15): HAProxy shows none of the check's fields then.
            if status.resolutionMaintenance || status.admin == .maintenance {
                for field in ["check_status", "check_code", "check_duration", "last_chk", "check_desc",
                              "check_health", "check_rise", "check_fall"] {
                    row[field] = .empty
                }
            }
        }
        if let agent = server.health?.snapshot.agent {
            // The agent's last word (HAProxy fills these whether or not it runs a check).
            row["agent_status"] = .string((agent.inProgress ? "* " : "") + agent.result.status.code)
            row["agent_code"] = agent.result.status.showsCode ? .number(agent.inProgress ? 0 : agent.result.code ?? 0) : .empty
            row["agent_duration"] = .number(agent.result.durationMilliseconds)
            row["last_agt"] = .string(agent.inProgress ? "" : agent.result.info ?? "")
            row["agent_desc"] = .string(agent.result.status.description)
            row["agent_rise"] = .number(agent.rise)
            row["agent_fall"] = .number(agent.fall)
            row["agent_health"] = .number(agent.health)
        }
        // A server waiting for DNS has no address: HAProxy leaves the field empty.
        row["addr"] = server.dns?.snapshot.hasAddress == false ? .empty : .string(Self.addressText(server.address))
        // The server whose health this one follows, always as `backend/server`.
        if let track = settings?.track {
            row["tracked"] = .string(track.contains("/") ? track : "\(proxy.name)/\(track)")
        }
        fillTimes(&row, server.counters.times, counted: proxy.settings.mode == .http
                  ? server.counters.requests.current : server.totalConnections.load(ordering: .relaxed))
        return row
    }

    func backendRow(_ proxy: Proxy, _ backend: RuntimeBackend) -> StatRow {
        var row = blank(.backend, proxy, serverID: 0)
        row["svname"] = .string("BACKEND")
        fill(&row, backend.counters)
        var activeWeight = 0, backupWeight = 0, active = 0, backup = 0, userWeight = 0
        for server in backend.servers {
            let status = server.status.withLockedValue { $0 }
            // HAProxy counts the servers that take new traffic: usable and not draining.
            guard status.isUsable, status.effectiveWeight > 0 else { continue }
            if server.isBackup {
                backup += 1
                backupWeight += status.effectiveWeight
            } else {
                active += 1
                activeWeight += status.effectiveWeight
                userWeight += status.weight
            }
        }
        let usable = active + backup > 0 || backend.servers.isEmpty
        row["qcur"] = .number(max(0, backend.waiting.load(ordering: .relaxed)))
        row["qmax"] = .number(backend.counters.maxQueue.current)
        row["slim"] = .number(proxy.fullconn)
        row["status"] = .string(usable ? "UP" : "DOWN")
        row["weight"] = .number(active > 0 ? activeWeight : backupWeight)
        row["uweight"] = .number(active > 0 ? userWeight : backupWeight)
        row["act"] = .number(active)
        row["bck"] = .number(backup)
        row["lastchg"] = .number((ProcessClock.milliseconds - backend.lastStatusChange.load(ordering: .relaxed)) / 1000)
        row["lbtot"] = .number(backend.counters.balancedPicks.current)
        fillTimes(&row, backend.counters.times, counted: proxy.settings.mode == .http
                  ? backend.counters.requests.current : backend.counters.totalSessions.current)
        if backend.servers.isEmpty { row["downtime"] = .empty }  // as HAProxy, for a serverless backend
        row["algo"] = .string(Self.algorithmName(proxy.settings.balance.algorithm))
        if proxy.settings.mode == .http {
            row["h1_total_connections"] = .number(backend.counters.connects.current)
            row["h1_total_streams"] = .number(backend.counters.requests.current)
            row["h1_bytes_in"] = .number(backend.counters.bytesOut.current)
            row["h1_bytes_out"] = .number(backend.counters.bytesIn.current)
        }
        return row
    }

    static func algorithmName(_ algorithm: Balance.Algorithm) -> String {
        switch algorithm {
        case .roundRobin: return "roundrobin"
        case .staticRoundRobin: return "static-rr"
        case .leastConn: return "leastconn"
        case .first: return "first"
        case .source: return "source"
        case .uri: return "uri"
        case .urlParam: return "url_param"
        case .header: return "hdr"
        case .random: return "random"
        case .rdpCookie: return "rdp-cookie"
        }
    }

    /// `127.0.0.1:80`, `[::1]:80` or the socket path.
    static func addressText(_ address: SocketAddress) -> String {
        switch address {
        case .v4:
            return "\(address.ipAddress ?? ""):\(address.port ?? 0)"
        case .v6:
            return "[\(address.ipAddress ?? "")]:\(address.port ?? 0)"
        case .unixDomainSocket:
            return address.pathname ?? ""
        }
    }

    static func ipText(_ address: SocketAddress) -> String {
        address.ipAddress ?? address.pathname ?? "-"
    }

    // MARK: - Process

    public var uptimeSeconds: Int { ProcessClock.milliseconds / 1000 }

    public var currentConnections: Int {
        runtime.frontends.reduce(0) { $0 + max(0, (runtime.counters[$1.name]?.currentSessions.current ?? 0)) }
    }
    public var cumulatedConnections: Int {
        runtime.frontends.reduce(0) { $0 + (runtime.counters[$1.name]?.totalSessions.current ?? 0) }
    }
    public var cumulatedRequests: Int {
        runtime.frontends.reduce(0) { $0 + (runtime.counters[$1.name]?.requests.current ?? 0) }
    }
    public var totalBytesOut: Int {
        runtime.frontends.reduce(0) { $0 + (runtime.counters[$1.name]?.bytesOut.current ?? 0) }
    }
    /// Sessions per second over all frontends, and the highest seen.
    public var sessionRate: (current: Int, max: Int) {
        runtime.frontends.reduce((0, 0)) { sum, frontend in
            guard let counters = runtime.counters[frontend.name] else { return sum }
            return (sum.0 + counters.sessionRate.perSecond, sum.1 + counters.sessionRate.maximum.current)
        }
    }

    /// Listening sockets: the binds and the `stats socket`s, as HAProxy counts them.
    var listenerCount: Int {
        runtime.frontends.reduce(0) { $0 + $1.binds.count } + configuration.global.statsSockets.count
    }
    /// Connections to the control sockets now (HAProxy counts them in `Jobs`).
    let controlSessions = CounterCell()

    /// `Idle_pct`: the share of the event-loop threads' time not spent on CPU, measured
    /// between two readings at least a second apart (the first from start).
    public var idlePercent: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Int(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000
            + Int(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000
        let now = ProcessClock.milliseconds
        let threads = max(1, runtime.loopStates.all.count)
        return idleSample.withLockedValue { sample in
            let wall = now - sample.wall
            guard wall >= 1000 else { return sample.idle }
            let busy = (cpu - sample.cpu) * 100 / (wall * threads)
            sample = (now, cpu, max(0, min(100, 100 - busy)))
            return sample.idle
        }
    }
    private let idleSample = NIOLockedValueBox<(wall: Int, cpu: Int, idle: Int)>((0, 0, 100))

    /// `BytesOutRate`: bytes sent to clients per second, measured between two readings at
    /// least a second apart (the first from start), as the page's `bit rate` shows it.
    public var bytesOutRate: Int {
        let now = ProcessClock.milliseconds
        let total = totalBytesOut
        return outputSample.withLockedValue { sample in
            let wall = now - sample.wall
            guard wall >= 1000 else { return sample.rate }
            sample = (now, total, max(0, (total - sample.bytes) * 1000 / wall))
            return sample.rate
        }
    }
    private let outputSample = NIOLockedValueBox<(wall: Int, bytes: Int, rate: Int)>((0, 0, 0))

    /// `clear counters [all]`.
    public func clearCounters(all: Bool) {
        for counters in runtime.counters.values { counters.clear(all: all) }
        for backend in runtime.backends {
            backend.counters.clear(all: all)
            for server in backend.servers { server.counters.clear(all: all) }
        }
    }
}
