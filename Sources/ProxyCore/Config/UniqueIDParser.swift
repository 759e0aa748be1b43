import Shared

/// `unique-id-format FMT` and `unique-id-header NAME` (issue 15): an id made per request,
/// sent to the server in a header, logged as `%ID`, read by the `unique-id` fetch.
enum UniqueIDParser {
    static let keywords: [String: ProxyKeyword] = [
        "unique-id-format": ProxyKeyword(side: .both, inDefaults: true, handler: { s, p, l, _ in
            guard l.count == 2 else {
                s.alert(l, l.count < 2 ? "unique-id-format expects an argument."
                                       : "unique-id-format expects only one argument, don't forget to escape spaces!")
                return
            }
            // Checked once the whole configuration is read (`check`), as HAProxy does.
            p.uniqueIDFormat = .literal(l[1])
            p.uniqueIDFormatLocation = l.location
        }),
        "unique-id-header": ProxyKeyword(side: .both, inDefaults: true, handler: { s, p, l, _ in
            guard l.count == 2 else {
                s.alert(l, "unique-id-header expects an argument.")
                return
            }
            p.uniqueIDHeader = l[1]
        }),
    ]

    /// Parses the proxy's `unique-id-format` once the configuration is read; HAProxy's
    /// message (a fatal error, not a line's) when it is wrong.
    static func check(_ s: ParserState, _ p: inout ProxySettings) -> Bool {
        guard let written = p.uniqueIDFormat?.raw, let location = p.uniqueIDFormatLocation else { return false }
        switch HTTPRuleParser.format(written, place: .frontendHTTPRequest) {
        case let .success(format):
            p.uniqueIDFormat = format
            return false
        case let .failure(e):
            s.alertRaw("Parsing [\(location)]: failed to parse unique-id : \(e.message).", at: location)
            return true
        }
    }
}
