import NIOCore

/// TLS on data path v2: a `SessionTransport` over another one (a NativeConnection),
/// whose events it hears, with a TLSEngine between the two. What TLSHandler is to a NIO
/// pipeline, this is to a reactor's connection, with the same rules:
///
/// - Server role (bind `ssl`): the session hears `transportActive` only once the handshake
///   is done, so a failed handshake never reaches a backend; the failure is counted and
///   written once to the frontend's ConnectionErrorLog; the handshake timeout is the
///   frontend's `timeout client`.
/// - Client role (server `ssl`): `start(completion:)` reports when the server finished
///   its handshake (the connector hands the transport on only then), or why it failed.
/// - Plaintext goes to the session only while it asked for a read, delivered at the end
///   of the current event as NativeConnection does; writes are encrypted as they come and
///   sent in one buffer per flush; a peer's close_notify or FIN is `transportInputClosed`;
///   `closeOutput` sends close_notify, then shuts the socket's output.
final class TLSTransport: SessionTransport, TransportEvents, DeferredWork {
    enum Role {
        case server(TLSServerContext, errors: ConnectionErrorLog)
        case client(TLSClientContext, serverName: String?)
    }

    private enum State { case idle, handshaking, open, closed }

    var events: TransportEvents?
    private let inner: SessionTransport
    private let role: Role
    private let handshakeTimeout: TimeAmount?
    private unowned let context: NativeLoopContext
    private var state: State = .idle
    private(set) var engine: TLSEngine?

    /// The session asked for data and has not had a transportReadComplete since.
    private var wantsRead = false
    /// Plaintext went up since the last transportReadComplete.
    private var delivered = false
    private var queuedForRead = false
    private var peerSentCloseNotify = false
    private var socketInputClosed = false
    private var inputClosedFired = false
    private var closeNotifySent = false
    /// The socket failed (a reset): nothing more can be sent, close_notify included.
    private var socketFailed = false
    /// The handshake completed: the session (server role) or the connector's caller
    /// (client role) knows this connection; before, a failure is this transport's alone.
    private var upstreamOpen = false
    private var counted = false
    private var timer: Scheduled<Void>?
    /// The client's address, kept at start for the error line.
    private var peer: SocketAddress?
    /// Client role: told once, when the handshake completed or failed.
    private var handshakeDone: ((Result<Void, TLSHandshakeError>) -> Void)?

    init(over inner: SessionTransport, role: Role, handshakeTimeout: TimeAmount?, context: NativeLoopContext) {
        self.inner = inner
        self.role = role
        self.handshakeTimeout = handshakeTimeout
        self.context = context
    }

    /// Takes the inner transport's events and starts the handshake. Client role:
    /// `completion` hears how it ended (never after the transport was handed on).
    func start(completion: ((Result<Void, TLSHandshakeError>) -> Void)? = nil) {
        guard state == .idle else { return }
        handshakeDone = completion
        inner.events = self
        let ctx: OpaquePointer
        switch role {
        case .server(let server, _): ctx = server.defaultContext
        case .client(let client, _): ctx = client.context
        }
        guard let engine = TLSEngine(context: ctx) else {
            state = .closed
            settle(.failure(.aborted))
            inner.close()
            return
        }
        self.engine = engine
        state = .handshaking
        counted = true
        TLSStatistics.currentConnections.increment()
        TLSStatistics.totalConnections.increment()
        if case .server = role { TLSStatistics.frontendConnectionRate.tick() }
        if let handshakeTimeout {
            timer = inner.eventLoop.scheduleTask(in: handshakeTimeout) { [weak self] in
                guard let self, self.state == .handshaking else { return }
                self.fail(.timeout)
            }
        }
        switch role {
        case .server:
            peer = inner.remoteAddress
            engine.startAsServer()
        case .client(let client, let serverName):
            engine.startAsClient(client, serverName: serverName)
            advanceHandshake()  // the ClientHello
        }
        if state == .handshaking { inner.read() }
    }

    // MARK: - SessionTransport

