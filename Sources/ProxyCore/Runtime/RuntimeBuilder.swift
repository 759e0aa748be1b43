import NIOCore
import Shared

/// Turns the validated model into the structures the event loops run: backends with
/// resolved server addresses, frontends with their routes, timeouts as TimeAmounts.
public enum RuntimeBuilder {
    /// A configuration the model accepts but the engine cannot run (yet).
    public struct Failure: Error, CustomStringConvertible {
        public let location: SourceLocation?
        public let message: String
        public init(location: SourceLocation?, message: String) {
            self.location = location
            self.message = message
        }
        public var description: String {
            location.map { "config : parsing [\($0)] : \(message)" } ?? "config : \(message)"
        }
    }

    public static func build(_ config: ProxyConfiguration, threads: Int? = nil) throws -> ProxyRuntime {
        let compiled = try compile(config)
        let (frontends, backends, backendByName) = (compiled.frontends, compiled.backends, compiled.backendByName)
        ProcessVariables.setUp(config.global.variables)  // global set-var (issue 15)
        let threadCount = threads ?? config.global.nbthread ?? System.coreCount
        if let maxconn = config.global.maxconn { ResourceLimits.ensureDescriptors(forConnections: maxconn) }
        let runtime = ProxyRuntime(frontends: frontends, backends: backends, threads: threadCount,
                            maxConnections: config.global.maxconn ?? ResourceLimits.defaultMaxConnections(),
                            dataPath: DataPath.choose(frontends: frontends, backends: backends))
        // Logs and health checks (Logging/, Health/).
        attachLogsAndChecks(config, runtime: runtime, backends: backendByName)
        ProxyRuntime.linkTrackedServers(config, backends: backendByName)  // `track` (ServerTracking.swift)
        runtime.prometheus = compiled.prometheus
        runtime.stickTables = compiled.stickTables
        // DNS service discovery (issue 15): servers that follow names.
        // Each backend's server lines only: copying whole ProxySettings values (as a
        // filter of the proxies did) took 13% of start-up with 10,000 backends.
        var followed: [(servers: [ServerSettings], backend: RuntimeBackend)] = []
        for proxy in config.proxies where proxy.isBackend && !proxy.disabled {
            if let backend = backendByName[proxy.name] { followed.append((proxy.servers, backend)) }
        }
        runtime.dns = DNSService(config: config, backends: followed, runtime: runtime)
        return runtime
    }

    /// `proxyd -c`: refuses what `build` would refuse at start-up (rules, samples and
    /// TLS settings the engine cannot run), without starting threads, sockets or checks,
    /// so that a configuration `-c` calls valid also starts, as with HAProxy.
    /// The caller may keep what was compiled until it exits: freeing 10,000 backends
    /// object by object takes as long as compiling them.
    public static func check(_ config: ProxyConfiguration) throws -> Checked {
        Checked(compiled: try compile(config))
    }

    /// What `check` compiled, opaque to its caller.
    public struct Checked {
        private let compiled: Compiled
        fileprivate init(compiled: Compiled) { self.compiled = compiled }
    }

    /// What the event loops will run, compiled from the model: no thread, socket or
    /// check is started here.
    fileprivate struct Compiled {
        var frontends: [RuntimeFrontend]
        var backends: [RuntimeBackend]
        var backendByName: [String: RuntimeBackend]
        var prometheus: PrometheusService
        var stickTables: StickTableDirectory
    }

