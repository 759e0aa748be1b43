/// A `track-scN` action compiled: its table resolved.
struct CompiledTrack {
    let action: TrackAction
    let table: StickTable

    init?(_ action: TrackAction, tables: StickTableDirectory) {
        guard let table = tables[action.table] else { return nil }
        self.action = action
        self.table = table
    }

    func run(_ trackers: StickTrackers, facts: RequestFacts?, connection: ConnectionFacts, forRequest: Bool) {
        guard trackers.tracked(action.counter) == nil,
              let key = StickKeys.key(action.key, facts: facts, connection: connection, for: table) else { return }
        trackers.track(action.counter, table: table, key: key, forRequest: forRequest)
    }
}

/// `tcp-request content track-scN` rules. In `mode http` HAProxy runs them for each
/// request, before its `http-request` rules, and what they track lasts that request; in
/// `mode tcp` once, after the connection rules.
struct ContentTracks {
    let tracks: [(CompiledTrack, CompiledCondition?)]

    init?(_ proxy: ProxySettings, tables: StickTableDirectory, backends: [String: RuntimeBackend], own: RuntimeBackend?) {
        var tracks: [(CompiledTrack, CompiledCondition?)] = []
        for rule in proxy.tcpRequestRules where rule.phase == .content {
            guard case .track(let track) = rule.action, let compiled = CompiledTrack(track, tables: tables) else { continue }
            tracks.append((compiled, rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: own) }))
        }
        guard !tracks.isEmpty else { return nil }
        self.tracks = tracks
    }

    func run(_ trackers: StickTrackers, facts: RequestFacts, forRequest: Bool) {
        for (track, condition) in tracks {
            if let condition, !condition.evaluate(facts) { continue }
            track.run(trackers, facts: forRequest ? facts : nil, connection: facts.connection, forRequest: forRequest)
        }
    }
}

/// A frontend's `tcp-request connection` rules (accept, reject, track, in order), run
/// at accept; in `mode tcp` its content tracking follows.
struct ConnectionRules {
    enum Step {
        case accept, reject, silentDrop
        case track(CompiledTrack)
    }
    let steps: [(Step, CompiledCondition?)]
    let contentTracks: ContentTracks?

    init?(_ proxy: ProxySettings, tables: StickTableDirectory, backends: [String: RuntimeBackend], own: RuntimeBackend?) {
        var steps: [(Step, CompiledCondition?)] = []
        for rule in proxy.tcpRequestRules where rule.phase == .connection {
            let condition = rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: own) }
            switch rule.action {
            case .accept: steps.append((.accept, condition))
            case .reject: steps.append((.reject, condition))
            case .silentDrop: steps.append((.silentDrop, condition))
            case .track(let track):
                if let compiled = CompiledTrack(track, tables: tables) { steps.append((.track(compiled), condition)) }
            default: break
            }
        }
        contentTracks = proxy.mode == .tcp ? ContentTracks(proxy, tables: tables, backends: backends, own: own) : nil
        guard !steps.isEmpty || contentTracks != nil else { return nil }
        self.steps = steps
    }

    /// Nil when the connection is accepted; else whether to close it silently (`silent-drop`).
    func refusal(_ connection: ConnectionFacts) -> Bool? {
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let facts = RequestFacts(bytes: empty, head: HTTPRequestHead(), headers: [], connection: connection)
        rules: for (step, condition) in steps {
            if let condition, !condition.evaluate(facts) { continue }
            switch step {
            case .accept: break rules
            case .reject: return false
            case .silentDrop: return true
            case .track(let track):
                if let trackers = connection.stickTrackers {
                    track.run(trackers, facts: nil, connection: connection, forRequest: false)
                }
            }
        }
        // A session now: what the connection rules track counts it (not content tracking).
        guard let trackers = connection.stickTrackers else { return nil }
        trackers.sessionAccepted()
        contentTracks?.run(trackers, facts: facts, forRequest: false)
        return nil
    }
}

extension RuntimeFrontend {
    enum Admission {
        /// `silently`: by `silent-drop` (Runtime/RuleEffects.swift).
        case rejected(silently: Bool)
        /// With the connection's stick counters, when the configuration has tables.
        case accepted(StickTrackers?)
    }

    /// Whether anything is to run at accept (stick counters or connection rules).
    var admitsConnections: Bool { tracksStickCounters || connectionRules != nil }

    /// The `tcp-request connection` rules (and their tracking) for a new connection.
    func admit(_ transport: SessionTransport) -> Admission {
        guard admitsConnections else { return .accepted(nil) }
        var facts = ConnectionFacts(transport: transport)
        let trackers = StickTrackers()
        facts.stickTrackers = trackers
        if let rules = connectionRules, let silently = rules.refusal(facts) {
            trackers.connectionEnded()
            return .rejected(silently: silently)
        }
        return .accepted(trackers)
    }
}