    var eventLoop: EventLoop { inner.eventLoop }
    var isWritable: Bool { inner.isWritable }
    var isActive: Bool { state == .open && inner.isActive }
    var remoteAddress: SocketAddress? { inner.remoteAddress }
    var localAddress: SocketAddress? { inner.localAddress }
    var tls: TLSEngine? { engine }

    func read() {
        guard state == .open || state == .handshaking else { return }
        wantsRead = true
        guard state == .open else { return }  // served when the handshake completes
        if (engine?.hasBufferedInput ?? false) || peerSentCloseNotify || socketInputClosed {
            // Already here: delivered at the end of the event, never inside the caller.
            if !queuedForRead {
                queuedForRead = true
                context.later(self)
            }
        } else {
            inner.read()
        }
    }

    func runDeferred() {
        queuedForRead = false
        guard state == .open, wantsRead else { return }
        if hasBufferedInput && !peerSentCloseNotify {
            decrypt()
            if delivered { completeReads(); return }
        }
        guard state == .open else { return }
        if peerSentCloseNotify || socketInputClosed {
            fireInputClosedOnce()
        } else {
            inner.read()
        }
    }

    func write(_ buffer: ByteBuffer) {
        // Nobody has this transport before its handshake completed: nothing to queue.
        guard state == .open, let engine, !closeNotifySent else { return }
        if let reason = engine.encrypt(buffer) { protocolFailure(reason) }
    }

    func flush() {
        if state == .open { flushOutput() }
    }

    func writeAndFlush(_ buffer: ByteBuffer) {
        write(buffer)
        flush()
    }

    func closeOutput() {
        guard state == .open else { return }
        sendCloseNotify()
        inner.closeOutput()
    }

    func close() {
        if state == .open { sendCloseNotify() }
        inner.close()
    }

    // MARK: - Handshake

    private func advanceHandshake() {
        guard let engine else { return }
        switch engine.handshake() {
        case .done:
            flushOutput()
            handshakeCompleted()
        case .wantRead:
            flushOutput()
            if socketInputClosed { fail(.closed) }
        case .failed(let error):
            fail(error)
        }
    }

    private func handshakeCompleted() {
        state = .open
        timer?.cancel()
        timer = nil
        upstreamOpen = true
        let resumed = engine?.sessionReused ?? false
        switch role {
        case .server:
            TLSStatistics.frontendHandshakes.increment()
            if resumed { TLSStatistics.frontendResumed.increment() } else { TLSStatistics.frontendKeyRate.tick() }
            events?.transportActive()
        case .client:
            TLSStatistics.backendHandshakes.increment()
            if resumed { TLSStatistics.backendResumed.increment() } else { TLSStatistics.backendKeyRate.tick() }
            settle(.success(()))
        }
    }

    private func fail(_ error: TLSHandshakeError) {
        guard state == .handshaking else { return }
        flushOutput()  // the alert, if OpenSSL wrote one
        engine?.clearErrors()
        TLSStatistics.handshakeFailures.increment()
        if case .server(let server, let errors) = role {
            errors.write(client: peer, label: server.label, error)
        }
        finish(error)
        inner.close()
    }

    /// A socket error or a close without FIN mid-handshake. HAProxy 2.6 calls a reset from
    /// a client `SSL handshake failure` (its "Connection error" words never show there).
    private var resetError: TLSHandshakeError {
        if case .server = role { return .failure(reason: "connection reset") }
        return .aborted
    }

    private func settle(_ result: Result<Void, TLSHandshakeError>) {
        let done = handshakeDone
        handshakeDone = nil
        done?(result)
    }

    /// Releases what this connection holds; once.
    private func finish(_ error: TLSHandshakeError? = nil) {
        timer?.cancel()
        timer = nil
        if counted {
            counted = false
            TLSStatistics.currentConnections.decrement()
        }
        state = .closed
        settle(.failure(error ?? .aborted))
    }

    // MARK: - Events of the inner transport

    func transportActive() {}

    func transportRead(_ buffer: ByteBuffer) {
        guard state == .handshaking || state == .open, let engine else { return }
        engine.feed(buffer)
        if state == .handshaking {
            advanceHandshake()
        } else if wantsRead {
            decrypt()
        }
    }

