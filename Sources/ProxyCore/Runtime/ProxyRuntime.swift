import CLinux  // IPPROTO_TCP: <netinet/in.h> belongs to CLinux's module since it includes it
import Atomics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Everything a running proxyd is made of: its event loops, its listeners, and the
/// frontends and backends they serve.
public final class ProxyRuntime: @unchecked Sendable {
    public let frontends: [RuntimeFrontend]
    public let backends: [RuntimeBackend]
    /// NIO's event loops: every connection on the NIO data path, and the control plane
    /// (runtime API, health checks, logs) on either.
    public let group: MultiThreadedEventLoopGroup
    /// Data path v2: the reactors that carry client and server connections; nil when the
    /// NIO data path carries them (DataPath.swift says when).
    let reactors: ReactorGroup?
    public let counters: [String: SessionCounters]
    let loopStates: LoopStates
    let sessions: SessionRegistry

    private var listeners: [Listener] = []
    /// Listeners whose socket another process holds too (the master, the process that
    /// handed it over, or the one it was handed to): closing ours closes nothing for
    /// them, so a soft stop must not filter or drain it (ListenerDrain).
    /// Guarded: `_getsocks` runs on an event loop while the main thread may be stopping.
    private let sharedListeners = NIOLockedValueBox<Set<ObjectIdentifier>>([])
    /// The listening sockets, for `handOverListeners` (which may run on another thread).
    private let listenerDescriptors = NIOLockedValueBox<[ObjectIdentifier: Int32]>([:])
    /// Sockets handed over by the master (-W), the old process (-x) or the caller
    /// (`fd@N`): a bind on the same address takes its socket instead of opening one.
    public var inherited = InheritedListeners()
    /// The socket files of `bind /path` listeners, removed when listening stops.
    private var unixFiles: [UnixSocketFile] = []

    /// Health and agent checks (Health/HealthMonitor); set by RuntimeBuilder, started by `bind`.
    public internal(set) var healthMonitor: HealthMonitor?
    /// `resolvers` sections and the servers that follow DNS (issue 15, DNS/).
    public internal(set) var dns: DNSService?
    /// Log destinations shared by all proxies (Logging/); their `dropped` counts lost lines.
    public internal(set) var logSinks = LogSinks()

    /// The `use-service prometheus-exporter` service of the rules (Stats/).
    var prometheus: PrometheusService?
    /// Stick tables (issue 15), for `show table` & co.
    var stickTables = StickTableDirectory([])
    /// `peers` sections replicating them (Runtime/Peers/), started by `startPeers`.
    var peerSections: [PeerSection] = []

    /// Told, on the thread that changed it, when a server became usable or unusable
    /// (Control/HAHub). Set once, before the listeners and health checks start.
    var usabilityObserver: (@Sendable () -> Void)?

    /// Client connections of the whole process (global `maxconn`).
    let globalGate: AdmissionGate

