import NIOCore

/// One client connection in `mode tcp`: bytes flow both ways unchanged between the client
/// and one server, with half-close passed through and backpressure in both directions.
///
/// Neither side reads more than the other side can take: reads are issued by hand
/// only while the opposite side is writable. Both sides are `SessionTransport`s, so the
/// session runs on either data path.
final class TCPSession: TransportEvents {
    private let frontend: RuntimeFrontend
    private let backend: RuntimeBackend
    private let loopStates: LoopStates
    private let counters: SessionCounters
    private let registry: SessionRegistry

    /// The client connection; nil once the session ended.
    private var client: SessionTransport?
    private var serverChannel: SessionTransport?
    private var server: RuntimeServer?
    private var connector: ServerConnector?
    private var idle: IdleTimer?

    private var clientInputClosed = false
    private var serverInputClosed = false
    private var clientReadPending = false
    private var serverReadPending = false
    private var activated = false
    private var closed = false
    private var loop: LoopState?
    /// Traffic log record (Logging/TrafficLog): only when the frontend logs.
    private var log: SessionLogRecord?
    /// For the qtime/ctime/ttime statistics.
    private var times = ExchangeTimes()
    /// Stick counters its connection rules track (issue 15); released at the close.
    var stickTrackers: StickTrackers?
    /// The bytes the content inspection read first (TCPContentInspector), for `persist
    /// rdp-cookie` and `balance rdp-cookie` (issue 15).
    var inspectedPayload: [UInt8]?

    init(client: SessionTransport, frontend: RuntimeFrontend, backend: RuntimeBackend, loopStates: LoopStates,
         counters: SessionCounters, registry: SessionRegistry) {
        self.client = client
        self.frontend = frontend
        self.registry = registry
        self.backend = backend
        self.loopStates = loopStates
        self.counters = counters
    }

    /// One `show sess` line (issue 4); on this session's loop.
    func showSessLine() -> String {
        SessionLine.make(id: ObjectIdentifier(self), remote: client?.remoteAddress, frontend: frontend.name,
                         backend: backend.name, server: server?.name, since: createdAt)
    }
    private let createdAt = ProcessClock.milliseconds

    // MARK: client side

