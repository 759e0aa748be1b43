import Shared

/// `retry-on none|conn-failure|empty-response|junk-response|response-timeout|0rtt-rejected|
/// all-retryable-errors|401|403|404|408|425|500|501|502|503|504 …`, with HAProxy 2.6's
/// messages (its "keyworld" spelling included).
enum RetryOnParser {
    static let keywords: [String: ProxyKeyword] = [
        "retry-on": ProxyKeyword(side: .both, inDefaults: true, handler: parse),
    ]

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let words = Array(l.words.dropFirst())
        guard !words.isEmpty, !words[0].isEmpty else {
            s.alert(l, "'retry-on' needs at least one keyword to specify when to retry")
            return
        }
        if !p.isBackend && !ctx.isDefaults {
            s.alert(l, "'retry-on' only available in backend or listen section")
            return
        }
        var conditions = RetryConditions()
        conditions.connectionFailure = false
        for word in words {
            switch word {
            case "none":
                guard words.count == 1 else {
                    s.alert(l, "'retry-on' 'none' keyworld only usable alone")
                    return
                }
            case "conn-failure": conditions.connectionFailure = true
            case "empty-response": conditions.emptyResponse = true
            case "junk-response": conditions.junkResponse = true
            case "response-timeout": conditions.responseTimeout = true
            case "0rtt-rejected": conditions.zeroRTTRejected = true
            case "all-retryable-errors":
                conditions.connectionFailure = true
                conditions.emptyResponse = true
                conditions.junkResponse = true
                conditions.responseTimeout = true
                conditions.zeroRTTRejected = true
                conditions.statuses.formUnion([500, 502, 503, 504])
            default:
                guard let status = Int(word), RetryConditions.retryableStatuses.contains(status) else {
                    s.alert(l, "'retry-on': unknown keyword '\(word)'")
                    return
                }
                conditions.statuses.insert(status)
            }
        }
        p.retryOn = conditions
    }
}
