import Shared

/// `unique-id-format FMT` and `unique-id-header NAME` (issue 15): an id made per request,
/// sent to the server in a header, logged as `%ID`, read by the `unique-id` fetch.
enum UniqueIDParser {
    static let keywords: [String: ProxyKeyword] = [
        "unique-id-format": ProxyKeyword(side: .frontend, inDefaults: true, handler: { s, p, l, _ in
            guard l.count == 2 else {
                s.alert(l, l.count < 2 ? "unique-id-format expects an argument."
                                       : "unique-id-format expects only one argument, don't forget to escape spaces!")
                return
            }
            switch HTTPRuleParser.format(l[1], place: .frontendHTTPRequest) {
            case let .success(format): p.uniqueIDFormat = format
            case let .failure(e): s.alert(l, "failed to parse log-format : \(e.message).")
            }
        }),
        "unique-id-header": ProxyKeyword(side: .frontend, inDefaults: true, handler: { s, p, l, _ in
            guard l.count == 2 else {
                s.alert(l, "unique-id-header expects an argument.")
                return
            }
            p.uniqueIDHeader = l[1]
        }),
    ]
}
