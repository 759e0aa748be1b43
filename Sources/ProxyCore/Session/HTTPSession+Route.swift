import NIOCore

/// Phase 3, route: frontend rules, the stats page, `use_backend`, then the backend's
/// own rules, all read on the head in place; a rule or page may answer here.
extension HTTPSession {
    func startExchange(head: HTTPRequestHead, buffer: inout ByteBuffer) {
        stream.requestMethod = head.method
        stream.requestBody = HTTPBodyFramer(framing: head.framing)
        stream.requestHasBody = !stream.requestBody.isComplete
        stream.requestComplete = false
        stream.clientIsHTTP10 = head.version == .http10  // what proxyd's own answers say (ConnectionHeader)
        clientKeepAlive = head.keepAlive && frontend.httpConnectionMode != .close

        // Frontend rules, routing, then the backend's own rules, all on the head in place.
        var rewrite = HeadRewrite()
        if head.hasContentLength && head.hasTransferEncoding {
            // Two framings: the chunked one wins, the Content-Length goes and the
            // connection closes after the answer, as HAProxy 2.6 handles it.
            rewrite.dropNames.append(Array("content-length".utf8))
            clientKeepAlive = false
        } else if case .contentLength(let length) = head.framing, buffer.withUnsafeReadableBytes({
            isContentLengthRepeated(stream.requestParser.headers, in: $0)
        }) {
            // `Content-Length: 5, 5`, or the field twice: one field with the one value
            // goes to the server, as HAProxy sends it, so no server reads the list otherwise.
            rewrite.dropNames.append(Array("content-length".utf8))
            rewrite.add(Array("Content-Length".utf8), Array(String(length).utf8))
        }
        if answeredContinue {
            answeredContinue = false
            rewrite.dropNames.append(Array("expect".utf8))  // the 100 went out already
        }
        if head.hasUpgrade, buffer.withUnsafeReadableBytes({ isUpgradeToH2C(stream.requestParser.headers, in: $0) }) {
            // HTTP/2 over cleartext by upgrade: a server that takes it would speak HTTP/2
            // in a tunnel proxyd no longer reads (h2c smuggling). HAProxy drops it only
            // from requests with a body; proxyd from all.
            rewrite.dropNames.append(Array("upgrade".utf8))
        }
        let headers = stream.requestParser.headers
        stickTrackers?.requestStarted()
        let connection = connectionFacts!
        let firstRequest = connection.values?.hadTransaction == false
        connection.values?.beginTransaction()  // a new txn: its variables and captures start empty
        var statsPageAnswered = false
        var persistence = PersistenceDecision()
        var persistenceDecided = false
        // A listen section is its own backend: its rules are the frontend's.
        let ownBackend = frontend.router.defaultBackend.flatMap { $0.name == frontend.name ? $0 : nil }
        let (chosen, outcome, choice): (RuntimeBackend?, RuleOutcome, ServerChoice) = buffer.withUnsafeReadableBytes { bytes in
            var facts = RequestFacts(bytes: bytes, head: head, headers: headers, connection: connection)
            if let values = connection.values, let captures = values.captureLengths {
                HeaderCaptures.take(captures.request, bytes: bytes, fields: headers, into: &values.requestCaptures)
                if captures.cookie != nil {
                    values.requestCookie = captures.takeCookie(bytes: bytes, fields: headers, response: false)
                }
            }
            if let rule = frontend.uniqueID, let values = connection.values {  // before the rules, which may read it
                values.uniqueID = rule.make(facts, values: values)
            }
            frontend.tcpVariableRules?.run(facts, session: firstRequest)  // tcp-request set-var (issue 15)
            if let tracks = frontend.requestContentTracks, let trackers = connection.stickTrackers {
                tracks.run(trackers, facts: facts, forRequest: true)  // tcp-request content (issue 15)
            }
            /// HAProxy 2.6 still reads the persistence cookie of a request a backend's rule
            /// denies (its log names the server and the cookie's flags); not of one a
            /// `return` or `redirect` answers (issue 15).
            func persistenceOfDenied(_ backend: RuntimeBackend?) {
                guard let rules = backend?.persistence else { return }
                var unused = HeadRewrite()
                persistence = rules.decide(facts, rewrite: &unused)
                persistenceDecided = true
            }
            let frontendOutcome = RuleEngine.run(frontend.requestRules, facts: facts, rewrite: &rewrite)
            if case .reply(let reply, let closes) = frontendOutcome {
                if closes { persistenceOfDenied(ownBackend) }
                return (nil, .reply(reply, closes: closes), .noneUsable)
            }
            if case .end = frontendOutcome { return (nil, frontendOutcome, .noneUsable) }
            facts.follow(rewrite)  // `use_backend` reads a rewritten path, as HAProxy's does
            // The stats page of a frontend section (issue 4).
            if let page = frontend.statsPage, let reply = page.answer(facts) {
                statsPageAnswered = true
                return (nil, .reply(reply, closes: false), .noneUsable)
            }
            guard let backend = frontend.router.route(facts) else { return (nil, .proceed, .noneUsable) }
            if backend.name != frontend.name, !backend.requestRules.isEmpty {
                let outcome = RuleEngine.run(backend.requestRules, facts: facts, rewrite: &rewrite)
                if case .reply(_, let closes) = outcome {
                    if closes { persistenceOfDenied(backend) }
                    return (backend, outcome, .noneUsable)
                }
                if case .end = outcome { return (backend, outcome, .noneUsable) }
                facts.follow(rewrite)
            }
            // The stats page (issue 4): a backend with `stats enable` answers its
            // `stats uri` itself instead of forwarding.
            if let page = backend.statsPage, let reply = page.answer(facts) {
                statsPageAnswered = true
                return (backend, .reply(reply, closes: false), .noneUsable)
            }
            // Cookie persistence and `use-server` (issue 15) name the server first; stick
            // tables match only when no server is named yet, as HAProxy's sticking rules.
            if let rules = backend.persistence {
                persistence = rules.decide(facts, rewrite: &rewrite)
                if let server = persistence.server ?? rules.lastServer(stream.lastServer) {
                    backend.balancer.take(server)
                    backend.stickRules?.store(server, facts: facts, http: true)
                    return (backend, .proceed, .server(server))
                }
            }
            // Stick tables (issue 15): a client stuck to a usable server goes back to it.
            if let sticky = backend.stickRules?.match(facts, http: true) {
                backend.balancer.take(sticky)
                backend.stickRules?.store(sticky, facts: facts, http: true)
                return (backend, .proceed, .server(sticky))
            }
            let choice = connection.clientAddress.withUnsafeBytes { address in
                backend.balancer.take(input: BalanceInput(
                    clientAddress: address.isEmpty ? nil : address,
                    request: (head.targetSpan, headers, bytes)))
            }
            if case .server(let server) = choice { backend.stickRules?.store(server, facts: facts, http: true) }
            return (backend, .proceed, choice)
        }
        stickTrackers?.flushBytesIn()  // the head counts for what its rules track (issue 15)
        connection.values?.endRequestProcessing()  // `req` variables end with the request's rules
        applyRuleEffects(rewrite.effects)  // set-src, set-log-level (HTTPSession+RuleEffects.swift)
        if case .end(let ending) = outcome {
            buffer.moveReaderIndex(forwardBy: head.headLength)
            inbound = buffer
            end(ending, backend: chosen)
            return
        }
        stream.persistence = persistence
        stream.log?.persistenceFlags = (persistence.requestFlag, persistence.responseFlag)
        if case .reply(let reply, let closes) = outcome {
            // stats (issue 4); the page's own backend counts it apart.
            countReply(reply, backend: statsPageAnswered ? nil : chosen)
            if statsPageAnswered { countStatsPage(in: chosen, requestBytes: head.headLength, reply: reply) }
            buffer.moveReaderIndex(forwardBy: head.headLength)
            inbound = buffer
            if stream.log != nil {
                // The backend HAProxy has at that point (a listen section is its own)
                // decides whether the persistence flags show (issue 15).
                if persistenceDecided {
                    stream.log?.server = persistence.server
                } else if let rules = (chosen ?? ownBackend)?.persistence {
                    stream.log?.persistenceFlags = rules.flagsWithoutDecision
                }
                stream.log?.backend = chosen
                // deny: the proxy blocked it (PR); return/redirect: served locally (LR).
                stream.log?.terminate(closes ? "P" : "L", "R")
            }
            // A deny keeps the connection as a return does: HAProxy 2.6 answers the next
            // request of a kept-alive client after its 403.
            sendReply(reply, close: false)
            return
        }
        if let name = frontend.uniqueID?.header, let id = connection.values?.uniqueID {
            rewrite.add(name, id)  // `unique-id-header`, after the rules' headers as in HAProxy
        }
        dispatch(head: head, buffer: &buffer, chosen: chosen, choice: choice, rewrite: rewrite)
    }

}
