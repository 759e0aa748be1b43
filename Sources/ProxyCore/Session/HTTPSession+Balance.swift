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
            stream.chosenServer = server
            stream.chosenSlotTaken = true  // handed on by acquireConnection, just below
        case .allFull:
            backendIfServed = chosen  // every server at maxconn: the connector queues
            stream.chosenServer = nil
        case .noneUsable:
            backendIfServed = nil
        }
        guard let backend = backendIfServed else {
            buffer.moveReaderIndex(forwardBy: head.headLength)
            inbound = buffer
            self.backend = chosen  // its errorfiles answer, when there is one
            if stream.log != nil { stream.log?.backend = chosen; stream.log?.terminate("S", "C") }
            sendError(503, close: !head.keepAlive || stream.requestHasBody)
            return
        }
        self.backend = backend
        stream.lastBackendIndex = backend.index
        if stream.log != nil { stream.log?.backend = backend; stream.log?.server = stream.chosenServer; stream.log?.connectStart = .now() }
        backend.counters.requests.increment()  // req_tot (issue 4)
        if backend.httpConnectionMode == .close { clientKeepAlive = false }
        stream.responseHeadDone = false
        stream.responseStarted = false
        stream.serverReusable = backend.httpConnectionMode == .keepAlive
            && frontend.httpConnectionMode == .keepAlive
        stream.retriedOnReusedConnection = false
        stream.statusRetries = 0
        if backend.httpConnectionMode != .keepAlive || frontend.httpConnectionMode != .keepAlive,
           !(head.hasUpgrade && head.connectionUpgrade) {
            rewrite.dropConnection = true
            // `option http-pretend-keepalive` (issue 15): the server is not told; proxyd
            // still closes its side after the response.
            if !backend.pretendKeepAlive { rewrite.add("Connection: close") }
        }
        if let forwardFor = frontend.forwardFor ?? backend.forwardFor, !connection.clientAddressText.isEmpty,
           !Self.isExcepted(forwardFor, connection) {
            rewrite.add(forwardFor.header, connection.clientAddressText)
        }
        chooseCompression(head: head, buffer: buffer, backend: backend, rewrite: &rewrite)
        stream.requestRewrite = rewrite

        // TLS (issue 5): what a server's `sni req.hdr(…)`/`ssl_fc_sni` reads, taken while
        // the head is still in `buffer`.
        stream.serverNames = backend.dynamicServerName ? serverNameInputs(buffer, backend) : ServerNameInputs()

        // The request head leaves `inbound`; what follows is body or the next request.
        let headBytes = buffer.readSlice(length: head.headLength)!
        inbound = buffer
        stream.pendingHead = (headBytes, head)
        // Response rules may read the request: keep its head (the parser keeps its spans
        // until the next request, which waits for this response).
        stream.requestForResponseRules = frontend.responseRules.isEmpty && backend.responseRules.isEmpty
            && frontend.afterResponseRules.isEmpty && backend.afterResponseRules.isEmpty ? nil : (headBytes, head)
        phase = .connecting
        // The connector bounds each step itself, as HAProxy's stream does: `timeout queue`
        // in the queue, `timeout connect` per attempt, a second's turn-around before a
        // retry on the same server. One timer over all of them cut the retries short
        // (with `timeout connect 1s`, the second attempt died as a 503 sC at 1 s).
        idle.cancel()
        acquireConnection(allowPool: !isFirstRequest)
    }

    func serverNameInputs(_ buffer: ByteBuffer, _ backend: RuntimeBackend) -> ServerNameInputs {
        var inputs = ServerNameInputs()
        inputs.frontendServerName = connectionFacts?.tlsServerName.map { String(decoding: $0, as: UTF8.self) }
        let headers = stream.requestParser.headers
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
        return stream.serverNames.evaluate(server.tls?.serverNameExpression)
    }

    /// `allowPool`: HAProxy's `http-reuse safe` lets only a client's later requests use
    /// another session's idle connection.
    func acquireConnection(allowPool: Bool) {
        guard let backend else { return }
        let server = stream.chosenServer
        let slotTaken = stream.chosenSlotTaken
        stream.chosenSlotTaken = false
        if allowPool, let server, let pooled = loop.takeIdle(backend: backend.index, server: server.index,
                                                             serverName: dynamicServerName(server, backend)) {
            stream.times.serverAssigned = .now()
            stream.times.connected = stream.times.serverAssigned
            if stream.log != nil { stream.log!.connectedAt = stream.log!.connectStart }
            loop.started(server, in: backend.index, slotTaken: slotTaken)
            server.counters.reuses.increment()  // stats (issue 4)
            backend.counters.reuses.increment()
            useConnection(pooled, reused: true)
            return
        }
        let connector = ServerConnector(
            backend: backend, loop: loop, serverNames: stream.serverNames,
            clientAddress: backend.usesClientSource ? client.remoteAddress : nil,
            destination: connectionFacts.destinationChanged ? connectionFacts.destination : client.localAddress,
            completion: { [weak self] result in self?.connected(result) })
        self.connector = connector
        connector.start(preferring: server, slotTaken: slotTaken)
    }

}
