import NIOCore

/// The ends of an exchange or a session: proxyd's own answers, timeouts, closes.
extension HTTPSession {
    /// `option forwardfor except NET`: no header for clients in that network.
    static func isExcepted(_ rule: ForwardForRule, _ connection: ConnectionFacts) -> Bool {
        guard let network = rule.except else { return false }
        let a = connection.clientAddress
        guard a.count == 4 || a.count == 16 else { return false }
        return network.contains(a.count == 4 ? .v4(a[0], a[1], a[2], a[3]) : .v6(a))
    }

    /// A reply from an `http-request deny|return|redirect` rule.
    func sendReply(_ original: ByteBuffer, close mustClose: Bool) {
        // A page whose body ends with the connection (an errorfile without a length).
        let closing = mustClose || !clientKeepAlive || !stream.requestBody.isComplete || Self.bodyEndsByClose(original)
        let reply = announcingConnection(applyingAfterResponseRules(to: original),  // HTTPSession+AfterResponse.swift
                                         closing: closing)
        if stream.log != nil {
            stream.log?.status = Self.statusCode(of: reply)
            stream.log?.bytesOut += reply.readableBytes
            emitLog()
        }
        client.writeAndFlush(reply)
        stream.responseStarted = true
        if closing {
            closeAfterFlush()
        } else {
            stream.requestComplete = true
            awaitNextRequest()
        }
    }

