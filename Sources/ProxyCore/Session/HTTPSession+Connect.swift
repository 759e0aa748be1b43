import NIOCore

/// Phase 5, connect: a new or pooled server connection, then the request head on it.
extension HTTPSession {
    func connected(_ result: Result<(SessionTransport, RuntimeServer), ConnectFailure>) {
        if log != nil, phase == .connecting { noteConnect(result) }
        if case .success = result, phase == .connecting {
            times.connected = .now()
            times.serverAssigned = connector?.serverAssignedAt ?? times.connected
        }
        connector = nil
        guard phase == .connecting, let backend else {
            if case .success(let (transport, server)) = result {
                if let index = backend?.index ?? lastBackendIndex { loop.ended(server, in: index) }
                transport.close()
            }
            return
        }
        switch result {
        case .failure:
            pendingHead = nil
            sendError(503, close: !clientKeepAlive || requestHasBody)
        case .success(let (transport, server)):
            let connection = ServerConnection(transport: transport, server: server, backendIndex: backend.index,
                                              loop: loop, serverName: dynamicServerName(server, backend))
            useConnection(connection, reused: false)
        }
    }

    func useConnection(_ connection: ServerConnection, reused: Bool) {
        guard let backend, let pending = pendingHead else { return }
        connection.owner = self
        connection.server.counters.requests.increment()  // stats (issue 4)
        self.connection = connection
        phase = .exchanging
        if log != nil { log?.server = connection.server; log?.requestSentAt = .now() }
        responseHeadBuffer = nil

        let channel = connection.transport
        requestRewrite.emit(from: pending.bytes, start: pending.head.start, length: pending.head.headLength,
                            headersEnd: pending.head.headersEnd, headers: requestParser.headers) {
            channel.write($0)
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

}
