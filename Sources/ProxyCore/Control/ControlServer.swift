#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Shared
import NIOPosix

/// The runtime API and the stats pages of one running proxy: binds the `stats socket`s
/// and installs the stats page on the backends that have `stats enable`.
public final class ControlPlane: @unchecked Sendable {
    public let context: StatsContext
    let registry: CommandRegistry
    /// `subscribe ha`: frontend state and stop notices for vrrpd (docs/ha-protocol.md).
    public let ha: HAHub
    private var channels: [Channel] = []
    private var socketFiles: [UnixSocketFile] = []
    /// `expose-fd listeners` sockets, accepted outside NIO (ExposedControlSocket).
    private var exposedSockets: [ExposedControlSocket] = []

    public init(runtime: ProxyRuntime, configuration: ProxyConfiguration) {
        self.context = StatsContext(runtime: runtime, configuration: configuration)
        self.registry = ControlCommands.registry()
        self.ha = HAHub(runtime: runtime, grace: configuration.global.grace)
        runtime.prometheus?.context = context
        for proxy in context.proxies where proxy.settings.stats.enabled {
            let page = StatsPage(settings: proxy.settings.stats, proxyName: proxy.name, context: context, plane: self)
            // A listen or backend section answers in its backend half; a frontend section
            // before routing.
            if let backend = proxy.backend {
                backend.statsPage = page
            } else {
                proxy.frontend?.statsPage = page
            }
        }
    }

    /// A `stats socket` that could not be opened, worded as HAProxy reports it.
    public struct BindFailure: Error, CustomStringConvertible {
        public let address: String
        public let reason: String
        public var location: SourceLocation? = nil
        public var description: String {
            "Binding [\(location.map { "\($0)" } ?? "global")] for frontend GLOBAL: cannot bind UNIX socket (\(reason)) [\(address)]"
        }
    }

