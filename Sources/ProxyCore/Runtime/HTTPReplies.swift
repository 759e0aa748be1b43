import NIOCore
import Shared

/// The answers of `http-request return`, `deny` and `tarpit`, laid out as HAProxy 2.6
/// writes them: the status line with HAProxy's reason, the `hdr` headers (names in lower
/// case, as its HTTP/1 output writes every name), then `content-length` and
/// `content-type`, then the body.
enum HTTPReplies {
    /// A reply with nothing to evaluate per request: its bytes, made once.
    static func constantBytes(_ reply: HTTPReply, errorPages: ErrorPages) -> ByteBuffer {
        var body: [UInt8] = []
        switch reply.body {
        case .defaultErrorFile:
            return errorPages.streamResponse(reply.status)
        case .none:
            break
        case .errorFile(let bytes):
            return ByteBuffer(bytes: ErrorPages.streamForm(bytes))
        case .file(let bytes): body = bytes
        case .string(let text): body = Array(text.utf8)
        case .logFormat(let format): body = Array(format.raw.utf8)
        }
        let headers = reply.headers.map { (name: Array($0.name.lowercased().utf8), value: Array($0.value.raw.utf8)) }
        return layout(status: reply.status, headers: headers, contentType: reply.contentType, body: body)
    }

    static func layout(status: Int, headers: [(name: [UInt8], value: [UInt8])], contentType: String?,
                       body: [UInt8]) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeString("HTTP/1.1 \(status) \(HTTPReasons.haproxy(status))\r\n")
        for header in headers {
            out.writeBytes(header.name)
            out.writeString(": ")
            out.writeBytes(header.value)
            out.writeString("\r\n")
        }
        out.writeString("content-length: \(body.count)\r\n")
        if let contentType { out.writeString("content-type: \(contentType)\r\n") }
        out.writeString("\r\n")
        out.writeBytes(body)
        return out
    }
}

/// A reply whose body (`lf-string`, `lf-file`) or `hdr` values hold log-format
/// expressions (`%[src]`, `%ci`, `%[var(txn.x)]` …): HAProxy evaluates them for each
/// request, so this is made for each request too.
struct FormattedReply {
    let status: Int
    let contentType: String?
    let headers: [(name: [UInt8], value: ValueTemplate)]
    let body: ValueTemplate?
    let fixedBody: [UInt8]

    /// nil when nothing in `reply` varies (its bytes are then made once), or when its
    /// payload is an error page, which has nothing to evaluate.
    init?(_ reply: HTTPReply, at location: SourceLocation?) throws {
        var body: ValueTemplate?
        var fixedBody: [UInt8] = []
        switch reply.body {
        case .logFormat(let format) where !format.isConstant:
            body = try ValueTemplate(format, at: location)
        case .logFormat(let format): fixedBody = Array(format.raw.utf8)
        case .string(let text): fixedBody = Array(text.utf8)
        case .file(let bytes): fixedBody = bytes
        case .none:
            break
        case .defaultErrorFile, .errorFile:
            return nil  // a page as it is, whatever the `hdr`s (HAProxy ignores them)
        }
        guard body != nil || reply.headers.contains(where: { !$0.value.isConstant }) else { return nil }
        status = reply.status
        contentType = reply.contentType
        headers = try reply.headers.map { (name: Array($0.name.lowercased().utf8), value: try ValueTemplate($0.value, at: location)) }
        self.body = body
        self.fixedBody = fixedBody
    }

    func bytes(_ facts: RequestFacts) -> ByteBuffer {
        HTTPReplies.layout(status: status, headers: headers.map { (name: $0.name, value: $0.value.render(facts)) },
                           contentType: contentType, body: body?.render(facts) ?? fixedBody)
    }
}
