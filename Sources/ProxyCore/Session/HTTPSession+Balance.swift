import NIOCore

/// Phase 4, balance: the server the balancer chose (or none), the request's edits, then
/// a server connection for it: from the loop's idle pool, or a new one (ServerConnector).
extension HTTPSession {
    /// Where the request goes, once routing and the balancer decided.
    func dispatch(head: HTTPRequestHead, buffer: inout ByteBuffer, chosen: RuntimeBackend?,
                  choice: ServerChoice, rewrite: HeadRewrite) {
        var rewrite = rewrite
        let connection = connectionFacts!
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

    func serverNameInputs(_ buffer: ByteBuffer, _ backend: RuntimeBackend) -> ServerNameInputs {
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
    func dynamicServerName(_ server: RuntimeServer, _ backend: RuntimeBackend) -> String? {
        guard backend.dynamicServerName else { return nil }
        return serverNames.evaluate(server.tls?.serverNameExpression)
    }

    /// `allowPool`: HAProxy's `http-reuse safe` lets only a client's later requests use
    /// another session's idle connection.
    func acquireConnection(allowPool: Bool) {
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
            completion: { [weak self] result in self?.connected(result) })
        self.connector = connector
        connector.start(preferring: server, slotTaken: slotTaken)
    }

}
