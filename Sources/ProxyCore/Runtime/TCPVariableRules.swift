import Shared

/// A frontend's `tcp-request session|content set-var…` (issue 15). In `mode http` session
/// rules run once, before the connection's first request, and content rules before each
/// request's `http-request` rules, on the parsed request as HAProxy 2.6 (HTX) runs them;
/// in `mode tcp` both run once when the connection starts (TCPSession), on the
/// connection's facts. Session rules see the connection only, as in HAProxy (its parser
/// refuses request fetches there).
struct TCPVariableRules {
    let session: [(CompiledAssignment, CompiledCondition?)]
    let content: [(CompiledAssignment, CompiledCondition?)]

    init?(_ proxy: ProxySettings, backends: [String: RuntimeBackend], own: RuntimeBackend?) throws {
        var session: [(CompiledAssignment, CompiledCondition?)] = []
        var content: [(CompiledAssignment, CompiledCondition?)] = []
        for rule in proxy.tcpRequestRules {
            guard case .setVariable(let assignment) = rule.action else { continue }
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
