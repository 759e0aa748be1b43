import CLinux  // SOCK_*, IPPROTO_*: a clean build finds them in CLinux's module (which includes their headers)
import NIOCore
import NIOPosix

/// Why no server connection could be made.
enum ConnectFailure: Error {
    /// No server is usable: HAProxy answers 503 at once.
    case noServerAvailable
    /// Every usable server is at its maxconn and the queue timed out: 503.
    case queueTimeout
    /// Every attempt (1 + retries) failed: 503 with the last error.
    case exhausted(Error)
}

/// Opens a connection to a server of a backend with HAProxy's rules: pick a server by the
/// balance algorithm (unless the caller chose one), try it, retry the same server after a failure (waiting one second
/// after a quick refusal, as HAProxy's turn-around does), and with `option redispatch`
/// move the last attempt to another server.
final class ServerConnector {
    /// On success the caller owns one `loop.started` count (a slot) on the server and must
    /// call `loop.ended` when it is done with it, and sets the transport's `events`.
    typealias Completion = (Result<(SessionTransport, RuntimeServer), ConnectFailure>) -> Void

    private let backend: RuntimeBackend
    private let loop: LoopState
    private let completion: Completion
    /// What a server's dynamic `sni` reads (TLS), from the request being served.
    private let serverNames: ServerNameInputs
    /// Attempts that failed so far (read by traffic logs as HAProxy's retries `%rc`).
    private(set) var attempt = 0
    /// When a server was first given to this connection, after the queue if it waited
    /// (the end of HAProxy's queue time).
    private(set) var serverAssignedAt: NIODeadline?
    private var server: RuntimeServer?
    /// A slot on `server` was taken by the balancer (when it chose it) and not yet
    /// handed to an attempt (`LoopState.started`).
    private var holdsSlot = false
    private var cancelled = false

    static let turnAround: TimeAmount = .seconds(1)

    /// The client's address, for `source … usesrc client|clientip`.
    private let clientAddress: SocketAddress?

    /// Where the client connected to (after `set-dst`), for a server at `0.0.0.0` or port 0.
    private let destination: SocketAddress?

    init(backend: RuntimeBackend, loop: LoopState, serverNames: ServerNameInputs = ServerNameInputs(),
         clientAddress: SocketAddress? = nil, destination: SocketAddress? = nil, completion: @escaping Completion) {
        self.serverNames = serverNames
        self.clientAddress = clientAddress
        self.destination = destination
        self.backend = backend
        self.loop = loop
        self.completion = completion
    }

    /// The loop this connector (and its session) runs on.
    var eventLoop: EventLoop { loop.eventLoop }

    /// Starts with `server` if given (the session's balancing already chose it), else
    /// balances. `slotTaken`: the balancer took a slot on `server` when it chose it.
    func start(preferring server: RuntimeServer? = nil, slotTaken: Bool = false) {
        self.server = server
        holdsSlot = server != nil && slotTaken
        attemptConnect()
    }

    /// The client went away: stop retrying, and close a connection that completes late.
    func cancel() {
        cancelled = true
        if queued { leaveQueue() }
    }

    // MARK: the queue (every server at maxconn)

    private var queued = false
    /// Waiting for a slot on a full server (a timeout now is HAProxy's `sQ`).
    var isQueued: Bool { queued }
    private var queueTimer: Scheduled<Void>?

    /// Waits for a free slot for `timeout queue` (HAProxy: `timeout connect` when unset),
    /// then gives up with 503. The balancer already put this connector in the backend's
    /// queue (`BackendBalancer.take(queueing:)`).
    private func waitInQueue() {
        // Set before any `leftQueue`: a thread that frees a slot resumes this connector
        // through its loop's task queue, so after the current task.
        queued = true
        if let timeout = backend.timeouts.queue ?? backend.timeouts.connect {
            queueTimer = loop.eventLoop.scheduleTask(in: timeout) { [self] in
                guard queued else { return }
                // Not in the queue any more: a server was given to it, `leftQueue` is
                // on its way from the thread that freed the slot.
                guard backend.balancer.removeWaiter(self) else { return }
                queued = false
                queueTimer = nil
                completion(.failure(.queueTimeout))
            }
        }
    }

