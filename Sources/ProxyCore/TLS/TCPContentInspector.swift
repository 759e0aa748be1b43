import NIOCore

/// A `mode tcp` frontend's content phase: `tcp-request inspect-delay`, `tcp-request
/// content accept|reject` and `use_backend` rules, evaluated once per connection.
struct TCPInspection {
    struct Rule {
        let accept: Bool
        /// `silent-drop`: a reject the client does not hear (Runtime/RuleEffects.swift).
        var silent = false
        let condition: CompiledCondition?
    }
    /// How long to wait for the client's first bytes (a ClientHello) before deciding.
    let delay: TimeAmount?
    let rules: [Rule]

    /// Nil when the frontend has nothing to inspect or route (mode http, or mode tcp
    /// with only a default backend): the session starts at once, as before.
    init?(_ proxy: ProxySettings, backends: [String: RuntimeBackend], own: RuntimeBackend?) {
        guard proxy.mode == .tcp else { return nil }
        var delay: TimeAmount? = nil
        var rules: [Rule] = []
        for rule in proxy.tcpRequestRules where rule.phase == .content {
            switch rule.action {
            case .inspectDelay(let ms): delay = .milliseconds(Int64(ms))
            case .track: break  // run at accept (Runtime/StickTracking.swift)
            case .setVariable: break  // mode tcp refuses them (Runtime/TCPVariableRules.swift)
            case .setDestination: break  // when the session starts (Runtime/DestinationRewrite.swift)
            case .accept, .reject, .silentDrop:
                rules.append(Rule(accept: rule.action == .accept, silent: rule.action == .silentDrop, condition: rule.condition.map {
                    CompiledCondition($0, backends: backends, currentBackend: own)
                }))
            }
        }
        guard delay != nil || !rules.isEmpty || !proxy.useBackendRules.isEmpty else { return nil }
        self.delay = delay
        self.rules = rules
    }
}

/// Holds a new `mode tcp` connection until its first bytes tell where it goes: waits (up
/// to `inspect-delay`) for a whole TLS ClientHello, without terminating TLS, or a whole
/// RDP connection request (its cookie); then applies the content rules and `use_backend`
/// rules with `req.ssl_sni` and `req.rdp_cookie` known, adds a TCPSession
/// for the chosen backend behind itself, and gives it the bytes read so far on its first
/// `read()`. From then on it only passes events through.
final class TCPContentInspector: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let frontend: RuntimeFrontend
    private let inspection: TCPInspection
    /// The session for the chosen backend, given the bytes read so far (for `persist` and
    /// `balance rdp-cookie`).
    private let makeSession: (RuntimeBackend, [UInt8]?) -> ChannelHandler
    private var decided = false
    private var rejected = false
    private var timer: Scheduled<Void>?
    private var seen: ByteBuffer?
    private var replay: ByteBuffer?
    private var inputClosedPending = false
    private var inputClosed = false

    init(frontend: RuntimeFrontend, inspection: TCPInspection,
         makeSession: @escaping (RuntimeBackend, [UInt8]?) -> ChannelHandler) {
        self.frontend = frontend
        self.inspection = inspection
        self.makeSession = makeSession
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let delay = inspection.delay, delay > .zero else {
            decide(context, .notTLS)
            return
        }
        timer = context.eventLoop.scheduleTask(in: delay) { [weak self] in
            guard let self, !self.decided else { return }
            self.decide(context, self.seen.map { ClientHelloParser.parse(Array($0.readableBytesView)) } ?? .notTLS)
        }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else {
            context.fireChannelRead(data)
            return
        }
        var buffer = unwrapInboundIn(data)
        if seen == nil { seen = buffer } else { seen!.writeBuffer(&buffer) }
        let verdict = ClientHelloParser.parse(Array(seen!.readableBytesView))
        // An RDP packet (TPKT) not all here yet: its cookie may still come (issue 15).
        if verdict == .notTLS, seen!.readableBytesView.withUnsafeBytes({ RDPCookie.packetIncomplete($0) }) { return }
        if verdict != .needMore { decide(context, verdict) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if decided {
            if !rejected { context.fireChannelReadComplete() }
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !decided, let event = event as? ChannelEvent, case .inputClosed = event {
            inputClosedPending = true
            decide(context, seen.map { ClientHelloParser.parse(Array($0.readableBytesView)) } ?? .notTLS)
            return
        }
        if decided && !rejected { context.fireUserInboundEventTriggered(event) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if decided && !rejected { context.fireChannelInactive() }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if decided && !rejected { context.fireErrorCaught(error) } else { context.close(promise: nil) }
    }

    func read(context: ChannelHandlerContext) {
        if let buffer = replay {
            replay = nil
            context.fireChannelRead(wrapInboundOut(buffer))
            context.fireChannelReadComplete()
            return
        }
        if inputClosedPending {
            inputClosedPending = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            return
        }
        context.read()
    }

    private func decide(_ context: ChannelHandlerContext, _ verdict: ClientHelloParser.Verdict) {
        guard !decided else { return }
        decided = true
        timer?.cancel()
        timer = nil
        var connection = ConnectionFacts(channel: context.channel)
        let payload = seen.map { Array($0.readableBytesView) }
        connection.inspectedPayload = payload
        if case .hello(let type, let name) = verdict {
            connection.tlsServerName = name.map { Array($0.utf8) }
            connection.tlsHelloType = Int(type)
        }
        let facts = RequestFacts(bytes: UnsafeRawBufferPointer(start: nil, count: 0), head: HTTPRequestHead(),
                                 headers: [], connection: connection)
        for rule in inspection.rules where rule.condition?.evaluate(facts) ?? true {
            if !rule.accept {
                rejected = true
                if rule.silent { SilentClose.prepare(context.channel) }
                context.close(promise: nil)
                return
            }
            break
        }
        guard let backend = frontend.router.route(facts) else {
            rejected = true
            context.close(promise: nil)
            return
        }
        do {
            try context.pipeline.syncOperations.addHandler(makeSession(backend, payload), position: .after(self))
        } catch {
            rejected = true
            context.close(promise: nil)
            return
        }
        if let seen, seen.readableBytes > 0 { replay = seen }
        seen = nil
        context.fireChannelActive()
    }
}
