import NIOCore

/// Phase 2, parse: the request head from the client's bytes, normalised where HAProxy
/// would (obs-fold, bare LF), under `timeout http-request` from its first byte.
extension HTTPSession {
    /// Parses the request at the head of `inbound`, if complete, and starts its exchange.
    func parseRequests() {
        guard phase == .readingHead else { return }
        guard var buffer = inbound, buffer.readableBytes > 0 else {
            readClient()
            return
        }
        idle.touch()
        if stream.log != nil, stream.log?.requestAt == nil {
            // A request that was already waiting (pipelined) starts now.
            stream.log?.requestAt = .now()
            stream.log?.requestWall = .now()
        }
        if !headTimeoutStarted, idle != nil {
            // The first byte of a request: its head's deadline starts now.
            startHeadTimeout()
        }
        var status = buffer.withUnsafeReadableBytes { stream.requestParser.parse($0) }
        // An obs-fold becomes spaces in place, as HAProxy makes it, and the head is read again.
        while case .error(.obsoleteLineFolding) = status, let line = stream.requestParser.foldedLineStart,
              unfoldLine(at: line, in: &buffer) {
            inbound = buffer
            status = buffer.withUnsafeReadableBytes { stream.requestParser.parse($0) }
        }
        // Bare LF line ends or an odd version: the server gets the head as proxyd read it.
        if case .complete = status, stream.requestParser.head.needsNormalising {
            normaliseRequestHead(stream.requestParser.head, in: &buffer)
            inbound = buffer
            status = buffer.withUnsafeReadableBytes { stream.requestParser.parse($0) }
        }
        switch status {
        case .incomplete:
            readClient()
        case .error(let error):
            counters.requestErrors.increment()
            if stream.log != nil { stream.logPending = true; stream.log?.terminate("P", "R") }
            sendError(error.requestStatusCode, close: true)
        case .complete:
            if frontend.bufferRequestBody, !clientInputClosed, !isBodyBuffered(stream.requestParser.head, in: buffer) {
                // The rest of the body, still under the head's deadline; a 408 then logs
                // the request line, as HAProxy's does.
                if stream.log != nil { stream.log?.captureRequestLine(buffer, start: stream.requestParser.head.start) }
                if stream.requestParser.head.expectContinue, !answeredContinue {
                    // The client waits for this before it sends the body proxyd waits for:
                    // HAProxy answers it itself, and the server then gets no Expect.
                    answeredContinue = true
                    client.write(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n"))
                    client.flush()
                }
                readClient()
                return
            }
            stream.times.requestComplete = .now()
            counters.requests.increment()
            counters.requestRate.tick()  // req_rate (issue 4)
            let head = stream.requestParser.head
            if stream.log != nil {
                stream.logPending = true
                stream.log?.headAt = .now()
                stream.log?.captureRequestLine(buffer, start: head.start)
            }
            startExchange(head: head, buffer: &buffer)
        }
    }

    /// `option http-buffer-request`: whether the body after `head` is all in `buffer`, as
    /// HAProxy waits for it before choosing a server. It waits for no more than a buffer
    /// (the head's limit), and not for a malformed chunked body: the forward phase
    /// refuses that one as it would without the option.
    func isBodyBuffered(_ head: HTTPRequestHead, in buffer: ByteBuffer) -> Bool {
        if buffer.readableBytes >= stream.requestParser.maxHeadLength { return true }
        let after = buffer.readableBytes - head.headLength
        switch head.framing {
        case .contentLength(let length):
            return UInt64(after) >= length
        case .chunked:
            var framer = ChunkedBodyFramer()
            let result = buffer.withUnsafeReadableBytes {
                framer.feed(UnsafeRawBufferPointer(rebasing: $0[head.headLength...]))
            }
            if case .needsMore = result { return false }
            return true
        case .none, .untilClose, .tunnel:
            return true
        }
    }

    /// `timeout http-request` bounds the whole request head, as in HAProxy: a deadline
    /// the head's reads do not push back, or a client trickling a byte at a time
    /// (slowloris) would hold the connection forever. Without it, `timeout client`
    /// applies as usual, to silence only.
    func startHeadTimeout() {
        headTimeoutStarted = true
        if let limit = frontend.timeouts.httpRequest {
            idle.armDeadline(limit)
        } else {
            idle.arm(frontend.timeouts.client)
        }
    }

}
