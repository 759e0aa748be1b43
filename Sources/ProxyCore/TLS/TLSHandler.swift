import COpenSSL
import NIOCore

/// Why a handshake did not complete, in HAProxy's words (its `conn_err_code_str`).
public enum TLSHandshakeError: Error, CustomStringConvertible {
    /// The peer closed (FIN) before the handshake completed.
    case closed
    /// A socket error (reset) in the middle of the handshake.
    case aborted
    /// The handshake did not finish within the timeout.
    case timeout
    /// OpenSSL refused the exchange (garbage, no common cipher or version, bad alert…).
    case failure(reason: String?)
    /// The peer's certificate did not verify.
    case certificateNotTrusted(reason: String)

    public var description: String {
        switch self {
        case .closed: return "Connection closed during SSL handshake"
        case .aborted: return "Connection error during SSL handshake"
        case .timeout: return "Timeout during SSL handshake"
        case .failure: return "SSL handshake failure"
        case .certificateNotTrusted: return "SSL client certificate not trusted"
        }
    }
}

/// An error on an established TLS connection (a bad record, a protocol violation).
public struct TLSProtocolError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "SSL error: \(reason)" }
}

/// TLS on a NIO pipeline, for either role, over two OpenSSL memory BIOs.
///
/// It fits the sessions' manual reads (autoRead off): during the handshake it reads by
/// itself; once open, a `read()` from the session is served from what is already
/// decrypted-able, else passed to the socket; plaintext goes up only while the session
/// has asked for it. Writes are encrypted as they come and sent in one buffer per flush.
/// Half-close both ways: a peer's close_notify (or FIN) becomes `ChannelEvent.inputClosed`;
/// `close(mode: .output)` sends close_notify, then shuts the socket's output.
///
/// Server role: the session behind it sees `channelActive` only when the handshake is
/// done, so a failed handshake never reaches a backend; the failure is logged once.
/// Client role: `handshakeFuture` completes when the server finished its handshake;
/// writes made before then wait in order.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum Role {
        case server(TLSServerContext, errors: ConnectionErrorLog)
        case client(TLSClientContext, serverName: String?)
    }

    private enum State { case idle, handshaking, open, closed }

    private let role: Role
    private let handshakeTimeout: TimeAmount?
    private var state: State = .idle
    /// OpenSSL's side of the connection, from `start`.
    public private(set) var engine: TLSEngine?
    private var context: ChannelHandlerContext?

    /// The session asked for data and has not had a channelReadComplete since.
    private var wantsRead = false
    /// Plaintext went up since the last channelReadComplete.
    private var delivered = false
    private var peerSentCloseNotify = false
    private var socketInputClosed = false
    private var inputClosedFired = false
    private var closeNotifySent = false
    /// The socket failed (a reset): nothing more can be sent, close_notify included. Without
    /// this, every client that resets after its handshake (s_time, scanners) cost a write
    /// that fails (EPIPE) and one more error through the pipeline; HAProxy writes nothing.
    private var socketFailed = false
    /// The handshake completed: the handler behind this one knows the connection (server
    /// role: it got channelActive; client role: the connector handed it the channel).
    /// Before, a failure is this handler's alone: nothing behind it hears of it.
    private var upstreamOpen = false
    private var timer: Scheduled<Void>?
    private var counted = false
    private var failure: TLSHandshakeError?
    /// The client's address, kept at start for the error line: NIO forgets it once the
    /// socket is closed, as after a reset.
    private var peer: SocketAddress?

    /// Writes, flush and half-close asked before the handshake completed (client role).
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var pendingFlush = false
    private var pendingOutputClose = false
    private var pendingOutputClosePromise: EventLoopPromise<Void>?
    /// The promise of writes encrypted since the last flush.
    private var batchPromise: EventLoopPromise<Void>?
    private var handshakePromise: EventLoopPromise<Void>?
    private var handshakeSettled = false

    init(role: Role, handshakeTimeout: TimeAmount?) {
        self.role = role
        self.handshakeTimeout = handshakeTimeout
    }

    /// Client role: completes when the server accepted our handshake, fails when it cannot.
    /// Nil in the server role.
    public var handshakeFuture: EventLoopFuture<Void>? { handshakePromise?.futureResult }

    /// The SNI name the client sent (server role) or we sent (client role).
    public var serverName: String? { engine?.serverName }
    /// The ALPN protocol agreed on, if any.
    public var negotiatedALPN: String? { engine?.negotiatedALPN }
    /// `TLSv1.3`, … once the handshake is done.
    public var protocolVersion: String? { engine?.protocolVersion }
    public var cipherName: String? { engine?.cipherName }
    /// The oldest OpenSSL error this connection met, 0 if none (`ssl_fc_err`).
    public var errorCode: UInt { engine?.errorCode ?? 0 }
    /// The handshake reused a session (a resumption).
    public var sessionReused: Bool { engine?.sessionReused ?? false }

    // MARK: lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Only connections to servers are waited for (ServerConnector, health checks).
        if case .client = role { handshakePromise = context.eventLoop.makePromise(of: Void.self) }
        if context.channel.isActive { start(context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        finish(context)
        self.context = nil
        // Free OpenSSL's state (buffers included) now, not when this object goes: a
        // handler behind us that keeps its context would keep the pipeline, and us, alive.
        engine?.free()
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context)
        if case .client = role { context.fireChannelActive() }
    }

    private func start(_ context: ChannelHandlerContext) {
        guard state == .idle else { return }
        let ctx: OpaquePointer
        switch role {
        case .server(let server, _): ctx = server.defaultContext
        case .client(let client, _): ctx = client.context
        }
        guard let engine = TLSEngine(context: ctx) else {
            context.close(promise: nil)
            return
        }
        self.engine = engine
        state = .handshaking
        counted = true
        TLSStatistics.currentConnections.increment()
        TLSStatistics.totalConnections.increment()
        if case .server = role { TLSStatistics.frontendConnectionRate.tick() }
        if let handshakeTimeout {
            timer = context.eventLoop.scheduleTask(in: handshakeTimeout) { [weak self] in
                guard let self, self.state == .handshaking, let context = self.context else { return }
                self.fail(context, .timeout)
            }
        }
        switch role {
        case .server:
            peer = context.channel.remoteAddress
            engine.startAsServer()
        case .client(let client, let serverName):
            engine.startAsClient(client, serverName: serverName)
            advanceHandshake(context)  // the ClientHello
        }
        if state == .handshaking { context.read() }
    }

    /// Releases what this connection holds; once.
    private func finish(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if counted {
            counted = false
            TLSStatistics.currentConnections.decrement()
        }
        state = .closed
        let error = ChannelError.ioOnClosedChannel
        let writes = pendingWrites
        pendingWrites = []
        for (_, promise) in writes { promise?.fail(error) }
        pendingOutputClosePromise?.fail(error)
        pendingOutputClosePromise = nil
        batchPromise?.fail(error)
        batchPromise = nil
        if !handshakeSettled {
            handshakeSettled = true
            handshakePromise?.fail(failure ?? TLSHandshakeError.aborted)
        }
    }

    // MARK: handshake

    private func advanceHandshake(_ context: ChannelHandlerContext) {
        guard let engine else { return }
        switch engine.handshake() {
        case .done:
            flushOutput(context)
            handshakeCompleted(context)
        case .wantRead:
            flushOutput(context)
            if socketInputClosed { fail(context, .closed) }
        case .failed(let error):
            fail(context, error)
        }
    }

    private func handshakeCompleted(_ context: ChannelHandlerContext) {
        state = .open
        timer?.cancel()
        timer = nil
        switch role {
        case .server:
            TLSStatistics.frontendHandshakes.increment()
            if sessionReused { TLSStatistics.frontendResumed.increment() } else { TLSStatistics.frontendKeyRate.tick() }
            handshakeSettled = true
            handshakePromise?.succeed(())
            upstreamOpen = true
            context.fireChannelActive()
        case .client:
            upstreamOpen = true
            TLSStatistics.backendHandshakes.increment()
            if sessionReused { TLSStatistics.backendResumed.increment() } else { TLSStatistics.backendKeyRate.tick() }
            let writes = pendingWrites
            pendingWrites = []
            for (buffer, promise) in writes { encrypt(context, buffer, promise: promise) }
            if pendingFlush {
                pendingFlush = false
                flushOutput(context)
            }
            if pendingOutputClose {
                pendingOutputClose = false
                let promise = pendingOutputClosePromise
                pendingOutputClosePromise = nil
                sendCloseNotify(context)
                context.close(mode: .output, promise: promise)
            }
            handshakeSettled = true
            handshakePromise?.succeed(())
        }
        // Data that came with the end of the handshake, if the session already asked.
        if state == .open, wantsRead, hasBufferedInput {
            decrypt(context)
            if delivered { completeReads(context) }
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: TLSHandshakeError) {
        guard state == .handshaking else { return }
        failure = error
        flushOutput(context)  // the alert, if OpenSSL wrote one
        ERR_clear_error()
        TLSStatistics.handshakeFailures.increment()
        if case .server(let server, let errors) = role {
            errors.write(client: peer, label: server.label, error)
        }
        finish(context)
        context.close(promise: nil)
    }

    // MARK: inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard state == .handshaking || state == .open, let engine else { return }
        engine.feed(buffer)
        if state == .handshaking {
            advanceHandshake(context)
        } else if wantsRead {
            decrypt(context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        switch state {
        case .handshaking:
            context.read()  // the handshake needs more
        case .open:
            if delivered {
                completeReads(context)
            } else if wantsRead {
                if peerSentCloseNotify || socketInputClosed {
                    fireInputClosedOnce(context)
                } else {
                    context.read()
                }
            }
        case .idle, .closed:
            break
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, case .inputClosed = event else {
            if upstreamOpen { context.fireUserInboundEventTriggered(event) }
            return
        }
        socketInputClosed = true
        switch state {
        case .handshaking:
            fail(context, closedError)  // a FIN mid-handshake, as HAProxy words it
        case .open:
            if wantsRead {
                if hasBufferedInput { decrypt(context) }
                if delivered { completeReads(context) }
                fireInputClosedOnce(context)
            }
            // Else the session learns it at its next read(), after what is still buffered.
        case .idle, .closed:
            break
        }
    }

    /// A FIN mid-handshake (TLSEngine.closedMidHandshake words it as HAProxy does).
    private var closedError: TLSHandshakeError {
        if case .server = role { return engine?.closedMidHandshake(serverRole: true) ?? .closed }
        return .closed
    }

    /// A socket error or a close without FIN mid-handshake. HAProxy 2.6 calls a reset from
    /// a client `SSL handshake failure` (its "Connection error" words never show there).
    private var resetError: TLSHandshakeError {
        if case .server = role { return .failure(reason: "connection reset") }
        return .aborted
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if state == .handshaking { fail(context, resetError) }
        finish(context)
        if upstreamOpen { context.fireChannelInactive() }
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        socketFailed = true
        if state == .handshaking {
            fail(context, resetError)
            return
        }
        if upstreamOpen { context.fireErrorCaught(error) }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if upstreamOpen { context.fireChannelWritabilityChanged() }
    }

    private var hasBufferedInput: Bool { engine?.hasBufferedInput ?? false }

    /// Decrypts all complete records and sends the plaintext up.
    private func decrypt(_ context: ChannelHandlerContext) {
        guard let engine, !peerSentCloseNotify else { return }
        let end = engine.decrypt(allocator: context.channel.allocator) { buffer in
            deliver(context, buffer)
            return state == .open  // the session may close as it reads
        }
        if state != .open { return }
        // Post-handshake messages may need an answer (key update).
        if engine.pendingOutput > 0 { flushOutput(context) }
        switch end {
        case .wantMore, .stopped:
            break
        case .closeNotify:
            peerSentCloseNotify = true
        case .error(let reason):
            if upstreamOpen { context.fireErrorCaught(TLSProtocolError(reason: reason)) }
            state = .closed
            context.close(promise: nil)
        }
    }

    private func deliver(_ context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        delivered = true
        context.fireChannelRead(wrapInboundOut(buffer))
    }

    private func completeReads(_ context: ChannelHandlerContext) {
        delivered = false
        wantsRead = false
        context.fireChannelReadComplete()
        if peerSentCloseNotify || (socketInputClosed && !hasBufferedInput) {
            fireInputClosedOnce(context)
        }
    }

    private func fireInputClosedOnce(_ context: ChannelHandlerContext) {
        wantsRead = false
        guard !inputClosedFired, state == .open else { return }
        inputClosedFired = true
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    // MARK: outbound

    public func read(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking:
            wantsRead = true  // served when the handshake completes
        case .open:
            wantsRead = true
            if hasBufferedInput && !peerSentCloseNotify {
                decrypt(context)
                if delivered { completeReads(context); return }
            }
            if peerSentCloseNotify || socketInputClosed {
                fireInputClosedOnce(context)
            } else if state == .open {
                context.read()
            }
        case .closed:
            break
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .open:
            encrypt(context, buffer, promise: promise)
        case .idle, .handshaking:
            pendingWrites.append((buffer, promise))
        case .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .open: flushOutput(context)
        case .idle, .handshaking: pendingFlush = true
        case .closed: break
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (mode, state) {
        case (.output, .open):
            sendCloseNotify(context)
            context.close(mode: .output, promise: promise)
        case (.output, .idle), (.output, .handshaking):
            pendingOutputClose = true
            if let promise {
                if let earlier = pendingOutputClosePromise { earlier.futureResult.cascade(to: promise) }
                else { pendingOutputClosePromise = promise }
            }
        case (.all, .open):
            sendCloseNotify(context)
            context.close(mode: .all, promise: promise)
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    private func encrypt(_ context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let engine, !closeNotifySent else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        if let reason = engine.encrypt(buffer) {
            promise?.fail(TLSProtocolError(reason: reason))
            if upstreamOpen { context.fireErrorCaught(TLSProtocolError(reason: reason)) }
            context.close(promise: nil)
            return
        }
        if let promise {
            if let batch = batchPromise { batch.futureResult.cascade(to: promise) } else { batchPromise = promise }
        }
    }

    /// Sends what OpenSSL wrote, in one buffer, and flushes.
    private func flushOutput(_ context: ChannelHandlerContext) {
        let promise = batchPromise
        batchPromise = nil
        guard let out = engine?.takeOutput(allocator: context.channel.allocator) else {
            promise?.succeed(())
            return
        }
        context.write(wrapOutboundOut(out), promise: promise)
        context.flush()
    }

    private func sendCloseNotify(_ context: ChannelHandlerContext) {
        guard let engine, !closeNotifySent, !socketFailed else { return }
        closeNotifySent = true
        engine.shutdown()
        flushOutput(context)
    }
}

extension TLSServerContext {
    /// The handler for an accepted connection; `handshakeTimeout` is the frontend's
    /// `timeout client`, as HAProxy applies it to the handshake; a failed handshake is
    /// written to `errors`.
    public func makeHandler(handshakeTimeout: TimeAmount?, errors: ConnectionErrorLog = ConnectionErrorLog()) -> TLSHandler {
        TLSHandler(role: .server(self, errors: errors), handshakeTimeout: handshakeTimeout)
    }
}

extension TLSClientContext {
    /// The handler for a new connection to this server. `serverName` overrides the server
    /// line's `sni` (for `check-sni`); `handshakeTimeout` is the backend's `timeout connect`.
    public func makeHandler(handshakeTimeout: TimeAmount?, serverName: String? = nil) -> TLSHandler {
        TLSHandler(role: .client(self, serverName: serverName ?? self.serverName), handshakeTimeout: handshakeTimeout)
    }
}

extension TLSHandler {
    /// The TLS handler of a channel, if it has one. On the channel's event loop.
    static func find(in channel: Channel) -> TLSHandler? {
        try? channel.pipeline.syncOperations.handler(type: TLSHandler.self)
    }

    /// The channel once its TLS handshake (if it has a TLSHandler) is done. Call on the
    /// channel's event loop, e.g. from a connect future's callback.
    public static func handshakeCompleted(on channel: Channel) -> EventLoopFuture<Channel> {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: TLSHandler.self),
              let future = handler.handshakeFuture else {
            return channel.eventLoop.makeSucceededFuture(channel)
        }
        return future.map { channel }
    }
}
