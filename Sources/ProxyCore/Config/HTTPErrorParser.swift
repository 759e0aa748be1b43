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
        guard args.first == "status", args.count >= 2 else {
            s.alert(l, "http-error : expects at least a <status> as arguments.\n")
            return
        }
        guard let code = ConfigUnits.integer(args[1]), ErrorPagesParser.codes.contains(code) else {
            s.alert(l, "http-error : Unexpected status code '\(args[1])'")
            return
        }
        switch HTTPRuleParser.reply(s, args, defaultStatus: code, allowsDenyStatus: false) {
        case let .failure(e):
            let message = e.message.first == HTTPRuleParser.misplaced ? "unknown keyword '\(e.message.dropFirst())'" : e.message
            s.alert(l, "http-error : \(message)")
        case let .success(reply):
            for w in s.pendingWarnings { s.warning(l, w) }
            s.pendingWarnings = []
            let bytes = page(reply)
            p.errorFiles[code] = bytes
            p.errorPageDirectives.append(.page(code: code, bytes: bytes))
        }
    }

    /// The response's bytes. HAProxy's own page is not used: no payload means no body.
    static func page(_ reply: HTTPReply) -> [UInt8] {
        if case .errorFile(let bytes) = reply.body { return bytes }
        var body: [UInt8] = []
        switch reply.body {
        case .file(let bytes): body = bytes
        case .string(let text): body = Array(text.utf8)
        case .logFormat(let format): body = Array(format.raw.utf8)
        default: break
        }
        var head = "HTTP/1.1 \(reply.status) \(HTTPReasons.haproxy(reply.status))\r\n"
        for header in reply.headers { head += "\(header.name): \(header.value.raw)\r\n" }
        head += "content-length: \(body.count)\r\n"
        if let type = reply.contentType { head += "content-type: \(type)\r\n" }
        return Array((head + "\r\n").utf8) + body
    }
}
