import Shared

/// `tcp-request session|content set-var…` of a `mode http` frontend (issue 15): session
/// rules run once, before the connection's first request; content rules before each
/// request's `http-request` rules, on the parsed request as HAProxy 2.6 (HTX) runs them.
/// Session rules see the connection only, as in HAProxy (its parser refuses request
/// fetches there).
struct TCPVariableRules {
    let session: [(CompiledAssignment, CompiledCondition?)]
    let content: [(CompiledAssignment, CompiledCondition?)]

    init?(_ proxy: ProxySettings, backends: [String: RuntimeBackend], own: RuntimeBackend?) throws {
        var session: [(CompiledAssignment, CompiledCondition?)] = []
        var content: [(CompiledAssignment, CompiledCondition?)] = []
        for rule in proxy.tcpRequestRules {
            guard case .setVariable(let assignment) = rule.action else { continue }
            guard proxy.mode == .http else {
                throw RuntimeBuilder.Failure(location: rule.location,
                    message: "'tcp-request \(rule.phase.rawValue) set-var' in a 'mode tcp' proxy is not supported yet")
            }
            let compiled = (try CompiledAssignment(assignment, at: rule.location),
                            rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: own) })
            if rule.phase == .session { session.append(compiled) } else { content.append(compiled) }
        }
        guard !session.isEmpty || !content.isEmpty else { return nil }
        self.session = session
        self.content = content
    }

    func run(_ facts: RequestFacts, session first: Bool) {
        let connection = facts.connection
        if first {
            let empty = UnsafeRawBufferPointer(start: nil, count: 0)
            let sessionFacts = RequestFacts(bytes: empty, head: HTTPRequestHead(), headers: [], connection: connection)
            for (assignment, condition) in session where condition?.evaluate(sessionFacts) ?? true {
                assignment.run(sessionFacts, values: connection.values)
            }
        }
        for (assignment, condition) in content where condition?.evaluate(facts) ?? true {
            assignment.run(facts, values: connection.values)
        }
    }
}
