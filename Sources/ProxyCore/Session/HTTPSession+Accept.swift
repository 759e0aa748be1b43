import NIOCore

/// Phase 1, accept: a client connection is ready (after its TLS handshake, if any). The
/// session counts itself, learns its addresses once, and waits for the first request.
extension HTTPSession {
    func transportActive() {
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
        activatedAt = .now()
        loop = loopStates.state(for: client.eventLoop)
        loop.httpSessions[ObjectIdentifier(self)] = self
        connectionFacts = ConnectionFacts(transport: client)
        connectionFacts.stickTrackers = stickTrackers
        connectionFacts.values = frontend.streamValues.make()  // variables, captures (issue 15)
        frontend.destinationRules?.apply(&connectionFacts)  // tcp-request set-dst (issue 15)
        if let trafficLog = frontend.trafficLog {
            // The record dates the accept: a logging frontend's stream starts here.
            let local = connectionFacts.destinationChanged ? connectionFacts.destination : client.localAddress
            stream.log = SessionLogRecord(client: client.remoteAddress, local: local)
            stream.log?.tls = trafficLog.tlsFacts(of: client.tls)
            stream.log?.values = connectionFacts.values
            stream.log?.stickTrackers = stickTrackers  // `%[sc_*]` (issue 15)
            trafficLog.connected(client: stream.log?.client, local: stream.log?.local)
        }
        idle = IdleTimer(eventLoop: client.eventLoop) { [weak self] in self?.timedOut() }
        // Until the first byte, as in HAProxy: the request timeout bounds the silence,
        // then the head gets its own full deadline from that byte (parseRequests).
        idle.arm(frontend.timeouts.httpRequest ?? frontend.timeouts.client)
        // Accepted from the queue of a listener closing for a soft stop: its request is on
        // its way; it is answered (with `Connection: close`), not reset.
        if registry.isStopping { closeIfIdle() }
        client.read()
    }
}