    public init(frontends: [RuntimeFrontend], backends: [RuntimeBackend], threads: Int, maxConnections: Int,
                dataPath: DataPath = .nio) {
        self.globalGate = AdmissionGate(limit: maxConnections)
        for frontend in frontends {
            // A frontend without its own maxconn may use the whole process's.
            frontend.gate = AdmissionGate(limit: frontend.maxConnections ?? maxConnections, parent: globalGate)
        }
        self.frontends = frontends
        self.backends = backends
        switch dataPath {
        case .nio:
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
            self.reactors = nil
            self.loopStates = LoopStates(group: group, backends: backends)
        case .native:
            // The control plane needs little: one NIO thread beside the reactors.
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            // PROXYD_IO=uring where io_uring is forbidden (containers): epoll, and a word why.
            if let reason = IOBackend.selected.fallbackReason {
                ConsoleEcho.warning("io_uring not used, the data path runs on epoll: \(reason)")
            } else if IOBackend.selected.backend == .uring, let reason = IOBackend.ringIO.reason {
                // The kernel has io_uring but not what receives in the ring need.
                ConsoleEcho.warning("io_uring used as a poller only, reads and sends stay system calls: \(reason)")
            }
            let reactors = ReactorGroup(count: max(1, threads), namePrefix: "proxyd-dp-")
            self.reactors = reactors
            self.loopStates = LoopStates(group: reactors, backends: backends)
            for state in loopStates.all { state.native = NativeLoopContext(reactor: state.eventLoop as! Reactor) }
        }
        var counters: [String: SessionCounters] = [:]
        for frontend in frontends { counters[frontend.name] = SessionCounters() }
        self.counters = counters
        self.sessions = SessionRegistry()
        _ = ProcessClock.start  // uptime counts from here (stats, issue 4)
        startIdleMemoryTrim()  // memory back to the system after a load (issue 14)
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

    /// Listeners that wait for `startAccepting()` (bind's `deferAccepting`).
    private var waitingListeners: [Listener] = []

    /// Opens every listener. On failure, closes those already open and throws.
    /// `deferAccepting`: no listener accepts, and no health check starts, until
    /// `startAccepting()`. proxyd binds as root and serves only once it has dropped to its
    /// `user` inside its `chroot` (HAProxy's order: a client is never served by root); and
    /// a socket shared with a running process (handed over, or the master's) takes no
    /// connection from it for a start that then fails.
    public func bind(deferAccepting: Bool = false) throws {
        self.deferAccepting = deferAccepting
        for frontend in frontends {
            for bind in frontend.binds {
                do {
                    let (listener, shared) = try self.bind(frontend: frontend, to: bind,
                                                           tls: frontend.tlsContext(for: bind))
                    listeners.append(listener)
                    if shared { sharedListeners.withLockedValue { _ = $0.insert(ObjectIdentifier(listener)) } }
                    frontend.gate.add(listener: listener)
                } catch {
                    stopListening()
                    throw BindFailure(frontend: frontend.name, bind: bind,
                                      reason: Self.reason(for: error))
                }
            }
        }
        // Sockets of the old configuration that no bind took any more.
        inherited.closeUnused()
        // Listening: the health checks start now, as HAProxy's do after start-up.
        if !deferAccepting { startHealthChecks() }
    }

    private var deferAccepting = false

    /// The start went through (privileges dropped): listeners accept and health checks
    /// run from now on.
    public func startAccepting() {
        for listener in waitingListeners { listener.setAccepting(true) }
        waitingListeners.removeAll()
        startHealthChecks()
    }

    /// Starts the health and agent checks on the event loops (once).
    public func startHealthChecks() {
        dns?.start()  // DNS queries start with the checks (idempotent)
        guard let monitor = healthMonitor, monitor.runtime == nil else { return }
        monitor.runtime = self
        monitor.start()
    }

    private func bind(frontend: RuntimeFrontend, to bind: BindSettings,
                      tls: TLSServerContext? = nil) throws -> (Listener, shared: Bool) {
        let backlog = ListenerSocket.backlog(of: bind, frontendMaxConnections: frontend.gate.limit)
        if let reactors {
            return try bindNatively(frontend: frontend, to: bind, backlog: backlog, reactors: reactors, tls: tls)
        }
        let address = bind.address
        let counters = self.counters[frontend.name]!
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Out of descriptors or memory at accept: logged as HAProxy logs it, then a
            // 100 ms pause, as on the native data path (NativeListener).
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptFailurePause(frontend: frontend))
                }
            }
            // No child options: NIO applies those through a chain of futures per option
            // and connection (a fifth of the accept's cost); the initializer sets them
            // directly. TCP_NODELAY comes from the listener, which NIO sets it on and
            // Linux copies to every accepted socket.
            .childChannelInitializer { [self] channel in
                ConnectionSetup.initialize(channel, keepAliveProbes: frontend.clientKeepAliveProbes) {
                    // TLS (issue 5): the session sees channelActive once the handshake is done.
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            tls.makeHandler(handshakeTimeout: frontend.timeouts.client,
                                            errors: frontend.connectionErrors))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        makeSession(frontend: frontend, counters: counters, on: channel.eventLoop))
                }
            }
        // A socket handed over: adopted as it is, shared with whoever handed it.
        var shared: Int32?
        if case .fileDescriptor(let fd) = address {
            shared = fd
        } else {
            shared = inherited.take(address)
        }
        let waiting = deferAccepting ? bootstrap.serverChannelOption(.autoRead, value: false) : bootstrap
        if let shared {
            let listener = try adopt(shared, waiting, backlog: backlog)
            if deferAccepting { waitingListeners.append(listener) }
            return (listener, true)
        }
        // Opened here rather than by NIO's bind, so that the descriptor is known and can be
        // handed to a process that takes over (`_getsocks`). TCP listeners get
        // SO_REUSEPORT, as HAProxy sets it: a reloading process (-sf) binds beside the one it
        // replaces; a port held by anything else (which did not set it) is still an error.
        // Unix ones are renamed into place and removed at the end only if still ours
        // (UnixSocketFile), so that a reload never leaves the path missing.
        let (fd, file) = try ListenerSocket.open(bind, backlog: backlog)
        if let file { unixFiles.append(file) }
        do {
            let listener = try adopt(fd, waiting, backlog: backlog)
            if deferAccepting { waitingListeners.append(listener) }
            return (listener, false)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Data path v2: the reactors accept on the socket themselves.
    private func bindNatively(frontend: RuntimeFrontend, to bind: BindSettings, backlog: Int32, reactors: ReactorGroup,
                              tls: TLSServerContext?) throws -> (Listener, shared: Bool) {
        var fd: Int32
        var shared = true
        if case .fileDescriptor(let given) = bind.address {
            fd = given
        } else if let handed = inherited.take(bind.address) {
            fd = handed
        } else {
            let (opened, file) = try ListenerSocket.open(bind, backlog: backlog)
            if let file { unixFiles.append(file) }
            fd = opened
            shared = false
        }
        var accepting: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting != 0 else {
            if !shared { close(fd) }
            throw Unsupported(what: "fd@\(fd), which is not a listening stream socket")
        }
        // The reactor's accept loop must find EAGAIN, never block (NIO sets the same).
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        // Accepted sockets inherit TCP_NODELAY from their listener (Linux copies it).
        var on: CInt = 1
        _ = setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<CInt>.size))
        // An inherited socket gets this configuration's queue.
        _ = Glibc.listen(fd, backlog)
        let counters = self.counters[frontend.name]!
        let contexts = loopStates.all.compactMap(\.native)
        let listener = NativeListener(descriptor: fd, contexts: contexts, failed: { error in
            ResourceShortageLog.report(error, frontend: frontend.name, logger: frontend.connectionErrors.logger)
        }) { [self] connection in
            accepted(connection, frontend: frontend, counters: counters, tls: tls)
        }
        do {
            try listener.start(paused: deferAccepting)
        } catch {
            listener.close()
            throw error
        }
        if deferAccepting { waitingListeners.append(listener) }
        listenerDescriptors.withLockedValue { $0[ObjectIdentifier(listener)] = fd }
        return (listener, shared)
    }

    /// A connection a reactor accepted: its session, then the accept phase.
    private func accepted(_ plain: NativeConnection, frontend: RuntimeFrontend, counters: SessionCounters,
                          tls: TLSServerContext?) {
        // Stick tables (issue 15): `tcp-request connection` rules, before any session.
        let trackers: StickTrackers?
        switch frontend.admit(plain) {
        case .rejected(let silently):
            if silently { plain.silenceSocket() }
            plain.close()
            return
        case .accepted(let admitted):
            trackers = admitted
        }
        counters.totalSessions.increment()
        if let timings = frontend.clientKeepAliveProbes { KeepAliveProbes.enable(on: plain.descriptor, timings) }  // issue 15
        // TLS (issue 5): the session hears transportActive once the handshake is done.
        let secured = tls.map { TLSTransport.serving(plain, with: $0, frontend: frontend) }
        let connection: SessionTransport = secured ?? plain
        switch frontend.mode {
        case .tcp:
            guard let backend = frontend.router.defaultBackend else {
                connection.close()
                return
            }
            let session = TCPSession(client: connection, frontend: frontend, backend: backend,
                                     loopStates: loopStates, counters: counters, registry: sessions)
            session.stickTrackers = trackers
            connection.events = session
        case .http:
            let session = HTTPSession(client: connection, frontend: frontend, loopStates: loopStates,
                                      counters: counters, registry: sessions)
            session.stickTrackers = trackers
            connection.events = session
        }
        if let secured { secured.start() } else { connection.events?.transportActive() }
    }

    /// Serves connections on a listening socket, remembering its descriptor.
    private func adopt(_ fd: Int32, _ bootstrap: ServerBootstrap, backlog: Int32) throws -> Listener {
        var accepting: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting != 0 else {
            throw Unsupported(what: "fd@\(fd), which is not a listening stream socket")
        }
        let channel = try bootstrap.withBoundSocket(fd).wait()
        // NIO listens again with its default backlog when it adopts a socket.
        _ = Glibc.listen(fd, backlog)
        let listener = ChannelListener(channel: channel, descriptor: fd)
        listenerDescriptors.withLockedValue { $0[ObjectIdentifier(listener)] = fd }
        return listener
    }

    /// The listening sockets' descriptors, for a process taking them over (`_getsocks`);
    /// from then on they are shared, and a soft stop closes ours without draining them.
    /// Call on the thread that runs the control sessions' commands (any): the set of
    /// listeners only changes at start and at the stop.
    public func handOverListeners() -> [Int32] {
        listenerDescriptors.withLockedValue { descriptors in
            sharedListeners.withLockedValue { shared in
                for id in descriptors.keys { shared.insert(id) }
            }
            return Array(descriptors.values)
        }
    }

    private func makeSession(frontend: RuntimeFrontend, counters: SessionCounters,
                             on eventLoop: EventLoop) -> ChannelHandler {
        counters.totalSessions.increment()
        switch frontend.mode {
        case .tcp:
            // TLS (issue 5): route on the ClientHello (req.ssl_sni) and content rules first.
            if let inspection = frontend.tcpInspection {
                return TCPContentInspector(frontend: frontend, inspection: inspection) { [self] backend, payload in
                    let client = ChannelTransport(eventLoop: eventLoop)
                    let session = TCPSession(client: client, frontend: frontend, backend: backend,
                                             loopStates: loopStates, counters: counters, registry: sessions)
                    session.inspectedPayload = payload  // `persist`/`balance rdp-cookie` (issue 15)
                    client.events = session
                    return client
                }
            }
            guard let backend = frontend.router.defaultBackend else {
                return RejectingSession()
            }
            let client = ChannelTransport(eventLoop: eventLoop)
            client.events = TCPSession(client: client, frontend: frontend, backend: backend, loopStates: loopStates,
                                       counters: counters, registry: sessions)
            return client
        case .http:
            let client = ChannelTransport(eventLoop: eventLoop)
            client.events = HTTPSession(client: client, frontend: frontend, loopStates: loopStates,
                                        counters: counters, registry: sessions)
            return client
        }
    }

    /// Changes a server's state (health, admin, weight) and tells the backend's balancer.
    /// The only way to change a server at run time.
    public func updateServer(_ server: RuntimeServer, in backend: RuntimeBackend,
                             _ change: (inout ServerStatus) -> Void) {
        var wasUsable = false
        var followedBefore = (up: true, maintenance: false)
        let backendWasUp = backend.servers.contains { $0.isUsable.load(ordering: .relaxed) }
        let status = server.status.withLockedValue { status -> ServerStatus in
            let before = status
            wasUsable = before.isUsable
            followedBefore = before.followed
            change(&status)
            status.generation += 1
            // For the stats (issue 4): when the state changed, and the time spent DOWN.
            if before.isUsable != status.isUsable || before.admin != status.admin {
                let now = ProcessClock.milliseconds
                if !before.isUsable { status.downtimeBeforeMs += now - before.lastChange }
                status.lastChange = now
            }
            // Under the status lock, so that two changes at once reach the balancer in the
            // order they were made (this lock is never taken under the balancer's).
            backend.balancer.update(server, usable: status.isUsable, weight: status.effectiveWeight)
            return status
        }
        server.isUsable.store(status.isUsable, ordering: .relaxed)
        server.isOnline.store(status.isUsable && status.effectiveWeight > 0, ordering: .relaxed)
        if backendWasUp != backend.servers.contains(where: { $0.isUsable.load(ordering: .relaxed) }) {
            backend.lastStatusChange.store(ProcessClock.milliseconds, ordering: .relaxed)
        }
        // A server back up, or weighing more, may take requests waiting in the queue.
        backend.balancer.serveQueue()
        if wasUsable != status.isUsable { usabilityObserver?() }
        // Servers that `track` this one follow it (Runtime/ServerTracking.swift).
        if !server.trackers.isEmpty, followedBefore != status.followed {
            propagate(status.followed, from: server, after: followedBefore)
        }
    }

    public func backend(named name: String) -> RuntimeBackend? {
        backends.first { $0.name == name }
    }

    /// The listeners (empty once listening stopped).
    var activeListeners: [Listener] { listeners }

    /// The listeners only this process holds: those a soft stop must drain.
    var exclusiveListeners: [Listener] {
        let shared = sharedListeners.withLockedValue { $0 }
        return listeners.filter { !shared.contains(ObjectIdentifier($0)) }
    }

    /// Closes the listeners: no new connection is accepted, live ones go on.
    public func stopListening() {
        for frontend in frontends { frontend.gate.removeAllListeners() }
        globalGate.removeAllListeners()
        // Forgotten first, so that a `_getsocks` at this moment hands over no closed socket.
        let handedOver = listenerDescriptors.withLockedValue { descriptors in
            defer { descriptors.removeAll() }
            return sharedListeners.withLockedValue { !$0.isEmpty }
        }
        for listener in listeners { listener.close() }
        listeners.removeAll()
        sharedListeners.withLockedValue { $0.removeAll() }
        // A socket file handed over is the new process's now: same file, so it would
        // still look like ours.
        if !handedOver {
            for file in unixFiles { file.removeIfStillOurs() }
        }
        unixFiles.removeAll()
    }

    /// A stop was asked for (`Stopping: 1` in `show info`), though listeners may stay
    /// open a while (`grace`, HA hold subscribers) before `beginSoftStop`.
    public func announceStop() {
        sessions.announceStop()
    }

    /// SIGUSR1: stop accepting without resetting what the kernel already accepted; idle
    /// connections get a last moment for their next request, busy ones close after their
    /// current response (HTTPSession.closeIfIdle). `liveSessions` then falls to zero.
    /// Blocks the caller up to half a second (closeListenersWithoutLoss).
    public func beginSoftStop() {
        stopPeers(teachingSuccessor: true)
        sessions.beginStopping()
        closeListenersWithoutLoss()
        for state in loopStates.all {
            state.eventLoop.execute { state.closeIdleSessions() }
        }
    }

    /// Client connections still open.
    public var liveSessions: Int { globalGate.count }

    /// Stops everything at once and waits for the event loops to end (tests, tools). The
    /// daemon exits through `haltForExit` instead (Runtime/LoopParking).
    public func shutdown() {
        healthMonitor?.stop()  // Health/: checks cut short by the shutdown are not judged
        dns?.stop()
        stopPeers()
        stopListening()
        try? reactors?.syncShutdownGracefully()
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
