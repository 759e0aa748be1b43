import NIOCore

/// Phase 7, log: the traffic log record and the statistics counters of each request.
extension HTTPSession {
    func noteClientBytes(_ count: Int) {
        stream.log?.bytesIn += count
        if phase == .readingHead, stream.log?.requestAt == nil {
            stream.log?.requestAt = .now()
            stream.log?.requestWall = .now()
        }
    }

    func noteConnect(_ result: Result<(SessionTransport, RuntimeServer), ConnectFailure>) {
        stream.log?.noteConnect(result, attempts: (connector?.attempt ?? 0) + stream.statusRetries)
        stream.log?.serverAssignedAt = connector?.serverAssignedAt
        stream.log?.redispatched = connector?.redispatched ?? false
    }

    /// Logs the current request once, then starts the next one's record.
    func emitLog() {
        if stream.log?.loggedEarly == true {  // `option logasap` wrote it already
            stream.log?.nextRequest()
            return
        }
        guard stream.logPending, let record = stream.log, let trafficLog = frontend.trafficLog else { return }
        stream.logPending = false
        trafficLog.emit(record)
        stream.log?.nextRequest()
    }

    /// `option logasap` (issue 15): the line goes out with the response head.
    func logEarly() {
        guard stream.logPending, stream.log != nil, let trafficLog = frontend.trafficLog, trafficLog.logAsap else { return }
        stream.logPending = false
        stream.log?.loggedEarly = true
        trafficLog.emit(stream.log!)
    }

    /// The termination flags HAProxy gives proxyd's own error answers by default.
    static func cause(of status: Int) -> Character {
        switch status {
        case 408: return "c"
        case 504: return "s"
        case 502, 503: return "S"
        default: return "P"
        }
    }
    static func state(of status: Int) -> Character {
        switch status {
        case 502, 504: return "H"
        case 503: return "C"
        default: return "R"
        }
    }

    /// The status code of a ready-made response (`HTTP/1.1 403 …`).
    static func statusCode(of response: ByteBuffer) -> Int {
        guard let line = response.getBytes(at: response.readerIndex, length: min(12, response.readableBytes)),
              line.count == 12 else { return -1 }
        return line[9..<12].reduce(0) { $0 * 10 + Int($1) - 48 }
    }

    // MARK: - Statistics (issue 4)

    /// A reply proxyd made itself (rules, the stats page): its status class, and
    /// `intercepted` / `dreq` as HAProxy counts them.
    func countReply(_ reply: ByteBuffer, backend: RuntimeBackend?) {
        var status = 0
        if let digits = reply.getBytes(at: reply.readerIndex + 9, length: 3) {
            for digit in digits where digit >= 48 && digit <= 57 { status = status * 10 + Int(digit - 48) }
        }
        counters.countResponse(status: status)
        counters.bytesOut.add(reply.readableBytes)
        stickTrackers?.responded(status: status)
        stickTrackers?.bytesOut(reply.readableBytes)
        counters.intercepted.increment()
        if status == 403 { counters.deniedRequests.increment() }
        backend?.counters.countResponse(status: status)
    }

    /// The stats page is, for HAProxy, served by the backend of its section (that of a
    /// `listen`): the page's bytes and last session go there too, but neither a session
    /// nor a response class.
    func countStatsPage(in chosen: RuntimeBackend?, requestBytes: Int, reply: ByteBuffer) {
        let listenBackend = frontend.router.defaultBackend.flatMap { $0.name == frontend.name ? $0 : nil }
        guard let backend = chosen ?? listenBackend else { return }
        backend.counters.bytesIn.add(requestBytes)
        backend.counters.bytesOut.add(reply.readableBytes)
        backend.counters.lastSession.store(ProcessClock.milliseconds)
    }

    func countRequestBytes(_ count: Int) {
        backend?.counters.bytesIn.add(count)
        connection?.server.counters.bytesIn.add(count)
    }

    /// Adds the current request to its backend's and server's time statistics, once.
    func recordTimes() {
        guard let server = connection?.server, let backend,
              let sample = stream.times.sample(http: true) else { return }
        stream.times.connected = nil
        server.counters.times.add(sample, counted: server.counters.requests.current)
        backend.counters.times.add(sample, counted: backend.counters.requests.current)
    }

    func countResponseError(_ server: RuntimeServer) {
        server.counters.responseErrors.increment()
        backend?.counters.responseErrors.increment()
    }

    /// A response the server cut off midway (a close or a reset before its end): HAProxy
    /// 2.6 counts it both as an `eresp` and as a `srv_abrt`, on the server and its backend.
    func countServerAbort(_ server: RuntimeServer) {
        countResponseError(server)
        server.counters.serverAborts.increment()
        backend?.counters.serverAborts.increment()
    }

    /// One `show sess` line (issue 4); on this session's loop.
    func showSessLine() -> String {
        SessionLine.make(id: ObjectIdentifier(self), remote: client.remoteAddress, frontend: frontend.name,
                         backend: backend?.name, server: connection?.server.name, since: createdAt)
    }
}
