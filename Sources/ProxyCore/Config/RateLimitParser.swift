import Shared

/// `rate-limit sessions N` (Runtime/SessionRateLimit.swift), with HAProxy 2.6's messages.
enum RateLimitParser {
    static let keywords: [String: ProxyKeyword] = [
        "rate-limit": ProxyKeyword(side: .both, inDefaults: true, handler: parse),
    ]

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard l[1] == "sessions" else {
            s.alert(l, "'rate-limit' only supports 'sessions' (got '\(l[1])')")
            return
        }
        guard !l[2].isEmpty else {
            s.alert(l, "'rate-limit sessions' expects expects an integer value (in sessions/second)")
            return
        }
        guard let value = Int(l[2]), value >= 0 else {
            let bad = l[2].first { !$0.isNumber } ?? " "
            s.alert(l, "'rate-limit sessions' : unexpected character '\(bad)' in integer value '\(l[2])'")
            return
        }
        if !p.isFrontend && !ctx.isDefaults {
            s.warning(l, "rate-limit sessions will be ignored because \(ctx.kind) '\(p.name)' has no frontend capability")
            return
        }
        p.rateLimitSessions = value == 0 ? nil : value
    }
}
