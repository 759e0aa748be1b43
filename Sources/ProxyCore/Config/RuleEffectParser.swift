import Shared

/// `set-log-level`, `silent-drop` (http-request and http-response), `set-src`,
/// `set-src-port` (http-request), hooked into HTTPRuleParser (Model/LogLevelAndSource.swift).
enum RuleEffectParser {
    typealias Failure = HTTPRuleParser.Failure
    static let requestActions = ["set-log-level", "silent-drop", "set-src", "set-src-port", "set-dst", "set-dst-port"]
    static let responseActions = ["set-log-level", "silent-drop"]

    static func parseRequest(_ action: String, _ args: [String]) -> Result<HTTPRequestAction, Failure> {
        switch action {
        case "set-log-level": return logLevel(args).map { .setLogLevel($0) }
        case "silent-drop": return .success(.silentDrop)  // arity 0: the parser checked
        case "set-dst", "set-dst-port": return destination(action, args).map { .setDestination($0) }
        default:
            return source(action == "set-src" ? .address : .port, args).map { .setSource($0) }
        }
    }

    static func parseResponse(_ action: String, _ args: [String]) -> Result<HTTPResponseAction, Failure> {
        action == "silent-drop" ? .success(.silentDrop) : logLevel(args).map { .setLogLevel($0) }
    }

    static func logLevel(_ args: [String]) -> Result<LogLevelChoice, Failure> {
        guard args.count == 1, let choice = LogLevelChoice(name: args[0]) else {
            return .failure(Failure(message: "expects exactly 1 argument (log level name or 'silent')"))
        }
        return .success(choice)
    }

    /// `set-dst EXPR` / `set-dst-port EXPR`: any expression proxyd evaluates; HAProxy's
    /// messages for a missing or unknown fetch or converter.
    static func destination(_ action: String, _ args: [String]) -> Result<DestinationRewrite, Failure> {
        switch SampleExpression.parse(args.joined(separator: " ")) {
        case .success(let expression):
            return .success(DestinationRewrite(target: action == "set-dst" ? .address : .port, expression: expression))
        case .failure(let failure):
            return .failure(Failure(message: failure.message))
        }
    }

    /// The samples proxyd reads for `set-src`: HAProxy's messages for a missing or unknown
    /// fetch, and a clear refusal for a valid expression proxyd cannot evaluate yet.
    static func source(_ target: SourceRewrite.Target, _ args: [String]) -> Result<SourceRewrite, Failure> {
        let expression = args.joined(separator: " ")
        let fetch = String(expression.prefix { $0 != "(" && $0 != "," })
        guard !fetch.isEmpty else { return .failure(Failure(message: "missing fetch method")) }
        guard HAProxySamples.fetches[fetch] != nil else {
            return .failure(Failure(message: "unknown fetch method '\(fetch)'"))
        }
        let name = target == .address ? "set-src" : "set-src-port"
        let unsupported = Failure(message: "'\(name) \(expression)' is valid in HAProxy but proxyd reads only hdr(), req.hdr(), ipv4(), ipv6(), int() and str() here yet")
        guard args.count == 1, expression.hasSuffix(")"), !expression.contains(","),
              let open = expression.firstIndex(of: "(") else {
            if args.count == 1, ["hdr", "req.hdr"].contains(fetch), expression.hasSuffix(")"),
               let open = expression.firstIndex(of: "("), expression.filter({ $0 == "," }).count == 1 {
                // `hdr(NAME,OCC)`
                let inner = expression[expression.index(after: open)..<expression.index(before: expression.endIndex)]
                let parts = inner.split(separator: ",", omittingEmptySubsequences: false)
                guard parts.count == 2, let occurrence = Int(parts[1]) else { return .failure(unsupported) }
                return .success(SourceRewrite(target: target, sample: .header(name: String(parts[0]), occurrence: occurrence),
                                              expression: expression))
            }
            return .failure(unsupported)
        }
        let argument = String(expression[expression.index(after: open)..<expression.index(before: expression.endIndex)])
        switch fetch {
        case "hdr", "req.hdr":
            return .success(SourceRewrite(target: target, sample: .header(name: argument, occurrence: -1), expression: expression))
        case "ipv4", "ipv6", "int", "str":
            return .success(SourceRewrite(target: target, sample: .constant(argument), expression: expression))
        default:
            return .failure(unsupported)
        }
    }
}