    private static func compile(_ config: ProxyConfiguration) throws -> Compiled {
        // `use-service prometheus-exporter` rules share one service, given its statistics
        // by the control plane once the runtime exists.
        let prometheus = PrometheusService()
        MapFiles.current.withLockedValue { $0 = [:] }  // map files load afresh (Runtime/MapFiles.swift)
        ACLFiles.current.withLockedValue { $0 = [:] }  // and ACL pattern files (Runtime/ACLFiles.swift)
        // Stick tables first: rules and conditions compiled below resolve them by name.
        let stickTables = StickTableDirectory(config.proxies.compactMap { $0.stickTable.map(StickTable.init) }
            + config.peers.flatMap(\.tables).map(StickTable.init))
        StickTableDirectory.current.withLockedValue { $0 = stickTables }
        var backends: [RuntimeBackend] = []
        var backendByName: [String: RuntimeBackend] = [:]
        for proxy in config.proxies where proxy.isBackend && !proxy.disabled {
            let backend = try makeBackend(proxy, index: backends.count)
            try TLSSetup.attach(to: backend, from: proxy, global: config.global)  // TLS (issue 5)
            if !config.global.noSplice {
                backend.splice = SpliceDirections(request: proxy.spliceRequest, response: proxy.spliceResponse)
            }
            backends.append(backend)
            backendByName[proxy.name] = backend
        }
        for proxy in config.proxies where proxy.isBackend && !proxy.disabled {
            let backend = backendByName[proxy.name]!
            backend.requestRules = try proxy.httpRequestRules.map {
                try compile($0, backends: backendByName, current: backend, prometheus: prometheus,
                            tarpit: tarpitDelay(proxy))
            }
            backend.responseRules = try proxy.httpResponseRules.map {
                try compile($0, backends: backendByName, current: backend, pages: ErrorPages(errorFiles: proxy.errorFiles))
            }
            backend.retryOn = proxy.retryOn
            backend.afterResponseRules = try proxy.httpAfterResponseRules.map {
                try compile($0, backends: backendByName, current: backend)
            }
            backend.stickRules = StickRules(proxy, tables: stickTables, servers: backend.servers,
                                            backends: backendByName, own: backend)
            if CookiePersistence.isNeeded(proxy) {  // issue 15
                backend.persistence = CookiePersistence(proxy, servers: backend.servers, backends: backendByName,
                                                        current: backend)
            }
            backend.rdpPersistence = proxy.persistence.rdpCookie.map { RDPPersistence(name: $0, whileDown: proxy.persistence.persistWhileDown) }
            backend.pretendKeepAlive = proxy.smallOptions.pretendKeepAlive
            backend.compression = proxy.compression.isEmpty ? nil : proxy.compression
            backend.serverKeepAliveProbes = proxy.smallOptions.serverKeepAliveProbes
                ? proxy.smallOptions.serverKeepAliveTimings : nil
        }
        var frontends: [RuntimeFrontend] = []
        for proxy in config.proxies where proxy.isFrontend && !proxy.disabled && !proxy.binds.isEmpty {
            // A listen section is its own backend unless it names another one.
            let defaultName = proxy.defaultBackend ?? (proxy.isBackend ? proxy.name : nil)
            let own = proxy.isBackend ? backendByName[proxy.name] : nil
            var router = Router(defaultBackend: defaultName.flatMap { backendByName[$0] })
            for rule in proxy.useBackendRules {
                let condition = rule.condition.map { CompiledCondition($0, backends: backendByName, currentBackend: own) }
                if rule.isDynamic {  // Runtime/DynamicBackendName.swift
                    router.rules.append(Router.Rule(condition: condition, backend: nil,
                                                    dynamic: try DynamicBackendName(rule, backends: backendByName)))
                    continue
                }
                guard let target = backendByName[rule.backend] else {
                    throw Failure(location: rule.location, message: "no backend named '\(rule.backend)'")
                }
                router.rules.append(Router.Rule(condition: condition, backend: target))
            }
            // A listen section's rules run once, as its frontend's.
            let requestRules = try own?.requestRules ?? proxy.httpRequestRules.map {
                try compile($0, backends: backendByName, current: nil, pages: ErrorPages(errorFiles: proxy.errorFiles),
                            prometheus: prometheus, tarpit: tarpitDelay(proxy))
            }
            let responseRules = try own?.responseRules ?? proxy.httpResponseRules.map {
                try compile($0, backends: backendByName, current: nil, pages: ErrorPages(errorFiles: proxy.errorFiles))
            }
            frontends.append(RuntimeFrontend(
                name: proxy.name,
                mode: proxy.mode,
                binds: proxy.binds,
                timeouts: FrontendTimeouts(
                    client: amount(proxy.timeouts.client),
                    httpRequest: amount(proxy.timeouts.httpRequest),
                    httpKeepAlive: amount(proxy.timeouts.httpKeepAlive),
                    tunnel: amount(proxy.timeouts.tunnel)),
                maxConnections: proxy.maxconn,
                router: router,
                httpConnectionMode: proxy.httpConnectionMode,
                forwardFor: proxy.forwardFor.map(ForwardForRule.init),
                errorPages: ErrorPages(errorFiles: proxy.errorFiles),
                requestRules: requestRules,
                responseRules: responseRules))
            frontends[frontends.count - 1].bufferRequestBody = proxy.httpBufferRequest
            frontends[frontends.count - 1].streamValues = StreamValuesLayout(config, frontend: proxy)  // issue 15
            frontends[frontends.count - 1].tcpVariableRules = try TCPVariableRules(proxy, backends: backendByName, own: own)
            if let format = proxy.uniqueIDFormat {
                frontends[frontends.count - 1].uniqueID = try UniqueIDRule(format: format, header: proxy.uniqueIDHeader,
                                                                           at: proxy.location)
            }
            frontends[frontends.count - 1].sessionRate = proxy.rateLimitSessions.map(SessionRateLimit.init)
            frontends[frontends.count - 1].afterResponseRules = try own?.afterResponseRules
                ?? proxy.httpAfterResponseRules.map { try compile($0, backends: backendByName, current: nil) }
            frontends[frontends.count - 1].connectionRules = ConnectionRules(proxy, tables: stickTables,
                                                                             backends: backendByName, own: own)
            frontends[frontends.count - 1].destinationRules = DestinationRules(proxy, backends: backendByName, own: own)
            frontends[frontends.count - 1].tracksStickCounters = !stickTables.tables.isEmpty
            if proxy.mode == .http {
                frontends[frontends.count - 1].requestContentTracks = ContentTracks(proxy, tables: stickTables,
                                                                                    backends: backendByName, own: own)
            }
            frontends[frontends.count - 1].compression = proxy.compression.isEmpty ? nil : proxy.compression
            frontends[frontends.count - 1].clientKeepAliveProbes = proxy.smallOptions.clientKeepAliveProbes
                ? proxy.smallOptions.clientKeepAliveTimings : nil
            if !config.global.noSplice {
                frontends[frontends.count - 1].splice = SpliceDirections(request: proxy.spliceRequest,
                                                                         response: proxy.spliceResponse)
            }
            try TLSSetup.attach(to: frontends[frontends.count - 1], from: proxy, global: config.global,
                                backends: backendByName, own: own)  // TLS (issue 5)
        }
        return Compiled(frontends: frontends, backends: backends, backendByName: backendByName,
                        prometheus: prometheus, stickTables: stickTables)
    }

