import NIOCore

/// One client connection in `mode http`: the whole life of each request on it, from the
/// bytes of its head to the last byte of its response, in one handler.
///
/// Heads are parsed in place and forwarded as slices of the bytes that came in; bodies
/// are forwarded unchanged while a tracker finds where they end. Server connections come
/// from the loop's idle pool when HAProxy's `http-reuse safe` allows it (not for the
/// first request of a client connection) and go back to it after a clean exchange.
/// Requests that arrive pipelined wait in the input buffer until the response before
/// them is complete, so answers go out in order.
final class HTTPSession: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        /// Waiting for (the rest of) a request head.
        case readingHead
        /// A server connection is being opened for the request.
        case connecting
        /// The request is going to the server and/or the response is coming back.
        case exchanging
        /// After `101 Switching Protocols`: bytes flow both ways unchanged.
        case tunnel
        case closed
    }

    private let frontend: RuntimeFrontend
    private let loopStates: LoopStates
    private let counters: SessionCounters
    private let registry: SessionRegistry

    private var context: ChannelHandlerContext!
    private var loop: LoopState!
    private var phase: Phase = .readingHead
    private var idle: IdleTimer!
    private var activated = false

    /// Client bytes received and not yet forwarded (a partial head, pipelined requests).
    private var inbound: ByteBuffer?
    private var requestParser = HTTPRequestParser()
    private var responseParser = HTTPResponseParser()
    private var requestBody = HTTPBodyFramer(framing: .none)
    private var responseBody = HTTPBodyFramer(framing: .none)
    /// The response runs until the server closes (no length given).
    private var responseUntilClose = false
    /// Server bytes of a response head not yet complete.
    private var responseHeadBuffer: ByteBuffer?

    // The current exchange.
    private var backend: RuntimeBackend?
    private var connection: ServerConnection?
    private var connector: ServerConnector?
    private var pendingServerSide: HTTPServerSide?
    private var requestMethod: HTTPMethod = .get
    private var requestHasBody = false
    private var requestComplete = false
    private var responseHeadDone = false
    /// Some byte of the current response reached the client: too late for an error page.
    private var responseStarted = false
    private var clientKeepAlive = true
    private var clientIsHTTP10 = false
    private var serverReusable = true
    private var isFirstRequest = true
    /// A soft stop gave this connection a last moment for its next request (closeIfIdle).
    private var lingeringForStop = false
    private var retriedOnReusedConnection = false

    // Backpressure.
    private var clientReadPending = false
    private var serverReadPending = false
    private var clientInputClosed = false

    /// Addresses of this connection, computed once, for ACLs and `X-Forwarded-For`.
    private var connectionFacts: ConnectionFacts!
    /// Header edits for the request being forwarded (rules, forwardfor, Connection).
    private var requestRewrite = HeadRewrite()

    /// Traffic log record of the current request (Logging/TrafficLog): only when the
    /// frontend logs; `logPending` while a request is under way and not yet logged.
    private var log: SessionLogRecord?
    private var logPending = false
    /// The steps of the current request, for the qtime/ctime/rtime/ttime statistics.
    private var times = ExchangeTimes()

    init(frontend: RuntimeFrontend, loopStates: LoopStates, counters: SessionCounters, registry: SessionRegistry) {
        self.frontend = frontend
        self.loopStates = loopStates
        self.counters = counters
        self.registry = registry
    }

    // MARK: - Client events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The channel is gone: drop the context, or the context (which holds this handler)
    /// and this handler (which holds the context) would keep each other, and the whole
    /// channel, alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        if phase != .closed {
            phase = .closed
            finishBookkeeping()
        }
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        activated = true
        frontend.gate.opened()
        counters.sessionOpened()  // scur and smax (issue 4)
        times = ExchangeTimes()
        loop = loopStates.state(for: context.eventLoop)
        loop.httpSessions[ObjectIdentifier(self)] = self
        connectionFacts = ConnectionFacts(channel: context.channel)
        if let trafficLog = frontend.trafficLog {
            log = SessionLogRecord(client: context.channel.remoteAddress, local: context.channel.localAddress)
            log?.tls = trafficLog.tlsFacts(of: context.channel)
            trafficLog.connected(client: log?.client, local: log?.local)
        }
        idle = IdleTimer(eventLoop: context.eventLoop) { [weak self] in self?.timedOut() }
        // Until the first byte, as in HAProxy: the request timeout bounds the silence,
        // then the head gets its own full deadline from that byte (parseRequests).
        idle.arm(frontend.timeouts.httpRequest ?? frontend.timeouts.client)
        // Accepted from the queue of a listener closing for a soft stop: its request is on
        // its way; it is answered (with `Connection: close`), not reset.
        if registry.isStopping { closeIfIdle() }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        counters.bytesIn.add(buffer.readableBytes)
        if log != nil { noteClientBytes(buffer.readableBytes) }
        switch phase {
        case .readingHead:
            append(buffer)
        case .connecting:
            append(buffer)
        case .exchanging:
            if requestComplete {
                append(buffer)  // pipelined: waits for the response to finish
            } else {
                forwardRequestBody(buffer)
            }
        case .tunnel:
            idle.touch()
            countRequestBytes(buffer.readableBytes)  // stats (issue 4)
            connection?.channel.write(buffer, promise: nil)
        case .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        switch phase {
        case .readingHead:
            parseRequests()
        case .exchanging, .tunnel:
            guard let channel = connection?.channel else { return }
            channel.flush()
            if phase == .tunnel || !requestComplete {
                if channel.isWritable { readClient() } else { clientReadPending = true }
                return
            }
        case .connecting, .closed:
            break
        }
        keepReadingWhileAnswering()
    }

    /// Most of what a client can send while its request (without a body, or whose body is
    /// all in) is being answered is its next, pipelined request or its close. Reading on
    /// keeps the socket's read interest as it is: turning it off and on again around
    /// every exchange costs two `epoll_ctl` calls per request. What arrives waits in
    /// `inbound`, up to `pipelineBufferLimit`; beyond that the client waits its turn.
    private func keepReadingWhileAnswering() {
        guard phase == .connecting || phase == .exchanging,
              requestComplete || !requestHasBody,
              (inbound?.readableBytes ?? 0) < Self.pipelineBufferLimit else { return }
        readClient()
    }

    /// HAProxy's default `tune.bufsize`: pipelined bytes a client may have in advance.
    static let pipelineBufferLimit = 16384

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, serverReadPending, let connection {
            serverReadPending = false
            connection.channel.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, case .inputClosed = event else { return }
        clientInputClosed = true
        switch phase {
        case .readingHead:
            // A partial head cut short is a bad request, as HAProxy answers; nothing at
            // all (or only pipelined complete requests answered) just closes.
            if let inbound, inbound.readableBytes > 0 {
                parseRequests()
                if phase == .readingHead {
                    if log != nil { logPending = true; log?.terminate("C", "R") }
                    sendError(400, close: true)
                }
            } else {
                close()
            }
        case .tunnel:
            connection?.channel.close(mode: .output, promise: nil)
        case .connecting, .exchanging:
            // The client finished sending; its answer still goes back (half-close).
            break
        case .closed:
            close()
        }
    }

    func channelInactive(context: ChannelHandlerContext) { close() }

    func errorCaught(context: ChannelHandlerContext, error: Error) { close() }

    private func readClient() {
        guard !clientInputClosed, phase != .closed else { return }
        context.read()
    }

    private func append(_ buffer: ByteBuffer) {
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = buffer
        } else {
            var incoming = buffer
            inbound!.writeBuffer(&incoming)
        }
    }

    // MARK: - Requests

    /// Parses the request at the head of `inbound`, if complete, and starts its exchange.
    private func parseRequests() {
        guard phase == .readingHead else { return }
        guard var buffer = inbound, buffer.readableBytes > 0 else {
            readClient()
            return
        }
        idle.touch()
        if log != nil, log?.requestAt == nil {
            // A request that was already waiting (pipelined) starts now.
            log?.requestAt = .now()
            log?.requestWall = .now()
        }
        if !headTimeoutStarted, idle != nil {
            // The first byte of a request: its head's deadline starts now.
            startHeadTimeout()
        }
        var status = buffer.withUnsafeReadableBytes { requestParser.parse($0) }
        // An obs-fold becomes spaces in place, as HAProxy makes it, and the head is read again.
        while case .error(.obsoleteLineFolding) = status, let line = requestParser.foldedLineStart,
              unfoldLine(at: line, in: &buffer) {
            inbound = buffer
            status = buffer.withUnsafeReadableBytes { requestParser.parse($0) }
        }
        // Bare LF line ends or an odd version: the server gets the head as proxyd read it.
        if case .complete = status, requestParser.head.needsNormalising {
            normaliseRequestHead(requestParser.head, in: &buffer)
            inbound = buffer
            status = buffer.withUnsafeReadableBytes { requestParser.parse($0) }
        }
        switch status {
        case .incomplete:
            readClient()
        case .error(let error):
            counters.requestErrors.increment()
            if log != nil { logPending = true; log?.terminate("P", "R") }
            sendError(error.requestStatusCode, close: true)
        case .complete:
            times.requestComplete = .now()
            counters.requests.increment()
            counters.requestRate.tick()  // req_rate (issue 4)
            let head = requestParser.head
            if log != nil {
                logPending = true
                log?.headAt = .now()
                log?.captureRequestLine(buffer, start: head.start)
            }
            startExchange(head: head, buffer: &buffer)
        }
    }

    /// The current request head's deadline is running (from its first byte); the wait
    /// before it (after the accept, or keep-alive between requests) is not it.
    private var headTimeoutStarted = false

    /// `timeout http-request` bounds the whole request head, as in HAProxy: a deadline
    /// the head's reads do not push back, or a client trickling a byte at a time
    /// (slowloris) would hold the connection forever. Without it, `timeout client`
    /// applies as usual, to silence only.
    private func startHeadTimeout() {
        headTimeoutStarted = true
        if let limit = frontend.timeouts.httpRequest {
            idle.armDeadline(limit)
        } else {
            idle.arm(frontend.timeouts.client)
        }
    }

    private func startExchange(head: HTTPRequestHead, buffer: inout ByteBuffer) {
        requestMethod = head.method
        requestBody = HTTPBodyFramer(framing: head.framing)
        requestHasBody = !requestBody.isComplete
        requestComplete = false
        clientKeepAlive = head.keepAlive && frontend.httpConnectionMode != .close

        // Frontend rules, routing, then the backend's own rules, all on the head in place.
        var rewrite = HeadRewrite()
        if head.hasContentLength && head.hasTransferEncoding {
            // Two framings: the chunked one wins, the Content-Length goes and the
            // connection closes after the answer, as HAProxy 2.6 handles it.
            rewrite.dropNames.append(Array("content-length".utf8))
            clientKeepAlive = false
        }
        let headers = requestParser.headers
        let connection = connectionFacts!
        var statsPageAnswered = false
        let (chosen, outcome, choice): (RuntimeBackend?, RuleOutcome, ServerChoice) = buffer.withUnsafeReadableBytes { bytes in
            let facts = RequestFacts(bytes: bytes, head: head, headers: headers, connection: connection)
            if case .reply(let reply, let closes) = RuleEngine.run(frontend.requestRules, facts: facts, rewrite: &rewrite) {
                return (nil, .reply(reply, closes: closes), .noneUsable)
            }
            // The stats page of a frontend section (issue 4).
            if let page = frontend.statsPage, let reply = page.answer(facts) {
                statsPageAnswered = true
                return (nil, .reply(reply, closes: false), .noneUsable)
            }
            guard let backend = frontend.router.route(facts) else { return (nil, .proceed, .noneUsable) }
            if backend.name != frontend.name, !backend.requestRules.isEmpty {
                let outcome = RuleEngine.run(backend.requestRules, facts: facts, rewrite: &rewrite)
                if case .reply = outcome { return (backend, outcome, .noneUsable) }
            }
            // The stats page (issue 4): a backend with `stats enable` answers its
            // `stats uri` itself instead of forwarding.
            if let page = backend.statsPage, let reply = page.answer(facts) {
                statsPageAnswered = true
                return (backend, .reply(reply, closes: false), .noneUsable)
            }
            let choice = connection.clientAddress.withUnsafeBytes { address in
                backend.balancer.take(input: BalanceInput(
                    clientAddress: address.isEmpty ? nil : address,
                    request: (head.targetSpan, headers, bytes)))
            }
            return (backend, .proceed, choice)
        }
        if case .reply(let reply, let closes) = outcome {
            // stats (issue 4); the page's own backend counts it apart.
            countReply(reply, backend: statsPageAnswered ? nil : chosen)
            if statsPageAnswered { countStatsPage(in: chosen, requestBytes: head.headLength, reply: reply) }
            buffer.moveReaderIndex(forwardBy: head.headLength)
            inbound = buffer
            if log != nil {
                log?.backend = chosen
                // deny: the proxy blocked it (PR); return/redirect: served locally (LR).
                log?.terminate(closes ? "P" : "L", "R")
            }
            sendReply(reply, close: closes)
            return
        }
        let backendIfServed: RuntimeBackend?
        switch choice {
        case .server(let server):
            backendIfServed = chosen
            chosenServer = server
            chosenSlotTaken = true  // handed on by acquireConnection, just below
        case .allFull:
            backendIfServed = chosen  // every server at maxconn: the connector queues
            chosenServer = nil
        case .noneUsable:
            backendIfServed = nil
        }
        guard let backend = backendIfServed else {
            buffer.moveReaderIndex(forwardBy: head.headLength)
            inbound = buffer
            self.backend = chosen  // its errorfiles answer, when there is one
            if log != nil { log?.backend = chosen; log?.terminate("S", "C") }
            sendError(503, close: !head.keepAlive || requestHasBody)
            return
        }
        self.backend = backend
        lastBackendIndex = backend.index
        if log != nil { log?.backend = backend; log?.server = chosenServer; log?.connectStart = .now() }
        backend.counters.requests.increment()  // req_tot (issue 4)
        clientIsHTTP10 = head.version == .http10
        if backend.httpConnectionMode == .close { clientKeepAlive = false }
        responseHeadDone = false
        responseStarted = false
        serverReusable = backend.httpConnectionMode == .keepAlive
            && frontend.httpConnectionMode == .keepAlive
        retriedOnReusedConnection = false
        if backend.httpConnectionMode != .keepAlive || frontend.httpConnectionMode != .keepAlive,
           !(head.hasUpgrade && head.connectionUpgrade) {
            rewrite.dropConnection = true
            rewrite.add("Connection: close")
        }
        if let forwardFor = frontend.forwardFor ?? backend.forwardFor, !connection.clientAddressText.isEmpty,
           !Self.isExcepted(forwardFor, connection) {
            rewrite.add(forwardFor.header, connection.clientAddressText)
        }
        requestRewrite = rewrite

        // TLS (issue 5): what a server's `sni req.hdr(…)`/`ssl_fc_sni` reads, taken while
        // the head is still in `buffer`.
        serverNames = backend.dynamicServerName ? serverNameInputs(buffer, backend) : ServerNameInputs()

        // The request head leaves `inbound`; what follows is body or the next request.
        let headBytes = buffer.readSlice(length: head.headLength)!
        inbound = buffer
        pendingHead = (headBytes, head)
        // Response rules may read the request: keep its head (the parser keeps its spans
        // until the next request, which waits for this response).
        requestForResponseRules = frontend.responseRules.isEmpty && backend.responseRules.isEmpty
            ? nil : (headBytes, head)
        phase = .connecting
        idle.arm(backend.timeouts.queue ?? backend.timeouts.connect)
        acquireConnection(allowPool: !isFirstRequest)
    }

    private var requestForResponseRules: (bytes: ByteBuffer, head: HTTPRequestHead)?
    /// The server the balancer gave this request.
    private var chosenServer: RuntimeServer?
    /// The balancer took a slot on `chosenServer` for this request, not yet handed to a
    /// connection (a retry on a fresh connection takes its own).
    private var chosenSlotTaken = false
    private var lastBackendIndex: Int?

    /// The head waiting to be written once a server connection is there.
    /// Its header spans are the request parser's, which stay put until the next request
    /// is parsed, after this exchange (no copy of the array, so the parser never
    /// reallocates it).
    private var pendingHead: (bytes: ByteBuffer, head: HTTPRequestHead)?

    /// The inputs of this request for dynamic `sni` expressions (TLS, issue 5).
    private var serverNames = ServerNameInputs()

    private func serverNameInputs(_ buffer: ByteBuffer, _ backend: RuntimeBackend) -> ServerNameInputs {
        var inputs = ServerNameInputs()
        inputs.frontendServerName = connectionFacts?.tlsServerName.map { String(decoding: $0, as: UTF8.self) }
        let headers = requestParser.headers
        buffer.withUnsafeReadableBytes { bytes in
            for name in backend.serverNameHeaders {
                var last: String?  // a sample expression reads the last occurrence
                _ = RequestFacts.forEachValue(of: Array(name.utf8), in: bytes, headers: headers, split: false) {
                    last = String(decoding: $0, as: UTF8.self)
                    return false
                }
                inputs.headers[name] = last
            }
        }
        return inputs
    }

    /// The SNI a connection to `server` announces for this request, when it depends on
    /// the request (nil otherwise: every connection to the server is alike).
    private func dynamicServerName(_ server: RuntimeServer, _ backend: RuntimeBackend) -> String? {
        guard backend.dynamicServerName else { return nil }
        return serverNames.evaluate(server.tls?.serverNameExpression)
    }

    /// `allowPool`: HAProxy's `http-reuse safe` lets only a client's later requests use
    /// another session's idle connection.
    private func acquireConnection(allowPool: Bool) {
        guard let backend else { return }
        let server = chosenServer
        let slotTaken = chosenSlotTaken
        chosenSlotTaken = false
        if allowPool, let server, let pooled = loop.takeIdle(backend: backend.index, server: server.index,
                                                             serverName: dynamicServerName(server, backend)) {
            times.serverAssigned = .now()
            times.connected = times.serverAssigned
            if log != nil { log!.connectedAt = log!.connectStart }
            loop.started(server, in: backend.index, slotTaken: slotTaken)
            server.counters.reuses.increment()  // stats (issue 4)
            backend.counters.reuses.increment()
            useConnection(pooled, reused: true)
            return
        }
        let connector = ServerConnector(
            backend: backend, loop: loop, serverNames: serverNames,
            makeHandler: { [self] _ in
                let side = HTTPServerSide(loop: loop)
                pendingServerSide = side
                return side
            },
            completion: { [weak self] result in self?.connected(result) })
        self.connector = connector
        connector.start(preferring: server, slotTaken: slotTaken)
    }

    private func connected(_ result: Result<(Channel, RuntimeServer), ConnectFailure>) {
        if log != nil, phase == .connecting { noteConnect(result) }
        if case .success = result, phase == .connecting {
            times.connected = .now()
            times.serverAssigned = connector?.serverAssignedAt ?? times.connected
        }
        connector = nil
        guard phase == .connecting, let backend else {
            if case .success(let (channel, server)) = result {
                if let index = backend?.index ?? lastBackendIndex { loop.ended(server, in: index) }
                channel.close(promise: nil)
            }
            return
        }
        switch result {
        case .failure:
            pendingHead = nil
            sendError(503, close: !clientKeepAlive || requestHasBody)
        case .success(let (channel, server)):
            let connection = ServerConnection(channel: channel, server: server, backendIndex: backend.index,
                                              serverName: dynamicServerName(server, backend))
            pendingServerSide?.connection = connection
            pendingServerSide = nil
            useConnection(connection, reused: false)
        }
    }

    private func useConnection(_ connection: ServerConnection, reused: Bool) {
        guard let backend, let pending = pendingHead else { return }
        connection.owner = self
        connection.server.counters.requests.increment()  // stats (issue 4)
        self.connection = connection
        phase = .exchanging
        if log != nil { log?.server = connection.server; log?.requestSentAt = .now() }
        responseHeadBuffer = nil

        let channel = connection.channel
        requestRewrite.emit(from: pending.bytes, start: pending.head.start, length: pending.head.headLength,
                            headersEnd: pending.head.headersEnd, headers: requestParser.headers) {
            channel.write($0, promise: nil)
        }
        countRequestBytes(pending.bytes.readableBytes)  // bin of backend and server (issue 4)
        keptHeadForRetry = reused && !requestHasBody ? pending : nil
        pendingHead = nil

        // Body bytes that came with the head.
        if requestBody.isComplete {
            requestComplete = true
        } else if var rest = inbound, rest.readableBytes > 0 {
            inbound = nil
            forwardRequestBody(rest.readSlice(length: rest.readableBytes)!)
        }
        channel.flush()
        idle.arm(backend.timeouts.server)
        if !requestComplete {
            if channel.isWritable { readClient() } else { clientReadPending = true }
        }
        channel.read()
    }

    /// The head of a request sent on a reused connection, kept until the response
    /// starts so that a connection the server had just closed can be replaced once.
    private var keptHeadForRetry: (bytes: ByteBuffer, head: HTTPRequestHead)?

    /// Forwards client bytes that belong to the request body; keeps any excess (the next
    /// pipelined request) in `inbound`.
    private func forwardRequestBody(_ buffer: ByteBuffer) {
        guard let channel = connection?.channel else { append(buffer); return }
        idle.touch()
        countRequestBytes(buffer.readableBytes)  // stats (issue 4)
        switch buffer.withUnsafeReadableBytes({ requestBody.feed($0) }) {
        case .needsMore:
            channel.write(buffer, promise: nil)
        case .complete(let consumed):
            var rest = buffer
            if consumed > 0 { channel.write(rest.readSlice(length: consumed)!, promise: nil) }
            requestComplete = true
            if rest.readableBytes > 0 { append(rest) }
        case .error:
            counters.requestErrors.increment()
            abortExchange(status: 400)
        }
    }

    // MARK: - Server events (same event loop)

    func serverRead(_ buffer: ByteBuffer, from connection: ServerConnection) {
        guard connection === self.connection else { return }
        idle.touch()
        counters.bytesOut.add(buffer.readableBytes)
        log?.bytesOut += buffer.readableBytes
        backend?.counters.bytesOut.add(buffer.readableBytes)  // stats (issue 4)
        connection.server.counters.bytesOut.add(buffer.readableBytes)
        switch phase {
        case .tunnel:
            responseStarted = true
            context.write(wrapOutboundOut(buffer), promise: nil)
        case .exchanging:
            if responseHeadDone {
                forwardResponseBody(buffer)
            } else {
                if responseHeadBuffer == nil || responseHeadBuffer!.readableBytes == 0 {
                    responseHeadBuffer = buffer
                } else {
                    var incoming = buffer
                    responseHeadBuffer!.writeBuffer(&incoming)
                }
                parseResponse()
            }
        default:
            break
        }
    }

    func serverReadComplete(_ connection: ServerConnection) {
        guard connection === self.connection else { return }
        context.flush()
        guard phase == .exchanging || phase == .tunnel else { return }
        if context.channel.isWritable { connection.channel.read() } else { serverReadPending = true }
    }

    func serverWritabilityChanged(_ connection: ServerConnection) {
        if connection.channel.isWritable, clientReadPending {
            clientReadPending = false
            readClient()
        }
    }

    func serverClosed(_ connection: ServerConnection) {
        guard connection === self.connection else { return }
        self.connection = nil
        releaseServer(connection, reusable: false)
        switch phase {
        case .tunnel:
            context.flush()
            close()
        case .exchanging:
            if responseHeadDone, responseUntilClose {
                // The close is the end of this response.
                context.flush()
                close()
            } else if !responseStarted, let kept = keptHeadForRetry, requestComplete, !requestHasBody,
                      !retriedOnReusedConnection {
                // A reused connection the server closed before answering: once more on
                // a fresh connection, as HAProxy does.
                retriedOnReusedConnection = true
                keptHeadForRetry = nil
                pendingHead = kept
                phase = .connecting
                acquireConnection(allowPool: false)
            } else if !responseStarted {
                log?.terminate("S", "H")
                countResponseError(connection.server)  // eresp (issue 4)
                sendError(502, close: true)
            } else {
                log?.terminate("S", "D")
                context.flush()
                close()
            }
        default:
            break
        }
    }

    // MARK: - Responses

    private func parseResponse() {
        guard var buffer = responseHeadBuffer else { return }
        while true {
            var status = buffer.withUnsafeReadableBytes { responseParser.parse($0, requestMethod: requestMethod) }
            // An obs-fold becomes spaces, as in requests.
            while case .error(.obsoleteLineFolding) = status, let line = responseParser.foldedLineStart,
                  unfoldLine(at: line, in: &buffer) {
                status = buffer.withUnsafeReadableBytes { responseParser.parse($0, requestMethod: requestMethod) }
            }
            switch status {
            case .incomplete:
                responseHeadBuffer = buffer
                return
            case .error:
                responseHeadBuffer = nil
                log?.terminate("P", "H")
                if let server = self.connection?.server { countResponseError(server) }  // eresp (issue 4)
                connection?.server.health?.observed(.invalidResponse)  // Health/: `observe layer7`
                abortExchange(status: 502)
                return
            case .complete:
                let head = responseParser.head
                let headBytes = buffer.readSlice(length: head.headLength)!
                if head.isInterim {
                    // 100 Continue and friends go to the client as they are; the final
                    // response follows.
                    responseStarted = true
                    context.write(wrapOutboundOut(headBytes), promise: nil)
                    if buffer.readableBytes == 0 { responseHeadBuffer = nil; return }
                    continue
                }
                responseHeadBuffer = nil
                keptHeadForRetry = nil
                beginResponse(head: head, headBytes: headBytes, rest: buffer)
                return
            }
        }
    }

    private func beginResponse(head: HTTPResponseHead, headBytes: ByteBuffer, rest: ByteBuffer) {
        if log != nil { log?.responseAt = .now(); log?.status = head.status }
        times.responseHead = .now()
        // hrsp_* of the frontend, the backend and the server (issue 4).
        counters.countResponse(status: head.status)
        backend?.counters.countResponse(status: head.status)
        connection?.server.counters.countResponse(status: head.status)
        connection?.server.health?.observed(.httpStatus(head.status))  // Health/: `observe layer7`
        responseHeadDone = true
        responseStarted = true
        if !head.keepAlive { serverReusable = false }
        if case .untilClose = head.framing {
            serverReusable = false
            clientKeepAlive = false
        }
        responseBody = HTTPBodyFramer(framing: head.framing)
        responseUntilClose = head.framing == .untilClose

        var rewrite = HeadRewrite()
        if head.hasContentLength && head.hasTransferEncoding {
            // Chunked wins, as for requests; such a server is not trusted with another request.
            rewrite.dropNames.append(Array("content-length".utf8))
            serverReusable = false
        }
        if let request = requestForResponseRules, let backend {
            requestForResponseRules = nil
            let requestHeaders = requestParser.headers
            let responseHeaders = responseParser.headers
            let connection = connectionFacts!
            request.bytes.withUnsafeReadableBytes { requestBytes in
                headBytes.withUnsafeReadableBytes { responseBytes in
                    var facts = RequestFacts(bytes: requestBytes, head: request.head, headers: requestHeaders,
                                             connection: connection)
                    facts.response = (responseBytes, head, responseHeaders)
                    // Backend rules first, then the frontend's, as HAProxy orders them.
                    _ = RuleEngine.run(backend.responseRules, facts: facts, rewrite: &rewrite)
                    if backend.name != frontend.name {
                        _ = RuleEngine.run(frontend.responseRules, facts: facts, rewrite: &rewrite)
                    }
                }
            }
        }
        if case .tunnel = head.framing {
            // Upgrade accepted: the connection belongs to the tunnel now.
            serverReusable = false
        } else if !clientKeepAlive || registry.isStopping {
            clientKeepAlive = false
            if !clientIsHTTP10 || head.connectionKeepAlive {
                rewrite.dropConnection = true
                rewrite.add("Connection: close")
            }
        } else if clientIsHTTP10 || head.version == .http10 {
            // Keep-alive must be said out loud when either side speaks HTTP/1.0.
            if !head.connectionKeepAlive {
                rewrite.dropConnection = true
                rewrite.add("Connection: keep-alive")
            }
        } else if head.connectionClose {
            // The server closes, the client stays: its Connection header is not ours.
            rewrite.dropConnection = true
        }
        rewrite.emit(from: headBytes, start: head.start, length: head.headLength,
                     headersEnd: head.headersEnd, headers: responseParser.headers) { context.write(wrapOutboundOut($0), promise: nil) }

        if case .tunnel = head.framing {
            phase = .tunnel
            idle.arm(backend?.timeouts.tunnel ?? frontend.timeouts.tunnel
                     ?? TCPSession.shorter(frontend.timeouts.client, backend?.timeouts.server))
            if rest.readableBytes > 0 { context.write(wrapOutboundOut(rest), promise: nil) }
            if let pending = inbound, pending.readableBytes > 0 {
                inbound = nil
                connection?.channel.writeAndFlush(pending, promise: nil)
            }
            context.flush()
            readClient()
            return
        }
        if responseBody.isComplete {
            if rest.readableBytes > 0 { serverReusable = false }
            finishExchange()
        } else if rest.readableBytes > 0 {
            forwardResponseBody(rest)
        }
    }

    private func forwardResponseBody(_ buffer: ByteBuffer) {
        switch buffer.withUnsafeReadableBytes({ responseBody.feed($0) }) {
        case .needsMore:
            context.write(wrapOutboundOut(buffer), promise: nil)
        case .complete(let consumed):
            var rest = buffer
            if consumed > 0 { context.write(wrapOutboundOut(rest.readSlice(length: consumed)!), promise: nil) }
            // Bytes after the end of a response were never asked for.
            if rest.readableBytes > 0 { serverReusable = false }
            finishExchange()
        case .error:
            abortExchange(status: 502)
        }
    }

    /// The response is complete: release the server, then read the next request or close.
    private func finishExchange() {
        context.flush()
        recordTimes()
        if let connection {
            self.connection = nil
            connection.owner = nil
            // A request body the server did not wait for leaves the connection unusable.
            // A client that leaves takes its server connection with it, as in HAProxy:
            // kept, it could only serve others' later requests (`http-reuse safe`), and
            // clients that connect once per request would each leave one behind.
            releaseServer(connection, reusable: serverReusable && requestComplete && clientKeepAlive
                          && !(clientInputClosed && (inbound?.readableBytes ?? 0) == 0))
        }
        emitLog()  // after the release, so that the server counts are HAProxy's
        let nothingMoreToRead = clientInputClosed && (inbound?.readableBytes ?? 0) == 0
        // Stopping does not close here: a response whose head went out before the stop
        // promised keep-alive, and the client may already be sending its next request; that
        // one is answered with `Connection: close` (closeIfIdle). Heads sent since the stop
        // said `Connection: close` themselves (clientKeepAlive is false).
        if !clientKeepAlive || !requestComplete || nothingMoreToRead {
            closeAfterFlush()
            return
        }
        awaitNextRequest()
        if registry.isStopping, phase == .readingHead { closeIfIdle() }
    }

    /// Keep-alive: wait for the next request, or parse it at once if it came pipelined.
    private func awaitNextRequest() {
        times = ExchangeTimes()  // the next request's stream starts now, as HAProxy's does
        backend = nil
        isFirstRequest = false
        phase = .readingHead
        headTimeoutStarted = false
        idle.arm(frontend.timeouts.httpKeepAlive ?? frontend.timeouts.httpRequest ?? frontend.timeouts.client)
        if let inbound, inbound.readableBytes > 0 { parseRequests(); return }
        // Nothing pipelined: drop the spent receive buffer, so that an idle keep-alive
        // connection holds no buffer (HAProxy releases empty buffers too).
        inbound = nil
        readClient()
    }

    private func releaseServer(_ connection: ServerConnection, reusable: Bool) {
        loop.ended(connection.server, in: connection.backendIndex)
        if reusable, connection.channel.isActive, !registry.isStopping {
            loop.park(connection)
        } else {
            connection.owner = nil
            connection.channel.close(promise: nil)
        }
    }

    // MARK: - Errors and ends

    /// `option forwardfor except NET`: no header for clients in that network.
    private static func isExcepted(_ rule: ForwardForRule, _ connection: ConnectionFacts) -> Bool {
        guard let network = rule.except else { return false }
        let a = connection.clientAddress
        guard a.count == 4 || a.count == 16 else { return false }
        return network.contains(a.count == 4 ? .v4(a[0], a[1], a[2], a[3]) : .v6(a))
    }

    /// A reply from an `http-request deny|return|redirect` rule.
    private func sendReply(_ reply: ByteBuffer, close mustClose: Bool) {
        if log != nil {
            log?.status = Self.statusCode(of: reply)
            log?.bytesOut += reply.readableBytes
            emitLog()
        }
        context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        responseStarted = true
        if mustClose || !clientKeepAlive || !requestBody.isComplete {
            closeAfterFlush()
        } else {
            requestComplete = true
            awaitNextRequest()
        }
    }

    /// `on-marked-down shutdown-sessions` (Health/): the server went DOWN; cut the
    /// session if its exchange uses it.
    func shutdown(ifUsing down: RuntimeServer) {
        guard let connection, connection.server === down, phase != .closed else { return }
        log?.terminate("D", responseHeadDone ? "D" : "H")
        close()
    }

    // MARK: - Traffic log (Logging/TrafficLog)

    private func noteClientBytes(_ count: Int) {
        log?.bytesIn += count
        if phase == .readingHead, log?.requestAt == nil {
            log?.requestAt = .now()
            log?.requestWall = .now()
        }
    }

    private func noteConnect(_ result: Result<(Channel, RuntimeServer), ConnectFailure>) {
        log?.noteConnect(result, attempts: connector?.attempt ?? 0)
        log?.serverAssignedAt = connector?.serverAssignedAt
    }

    /// Logs the current request once, then starts the next one's record.
    private func emitLog() {
        guard logPending, let record = log, let trafficLog = frontend.trafficLog else { return }
        logPending = false
        trafficLog.emit(record)
        log?.nextRequest()
    }

    /// The termination flags HAProxy gives proxyd's own error answers by default.
    private static func cause(of status: Int) -> Character {
        switch status {
        case 408: return "c"
        case 504: return "s"
        case 502, 503: return "S"
        default: return "P"
        }
    }
    private static func state(of status: Int) -> Character {
        switch status {
        case 502, 504: return "H"
        case 503: return "C"
        default: return "R"
        }
    }

    /// The status code of a ready-made response (`HTTP/1.1 403 …`).
    private static func statusCode(of response: ByteBuffer) -> Int {
        guard let line = response.getBytes(at: response.readerIndex, length: min(12, response.readableBytes)),
              line.count == 12 else { return -1 }
        return line[9..<12].reduce(0) { $0 * 10 + Int($1) - 48 }
    }

    /// Soft stop: a connection waiting for a request (its first or its next) closes if none
    /// comes within `stopIdleLinger`. Closing it at once would reset a request already on
    /// its way (a busy keep-alive client sends its next one as soon as it has an answer);
    /// one that comes is answered with `Connection: close`, as HAProxy's
    /// `option idle-close-on-response` does.
    func closeIfIdle() {
        guard phase == .readingHead, (inbound?.readableBytes ?? 0) == 0, !lingeringForStop else { return }
        lingeringForStop = true
        idle.arm(Self.stopIdleLinger)
    }

    static let stopIdleLinger: TimeAmount = .seconds(1)

    /// Gives up on the current exchange with an error page if none of the response went
    /// out yet, else just closes.
    private func abortExchange(status: Int) {
        if let connection {
            self.connection = nil
            connection.owner = nil
            releaseServer(connection, reusable: false)
        }
        if responseStarted {
            context.flush()
            close()
        } else {
            sendError(status, close: true)
        }
    }

    private func timedOut() {
        switch phase {
        case .readingHead:
            if lingeringForStop, (inbound?.readableBytes ?? 0) == 0 {
                close()  // stopping, and no request came: a silent close, as HAProxy's
            } else if isFirstRequest || (inbound?.readableBytes ?? 0) > 0 {
                if log != nil, (inbound?.readableBytes ?? 0) > 0 || !frontend.trafficLog!.dontLogNull {
                    logPending = true
                    log?.terminate("c", "R")
                }
                sendError(408, close: true)
            } else {
                close()  // keep-alive timeout between requests: a silent close
            }
        case .connecting:
            log?.retries = connector?.attempt ?? 0
            log?.terminate("s", connector?.isQueued == true ? "Q" : "C")
            sendError(503, close: true)  // cancels the connector after logging (%bq counts it)
        case .exchanging:
            if !responseStarted && requestComplete {
                log?.terminate("s", "H")
                abortExchange(status: 504)
            } else if !requestComplete && !responseStarted {
                log?.terminate("c", "D")
                abortExchange(status: 408)
            } else {
                log?.terminate("s", "D")
                abortExchange(status: 504)
            }
        case .tunnel, .closed:
            close()
        }
    }

    /// Sends one of proxyd's own responses (ErrorPages), then reads the next request
    /// or closes.
    private func sendError(_ status: Int, close mustClose: Bool) {
        guard phase != .closed else { return }
        let pages = backend?.errorPages ?? frontend.errorPages
        let closing = mustClose || pages.closesConnection(status) || !clientKeepAlive || clientIsHTTP10
        if let connection {
            self.connection = nil
            connection.owner = nil
            releaseServer(connection, reusable: false)
        }
        counters.countResponse(status: status)  // hrsp_* (issue 4)
        backend?.counters.countResponse(status: status)
        let page = pages.response(status)
        if log != nil, logPending {
            log?.status = status
            log?.bytesOut += page.readableBytes
            if log?.cause == UInt8(ascii: "-") { log?.terminate(Self.cause(of: status), Self.state(of: status)) }
            emitLog()
        }
        // After the log line: a request still queued is in its `%bq`, as in HAProxy.
        connector?.cancel()
        connector = nil
        context.writeAndFlush(wrapOutboundOut(page), promise: nil)
        responseStarted = true
        if closing || !requestComplete && requestHasBody {
            closeAfterFlush()
        } else {
            awaitNextRequest()
        }
    }

    private func closeAfterFlush() {
        guard phase != .closed else { return }
        phase = .closed
        context.flush()
        // Half-close first so the response is not cut by a reset on unread input.
        context.close(mode: .output, promise: nil)
        context.read()  // to see the client's own close and free the connection early
        finishBookkeeping()
        // A client that never closes its side is cut after a second. The idle timer, not a
        // task of its own: a task left pending for a second per closed connection fills
        // the loop's timer heap, and every cancel searches it.
        idle?.arm(.seconds(1))
    }

    private func close() {
        if phase != .closed {
            phase = .closed
            finishBookkeeping()
        }
        idle?.cancel()
        context?.close(promise: nil)  // nil once the handler was removed
    }

    // MARK: - Statistics (issue 4)

    /// A reply proxyd made itself (rules, the stats page): its status class, and
    /// `intercepted` / `dreq` as HAProxy counts them.
    private func countReply(_ reply: ByteBuffer, backend: RuntimeBackend?) {
        var status = 0
        if let digits = reply.getBytes(at: reply.readerIndex + 9, length: 3) {
            for digit in digits where digit >= 48 && digit <= 57 { status = status * 10 + Int(digit - 48) }
        }
        counters.countResponse(status: status)
        counters.bytesOut.add(reply.readableBytes)
        counters.intercepted.increment()
        if status == 403 { counters.deniedRequests.increment() }
        backend?.counters.countResponse(status: status)
    }

    /// The stats page is, for HAProxy, served by the backend of its section (that of a
    /// `listen`): the page's bytes and last session go there too, but neither a session
    /// nor a response class.
    private func countStatsPage(in chosen: RuntimeBackend?, requestBytes: Int, reply: ByteBuffer) {
        let listenBackend = frontend.router.defaultBackend.flatMap { $0.name == frontend.name ? $0 : nil }
        guard let backend = chosen ?? listenBackend else { return }
        backend.counters.bytesIn.add(requestBytes)
        backend.counters.bytesOut.add(reply.readableBytes)
        backend.counters.lastSession.store(ProcessClock.milliseconds)
    }

    private func countRequestBytes(_ count: Int) {
        backend?.counters.bytesIn.add(count)
        connection?.server.counters.bytesIn.add(count)
    }

    /// Adds the current request to its backend's and server's time statistics, once.
    private func recordTimes() {
        guard let server = connection?.server, let backend,
              let sample = times.sample(http: true) else { return }
        times.connected = nil
        server.counters.times.add(sample, counted: server.counters.requests.current)
        backend.counters.times.add(sample, counted: backend.counters.requests.current)
    }

    private func countResponseError(_ server: RuntimeServer) {
        server.counters.responseErrors.increment()
        backend?.counters.responseErrors.increment()
    }

    /// One `show sess` line (issue 4); on this session's loop.
    func showSessLine() -> String {
        SessionLine.make(id: ObjectIdentifier(self), channel: context?.channel, frontend: frontend.name,
                         backend: backend?.name, server: connection?.server.name, since: createdAt)
    }
    private let createdAt = ProcessClock.milliseconds

    private var bookkept = false
    private func finishBookkeeping() {
        guard !bookkept else { return }
        bookkept = true
        if logPending, log != nil {
            // The session ends with a request under way: the client went away, unless a
            // side was already blamed (a tunnel simply ends).
            if log?.cause == UInt8(ascii: "-"), !responseHeadDone || !responseBody.isComplete, !(log?.status == 101) {
                log?.terminate("C", responseHeadDone ? "D" : connection == nil && connector != nil ? "C" : "H")
            }
            emitLog()
        }
        idle?.cancel()
        connector?.cancel()
        connector = nil
        recordTimes()  // a response cut short still counts, as in HAProxy
        if let connection {
            self.connection = nil
            connection.owner = nil
            releaseServer(connection, reusable: false)
        }
        inbound = nil
        loop?.httpSessions[ObjectIdentifier(self)] = nil
        if activated {
            frontend.gate.closed()
            counters.currentSessions.decrement()
        }
    }
}