    func transportActive() {
        guard let client else { return }
        // The NIO path's connections meet the connection rules here (the native path's
        // met them at accept, and have their counters already).
        if stickTrackers == nil, frontend.admitsConnections {
            guard case .accepted(let trackers) = frontend.admit(client) else {
                client.close()
                return
            }
            stickTrackers = trackers
        }
        activated = true
        frontend.gate.opened()
        frontend.sessionRate?.counted(frontend.gate, on: client.eventLoop)  // rate-limit sessions
        counters.sessionOpened()  // scur and smax (issue 4)
        times = ExchangeTimes()
        let loop = loopStates.state(for: client.eventLoop)
        self.loop = loop
        if let trafficLog = frontend.trafficLog {
            log = SessionLogRecord(client: client.remoteAddress, local: client.localAddress)
            log?.tls = trafficLog.tlsFacts(of: client.tls)
            log?.backend = backend
            log?.connectStart = .now()
            log?.stickTrackers = stickTrackers  // `%[sc_*]` (issue 15)
            trafficLog.connected(client: log?.client, local: log?.local)
        }
        if let rules = frontend.tcpVariableRules, let values = frontend.streamValues.make() {
            // `tcp-request session|content set-var` (issue 15): once, on the connection.
            var facts = ConnectionFacts(transport: client)
            facts.stickTrackers = stickTrackers
            facts.values = values
            facts.inspectedPayload = inspectedPayload  // `req.rdp_cookie` after inspect-delay
            values.beginTransaction()
            StickRules.connectionOnly(facts) { rules.run($0, session: true) }
            log?.values = values
        }
        idle = IdleTimer(eventLoop: client.eventLoop) { [weak self] in self?.timedOut() }
        idle?.arm(frontend.timeouts.client ?? backend.timeouts.connect)
        let address = client.remoteAddress.map(ConnectionFacts.bytes(of:)) ?? []
        loop.liveTCPSessions[ObjectIdentifier(self)] = self  // show sess (issue 4)
        var preferred: RuntimeServer?
        // Stick tables (issue 15): a client stuck to a usable server goes back to it.
        var stuck: RuntimeServer? = nil
        // `persist rdp-cookie` (issue 15) comes first, as HAProxy's analyser does.
        if let persistence = backend.rdpPersistence, let payload = inspectedPayload,
           let server = persistence.server(for: payload, in: backend.servers) {
            stuck = server
            backend.balancer.take(server)
        } else if let rules = backend.stickRules {
            var facts = ConnectionFacts(transport: client)
            facts.stickTrackers = stickTrackers
            StickRules.connectionOnly(facts) { stuck = rules.match($0, http: false) }
            if let stuck { backend.balancer.take(stuck) }
        }
        if let stuck {
            preferred = stuck
        } else if case .source = backend.balance.algorithm {
            preferred = address.withUnsafeBytes { bytes -> RuntimeServer? in
                if case .server(let server) = backend.balancer.take(
                    input: BalanceInput(clientAddress: bytes.isEmpty ? nil : bytes)) { return server }
                return nil
            }
        } else if case .rdpCookie = backend.balance.algorithm, let payload = inspectedPayload {
            // `balance rdp-cookie` (issue 15): the cookie's hash, round robin without one.
            preferred = payload.withUnsafeBytes { bytes -> RuntimeServer? in
                if case .server(let server) = backend.balancer.take(input: BalanceInput(payload: bytes)) { return server }
                return nil
            }
        } else {
            preferred = nil
        }
        // TLS (issue 5): `sni ssl_fc_sni` passes the client's SNI on (no request in tcp).
        var serverNames = ServerNameInputs()
        if backend.dynamicServerName, let tls = client.tls {
            serverNames.frontendServerName = tls.serverName
        }
        // `tcp-request … set-dst` (issue 15): where a server at `0.0.0.0`/port 0 goes.
        var destination = client.localAddress
        if let rules = frontend.destinationRules {
            var facts = ConnectionFacts(transport: client)
            facts.inspectedPayload = inspectedPayload
            rules.apply(&facts)
            if facts.destinationChanged {
                destination = facts.destination
                log?.local = destination
            }
        }
        let connector = ServerConnector(
            backend: backend, loop: loop, serverNames: serverNames,
            clientAddress: backend.usesClientSource ? client.remoteAddress : nil,
            destination: destination,
            completion: { [weak self] result in self?.connected(result) })
        self.connector = connector
        connector.start(preferring: preferred, slotTaken: preferred != nil)  // the take above
    }

    private func connected(_ result: Result<(SessionTransport, RuntimeServer), ConnectFailure>) {
        if log != nil { noteConnect(result) }
        if case .success = result {
            times.connected = .now()
            times.serverAssigned = connector?.serverAssignedAt ?? times.connected
        }
        connector = nil
        switch result {
        case .failure:
            closeBoth()
        case .success(let (channel, server)):
            if let rules = backend.stickRules, let client {
                var facts = ConnectionFacts(transport: client)
                facts.stickTrackers = stickTrackers
                StickRules.connectionOnly(facts) { rules.store(server, facts: $0, http: false) }
            }
            guard !closed, let loop else {
                loopStates.state(for: channel.eventLoop).ended(server, in: backend.index)
                channel.close()
                return
            }
            channel.events = TCPServerSide(session: self)
            self.serverChannel = channel
            self.server = server
            if server.health?.shutdownSessionsOnMarkedDown == true {
                loop.tcpSessions[ObjectIdentifier(self)] = self
            }
            spliceIfAsked(channel)
            // `option logasap` (issue 15): the line goes out now the server is connected.
            if var record = log, let trafficLog = frontend.trafficLog, trafficLog.logAsap {
                record.loggedEarly = true
                log = record
                trafficLog.emit(record)
            }
            // Once both sides are connected the tunnel timeout, if any, replaces the
            // client and server timeouts (HAProxy applies it in tcp mode too).
            idle?.arm(backend.timeouts.tunnel ?? frontend.timeouts.tunnel
                      ?? Self.shorter(frontend.timeouts.client, backend.timeouts.server))
            client?.read()
            channel.read()
        }
    }