    func transportReadComplete() {
        switch state {
        case .handshaking:
            inner.read()  // the handshake needs more
        case .open:
            if delivered {
                completeReads()
            } else if wantsRead {
                if peerSentCloseNotify || socketInputClosed {
                    fireInputClosedOnce()
                } else {
                    inner.read()
                }
            }
        case .idle, .closed:
            break
        }
    }

    func transportWritabilityChanged() {
        if upstreamOpen { events?.transportWritabilityChanged() }
    }

    func transportInputClosed() {
        socketInputClosed = true
        switch state {
        case .handshaking:
            // A FIN mid-handshake, as HAProxy words it.
            if case .server = role {
                fail(engine?.closedMidHandshake(serverRole: true) ?? .closed)
            } else {
                fail(.closed)
            }
        case .open:
            if wantsRead {
                if hasBufferedInput { decrypt() }
                if delivered { completeReads() }
                fireInputClosedOnce()
            }
            // Else the session learns it at its next read(), after what is still buffered.
        case .idle, .closed:
            break
        }
    }

    func transportFailed() {
        socketFailed = true
        if state == .handshaking {
            fail(resetError)
            return
        }
        if upstreamOpen { events?.transportFailed() }
    }

    func transportClosed() {
        if state == .handshaking { fail(resetError) }
        finish()
        engine?.free()
        // The session hears of the end even if the handshake failed (as from NIO's
        // ChannelTransport), and lets go of this transport.
        let events = self.events
        self.events = nil
        events?.transportClosed()
    }

    // MARK: - Plaintext

    private var hasBufferedInput: Bool { engine?.hasBufferedInput ?? false }

    /// Decrypts all complete records and hands the plaintext to the session.
    private func decrypt() {
        guard let engine, !peerSentCloseNotify else { return }
        let end = engine.decrypt(allocator: context.allocator) { buffer in
            delivered = true
            events?.transportRead(buffer)
            return state == .open  // the session may close as it reads
        }
        if state != .open { return }
        // Post-handshake messages may need an answer (key update).
        if engine.pendingOutput > 0 { flushOutput() }
        switch end {
        case .wantMore, .stopped:
            break
        case .closeNotify:
            peerSentCloseNotify = true
        case .error(let reason):
            protocolFailure(reason)
        }
    }

    /// A bad record or a refused write on an open connection: the session hears of the
    /// failure, then of the close. (The engine keeps the error for `ssl_fc_err`.)
    private func protocolFailure(_ reason: String) {
        guard state == .open else { return }
        state = .closed
        if upstreamOpen { events?.transportFailed() }
        inner.close()
    }

    private func completeReads() {
        delivered = false
        wantsRead = false
        events?.transportReadComplete()
        if peerSentCloseNotify || (socketInputClosed && !hasBufferedInput) {
            fireInputClosedOnce()
        }
    }

    private func fireInputClosedOnce() {
        wantsRead = false
        guard !inputClosedFired, state == .open else { return }
        inputClosedFired = true
        events?.transportInputClosed()
    }

    // MARK: - Ciphertext out

    /// Sends what OpenSSL wrote since the last time, in one buffer.
    private func flushOutput() {
        guard let out = engine?.takeOutput(allocator: context.allocator) else { return }
        inner.write(out)
        inner.flush()
    }

    private func sendCloseNotify() {
        guard let engine, !closeNotifySent, !socketFailed else { return }
        closeNotifySent = true
        engine.shutdown()
        flushOutput()
    }
}

extension TLSTransport {
    /// Server role over an accepted connection of `frontend`: its `timeout client` bounds
    /// the handshake, its connection-error log gets the failures.
    static func serving(_ connection: NativeConnection, with tls: TLSServerContext,
                        frontend: RuntimeFrontend) -> TLSTransport {
        TLSTransport(over: connection, role: .server(tls, errors: frontend.connectionErrors),
                     handshakeTimeout: frontend.timeouts.client, context: connection.loopContext)
    }
}
