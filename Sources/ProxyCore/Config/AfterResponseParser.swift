import Shared

/// `http-after-response ACTION … [if|unless COND]`: rules run on every response, the
/// server's and proxyd's own (errors, redirects, `deny`, `return`), after the
/// `http-response` rules (Session/HTTPSession+AfterResponse.swift).
enum AfterResponseParser {
    typealias Failure = HTTPRuleParser.Failure
    static let actions = ["add-header", "allow", "del-header", "replace-header", "replace-value", "set-header", "set-status"]
    static let unsupported = ["capture", "strict-mode", "set-var-fmt", "set-var", "unset-var"]
    /// HAProxy 2.6's list in its message (its order).
    static let haproxyList = "'ot-group', 'add-header', 'allow', 'capture', 'del-header', 'replace-header', 'replace-value', 'set-header', 'set-status', 'strict-mode', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', "

    static let keywords: [String: ProxyKeyword] = [
        "http-after-response": ProxyKeyword(side: .both, inDefaults: true, handler: parse),
    ]

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let action = l[1]
        guard actions.contains(action) else {
            s.abort = true
            let name = String(action.prefix { $0 != "(" })
            if unsupported.contains(name) {
                s.alert(l, "'http-after-response \(action)' is valid in HAProxy but not supported by proxyd yet.")
                return
            }
            var m = "parsing [\(l.location)]: 'http-after-response' expects \(haproxyList)but got '\(action)'"
            m += action.isEmpty ? " (missing argument)." : "."
            if !action.isEmpty, let suggestion = DidYouMean.suggest(action, among: actions + unsupported) {
                m += " Did you mean '\(suggestion)' maybe ?"
            }
            s.alertRaw(m, at: l.location)
            return
        }
        guard let (args, condition) = HTTPRuleParser.ruleArguments(s, p, l, action, context: .httpResponse,
                                                                   directive: "http-after-response") else { return }
        let place: HAProxySamples.Usage = p.isFrontend ? .frontendHTTPResponse : .backendHTTPResponse
        let result: Result<HTTPResponseAction, Failure>
        switch action {
        case "set-header", "add-header":
            result = HTTPRuleParser.header(action, args, place: place).map { name, value in
                action == "set-header" ? .setHeader(name: name, value: value) : .addHeader(name: name, value: value)
            }
        case "del-header":
            result = HTTPRuleParser.deleteHeader(args).map { .deleteHeader(name: $0.0, match: $0.1) }
        case "replace-header", "replace-value":
            result = HTTPRuleParser.replace(action, args, ignoreCase: false, place: place).map { name, re, fmt in
                action == "replace-header" ? .replaceHeader(name: name, regex: re, replacement: fmt)
                    : .replaceValue(name: name, regex: re, replacement: fmt)
            }
        case "set-status":
            result = status(args)
        default:  // allow
            result = args.isEmpty ? .success(.allow) : .failure(Failure(message: "unexpected argument '\(args[0])'"))
        }
        for w in s.pendingWarnings { s.warning(l, w) }
        s.pendingWarnings = []
        switch result {
        case let .success(a):
            p.httpAfterResponseRules.append(HTTPResponseRule(action: a, condition: condition, location: l.location))
        case let .failure(e):
            s.alert(l, "error detected in \(ctx.kind) '\(p.name)' while parsing 'http-after-response \(action)' rule : \(e.message).")
            s.abort = true
        }
    }

    /// `set-status CODE [reason TEXT]`, as for http-response.
    static func status(_ args: [String]) -> Result<HTTPResponseAction, Failure> {
        guard let code = args.first.flatMap(ConfigUnits.integer), (100...999).contains(code) else {
            return .failure(Failure(message: "expects an integer status code between 100 and 999"))
        }
        if args.count == 1 { return .success(.setStatus(code: code, reason: nil)) }
        if args.count == 3 && args[1] == "reason" { return .success(.setStatus(code: code, reason: args[2])) }
        return .failure(Failure(message: "expects <status_code> [reason <str>]"))
    }
}