    func transportRead(_ buffer: ByteBuffer) {
        guard let serverChannel else { return }
        countIn(buffer.readableBytes)
        serverChannel.write(buffer)
    }

    func transportSpliced(_ count: Int) { countIn(count) }

    private func countIn(_ count: Int) {
        idle?.touch()
        counters.bytesIn.add(count)
        stickTrackers?.bytesIn(count)
        stickTrackers?.flushBytesIn()  // counted at once: connection rules tracked already
        log?.bytesIn += count
        backend.counters.bytesIn.add(count)  // stats (issue 4)
        server?.counters.bytesIn.add(count)
    }

    /// `option splice-request` / `splice-response`: between two plain native sockets,
    /// that way's bytes go through a kernel pipe instead of user space (SplicePump).
    private func spliceIfAsked(_ serverSide: SessionTransport) {
        let splice = frontend.splice.union(backend.splice)
        guard splice.request || splice.response,
              let client = client as? NativeConnection, let server = serverSide as? NativeConnection else { return }
        if splice.request { client.splice(into: server) }
        if splice.response { server.splice(into: client) }
    }

    func transportReadComplete() {
        guard let serverChannel else { return }
        serverChannel.flush()
        if serverChannel.isWritable {
            if !clientInputClosed { client?.read() }
        } else {
            clientReadPending = true
        }
    }

    func transportWritabilityChanged() {
        if client?.isWritable == true, serverReadPending, let serverChannel {
            serverReadPending = false
            serverChannel.read()
        }
    }

    func transportInputClosed() {
        clientInputClosed = true
        if serverInputClosed || serverChannel == nil {
            closeBoth(finished: true)
        } else {
            serverChannel?.closeOutput()
        }
    }

    func transportClosed() {
        // A client gone before the server answered the connect aborted it (CC).
        if serverChannel == nil { log?.terminate("C", "C") }
        closeBoth()
    }

    func transportFailed() {
        log?.terminate("C", serverChannel == nil ? "C" : "D")
        closeBoth()
    }

    // MARK: server side, called by TCPServerSide on the same event loop

    fileprivate func serverRead(_ buffer: ByteBuffer) {
        countOut(buffer.readableBytes)
        client?.write(buffer)
    }

    fileprivate func countOut(_ count: Int) {
        idle?.touch()
        counters.bytesOut.add(count)
        stickTrackers?.bytesOut(count)
        log?.bytesOut += count
        backend.counters.bytesOut.add(count)  // stats (issue 4)
        server?.counters.bytesOut.add(count)
    }

    fileprivate func serverReadComplete() {
        guard let client, let channel = serverChannel else { return }
        client.flush()
        if client.isWritable {
            if !serverInputClosed { channel.read() }
        } else {
            serverReadPending = true
        }
    }

    fileprivate func serverWritabilityChanged() {
        if serverChannel?.isWritable == true, clientReadPending, let client {
            clientReadPending = false
            client.read()
        }
    }

    fileprivate func serverInputDidClose() {
        serverInputClosed = true
        if clientInputClosed {
            closeBoth(finished: true)
        } else {
            client?.closeOutput()
        }
    }

    fileprivate func serverDidClose() { closeBoth() }

    /// The server reset the connection (an error, not a close): it aborted (SD), counted
    /// as HAProxy 2.6 counts it, one `eresp` and one `srv_abrt` on the server and backend.
    fileprivate func serverFailed() {
        if !closed {
            log?.terminate("S", "D")
            for counters in [server?.counters, backend.counters].compactMap({ $0 }) {
                counters.responseErrors.increment()
                counters.serverAborts.increment()
            }
        }
        closeBoth()
    }

