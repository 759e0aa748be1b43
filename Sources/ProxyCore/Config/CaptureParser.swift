import Shared

/// `capture request|response header NAME len N`, `declare capture request|response len N`
/// and the `http-request|http-response capture` actions (issue 15).
enum CaptureParser {
    static let keywords: [String: ProxyKeyword] = [
        "capture": ProxyKeyword(side: .frontend, inDefaults: false, handler: parseCapture),
        "declare": ProxyKeyword(side: .both, inDefaults: false, handler: parseDeclare),
    ]

    static func parseCapture(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        switch l[1] {
        case "request", "response":
            guard l.count == 6, l[2] == "header", l[4] == "len", let length = ConfigUnits.integer(l[5]) else {
                s.alert(l, "'capture \(l[1])' expects 'header' <header_name> 'len' <len>.")
                return
            }
            let slot = CaptureSlot(header: l[3], length: max(0, length))
            if l[1] == "request" { p.captures.request.append(slot) } else { p.captures.response.append(slot) }
        case "cookie":
            guard l.count == 5, l[3] == "len", let length = ConfigUnits.integer(l[4]) else {
                s.alert(l, "'capture' expects 'cookie' <cookie_name> 'len' <len>.")
                return
            }
            p.captures.cookie = CookieCapture(name: l[2], length: max(0, length))
        default:
            s.alert(l, "'capture' expects 'cookie' or 'request header' or 'response header'.")
        }
    }

    static func parseDeclare(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard p.isFrontend else {
            s.alert(l, "'declare' only available in frontend or listen section")
            return
        }
        guard l[1] == "capture" else {
            s.alert(l, "unknown 'declare' keyword '\(l[1])'; 'declare' only supports 'capture'")
            return
        }
        guard l[2] == "request" || l[2] == "response" else {
            s.alert(l, "'declare capture' requires a direction ('request' or 'response')")
            return
        }
        guard l[3] == "len", let length = ConfigUnits.integer(l[4]) else {
            s.alert(l, "'declare capture' requires a capture length ('len')")
            return
        }
        let slot = CaptureSlot(header: nil, length: max(0, length))
        if l[2] == "request" { p.captures.request.append(slot) } else { p.captures.response.append(slot) }
    }

    /// `http-request capture EXPR len N|id N` (`len` declares a new slot) and
    /// `http-response capture EXPR id N`. A slot named by `id` is checked once the whole
    /// configuration is read (`checkSlots`), as HAProxy does.
    static func parseAction(_ p: inout ProxySettings, _ args: [String], response: Bool,
                            place: HAProxySamples.Usage) -> Result<CaptureAction, HTTPRuleParser.Failure> {
        guard args.count == 3, (args[1] == "id" || (args[1] == "len" && !response)) else {
            if response, args.count == 3 { return .failure(.init(message: "expects 'id', found '\(args[1])'")) }
            return .failure(.init(message: response ? "expects <expression> id <idx>"
                                                    : "expects <expression> [ 'len' <length> | id <idx> ]"))
        }
        let fetchName = String(args[0].prefix { $0 != "(" && $0 != "," })
        if let problem = VariableParser.unavailable(args[0], named: fetchName, place: place) {
            return .failure(.init(message: problem))
        }
        let expression: SampleExpression
        switch SampleExpression.parse(args[0]) {
        case let .success(e): expression = e
        case let .failure(e): return .failure(.init(message: e.message))
        }
        guard let number = ConfigUnits.integer(args[2]), number >= 0 else {
            return .failure(.init(message: "'\(args[1])' expects a positive integer, got '\(args[2])'"))
        }
        if args[1] == "len" {
            guard p.isFrontend else { return .failure(.init(message: "proxy '\(p.name)' has no frontend capability")) }
            p.captures.request.append(CaptureSlot(header: nil, length: number))
            return .success(CaptureAction(expression: expression, slot: p.captures.request.count - 1))
        }
        return .success(CaptureAction(expression: expression, slot: number))
    }

    /// Every `capture … id N` names a declared slot; HAProxy's message otherwise.
    static func checkSlots(_ s: ParserState, _ p: ProxySettings) -> Bool {
        // A backend's rules use the slots of whichever frontend sends it the request.
        guard p.isFrontend else { return false }
        var errors = false
        for rule in p.httpRequestRules {
            if case .capture(let action) = rule.action, action.slot >= p.captures.request.count {
                s.alertRaw("Proxy '\(p.name)': unable to find capture id '\(action.slot)' referenced by http-request capture rule.",
                           at: rule.location ?? p.location)
                errors = true
            }
        }
        for rule in p.httpResponseRules {
            if case .capture(let action) = rule.action, action.slot >= p.captures.response.count {
                s.alertRaw("Proxy '\(p.name)': unable to find capture id '\(action.slot)' referenced by http-response capture rule.",
                           at: rule.location ?? p.location)
                errors = true
            }
        }
        return errors
    }
}
