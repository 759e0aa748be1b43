import Shared

/// `http-request replace-path|replace-pathq|replace-uri REGEX FMT` and `set-pathq FMT`
/// (Model/RequestLineEdit.swift), hooked into HTTPRuleParser.parseRequest.
enum RequestLineRuleParser {
    static let actions = ["replace-path", "replace-pathq", "replace-uri", "set-pathq"]

    static func parse(_ action: String, _ args: [String], place: HAProxySamples.Usage)
        -> Result<HTTPRequestAction, HTTPRuleParser.Failure> {
        typealias Failure = HTTPRuleParser.Failure
        if action == "set-pathq" {
            guard args.count == 1 else { return .failure(Failure(message: "expects exactly 1 argument <format>")) }
            return HTTPRuleParser.format(args[0], place: place).map { .editRequestLine(.setPathWithQuery($0)) }
        }
        let part: RequestLineEdit.Part
        switch action {
        case "replace-path": part = .path
        case "replace-pathq": part = .pathWithQuery
        default: part = .uri
        }
        // HAProxy 2.6's words for a wrong count.
        guard args.count == 2 else { return .failure(Failure(message: "expects exactly 2 arguments <match-regex> and <replace-format>")) }
        switch CompiledRegex.compile(args[0]) {
        case let .failure(e):
            return .failure(Failure(message: "failed to parse the regex : regex '\(args[0])' is invalid (error=\(e.message))"))
        case let .success(regex):
            return HTTPRuleParser.format(args[1], place: place).map {
                .editRequestLine(.replace(part, regex: regex, replacement: $0))
            }
        }
    }
}