    // MARK: teardown

    /// `finished`: both sides closed their input, so the stream ended normally and what
    /// is still queued for either side goes out before its connection closes (within
    /// `timeout client`/`server`); otherwise (an error, a timeout) both close at once.
    private func closeBoth(finished: Bool = false) {
        guard !closed else { return }
        closed = true
        if var record = log, let trafficLog = frontend.trafficLog, !record.loggedEarly {
            record.holdsServerSlot = server != nil  // still counted on the server: not in %bc/%sc
            trafficLog.emit(record)
        }
        // After the log line, which may read the counters (`%[sc0_conn_cur]`), as HAProxy's.
        stickTrackers?.connectionEnded()
        if activated {
            frontend.gate.closed()
            counters.currentSessions.decrement()
            loop?.liveTCPSessions[ObjectIdentifier(self)] = nil
        }
        idle?.cancel()
        connector?.cancel()
        if let server, let sample = times.sample(http: false) {
            server.counters.times.add(sample, counted: server.totalConnections.load(ordering: .relaxed))
            backend.counters.times.add(sample, counted: backend.counters.totalSessions.current)
        }
        if let server, let loop {
            if server.health?.shutdownSessionsOnMarkedDown == true {
                loop.tcpSessions[ObjectIdentifier(self)] = nil
            }
            loop.ended(server, in: backend.index)
        }
        if finished {
            serverChannel?.closeAfterWrites(within: backend.timeouts.server ?? .seconds(5))
            client?.closeAfterWrites(within: frontend.timeouts.client ?? .seconds(5))
        } else {
            serverChannel?.close()
            client?.close()
        }
    }

    // MARK: traffic log (Logging/TrafficLog)

    /// `on-marked-down shutdown-sessions`: the server went DOWN; cut the session if it
    /// uses it (HAProxy's termination flag D: killed because the server is down).
    func shutdown(ifUsing down: RuntimeServer) {
        guard server === down, !closed else { return }
        log?.terminate("D", "D")
        closeBoth()
    }

    /// The idle timer fired: the side whose timeout was in force ends the session.
    private func timedOut() {
        if log != nil {
            if serverChannel == nil {
                log?.terminate("s", "C")
            } else {
                let server = backend.timeouts.server, client = frontend.timeouts.client
                let serverSide = server != nil && (client == nil || server! < client!)
                log?.terminate(serverSide ? "s" : "c", "D")
            }
        }
        closeBoth()
    }

    private func noteConnect(_ result: Result<(SessionTransport, RuntimeServer), ConnectFailure>) {
        // Without a server there was no connect time to log (tcplog's Tc is -1).
        if case .failure(.noServerAvailable) = result { log?.connectStart = nil }
        log?.noteConnect(result, attempts: connector?.attempt ?? 0)
        log?.serverAssignedAt = connector?.serverAssignedAt
        log?.redispatched = connector?.redispatched ?? false
    }

    static func shorter(_ a: TimeAmount?, _ b: TimeAmount?) -> TimeAmount? {
        switch (a, b) {
        case (nil, nil): return nil
        case (let x?, nil), (nil, let x?): return x
        case (let x?, let y?): return min(x, y)
        }
    }
}

/// The server half of a TCPSession: passes its transport's events to the session. The
/// transport holds it (and so the session) until the connection is gone.
private final class TCPServerSide: TransportEvents {
    private let session: TCPSession

    init(session: TCPSession) { self.session = session }

    func transportActive() {}
    func transportRead(_ buffer: ByteBuffer) { session.serverRead(buffer) }
    func transportReadComplete() { session.serverReadComplete() }
    func transportWritabilityChanged() { session.serverWritabilityChanged() }
    func transportInputClosed() { session.serverInputDidClose() }
    func transportClosed() { session.serverDidClose() }
    func transportFailed() { session.serverFailed() }
    func transportSpliced(_ count: Int) { session.countOut(count) }
}