    /// Stops waiting (the client left). A server given meanwhile is given back by
    /// `leftQueue`.
    private func leaveQueue() {
        queued = false
        queueTimer?.cancel()
        queueTimer = nil
        _ = backend.balancer.removeWaiter(self)
    }

    /// The balancer took this connector out of the queue, on any loop, and resumes it
    /// here: with a server (a slot taken on it), or with none usable any more.
    func leftQueue(_ choice: ServerChoice) {
        guard queued else {
            // Timed out or cancelled in the meantime: the slot goes to the next waiter.
            if case .server(let chosen) = choice { backend.balancer.release(chosen) }
            return
        }
        queued = false
        queueTimer?.cancel()
        queueTimer = nil
        switch choice {
        case .server(let chosen):
            server = chosen
            holdsSlot = true
            attemptConnect()
        case .allFull, .noneUsable:
            completion(.failure(.noServerAvailable))
        }
    }

    /// An attempt went to the balancer again after failures (`option redispatch`).
    private(set) var redispatched = false

    private func attemptConnect() {
        guard !cancelled else {
            if holdsSlot, let server { holdsSlot = false; backend.balancer.release(server) }
            return
        }
        let redispatching = attempt > 0 && attempt >= backend.connectRetries && backend.redispatch
        // wretr / wredis (issue 4): as HAProxy, an attempt after a failure is either a
        // retry on the same server or a redispatch, counted on the server that failed.
        if redispatching {
            redispatched = true  // `%rc` shows it with a `+`
            backend.counters.redispatches.increment(); server?.counters.redispatches.increment()
        } else if attempt > 0 {
            backend.counters.retries.increment(); server?.counters.retries.increment()
        }
        if server == nil || redispatching {
            // The first attempt queues when every server is full; a redispatch does not.
            switch backend.balancer.take(avoiding: attempt > 0 ? server : nil, queueing: attempt == 0 ? self : nil) {
            case .server(let chosen):
                server = chosen
                holdsSlot = true
            case .allFull where attempt == 0:
                waitInQueue()
                return
            case .allFull, .noneUsable:
                // Nothing else to go to: a retry stays on the server already tried.
                if server == nil || !server!.isUsable.load(ordering: .relaxed) {
                    completion(.failure(.noServerAvailable))
                    return
                }
            }
        }
        guard let server else { completion(.failure(.noServerAvailable)); return }
        // A retry on the server already tried takes a slot again (the failed attempt gave
        // its slot back).
        loop.started(server, in: backend.index, slotTaken: holdsSlot, retry: attempt > 0)
        holdsSlot = false
        // `connect` counts attempts, failed ones too.
        server.counters.connects.increment()
        backend.counters.connects.increment()
        if serverAssignedAt == nil { serverAssignedAt = .now() }

        if let native = loop.native {
            connectNatively(to: server, on: native)
        } else {
            connectThroughNIO(to: server)
        }
    }

