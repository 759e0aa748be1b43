#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// How a check connects: natively on its reactor (data path v2), or through a NIO
/// bootstrap on a NIO event loop; over TLS, the handshake comes first (layer 6).
extension CheckRunner {
    /// Data path v2: a non-blocking connect on the runner's reactor, no bootstrap, no
    /// channel (NIO's set-up per check was most of the cost of 10,000 servers' checks).
    /// Over TLS, the handshake runs on the same reactor (TLSTransport).
    func connectNatively(on native: NativeLoopContext, loop: EventLoop) {
        let timeout = TimeAmount.milliseconds(Int64(connectTimeout))
        // The completion comes only while this attempt is the check's: `finish` closes it,
        // and a closed connect is never told.
        transport = NativeConnection.connect(to: currentAddress, context: native, timeout: timeout,
                                             delayedAck: delaysAck,
                                             source: server.sourceAddress(client: nil)) { [unowned self] result in
            guard running else { return }
            switch result {
            case .success(let connection):
                connectedNatively(connection, loop: loop, native: native)
            case .failure(let error):
                transport = nil
                finish(connectFailureWithStep(error))
            }
        }
    }

    func connectedNatively(_ connection: NativeConnection, loop: EventLoop, native: NativeLoopContext) {
        socket = connection
        if connectOnly {
            // Closed with a reset (`finish`), as HAProxy closes its checks.
            finish(CheckResult(status: .l4ok))
            return
        }
        let remaining = readTimeout ?? max(1, interval - elapsed())
        deadline = loop.scheduleTask(in: .milliseconds(Int64(remaining))) { [self] in timedOut() }
        guard usesTLS, let tls = server.checkTLS else {
            exchange(over: connection)
            return
        }
        // Over TLS the check starts once the handshake is done (layer 6); the server's TLS
        // session is reused from one check to the next (TLSClientContext), as HAProxy does.
        let secured = TLSTransport(over: connection, role: .client(tls, serverName: checkSNI ?? tls.serverName),
                                   handshakeTimeout: .milliseconds(Int64(connectTimeout)), context: native)
        transport = secured
        handshaking = true
        secured.start { [unowned self] handshake in
            guard running, transport === secured else { return }
            handshaking = false
            switch handshake {
            case .success: exchange(over: secured, afterTLS: true)
            case .failure: finish(CheckResult(status: .l6response, info: "SSL handshake failure"))
            }
        }
    }

    /// Connected (and past TLS): the check's own exchange starts.
    func exchange(over connection: SessionTransport, afterTLS: Bool = false) {
        connection.events = CheckTransportEvents(runner: self)
        connected(afterTLS: afterTLS, write: { connection.writeAndFlush(ByteBuffer(bytes: $0)) })
        connection.read()
    }

    func connectFailureWithStep(_ error: Error) -> CheckResult {
        var result = Self.connectFailure(error)
        if let step = connectStepInfo { result.info = (result.info ?? "") + step }
        return result
    }


    /// Checks go over TLS when TLSSetup says so (`check-ssl`, or `ssl` on the server);
    /// agents never do.
    var usesTLS: Bool { !isAgent && server.checkTLS != nil }

    /// HAProxy's choice for its checks' connects (CONNECT_DELACK_ALWAYS unless the step
    /// after the connect is an expect): our handshake's last ACK waits for the first bytes
    /// we send and goes with them. Not when the server speaks first (a banner it could
    /// not send before our ACK). A bare connect check sends nothing: its reset on close
    /// ends a connection the server never accepted, as HAProxy's plain checks never reach
    /// a server's accept queue (the check costs the server a SYN and a SYN-ACK); see
    /// docs/performance-log.md, steps 11 and 13.
    var delaysAck: Bool {
        switch script {
        case .connect: return true  // nothing to send, or the ClientHello first
        case .http: return true
        case .tcp(let steps, _, _):
            if steps.count > 1, case .expect = steps[1] { return false }
            if steps.count > 1, case .judge = steps[1] { return false }
            return true
        case .agent(let send): return send != nil
        }
    }

    /// A plain connect check: being connected is the whole check.
    var connectOnly: Bool {
        if case .connect = script { return !usesTLS }
        return false
    }

    func makeBootstrap(_ loop: EventLoop) -> ClientBootstrap {
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(Int64(connectTimeout)))
        if connectOnly {
            // No handler, nothing to read.
            return bootstrap.channelOption(.autoRead, value: false)
        }
        return bootstrap
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { [unowned self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if usesTLS, let tls = server.makeCheckTLSHandler(
                        sni: checkSNI, timeout: .milliseconds(Int64(connectTimeout))) {
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try channel.pipeline.syncOperations.addHandler(CheckConnectionHandler(runner: self))
                }
            }
    }

    /// The connect through NIO (a loop that is not a reactor).
    func connectThroughNIO(_ loop: EventLoop) {
        let bootstrap = self.bootstrap ?? makeBootstrap(loop)
        self.bootstrap = bootstrap
        bootstrap.connect(to: currentAddress).whenComplete { [self] result in
            switch result {
            case .success(let channel):
                guard running else { channel.close(promise: nil); return }
                self.channel = channel
                if connectOnly {
                    // Closed with a reset, as HAProxy closes its checks (unless `tcp-check
                    // connect linger`): no FIN exchange, no TIME_WAIT left per check.
                    _ = (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                    finish(CheckResult(status: .l4ok))
                    return
                }
                let remaining = readTimeout ?? max(1, interval - elapsed())
                deadline = loop.scheduleTask(in: .milliseconds(Int64(remaining))) { [self] in timedOut() }
                guard usesTLS else { connected(channel); return }
                // Over TLS the check starts once the handshake is done (layer 6).
                handshaking = true
                TLSHandler.handshakeCompleted(on: channel).whenComplete { [self] handshake in
                    guard running, self.channel === channel else { return }
                    handshaking = false
                    switch handshake {
                    case .success: connected(channel, afterTLS: true)
                    case .failure: finish(CheckResult(status: .l6response, info: "SSL handshake failure"))
                    }
                }
            case .failure(let error):
                finish(connectFailureWithStep(error))
            }
        }
    }

    static func connectFailure(_ error: Error) -> CheckResult {
        if let error = error as? ChannelError, case .connectTimeout = error {
            return CheckResult(status: .l4timeout)
        }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return connectFailure(first.error)
        }
        if let error = error as? IOError {
            return CheckResult(status: .l4connection, info: String(cString: strerror(error.errnoCode)))
        }
        return CheckResult(status: .l4connection, info: "\(error)")
    }

    func connected(_ channel: Channel, afterTLS: Bool = false) {
        connected(afterTLS: afterTLS, write: { channel.writeAndFlush(ByteBuffer(bytes: $0), promise: nil) })
    }
}

/// The check's connection: passes bytes and the close to its runner.
private final class CheckConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let runner: CheckRunner
    init(runner: CheckRunner) { self.runner = runner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        runner.read(unwrapInboundIn(data))
    }
    func channelInactive(context: ChannelHandlerContext) { runner.closed() }
    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

/// The check's connection on the native data path: passes bytes and the close to its
/// runner, and asks for more after each read.
private final class CheckTransportEvents: TransportEvents {
    private unowned let runner: CheckRunner
    init(runner: CheckRunner) { self.runner = runner }

    func transportActive() {}
    func transportRead(_ buffer: ByteBuffer) { runner.read(buffer) }
    func transportReadComplete() { runner.readMore() }
    func transportWritabilityChanged() {}
    func transportInputClosed() { runner.closed() }
    func transportClosed() { runner.closed() }
}
