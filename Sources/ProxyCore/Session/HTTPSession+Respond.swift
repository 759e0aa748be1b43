import NIOCore

/// Phase 6, forward (the answer): the response head with its rules and edits, the
/// body, then the end of the exchange: the server released, the next request awaited.
extension HTTPSession {
    func parseResponse() {
        guard var buffer = stream.responseHeadBuffer else { return }
        while true {
            var status = buffer.withUnsafeReadableBytes { stream.responseParser.parse($0, requestMethod: stream.requestMethod) }
            // An obs-fold becomes spaces, as in requests.
            while case .error(.obsoleteLineFolding) = status, let line = stream.responseParser.foldedLineStart,
                  unfoldLine(at: line, in: &buffer) {
                status = buffer.withUnsafeReadableBytes { stream.responseParser.parse($0, requestMethod: stream.requestMethod) }
            }
            switch status {
            case .incomplete:
                stream.responseHeadBuffer = buffer
                return
            case .error:
                stream.responseHeadBuffer = nil
                stream.log?.terminate("P", "H")
                if let server = self.connection?.server { countResponseError(server) }  // eresp (issue 4)
                connection?.server.health?.observed(.invalidResponse)  // Health/: `observe layer7`
                abortExchange(status: 502)
                return
            case .complete:
                let head = stream.responseParser.head
                let headBytes = buffer.readSlice(length: head.headLength)!
                if head.isInterim {
                    // 100 Continue and friends go to the client as they are; the final
                    // response follows.
                    stream.responseStarted = true
                    client.write(headBytes)
                    if buffer.readableBytes == 0 { stream.responseHeadBuffer = nil; return }
                    continue
                }
                stream.responseHeadBuffer = nil
                stream.keptHeadForRetry = nil
                beginResponse(head: head, headBytes: headBytes, rest: buffer)
                return
            }
        }
    }

    func beginResponse(head: HTTPResponseHead, headBytes: ByteBuffer, rest: ByteBuffer) {
        if retryOnStatus(head.status) { return }  // `retry-on` (HTTPSession+RetryOn.swift)
        if stream.log != nil { stream.log?.responseAt = .now(); stream.log?.status = head.status }
        stream.times.responseHead = .now()
        // hrsp_* of the frontend, the backend and the server (issue 4).
        counters.countResponse(status: head.status)
        stickTrackers?.responded(status: head.status)
        backend?.counters.countResponse(status: head.status)
        connection?.server.counters.countResponse(status: head.status)
        connection?.server.health?.observed(.httpStatus(head.status))  // Health/: `observe layer7`
        stream.responseHeadDone = true
        stream.responseStarted = true
        if !head.keepAlive { stream.serverReusable = false }
        if case .untilClose = head.framing {
            stream.serverReusable = false
            clientKeepAlive = false
        }
        stream.responseBody = HTTPBodyFramer(framing: head.framing)
        stream.responseUntilClose = head.framing == .untilClose

        var rewrite = HeadRewrite()
        if let values = connectionFacts?.values, let captures = values.captureLengths,
           !captures.response.isEmpty || captures.cookie != nil {
            let fields = stream.responseParser.headers  // `capture response header`, `capture cookie` (issue 15)
            headBytes.withUnsafeReadableBytes {
                HeaderCaptures.take(captures.response, bytes: $0, fields: fields, into: &values.responseCaptures)
                if captures.cookie != nil {
                    values.responseCookie = captures.takeCookie(bytes: $0, fields: fields, response: true)
                }
            }
        }
        if head.hasContentLength && head.hasTransferEncoding {
            // Chunked wins, as for requests; such a server is not trusted with another request.
            rewrite.dropNames.append(Array("content-length".utf8))
            stream.serverReusable = false
        }
        var responseOutcome = RuleOutcome.proceed
        if let request = stream.requestForResponseRules, let backend {
            stream.requestForResponseRules = nil
            let requestHeaders = stream.requestParser.headers
            let responseHeaders = stream.responseParser.headers
            let connection = connectionFacts!
            request.bytes.withUnsafeReadableBytes { requestBytes in
                headBytes.withUnsafeReadableBytes { responseBytes in
                    var facts = RequestFacts(bytes: requestBytes, head: request.head, headers: requestHeaders,
                                             connection: connection)
                    facts.response = (responseBytes, head, responseHeaders)
                    // Backend rules first, then the frontend's, as HAProxy orders them.
                    responseOutcome = RuleEngine.run(backend.responseRules, facts: facts, rewrite: &rewrite)
                    if backend.name != frontend.name, case .proceed = responseOutcome {
                        responseOutcome = RuleEngine.run(frontend.responseRules, facts: facts, rewrite: &rewrite)
                    }
                    if case .proceed = responseOutcome { runAfterResponseRules(facts, rewrite: &rewrite) }
                }
            }
            applyRuleEffects(rewrite.effects)  // set-log-level (HTTPSession+RuleEffects.swift)
            if case .end(let ending) = responseOutcome {
                end(ending, backend: backend, inResponse: true)
                return
            }
            if case .reply(let reply, let denied) = responseOutcome {
                answerInPlaceOfServer(reply, denied: denied)  // HTTPSession+ResponseReply.swift
                return
            }
        }
        if let rules = backend?.persistence {  // cookie persistence (issue 15)
            let decision = stream.persistence
            let flag = headBytes.withUnsafeReadableBytes {
                rules.editResponse($0, headers: stream.responseParser.headers, status: head.status,
                                   server: connection?.server, method: stream.requestMethod,
                                   decision: decision, rewrite: &rewrite)
            }
            stream.log?.persistenceFlags.1 = flag
        }
        startCompression(head: head, headBytes: headBytes, rewrite: &rewrite)
        if case .tunnel = head.framing {
            // Upgrade accepted: the connection belongs to the tunnel now.
            stream.serverReusable = false
        } else if !clientKeepAlive || registry.isStopping {
            clientKeepAlive = false
            // As HAProxy says it: an HTTP/1.1 response must announce the close (even to an
            // HTTP/1.0 client), an HTTP/1.0 one implies it and carries no Connection header.
            rewrite.dropConnection = true
            if head.version != .http10 { rewrite.add("Connection: close") }
        } else if stream.clientIsHTTP10 || head.version == .http10 {
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
                     headersEnd: head.headersEnd, headers: stream.responseParser.headers) { client.write($0) }
        logEarly()  // `option logasap` (issue 15)

        if case .tunnel = head.framing {
            phase = .tunnel
            idle.arm(backend?.timeouts.tunnel ?? frontend.timeouts.tunnel
                     ?? TCPSession.shorter(frontend.timeouts.client, backend?.timeouts.server))
            if rest.readableBytes > 0 { client.write(rest) }
            if let pending = inbound, pending.readableBytes > 0 {
                inbound = nil
                connection?.transport.writeAndFlush(pending)
            }
            client.flush()
            readClient()
            return
        }
        if stream.responseBody.isComplete {
            if rest.readableBytes > 0 { stream.serverReusable = false }
            finishExchange()
        } else if rest.readableBytes > 0 {
            forwardResponseBody(rest)
        }
    }

