import Atomics
import NIOConcurrencyHelpers

/// `add server` and `del server` (issue 15): servers joining and leaving a backend while
/// it runs, as HAProxy 2.6's dynamic servers do.
///
/// A server keeps its index for life: the balancer's slots and the loops' idle pools are
/// indexed by it, so a deleted server leaves its slot behind, unusable, and an added one
/// takes the next index. What readers see is `RuntimeBackend.serverList`, a snapshot
/// replaced whole after each change: the data path and the stats never take a lock for it.
extension ProxyRuntime {
    /// Changes to server lists are made one at a time (two control connections may ask
    /// at once); readers never take it.
    private static let serverListChanges = NIOLock()

    enum DynamicServerError: Error, Equatable {
        case notDynamicBalancing, nameTaken, idTaken(Int), unsupported(String)
        case referenced, notInMaintenance, hasConnections

        /// HAProxy 2.6's answers.
        var message: String {
            switch self {
            case .notDynamicBalancing: return "Backend must use a dynamic load balancing to support dynamic servers."
            case .nameTaken: return "Already exists a server with the same name in backend."
            case .idTaken(let id): return "'id' : custom id \(id) already used."
            case .unsupported(let keyword): return "'\(keyword)' option is not accepted for dynamic server"
            case .referenced:
                return "This server cannot be removed at runtime due to other configuration elements pointing to it."
            case .notInMaintenance: return "Only servers in maintenance mode can be deleted."
            case .hasConnections: return "Server still has connections attached to it, cannot remove it."
            }
        }
    }

    /// Adds a server built from `settings` to `backend`, in maintenance unless `enabled`
    /// (HAProxy's dynamic servers start in maintenance). Its TLS contexts are made before
    /// any connection can reach it.
    func addServer(_ settings: ServerSettings, enabled: Bool, to backend: RuntimeBackend,
                   proxy: ProxySettings, global: GlobalSettings) throws -> RuntimeServer {
        try Self.serverListChanges.withLock {
            guard backend.balancer.acceptsNewServers else { throw DynamicServerError.notDynamicBalancing }
            let current = backend.serverList.load(ordering: .acquiring)
            guard !current.listed.contains(where: { $0.name == settings.name }) else {
                throw DynamicServerError.nameTaken
            }
            var numbered = settings
            let ids = Set(current.listed.map(\.id))
            if let id = settings.id {
                guard !ids.contains(id) else { throw DynamicServerError.idTaken(id) }
            } else {
                // The smallest id not in use, as HAProxy numbers them.
                numbered.id = (1...).first { !ids.contains($0) }
            }
            let server = try RuntimeBuilder.makeServer(numbered, index: current.byIndex.count, in: proxy, disabled: true)
            server.dynamicSettings = settings  // `srv_f_forced_id` only for an `id` given
            server.readyWhenAdded = enabled
            try TLSSetup.attach(to: server, settings, backend: backend.name, global: global)
            if let expression = server.tls?.serverNameExpression, expression.fixedName == nil,
               !backend.dynamicServerName || expression.header.map({ !backend.serverNameHeaders.contains($0) }) == true {
                // The backend's sessions would not have kept what that `sni` reads.
                throw DynamicServerError.unsupported("sni")
            }
            if settings.addresses.isEmpty && settings.unixPath == nil {
                // A name: HAProxy's dynamic servers start with `init-addr none`, waiting for
                // `set server … addr`.
                server.status.withLockedValue { $0.resolutionMaintenance = true }
            }
            loopStates.giveGauges(to: server)
            let joined = backend.balancer.add(server, BalancerServer(
                weight: server.initialWeight, isBackup: server.isBackup, isUsable: false,
                maxConnections: server.maxConnections, id: server.id))
            guard joined else { throw DynamicServerError.notDynamicBalancing }
            if settings.check.enabled || settings.agent.enabled, let healthMonitor {
                // Checks wait for `enable health`, as HAProxy's dynamic servers' do.
                server.status.withLockedValue { $0.checksEnabled = false }
                healthMonitor.addChecks(settings, server: server, plan: HealthMonitor.BackendPlan(
                    backend: backend, kind: proxy.healthCheck.kind, servers: [], logHealthChecks: proxy.logHealthChecks,
                    logger: backend.logger, connectTimeout: proxy.timeouts.connect, checkTimeout: proxy.timeouts.check))
            }
            if server.bindsClientAddress { backend.clientSource.store(true, ordering: .relaxed) }
            backend.serverList.store(ServerList(listed: current.listed + [server], byIndex: current.byIndex + [server]),
                                     ordering: .releasing)
            if enabled { updateServer(server, in: backend) { $0.admin = .ready } }
            return server
        }
    }

    /// Takes `server` out of `backend`: only in maintenance, with no connection in use and
    /// nothing pointing at it (`track`, `use-server`). Its idle connections are closed.
    func deleteServer(_ server: RuntimeServer, from backend: RuntimeBackend, configuration: ProxyConfiguration) throws {
        try Self.serverListChanges.withLock {
            if Self.isReferenced(server, in: backend, configuration) { throw DynamicServerError.referenced }
            guard server.status.withLockedValue({ $0.admin == .maintenance }) else {
                throw DynamicServerError.notInMaintenance
            }
            guard server.currentConnections.load(ordering: .relaxed) == 0 else { throw DynamicServerError.hasConnections }
            // Its checks stop at their next turn (CheckRunner.run).
            server.isDeleted.store(true, ordering: .relaxed)
            let current = backend.serverList.load(ordering: .acquiring)
            backend.serverList.store(ServerList(listed: current.listed.filter { $0 !== server }, byIndex: current.byIndex),
                                     ordering: .releasing)
        }
        for state in loopStates.all {
            state.eventLoop.execute { state.closeIdle(of: server, backend: backend.index) }
        }
    }

    /// A server tracks it (the links ServerTracking made at start), or a `use-server` rule
    /// of its backend names it.
    private static func isReferenced(_ server: RuntimeServer, in backend: RuntimeBackend,
                                     _ configuration: ProxyConfiguration) -> Bool {
        if !server.trackers.isEmpty { return true }
        return configuration.proxies.contains { proxy in
            proxy.name == backend.name && proxy.persistence.useServerRules.contains { $0.server == server.name }
        }
    }
}

extension LoopState {
    /// `del server`: this loop's idle connections to it are closed.
    func closeIdle(of server: RuntimeServer, backend: Int) {
        guard server.index < idleConnections[backend].count else { return }
        let pool = idleConnections[backend][server.index]
        idleConnections[backend][server.index] = []
        for connection in pool {
            connection.isPooled = false
            poolLost(connection)
            connection.transport.close()
        }
    }
}