    /// Data path v2: a non-blocking connect on the session's reactor.
    private func connectNatively(to server: RuntimeServer, on native: NativeLoopContext) {
        let source = server.sourceAddress(client: clientAddress)  // `source`/`usesrc`
        NativeConnection.connect(to: server.connectAddress(destination: destination), context: native, timeout: backend.timeouts.connect,
                                 source: source) { [self] result in
            let connection: NativeConnection
            switch result {
            case .success(let connected): connection = connected
            case .failure(let error): attemptEnded(server, .failure(error)); return
            }
            if let timings = backend.serverKeepAliveProbes { KeepAliveProbes.enable(on: connection.descriptor, timings) }  // issue 15
            // TLS (issue 5): with `ssl`, connected means handshake done; a failed handshake
            // is a failed attempt (retried like a refused connect).
            guard let tls = server.tls else {
                attemptEnded(server, .success(connection))
                return
            }
            let secured = TLSTransport(
                over: connection, role: .client(tls, serverName: serverNames.evaluate(tls.serverNameExpression)),
                handshakeTimeout: backend.timeouts.connect, context: native)
            secured.start { [self] handshake in
                switch handshake {
                case .success: attemptEnded(server, .success(secured))
                case .failure(let failure): attemptEnded(server, .failure(failure))
                }
            }
        }
    }

    private func connectThroughNIO(to server: RuntimeServer) {
        // TCP_NODELAY is ClientBootstrap's default; the rest is set in the initializer
        // (ConnectionSetup: cheaper than NIO's per-option futures).
        let transport = ChannelTransport(eventLoop: loop.eventLoop)
        var bootstrap = ClientBootstrap(group: loop.eventLoop)
            .channelInitializer { [backend, serverNames] channel in
                ConnectionSetup.initialize(channel, keepAliveProbes: backend.serverKeepAliveProbes) {
                    // TLS (issue 5): `server … ssl` encrypts below the session's handler.
                    if let tls = server.tls {
                        try channel.pipeline.syncOperations.addHandler(
                            tls.makeHandler(handshakeTimeout: backend.timeouts.connect,
                                            serverName: serverNames.evaluate(tls.serverNameExpression)))
                    }
                    try channel.pipeline.syncOperations.addHandler(transport)
                }
            }
        if let timeout = backend.timeouts.connect {
            bootstrap = bootstrap.connectTimeout(timeout)
        }
        // TLS (issue 5): with `ssl`, connected means handshake done; a failed handshake is
        // a failed attempt (retried like a refused connect).
        let connecting = bootstrap.connect(to: server.connectAddress(destination: destination))
        let ready = server.tls == nil ? connecting : connecting.flatMap { TLSHandler.handshakeCompleted(on: $0) }
        ready.whenComplete { [self] result in
            switch result {
            case .success:
                attemptEnded(server, .success(transport))
            case .failure(let error):
                attemptEnded(server, .failure(error))
            }
        }
    }

    /// An attempt succeeded or failed: hand the connection on, or retry as HAProxy would.
    private func attemptEnded(_ server: RuntimeServer, _ result: Result<SessionTransport, Error>) {
        switch result {
        case .success(let transport):
            server.health?.observed(.connected)  // Health/: `observe layer4`
            if cancelled {
                loop.ended(server, in: backend.index)
                transport.close()
                return
            }
            completion(.success((transport, server)))
        case .failure(let error):
            ResourceShortageLog.reportServerSocket(error, backend: backend)  // out of descriptors (issue 13)
            server.health?.observed(.connectFailed)  // Health/: `observe layer4|layer7`
            loop.ended(server, in: backend.index)
            guard !cancelled else { return }
            attempt += 1
            if attempt > backend.connectRetries {
                server.counters.connectionErrors.increment()  // econ (issue 4)
                backend.counters.connectionErrors.increment()
                completion(.failure(.exhausted(error)))
                return
            }
            // A timeout already waited, and a redispatch goes elsewhere; a refusal by
            // the same server waits the turn-around before trying it again. A socket
            // proxyd could not get is no news of the server: tried again at once, as
            // HAProxy does.
            let timedOut = (error as? ChannelError).map { if case .connectTimeout = $0 { return true }; return false } ?? false
            let redispatchNext = attempt >= backend.connectRetries && backend.redispatch
            if timedOut || redispatchNext || ResourceShortageLog.isShortage(error) {
                attemptConnect()
            } else {
                loop.eventLoop.scheduleTask(in: Self.turnAround) { self.attemptConnect() }
            }
        }
    }
}
