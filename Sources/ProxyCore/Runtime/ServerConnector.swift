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
    typealias HandlerFactory = (RuntimeServer) -> ChannelHandler
    /// On success the caller owns one `loop.started` count on the server and must call
    /// `loop.ended` when it is done with it.
    typealias Completion = (Result<(Channel, RuntimeServer), ConnectFailure>) -> Void

    private let backend: RuntimeBackend
    private let loop: LoopState
    private let makeHandler: HandlerFactory
    private let completion: Completion
    /// What a server's dynamic `sni` reads (TLS), from the request being served.
    private let serverNames: ServerNameInputs
    /// Attempts that failed so far (read by traffic logs as HAProxy's retries `%rc`).
    private(set) var attempt = 0
    /// When a server was first given to this connection, after the queue if it waited
    /// (the end of HAProxy's queue time).
    private(set) var serverAssignedAt: NIODeadline?
    private var server: RuntimeServer?
    private var cancelled = false

    static let turnAround: TimeAmount = .seconds(1)

    init(backend: RuntimeBackend, loop: LoopState, serverNames: ServerNameInputs = ServerNameInputs(),
         makeHandler: @escaping HandlerFactory, completion: @escaping Completion) {
        self.serverNames = serverNames
        self.backend = backend
        self.loop = loop
        self.makeHandler = makeHandler
        self.completion = completion
    }

    /// Starts with `server` if given (for example a server chosen by hashing), else balances.
    func start(preferring server: RuntimeServer? = nil) {
        self.server = server
        attemptConnect()
    }

    /// The client went away: stop retrying, and close a connection that completes late.
    func cancel() {
        cancelled = true
        if queued { leaveQueueForGood() }
    }

    // MARK: the queue (every server at maxconn)

    private var queued = false
    /// Waiting for a slot on a full server (a timeout now is HAProxy's `sQ`).
    var isQueued: Bool { queued }
    private var queueTimer: Scheduled<Void>?

    /// Waits for a free slot for `timeout queue` (HAProxy: `timeout connect` when unset),
    /// then gives up with 503.
    private func waitInQueue() {
        queued = true
        loop.enqueue(self, backendIndex: backend.index)
        if let timeout = backend.timeouts.queue ?? backend.timeouts.connect {
            queueTimer = loop.eventLoop.scheduleTask(in: timeout) { [self] in
                guard queued else { return }
                leaveQueueForGood()
                completion(.failure(.queueTimeout))
            }
        }
    }

    private func leaveQueueForGood() {
        queued = false
        queueTimer?.cancel()
        queueTimer = nil
        loop.dequeue(self, backendIndex: backend.index)
    }

    /// Called by the loop when a slot may be free. False: still no server, stay queued.
    func leaveQueue() -> Bool {
        guard queued, !cancelled else { return true }
        switch loop.chooseServer(in: backend) {
        case .allFull:
            return false
        case .server(let chosen):
            queued = false
            queueTimer?.cancel()
            queueTimer = nil
            server = chosen
            attemptConnect()
            return true
        case .noneUsable:
            leaveQueueForGood()
            completion(.failure(.noServerAvailable))
            return true
        }
    }

    private func attemptConnect() {
        guard !cancelled else { return }
        let redispatching = attempt > 0 && attempt >= backend.retries && backend.redispatch
        // wretr / wredis (issue 4).
        if attempt > 0 { backend.counters.retries.increment(); server?.counters.retries.increment() }
        if redispatching { backend.counters.redispatches.increment(); server?.counters.redispatches.increment() }
        if server == nil || redispatching {
            switch loop.chooseServer(in: backend, avoiding: attempt > 0 ? server : nil) {
            case .server(let chosen):
                server = chosen
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
        loop.started(server, in: backend.index)
        if serverAssignedAt == nil { serverAssignedAt = .now() }

        // TCP_NODELAY is ClientBootstrap's default; the rest is set in the initializer
        // (ConnectionSetup: cheaper than NIO's per-option futures).
        var bootstrap = ClientBootstrap(group: loop.eventLoop)
            .channelInitializer { [makeHandler, backend, serverNames] channel in
                ConnectionSetup.initialize(channel) {
                    // TLS (issue 5): `server … ssl` encrypts below the session's handler.
                    if let tls = server.tls {
                        try channel.pipeline.syncOperations.addHandler(
                            tls.makeHandler(handshakeTimeout: backend.timeouts.connect,
                                            serverName: serverNames.evaluate(tls.serverNameExpression)))
                    }
                    try channel.pipeline.syncOperations.addHandler(makeHandler(server))
                }
            }
        if let timeout = backend.timeouts.connect {
            bootstrap = bootstrap.connectTimeout(timeout)
        }
        // TLS (issue 5): with `ssl`, connected means handshake done; a failed handshake is
        // a failed attempt (retried like a refused connect).
        let connecting = bootstrap.connect(to: server.address)
        let ready = server.tls == nil ? connecting : connecting.flatMap { TLSHandler.handshakeCompleted(on: $0) }
        ready.whenComplete { [self] result in
            switch result {
            case .success(let channel):
                server.health?.observed(.connected)  // Health/: `observe layer4`
                if cancelled {
                    loop.ended(server, in: backend.index)
                    channel.close(promise: nil)
                    return
                }
                server.counters.connects.increment()  // stats (issue 4)
                backend.counters.connects.increment()
                completion(.success((channel, server)))
            case .failure(let error):
                server.health?.observed(.connectFailed)  // Health/: `observe layer4|layer7`
                loop.ended(server, in: backend.index)
                guard !cancelled else { return }
                attempt += 1
                if attempt > backend.retries {
                    server.counters.connectionErrors.increment()  // econ (issue 4)
                    backend.counters.connectionErrors.increment()
                    completion(.failure(.exhausted(error)))
                    return
                }
                // A timeout already waited, and a redispatch goes elsewhere; a refusal by
                // the same server waits the turn-around before trying it again.
                let timedOut = (error as? ChannelError).map { if case .connectTimeout = $0 { return true }; return false } ?? false
                let redispatchNext = attempt >= backend.retries && backend.redispatch
                if timedOut || redispatchNext {
                    attemptConnect()
                } else {
                    loop.eventLoop.scheduleTask(in: Self.turnAround) { self.attemptConnect() }
                }
            }
        }
    }
}