    /// `on-marked-down shutdown-sessions` (Health/): the server went DOWN; cut the
    /// session if its exchange uses it.
    func shutdown(ifUsing down: RuntimeServer) {
        guard let connection, connection.server === down, phase != .closed else { return }
        stream.log?.terminate("D", stream.responseHeadDone ? "D" : "H")
        close()
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
    func abortExchange(status: Int) {
        if let connection {
            self.connection = nil
            connection.owner = nil
            releaseServer(connection, reusable: false)
        }
        if stream.responseStarted {
            client.flush()
            close()
        } else {
            sendError(status, close: true)
        }
    }

    func timedOut() {
        switch phase {
        case .readingHead:
            if lingeringForStop, (inbound?.readableBytes ?? 0) == 0 {
                close()  // stopping, and no request came: a silent close, as HAProxy's
            } else if isFirstRequest || (inbound?.readableBytes ?? 0) > 0 {
                if stream.log != nil, (inbound?.readableBytes ?? 0) > 0 || !frontend.trafficLog!.dontLogNull {
                    stream.logPending = true
                    stream.log?.terminate("c", "R")
                }
                sendError(408, close: true)
            } else {
                close()  // keep-alive timeout between requests: a silent close
            }
        case .connecting:
            stream.log?.retries = connector?.attempt ?? 0
            stream.log?.terminate("s", connector?.isQueued == true ? "Q" : "C")
            sendError(503, close: true)  // cancels the connector after logging (%bq counts it)
        case .exchanging:
            if retryOnResponseTimeout() {  // `retry-on response-timeout` (HTTPSession+RetryOn.swift)
                return
            } else if !stream.responseStarted {
                // A body the client stopped sending included: once the request went to
                // the server, HAProxy 2.6 waits under `timeout server` alone and blames
                // the server (504, sH), however long `timeout client` is.
                stream.log?.terminate("s", "H")
                abortExchange(status: 504)
            } else {
                stream.log?.terminate("s", "D")
                abortExchange(status: 504)
            }
        case .tunnel, .closed:
            close()
        }
    }

    /// The client closed before its first byte. HAProxy 2.6 counts that as a bad request
    /// (`ereq`, `req_tot` and `hrsp_4xx`), logs `400 0 CR-- "<BADREQ>"` unless `option
    /// dontlognull`, and answers 400 to a client that only half-closed.
    func closedBeforeAnyRequest() {
        counters.requestErrors.increment()
        counters.requests.increment()
        if stream.log != nil, !frontend.trafficLog!.dontLogNull {
            stream.logPending = true
            stream.log?.terminate("C", "R")
        }
        sendError(400, close: true)
    }

    /// Sends one of proxyd's own responses (ErrorPages), then reads the next request
    /// or closes.
    func sendError(_ status: Int, close mustClose: Bool) {
        guard phase != .closed else { return }
        let pages = ErrorPages.effective(backend: backend?.errorPages, frontend: frontend.errorPages)
        let closing = mustClose || pages.closesConnection(status) || !clientKeepAlive || stream.clientIsHTTP10
            || !stream.requestComplete && stream.requestHasBody
        if let connection {
            self.connection = nil
            connection.owner = nil
            releaseServer(connection, reusable: false)
        }
        counters.countResponse(status: status)  // hrsp_* (issue 4)
        stickTrackers?.responded(status: status)
        backend?.counters.countResponse(status: status)
        // The connection layer's errors as they are; the stream's as its layer writes them.
        let connectionLayer = ErrorPages.connectionLayerStatuses.contains(status)
            || ErrorPages.parserStatusesKeepingConnection.contains(status)
        var page = applyingAfterResponseRules(to: connectionLayer ? pages.response(status) : pages.streamResponse(status))
        // HAProxy's HTTP/1 parser writes its own refusals (422) without the stream's
        // connection header.
        if !ErrorPages.parserStatusesKeepingConnection.contains(status) {
            page = announcingConnection(page, closing: closing)
        }
        if stream.log != nil, stream.logPending {
            stream.log?.status = Self.statusCode(of: page)
            // HAProxy's connection layer answers a request it could not read (400, 408:
            // `<BADREQ>`) without its stream, so those bytes are not in its log.
            if stream.log?.requestLine != nil { stream.log?.bytesOut += page.readableBytes }
            if stream.log?.cause == UInt8(ascii: "-") { stream.log?.terminate(Self.cause(of: status), Self.state(of: status)) }
            emitLog()
        }
        // After the log line: a request still queued is in its `%bq`, as in HAProxy.
        connector?.cancel()
        connector = nil
        client.writeAndFlush(page)
        stream.responseStarted = true
        if closing {
            closeAfterFlush()
        } else {
            awaitNextRequest()
        }
    }

    func closeAfterFlush() {
        guard phase != .closed else { return }
        phase = .closed
        client.flush()
        // Half-close first so the response is not cut by a reset on unread input.
        client.closeOutput()
        // The client closed its side already: no close of its own is left to wait for, so
        // the descriptor goes now (a burst of connections closed before their first byte
        // must not hold one each for a second).
        if clientInputClosed && client.isWritable {
            finishBookkeeping()
            idle?.cancel()
            client.close()
            return
        }
        client.read()  // to see the client's own close and free the connection early
        finishBookkeeping()
        // A client that never closes its side is cut after a second. The idle timer, not a
        // task of its own: a task left pending for a second per closed connection fills
        // the loop's timer heap, and every cancel searches it.
        idle?.arm(.seconds(1))
    }

    func close() {
        if phase != .closed {
            phase = .closed
            finishBookkeeping()
        }
        idle?.cancel()
        client.close()  // nil once the handler was removed
    }

    func finishBookkeeping() {
        guard !bookkept else { return }
        bookkept = true
        if stream.logPending, stream.log != nil {
            // The session ends with a request under way: the client went away, unless a
            // side was already blamed (a tunnel simply ends).
            if stream.log?.cause == UInt8(ascii: "-"), !stream.responseHeadDone || !stream.responseBody.isComplete, !(stream.log?.status == 101) {
                stream.log?.terminate("C", stream.responseHeadDone ? "D" : connection == nil && connector != nil ? "C" : "H")
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
        stickTrackers?.connectionEnded()
        loop?.httpSessions[ObjectIdentifier(self)] = nil
        if activated {
            frontend.gate.closed()
            counters.currentSessions.decrement()
        }
    }
}
