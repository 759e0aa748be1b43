import NIOCore

/// Phase 5, connect: a new or pooled server connection, then the request head on it.
extension HTTPSession {
    func connected(_ result: Result<(SessionTransport, RuntimeServer), ConnectFailure>) {
        if stream.log != nil, phase == .connecting { noteConnect(result) }
        if case .success = result, phase == .connecting {
            stream.times.connected = .now()
            stream.times.serverAssigned = connector?.serverAssignedAt ?? stream.times.connected
        }
        connector = nil
        guard phase == .connecting, let backend else {
            if case .success(let (transport, server)) = result {
                if let index = backend?.index ?? stream.lastBackendIndex { loop.ended(server, in: index) }
                transport.close()
            }
            return
        }
        switch result {
        case .failure:
            stream.pendingHead = nil
            sendError(503, close: !clientKeepAlive || stream.requestHasBody)
        case .success(let (transport, server)):
            // A server that follows the destination (`0.0.0.0`, port 0) may be elsewhere for
            // the next request (`set-dst`): its connection is not kept for another.
            if server.followsDestination { stream.serverReusable = false }
            let connection = ServerConnection(transport: transport, server: server, backendIndex: backend.index,
                                              loop: loop, serverName: dynamicServerName(server, backend))
            useConnection(connection, reused: false)
        }
    }

    func useConnection(_ connection: ServerConnection, reused: Bool) {
        guard let backend, let pending = stream.pendingHead else { return }
        connection.owner = self
        connection.server.counters.requests.increment()  // stats (issue 4)
        self.connection = connection
        phase = .exchanging
        if stream.log != nil { stream.log?.server = connection.server; stream.log?.requestSentAt = .now() }
        stream.responseHeadBuffer = nil

        let channel = connection.transport
        stream.requestRewrite.emit(from: pending.bytes, start: pending.head.start, length: pending.head.headLength,
                            headersEnd: pending.head.headersEnd, headers: stream.requestParser.headers) {
            channel.write($0)
        }
        countRequestBytes(pending.bytes.readableBytes)  // bin of backend and server (issue 4)
        stream.keptHeadForRetry = reused && !stream.requestHasBody ? pending : nil
        stream.headForStatusRetry = !backend.retryOn.retriesAfterSending || stream.requestHasBody ? nil : pending
        stream.pendingHead = nil

        // Body bytes that came with the head.
        if stream.requestBody.isComplete {
            stream.requestComplete = true
        } else if var rest = inbound, rest.readableBytes > 0 {
            inbound = nil
            forwardRequestBody(rest.readSlice(length: rest.readableBytes)!)
        }
        channel.flush()
        idle.arm(backend.timeouts.server)
        if !stream.requestComplete {
            if channel.isWritable { readClient() } else { clientReadPending = true }
        }
        channel.read()
    }

}