    /// Opens every `stats socket` of the global section, with its mode and owner. Call
    /// before chroot and privilege drop, as HAProxy does.
    public func bind() throws {
        let global = context.configuration.global
        for socket in global.statsSockets {
            let level = ControlLevel(socket.level)
            let timeout = global.statsTimeout
            let bootstrap = ServerBootstrap(group: context.runtime.group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ControlSession(plane: self, level: level, timeout: timeout))
                    }
                }
            do {
                switch socket.address {
                case .unix(let path):
                    // Bound under a temporary name and renamed into place (UnixSocketFile):
                    // a reload replaces the socket atomically and the old process leaves
                    // the new one's alone.
                    let ownership = UnixSocketFile.Ownership(mode: socket.mode, uid: socket.uid, gid: socket.gid,
                                                             user: socket.user, group: socket.group)
                    let (fd, file) = try UnixSocketFile.listen(path: path, backlog: 64, ownership: ownership)
                    socketFiles.append(file)
                    if socket.exposeListenerFDs {
                        exposedSockets.append(ExposedControlSocket(listening: fd, group: context.runtime.group) { [self] connection in
                            ControlSession(plane: self, level: level, timeout: timeout, connectionFD: connection)
                        })
                    } else {
                        channels.append(try bootstrap.withBoundSocket(fd).wait())
                    }
                case .inet(let host, let port):
                    channels.append(try bootstrap.bind(host: host?.description ?? "0.0.0.0", port: port).wait())
                case .abstract, .fileDescriptor:
                    throw BindFailure(address: "\(socket.address)", reason: "not supported yet")
                }
            } catch var failure as BindFailure {
                failure.location = socket.location
                throw failure
            } catch {
                throw BindFailure(address: "\(socket.address)", reason: ProxyRuntime.reason(for: error),
                                  location: socket.location)
            }
        }
    }

    /// The master's link (-W): a connected socket on which the master CLI forwards the
    /// commands written `@1 …` or `@!PID …`. An interactive admin session without a
    /// timeout, for the worker's whole life: each answer ends with the `> ` prompt, which
    /// tells the master where it ends.
    /// `masterGone` runs once the link ends: the master died (the worker then stops, as
    /// HAProxy's workers do).
    public func serveMasterLink(_ fd: Int32, masterGone: @escaping @Sendable () -> Void) {
        _ = ClientBootstrap(group: context.runtime.group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LinkWatcher(ended: masterGone))
                    try channel.pipeline.syncOperations.addHandler(
                        ControlSession(plane: self, level: .admin, timeout: 0, interactive: true))
                }
            }
            .withConnectedSocket(fd)
    }

    /// Tells when the connection ends, then lets the session see it too.
    private final class LinkWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let ended: @Sendable () -> Void
        init(ended: @escaping @Sendable () -> Void) { self.ended = ended }
        func channelInactive(context: ChannelHandlerContext) {
            ended()
            context.fireChannelInactive()
        }
    }

    /// Closes the control sockets and removes their paths unless a newer process (a
    /// `-sf` reload) has put its own there. Connected clients stay until the process exits.
    public func close() {
        for channel in channels { channel.close(promise: nil) }
        channels.removeAll()
        for socket in exposedSockets { socket.close() }
        exposedSockets.removeAll()
        for file in socketFiles { file.removeIfStillOurs() }
        socketFiles.removeAll()
    }

    /// Runs one command line (`;`-separated commands) as a non-interactive client at
    /// `level` would, and returns the answer bytes.
    public func execute(_ line: String, level: ControlLevel = .admin) -> String {
        let state = ControlSessionState(level: level, timeout: context.configuration.global.statsTimeout)
        return run(line: line, state)
    }

    /// Each command's answer is followed by an empty line; `quit` stops the line.
    func run(line: String, _ state: ControlSessionState) -> String {
        var out = ""
        for arguments in CommandRegistry.split(line) {
            if arguments.isEmpty, !out.isEmpty || line.contains(";") { continue }
            switch arguments.first {
            case "quit":
                state.quitting = true
                return out
            case "prompt":
                state.interactive.toggle()
                out += "\n"
                continue
            case "help":
                out += registry.helpText(matching: Array(arguments.dropFirst())) + "\n"
                continue
            case "show" where arguments.count == 2 && arguments[1] == "ha":
                // Not in `help`, so that HAProxy clients see the command list they know.
                out += ha.describe() + "\n"
                continue
            default:
                break
            }
            if let command = registry.find(arguments) {
                out += command.run(arguments, state, context)
            } else {
                out += registry.unknown(arguments)
            }
            out += "\n"
        }
        return out
    }
}

