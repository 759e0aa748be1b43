/// Whether a frontend's connections need a `StreamValues` (Runtime/StreamValues.swift),
/// and its size: most configurations set no variable and capture nothing, and their
/// connections then carry nothing more.
struct StreamValuesLayout {
    var needed = false
    var requestCaptures = 0
    var responseCaptures = 0
    /// The frontend's captures, nil when it declares none.
    var captures: HeaderCaptures?

    init() {}

    /// `config`'s layout for the connections of `frontend`: its own capture slots.
    init(_ config: ProxyConfiguration, frontend: ProxySettings) {
        self.init(config)
        if frontend.uniqueIDFormat != nil { needed = true }
        if !frontend.captures.isEmpty {
            needed = true
            requestCaptures = frontend.captures.request.count
            responseCaptures = frontend.captures.response.count
            captures = HeaderCaptures(frontend.captures)
        }
    }

    /// Variables may be set by any proxy's rules and read by any other's, so one rule
    /// setting one is enough for every frontend to carry them.
    init(_ config: ProxyConfiguration) {
        needed = config.proxies.contains { proxy in
            !proxy.captures.isEmpty
                || proxy.tcpRequestRules.contains { if case .setVariable = $0.action { return true } else { return false } }
                || proxy.httpRequestRules.contains { if case .setVariable = $0.action { return true } else { return false } }
                || proxy.httpResponseRules.contains { if case .setVariable = $0.action { return true } else { return false } }
        }
    }

    func make() -> StreamValues? {
        guard needed else { return nil }
        let values = StreamValues(requestCaptures: requestCaptures, responseCaptures: responseCaptures)
        values.captureLengths = captures
        return values
    }
}

extension ProcessVariables {
    /// `global` `set-var` / `set-var-fmt`, in order, at start.
    static func setUp(_ assignments: [VariableAssignment]) {
        shared.removeAll()
        for assignment in assignments {
            (try? CompiledAssignment(assignment, at: nil))?.run(nil, values: nil)
        }
    }
}