    private static func makeBackend(_ proxy: ProxySettings, index: Int) throws -> RuntimeBackend {
        var servers: [RuntimeServer] = []
        for settings in proxy.servers {
            servers.append(try makeServer(settings, index: servers.count, in: proxy))
        }
        return RuntimeBackend(
            name: proxy.name,
            index: index,
            mode: proxy.mode,
            servers: servers,
            timeouts: BackendTimeouts(
                connect: amount(proxy.timeouts.connect),
                server: amount(proxy.timeouts.server),
                queue: amount(proxy.timeouts.queue),
                tunnel: amount(proxy.timeouts.tunnel)),
            retries: proxy.retries,
            redispatch: proxy.redispatch,
            balance: proxy.balance,
            httpConnectionMode: proxy.httpConnectionMode,
            forwardFor: proxy.forwardFor.map(ForwardForRule.init),
            errorPages: ErrorPages(errorFiles: proxy.errorFiles),
            allBackups: proxy.allBackups)
    }

    /// A server line as the running proxy sees it (also `add server`'s, at run time).
    static func makeServer(_ settings: ServerSettings, index: Int, in proxy: ProxySettings,
                           disabled: Bool? = nil) throws -> RuntimeServer {
        let server = RuntimeServer(
            name: settings.name,
            index: index,
            address: try address(of: settings, in: proxy),
            weight: settings.weight,
            isBackup: settings.backup,
            maxConnections: settings.maxconn > 0 ? settings.maxconn : nil,
            disabled: disabled ?? settings.disabled,
            id: settings.id,
            poolPurgeDelayMs: settings.poolPurgeDelay ?? 5000)
        server.source = settings.source ?? proxy.source
        return server
    }

