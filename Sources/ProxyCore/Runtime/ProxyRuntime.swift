import Atomics
import NIOCore
import NIOPosix

/// Everything a running proxyd is made of: its event loops, its listeners, and the
/// frontends and backends they serve.
public final class ProxyRuntime: @unchecked Sendable {
    public let frontends: [RuntimeFrontend]
    public let backends: [RuntimeBackend]
    public let group: MultiThreadedEventLoopGroup
    public let counters: [String: SessionCounters]
    let loopStates: LoopStates
    let sessions: SessionRegistry

    private var listeners: [Channel] = []

    /// Health and agent checks (Health/HealthMonitor); set by RuntimeBuilder, started by `bind`.
    public internal(set) var healthMonitor: HealthMonitor?
    /// Log destinations shared by all proxies (Logging/); their `dropped` counts lost lines.
    public internal(set) var logSinks = LogSinks()

    /// Client connections of the whole process (global `maxconn`).
    let globalGate: AdmissionGate

    public init(frontends: [RuntimeFrontend], backends: [RuntimeBackend], threads: Int, maxConnections: Int) {
        self.globalGate = AdmissionGate(limit: maxConnections)
        for frontend in frontends {
            // A frontend without its own maxconn may use the whole process's.
            frontend.gate = AdmissionGate(limit: frontend.maxConnections ?? maxConnections, parent: globalGate)
        }
        self.frontends = frontends
        self.backends = backends
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        self.loopStates = LoopStates(group: group, backends: backends)
        var counters: [String: SessionCounters] = [:]
        for frontend in frontends { counters[frontend.name] = SessionCounters() }
        self.counters = counters
        self.sessions = SessionRegistry()
    }

    /// A listener that could not be opened, worded as HAProxy reports it.
    public struct BindFailure: Error, CustomStringConvertible {
        public let frontend: String
        public let bind: BindSettings
        public let reason: String
        public var description: String {
            "Binding [\(bind.location)] for frontend \(frontend): cannot bind socket (\(reason)) for [\(bind.address)]"
        }
    }

    struct Unsupported: Error, CustomStringConvertible {
        let what: String
        var description: String { "listening on \(what) is not supported yet" }
    }

    /// Opens every listener. On failure, closes those already open and throws.
    /// `sharingPorts`: SO_REUSEPORT, so that a new process can bind beside the one it
    /// replaces (`-sf`); off otherwise so that a port in use is an error.
    public func bind(sharingPorts: Bool = false) throws {
        for frontend in frontends {
            for bind in frontend.binds {
                do {
                    let listener = try self.bind(frontend: frontend, to: bind.address, sharingPorts: sharingPorts)
                    listeners.append(listener)
                    frontend.gate.add(listener: listener)
                } catch {
                    for channel in listeners { channel.close(promise: nil) }
                    listeners.removeAll()
                    throw BindFailure(frontend: frontend.name, bind: bind,
                                      reason: Self.reason(for: error))
                }
            }
        }
        // Listening: the health checks start now, as HAProxy's do after start-up.
        startHealthChecks()
    }

    /// Starts the health and agent checks on the event loops (once).
    public func startHealthChecks() {
        guard let monitor = healthMonitor, monitor.runtime == nil else { return }
        monitor.runtime = self
        monitor.start()
    }

    private func bind(frontend: RuntimeFrontend, to address: BindAddress, sharingPorts: Bool) throws -> Channel {
        let counters = self.counters[frontend.name]!
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        makeSession(frontend: frontend, counters: counters))
                }
            }
        if sharingPorts {
            bootstrap = bootstrap.serverChannelOption(ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
        }
        switch address {
        case .inet(let host, let port):
            return try bootstrap.bind(host: host?.description ?? "0.0.0.0", port: port).wait()
        case .unix(let path):
            return try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
        case .abstract, .fileDescriptor:
            throw ProxyRuntime.Unsupported(what: "\(address)")
        }
    }

    private func makeSession(frontend: RuntimeFrontend, counters: SessionCounters) -> ChannelHandler {
        counters.totalSessions.increment()
        switch frontend.mode {
        case .tcp:
            guard let backend = frontend.router.defaultBackend else {
                return RejectingSession()
            }
            return TCPSession(frontend: frontend, backend: backend, loopStates: loopStates,
                              counters: counters, registry: sessions)
        case .http:
            return HTTPSession(frontend: frontend, loopStates: loopStates, counters: counters, registry: sessions)
        }
    }

    /// Changes a server's state (health, admin, weight) and tells every event loop's
    /// balancer. The only way to change a server at run time.
    public func updateServer(_ server: RuntimeServer, in backend: RuntimeBackend,
                             _ change: (inout ServerStatus) -> Void) {
        let status = server.status.withLockedValue { status -> ServerStatus in
            change(&status)
            status.generation += 1
            return status
        }
        server.isUsable.store(status.isUsable, ordering: .relaxed)
        for state in loopStates.all {
            state.eventLoop.execute {
                state.balancers[backend.index].setUsable(status.isUsable, server: server.index)
                state.balancers[backend.index].setWeight(status.effectiveWeight, server: server.index)
            }
        }
    }

    public func backend(named name: String) -> RuntimeBackend? {
        backends.first { $0.name == name }
    }

    /// Closes the listeners: no new connection is accepted, live ones go on.
    public func stopListening() {
        for frontend in frontends { frontend.gate.removeAllListeners() }
        globalGate.removeAllListeners()
        for channel in listeners { channel.close(promise: nil) }
        listeners.removeAll()
    }

    /// SIGUSR1: stop accepting; idle keep-alive connections close, busy ones close after
    /// their current response. `liveSessions` then falls to zero.
    public func beginSoftStop() {
        sessions.beginStopping()
        stopListening()
        for state in loopStates.all {
            state.eventLoop.execute { state.closeIdleSessions() }
        }
    }

    /// Client connections still open.
    public var liveSessions: Int { globalGate.count }

    /// Stops everything at once.
    public func shutdown() {
        healthMonitor?.stop()  // Health/: checks cut short by the shutdown are not judged
        stopListening()
        try? group.syncShutdownGracefully()
    }

    static func reason(for error: Error) -> String {
        if let io = error as? IOError {
            return String(cString: strerror(io.errnoCode))
        }
        return "\(error)"
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Accepts nothing: closes a connection whose frontend has nowhere to send it.
final class RejectingSession: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelActive(context: ChannelHandlerContext) { context.close(promise: nil) }
}