/// One client of the control socket: reads command lines, answers them, and closes after
/// the first batch unless `prompt` made the session interactive.
final class ControlSession: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let plane: ControlPlane
    private let state: ControlSessionState
    private var pending: [UInt8] = []
    private var timer: Scheduled<Void>?
    private var closing = false
    /// Set by `subscribe ha`: the connection now speaks the HA protocol only.
    private var subscription: HASubscription?
    /// A longer line than HAProxy's buffer is an error that closes the session.
    static let maxLine = 16_384

    /// The connection's own socket, known on an `expose-fd listeners` socket only: where
    /// `_getsocks` writes the listeners.
    private let connectionFD: Int32?

    init(plane: ControlPlane, level: ControlLevel, timeout: Int, connectionFD: Int32? = nil, interactive: Bool = false) {
        self.plane = plane
        self.state = ControlSessionState(level: level, timeout: timeout)
        self.state.interactive = interactive
        self.connectionFD = connectionFD
    }

    func channelActive(context: ChannelHandlerContext) {
        plane.context.controlSessions.increment()
        counted = true
        arm(context)
    }
    private var counted = false

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        guard state.timeout > 0, subscription == nil else { return }
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: .milliseconds(Int64(state.timeout))) {
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var buffer = unwrapInboundIn(data)
        if let bytes = buffer.readBytes(length: buffer.readableBytes) { pending += bytes }
        arm(context)
        drain(context)
    }

    /// True while a `show sess` gathers the event loops' sessions: later lines wait.
    private var busy = false
    private var answeredSome = false
    private var inputClosed = false

    /// Answers the complete lines in order; a line with `show sess` first collects the
    /// sessions from every event loop, then goes on.
    private func drain(_ context: ChannelHandlerContext) {
        while !busy, !closing, let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            run(String(decoding: line, as: UTF8.self), context)
        }
        guard !busy, !closing else { return }
        if pending.count > Self.maxLine { finish(context); return }
        if inputClosed, subscription != nil {
            // A subscriber that closed its side still hears events until it hangs up.
            return
        }
        if inputClosed {
            // A last command without its newline still gets an answer.
            if !pending.isEmpty {
                let line = String(decoding: pending, as: UTF8.self)
                pending.removeAll()
                run(line, context)
                if busy { return }
                if subscription != nil {
                    context.flush()
                    return
                }
            }
            finish(context)
            return
        }
        // Without a prompt, HAProxy answers what it was sent, then hangs up.
        if answeredSome, !state.interactive, pending.isEmpty, subscription == nil { finish(context) }
    }

    private func run(_ line: String, _ context: ChannelHandlerContext) {
        answeredSome = true
        if let subscription {
            let reply = subscription.answer(line, hub: plane.ha)
            if !reply.isEmpty { write(reply, context) }
            return
        }
        if let request = HASubscription.Request(line) {
            subscribe(request, context)
            return
        }
        if line.split(separator: " ").first == "_getsocks" {
            handOver(context)
            return
        }
        let wantsSessions = CommandRegistry.split(line).contains { $0.count >= 2 && $0[0] == "show" && $0[1] == "sess" }
        guard wantsSessions else {
            answer(line, context)
            return
        }
        busy = true
        plane.context.runtime.showSessLines(on: context.eventLoop).whenComplete { [self] result in
            state.sessions = (try? result.get()) ?? ""
            busy = false
            guard !closing else { return }
            answer(line, context)
            state.sessions = nil
            context.flush()
            drain(context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    /// `_getsocks` (HAProxy's, for `-x`): the listening sockets, then the session ends.
    /// Without `expose-fd listeners` the connection just closes, as HAProxy's does, and
    /// the new process says it got no sockets.
    private func handOver(_ context: ChannelHandlerContext) {
        if let fd = connectionFD {
            do {
                try ListenerHandover.send(plane.context.runtime.handOverListeners(), over: fd)
            } catch {
                ConsoleEcho.alert("_getsocks: \(error)")
            }
        }
        finish(context)
    }

    /// `subscribe ha [hold]`: from now on the HA protocol, no timeout, not counted.
    private func subscribe(_ request: HASubscription.Request, _ context: ChannelHandlerContext) {
        guard case .subscribe(let wantsHold) = request else {
            write("error: usage: subscribe ha [hold]\n", context)
            return
        }
        timer?.cancel()
        timer = nil
        if counted {
            counted = false
            plane.context.controlSessions.decrement()
        }
        var out = ""
        // Holding a stop is an operator's power; anyone may watch.
        let holds = wantsHold && state.level >= .operator
        if wantsHold && !holds { out += "error: permission denied\n" }
        let subscription = HASubscription(channel: context.channel, holds: holds)
        self.subscription = subscription
        out += plane.ha.register(subscription)
        write(out, context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, case .inputClosed = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        inputClosed = true
        drain(context)
    }

    private func answer(_ line: String, _ context: ChannelHandlerContext) {
        var out = plane.run(line: line, state)
        if state.quitting {
            if !out.isEmpty { write(out, context) }
            finish(context)
            return
        }
        if state.interactive { out += "> " }
        write(out, context)
        arm(context)
    }

    private func write(_ text: String, _ context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func finish(_ context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        timer?.cancel()
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        closing = true
        if let subscription {
            plane.ha.unregister(subscription)
            self.subscription = nil
        }
        if counted {
            counted = false
            plane.context.controlSessions.decrement()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