    private static func address(of server: ServerSettings, in proxy: ProxySettings) throws -> SocketAddress {
        if let path = server.unixPath {
            return try SocketAddress(unixDomainSocketPath: path)
        }
        // A server without an address yet (`init-addr none`, or waiting for DNS: issue 15)
        // starts in MAINT (resolution), as HAProxy's does, until DNS or `set server addr`
        // gives it one (DNSService).
        if server.addresses.isEmpty {
            return try SocketAddress(ipAddress: "0.0.0.0", port: server.port ?? 0)
        }
        guard let ip = server.addresses.first else {
            throw Failure(location: server.location,
                          message: "backend '\(proxy.name)': server '\(server.name)' has no address")
        }
        // A server without a port uses the port the client connected to; without
        // transparent binds that is the listener's port, which HAProxy also assumes.
        let port = server.port ?? 0
        return try SocketAddress(ipAddress: ip.description, port: port)
    }

    /// `pages`: a frontend's rules answer with its own error pages (HAProxy's stream has no
    /// backend yet); a backend's rules with the backend's.
    private static func compile(_ rule: HTTPRequestRule, backends: [String: RuntimeBackend],
                                current: RuntimeBackend?, pages frontendPages: ErrorPages? = nil,
                                prometheus: PrometheusService, tarpit: TimeAmount = .zero) throws -> CompiledRule {
        let pages = current?.errorPages ?? frontendPages ?? ErrorPages()
        let action: RuleAction
        switch rule.action {
        case .setHeader(let name, let value):
            action = try .setHeader(name, value, at: rule.location)
        case .addHeader(let name, let value):
            action = try .addHeader(name, value, at: rule.location)
        case .deleteHeader(let name, let match) where match == .string:
            action = .deleteHeader(name)
        case .setMethod(let f): action = .editRequestLine(try CompiledRequestLineEdit(.method, f, at: rule.location))
        case .setPath(let f): action = .editRequestLine(try CompiledRequestLineEdit(.path, f, at: rule.location))
        case .setQuery(let f): action = .editRequestLine(try CompiledRequestLineEdit(.query, f, at: rule.location))
        case .setURI(let f): action = .editRequestLine(try CompiledRequestLineEdit(.uri, f, at: rule.location))
        case .editRequestLine(let edit): action = .editRequestLine(try CompiledRequestLineEdit(edit, at: rule.location))
        case .replaceHeader(let name, let regex, let f), .replaceValue(let name, let regex, let f):
            var eachValue = false
            if case .replaceValue = rule.action { eachValue = true }
            action = .replaceHeader(try CompiledHeaderReplace(name: name, regex: regex, replacement: f,
                                                              eachValue: eachValue, inResponse: false, at: rule.location))
        case .deny(let reply):
            action = try FormattedReply(reply, at: rule.location).map { RuleAction.formattedReply($0, closes: true) }
                ?? .reply(HTTPReplies.constantBytes(reply, errorPages: pages), closes: true)
        case .return(let reply):
            action = try FormattedReply(reply, at: rule.location).map { RuleAction.formattedReply($0, closes: false) }
                ?? .reply(HTTPReplies.constantBytes(reply, errorPages: pages), closes: false)
        case .redirect(let redirect):
            action = .redirect(redirect)
        case .allow:
            action = .allow
        case .useService:
            action = .service(prometheus)
        case .track(let track):
            guard let compiled = CompiledTrack(track, tables: StickTableDirectory.current.withLockedValue({ $0 })) else {
                throw Failure(location: rule.location, message: "unable to find table '\(track.table)' referenced by track-sc\(track.counter)")
            }
            action = .track(compiled)
        case .incrementGPC(let counter, let gpc):
            action = .incrementGPC(counter: counter, gpc: gpc)
        case .setGPT0(let counter, let value):
            action = .setGPT0(counter: counter, value: value)
        case .setVariable(let assignment):
            action = .setVariable(try CompiledAssignment(assignment, at: rule.location))
        case .capture(let capture):
            action = .capture(CompiledCapture(sample: CompiledSample(capture.expression), slot: capture.slot, response: false))
        case .setLogLevel(let choice): action = .logLevel(choice)  // Runtime/RuleEffects.swift
        case .setSource(let rewrite): action = .setSource(CompiledSourceRewrite(rewrite))
        case .setDestination(let rewrite): action = .setDestination(CompiledDestinationRewrite(rewrite))
        case .silentDrop: action = .end(.silentDrop)
        case .reject: action = .end(.reject)
        case .tarpit(let reply):
            action = try FormattedReply(reply, at: rule.location).map { RuleAction.formattedTarpit($0, delay: tarpit) }
                ?? .end(.tarpit(HTTPReplies.constantBytes(reply, errorPages: pages), delay: tarpit))
        default:
            throw Failure(location: rule.location, message: "this 'http-request' action is not supported yet")
        }
        return CompiledRule(
            action: action,
            condition: rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: current) })
    }

    private static func compile(_ rule: HTTPResponseRule, backends: [String: RuntimeBackend],
                                current: RuntimeBackend?, pages: ErrorPages = ErrorPages()) throws -> CompiledRule {
        let action: RuleAction
        switch rule.action {
        case .setHeader(let name, let value):
            action = try .setHeader(name, value, at: rule.location)
        case .addHeader(let name, let value):
            action = try .addHeader(name, value, at: rule.location)
        case .deleteHeader(let name, let match) where match == .string:
            action = .deleteHeader(name)
        case .replaceHeader(let name, let regex, let f), .replaceValue(let name, let regex, let f):
            var eachValue = false
            if case .replaceValue = rule.action { eachValue = true }
            action = .replaceHeader(try CompiledHeaderReplace(name: name, regex: regex, replacement: f,
                                                              eachValue: eachValue, inResponse: true, at: rule.location))
        case .allow:
            action = .allow
        case .incrementGPC(let counter, let gpc):
            action = .incrementGPC(counter: counter, gpc: gpc)
        case .setGPT0(let counter, let value):
            action = .setGPT0(counter: counter, value: value)
        case .setVariable(let assignment):
            action = .setVariable(try CompiledAssignment(assignment, at: rule.location))
        case .capture(let capture):
            action = .capture(CompiledCapture(sample: CompiledSample(capture.expression), slot: capture.slot, response: true))
        case .setLogLevel(let choice): action = .logLevel(choice)  // Runtime/RuleEffects.swift
        case .silentDrop: action = .end(.silentDrop)
        case .setStatus(let code, let reason): action = .setStatus(code, reason: reason)
        case .deny(let reply):  // HTTPSession+ResponseReply.swift
            action = try FormattedReply(reply, at: rule.location).map { RuleAction.formattedReply($0, closes: true) }
                ?? .reply(HTTPReplies.constantBytes(reply, errorPages: pages), closes: true)
        case .return(let reply):
            action = try FormattedReply(reply, at: rule.location).map { RuleAction.formattedReply($0, closes: false) }
                ?? .reply(HTTPReplies.constantBytes(reply, errorPages: pages), closes: false)
        default:
            throw Failure(location: rule.location, message: "this 'http-response' action is not supported yet")
        }
        return CompiledRule(
            action: action,
            condition: rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: current) })
    }

    /// How long `tarpit` holds a request: `timeout tarpit`, else `timeout connect` (HAProxy's
    /// default), of the proxy whose rule it is.
    static func tarpitDelay(_ proxy: ProxySettings) -> TimeAmount {
        .milliseconds(Int64(proxy.timeouts.tarpit ?? proxy.timeouts.connect ?? 0))
    }

    static func amount(_ milliseconds: Int?) -> TimeAmount? {
        milliseconds.map { .milliseconds(Int64($0)) }
    }
}

extension ForwardForRule {
    init(_ model: ForwardFor) {
        self.init(header: model.header, ifNone: model.ifNone, except: model.except)
    }
}
