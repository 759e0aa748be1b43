import Shared

/// `http-error status CODE [content-type T] [errorfile F|file F|string S|lf-string S] [hdr N V]*`:
/// the page proxyd answers for CODE, as HAProxy 2.6 builds it (no payload: an empty body);
/// it takes its place among the `errorfile` lines (Config/ErrorPagesParser.swift).
enum HTTPErrorParser {
    static let keywords: [String: ProxyKeyword] = [
        "http-error": ProxyKeyword(side: .both, inDefaults: true, handler: parse),
    ]

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let args = Array(l.words.dropFirst())
        guard args.first == "status" else {
            s.alert(l, "http-error : expects at least a <status> as arguments.\n")
            return
        }
        // Its expressions may use what a request or a response gives (HAProxy's ARGC_HERR).
        let anywhere = HAProxySamples.Usage(rawValue: (1 << 18) - 1)
        let result = HTTPReplyParser.parse(s, args, defaultStatus: 0, place: anywhere)
        for w in s.pendingWarnings { s.warning(l, w) }
        s.pendingWarnings = []
        switch result {
        case let .failure(e) where e.message.first == HTTPRuleParser.misplaced:
            s.alert(l, "http-error : unknown keyword '\(e.message.dropFirst())'.")
        case let .failure(e):
            s.alert(l, "http-error : \(e.message)")
        case let .success(reply):
            guard ErrorPagesParser.codes.contains(reply.status) else {
                s.alert(l, "http-error: status code '\(reply.status)' not handled.")
                return
            }
            let bytes = page(reply)
            p.errorFiles[reply.status] = bytes
            p.errorPageDirectives.append(.page(code: reply.status, bytes: bytes))
        }
    }

    /// The response's bytes, laid out as `http-request return` lays them out: no payload
    /// means no body, `default-errorfiles` HAProxy's own page. (An `lf-string` is sent as
    /// written: evaluating it per error is not done yet.)
    static func page(_ reply: HTTPReply) -> [UInt8] {
        Array(HTTPReplies.constantBytes(reply, errorPages: ErrorPages()).readableBytesView)
    }
}