    func forwardResponseBody(_ buffer: ByteBuffer) {
        if stream.compressedBody != nil {
            forwardCompressedBody(buffer)
            return
        }
        switch buffer.withUnsafeReadableBytes({ stream.responseBody.feed($0) }) {
        case .needsMore:
            client.write(buffer)
        case .complete(let consumed):
            var rest = buffer
            if consumed > 0 { client.write(rest.readSlice(length: consumed)!) }
            // Bytes after the end of a response were never asked for.
            if rest.readableBytes > 0 { stream.serverReusable = false }
            finishExchange()
        case .error:
            abortExchange(status: 502)
        }
    }

    /// The response is complete: release the server, then read the next request or close.
    func finishExchange() {
        client.flush()
        recordTimes()
        if let connection {
            self.connection = nil
            connection.owner = nil
            // A request body the server did not wait for leaves the connection unusable.
            // A client that leaves takes its server connection with it, as in HAProxy:
            // kept, it could only serve others' later requests (`http-reuse safe`), and
            // clients that connect once per request would each leave one behind.
            let reusable = stream.serverReusable && stream.requestComplete && clientKeepAlive
                && !(clientInputClosed && (inbound?.readableBytes ?? 0) == 0)
            stream.lastServer = reusable ? connection.server : nil  // `option prefer-last-server`
            releaseServer(connection, reusable: reusable)
        }
        emitLog()  // after the release, so that the server counts are HAProxy's
        let nothingMoreToRead = clientInputClosed && (inbound?.readableBytes ?? 0) == 0
        // Stopping does not close here: a response whose head went out before the stop
        // promised keep-alive, and the client may already be sending its next request; that
        // one is answered with `Connection: close` (closeIfIdle). Heads sent since the stop
        // said `Connection: close` themselves (clientKeepAlive is false).
        if !clientKeepAlive || !stream.requestComplete || nothingMoreToRead {
            closeAfterFlush()
            return
        }
        awaitNextRequest()
        if registry.isStopping, phase == .readingHead { closeIfIdle() }
    }

    /// Keep-alive: wait for the next request, or parse it at once if it came pipelined.
    func awaitNextRequest() {
        stickTrackers?.requestEnded()
        stream.times = ExchangeTimes()  // the next request's stream starts now, as HAProxy's does
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

    func releaseServer(_ connection: ServerConnection, reusable: Bool) {
        loop.ended(connection.server, in: connection.backendIndex)
        if reusable, connection.transport.isActive, !registry.isStopping {
            loop.park(connection)
        } else {
            connection.owner = nil
            connection.transport.close()
        }
    }

}
