/// The hostile requests of the differential suite (issue 14), by family. Each goes through
/// HAProxy 2.6 and proxyd on a new connection; `SmugglingTests` compares the answers and
/// what reached the server.
struct HostileCase {
    var family: String
    var name: String
    var request: String
    /// How many requests the client sends (pipelined): the server may see no more.
    var requests = 1
    /// HAProxy forwards this one and proxyd refuses it (400), for this reason. Every
    /// other case must get HAProxy's status.
    var proxydStricter: String? = nil
    /// Neither proxy can answer yet (the message is unfinished): the client stops
    /// waiting after a short time and both statuses are "none".
    var unfinished = false

    init(_ family: String, _ name: String, _ request: String, requests: Int = 1,
         proxydStricter: String? = nil, unfinished: Bool = false) {
        self.family = family
        self.name = name
        self.request = request
        self.requests = requests
        self.proxydStricter = proxydStricter
        self.unfinished = unfinished
    }
}

private let post = "POST / HTTP/1.1\r\nHost: a\r\n"
private let chunkedPost = post + "Transfer-Encoding: chunked\r\n"
private let hello = "5\r\nhello\r\n0\r\n\r\n"
/// Why proxyd refuses what HAProxy normalises (the reasons of `proxydStricter`).
private let ctlInValue = "a control byte in a field value (RFC 9110 §5.5): HAProxy forwards it, proxyd refuses"
private let chunkAsItCame = "proxyd forwards chunk framing as it came (HAProxy re-encodes it), so it refuses what it cannot forward as is"
private let lineAsItCame = "RFC 9112 §3: one SP between the parts; HAProxy rebuilds the request line, proxyd forwards it as it came"

extension HostileCase {
    static let all: [HostileCase] = framing + contentLength + lineEnds + chunked + requestLine + sizes + pipelining

    /// CL.TE, TE.CL and TE.TE: which of two framings wins, and odd spellings of TE.
    static let framing: [HostileCase] = [
        HostileCase("framing", "CL.TE: chunked wins, the rest is a next request",
                    post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"),
        HostileCase("framing", "TE.CL: chunked wins over a shorter CL",
                    chunkedPost + "Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"),
        HostileCase("framing", "TE.TE: chunked then identity",
                    chunkedPost + "Transfer-Encoding: identity\r\n\r\n" + hello),
        HostileCase("framing", "TE twice, chunked both times", chunkedPost + "Transfer-Encoding: chunked\r\n\r\n" + hello),
        HostileCase("framing", "space before the colon of TE",
                    post + "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello"),
        HostileCase("framing", "xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n" + hello),
        HostileCase("framing", "chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n" + hello),
        HostileCase("framing", "identity, chunked", post + "Transfer-Encoding: identity, chunked\r\n\r\n" + hello),
        HostileCase("framing", "identity alone", post + "Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"),
        HostileCase("framing", "empty coding before chunked", post + "Transfer-Encoding:,chunked\r\n\r\n" + hello),
        HostileCase("framing", "trailing comma after chunked", post + "Transfer-Encoding: chunked,\r\n\r\n" + hello),
        HostileCase("framing", "CHUNKED in capitals", post + "Transfer-Encoding: CHUNKED\r\n\r\n" + hello),
        HostileCase("framing", "tab before chunked", post + "Transfer-Encoding:\tchunked\r\n\r\n" + hello),
        HostileCase("framing", "quoted chunked", post + "Transfer-Encoding: \"chunked\"\r\n\r\n" + hello),
        HostileCase("framing", "chunked with a parameter", post + "Transfer-Encoding: chunked;q=1\r\n\r\n" + hello),
        HostileCase("framing", "TE on HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + hello,
                    proxydStricter: "RFC 9112 §6.1: the framing is faulty; proxyd does not guess it"),
        HostileCase("framing", "TE folded onto the next line", post + "Transfer-Encoding:\r\n chunked\r\n\r\n" + hello),
        HostileCase("framing", "TE hidden in a fold of another header",
                    post + "X-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"),
        HostileCase("framing", "Transfer_Encoding with an underscore",
                    post + "Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"),
        HostileCase("framing", "NUL after chunked", post + "Transfer-Encoding: chunked\u{0}\r\n\r\n" + hello),
        HostileCase("framing", "TE without a colon", post + "Transfer-Encoding chunked\r\n\r\n" + hello),
        HostileCase("framing", "vertical tab before chunked", post + "Transfer-Encoding:\u{0B}chunked\r\n\r\n" + hello),
        HostileCase("framing", "TE and CL 0 on HTTP/1.0",
                    "POST / HTTP/1.0\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" + hello,
                    proxydStricter: "RFC 9112 §6.1: the framing is faulty; proxyd does not guess it"),
        HostileCase("framing", "a chunked body on GET", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + hello),
        HostileCase("framing", "Connection naming Content-Length",
                    post + "Connection: Content-Length\r\nContent-Length: 5\r\n\r\nhello"),
        HostileCase("framing", "h2c upgrade without a body", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
        HostileCase("framing", "h2c upgrade with a body",
                    post + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 5\r\n\r\nhello"),
    ]

    /// Content-Length spellings.
    static let contentLength: [HostileCase] = [
        HostileCase("content-length", "two equal CL", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        HostileCase("content-length", "two unequal CL", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        HostileCase("content-length", "+5", post + "Content-Length: +5\r\n\r\nhello"),
        HostileCase("content-length", "0x5", post + "Content-Length: 0x5\r\n\r\nhello"),
        HostileCase("content-length", "5, 5 in one field", post + "Content-Length: 5, 5\r\n\r\nhello"),
        HostileCase("content-length", "5, 6 in one field", post + "Content-Length: 5, 6\r\n\r\nhello!"),
        HostileCase("content-length", "empty", post + "Content-Length:\r\n\r\nhello"),
        HostileCase("content-length", "-1", post + "Content-Length: -1\r\n\r\nhello"),
        HostileCase("content-length", "past 64 bits", post + "Content-Length: 99999999999999999999999\r\n\r\nhello"),
        HostileCase("content-length", "leading zeros", post + "Content-Length: 005\r\n\r\nhello"),
        HostileCase("content-length", "space before the colon", post + "Content-Length : 5\r\n\r\nhello"),
        HostileCase("content-length", "5 with a letter", post + "Content-Length: 5a\r\n\r\nhello"),
        HostileCase("content-length", "CL on GET", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
        HostileCase("content-length", "CL 0 then a smuggled head",
                    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n", requests: 2),
    ]

    /// Line ends, control bytes and header syntax.
    static let lineEnds: [HostileCase] = [
        HostileCase("line ends", "bare LF inside the head", post + "X-A: b\nContent-Length: 5\r\n\r\nhello"),
        HostileCase("line ends", "bare LF everywhere", "GET / HTTP/1.1\nHost: a\nX-A: b\n\n"),
        HostileCase("line ends", "bare CR inside a value", post + "X-A: b\rContent-Length: 5\r\n\r\nhello"),
        HostileCase("line ends", "CR CR LF", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\r\n\r\n"),
        HostileCase("line ends", "bare CR ending the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n"),
        HostileCase("line ends", "NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{0}c\r\n\r\n", proxydStricter: ctlInValue),
        HostileCase("line ends", "NUL in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\u{0}A: b\r\n\r\n"),
        HostileCase("line ends", "DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{7F}c\r\n\r\n", proxydStricter: ctlInValue),
        HostileCase("line ends", "DEL in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\u{7F}A: b\r\n\r\n"),
        HostileCase("line ends", "escape byte in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\u{1B}c\r\n\r\n", proxydStricter: ctlInValue),
        HostileCase("line ends", "obs-fold of a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"),
        HostileCase("line ends", "obs-fold with a tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"),
        HostileCase("line ends", "fold before any header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
        HostileCase("line ends", "obs-text in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\u{E9}\r\n\r\n"),
        HostileCase("line ends", "tab in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\tc\r\n\r\n"),
        HostileCase("line ends", "space in a name", "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n"),
        HostileCase("line ends", "empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"),
        HostileCase("line ends", "line without a colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A b\r\n\r\n"),
        HostileCase("line ends", "empty lines before the request", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("line ends", "Host twice", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        HostileCase("line ends", "Host twice with one value", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
                    proxydStricter: "RFC 9112 §3.2: MUST 400; HAProxy merges equal repeats, proxyd forwards lines as they came"),
        HostileCase("line ends", "a space inside Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        HostileCase("line ends", "non-ASCII header name", "GET / HTTP/1.1\r\nHost: a\r\nX-\u{E9}: b\r\n\r\n"),
        HostileCase("line ends", "empty Transfer-Encoding after chunked",
                    chunkedPost + "Transfer-Encoding:\r\n\r\n" + hello),
        HostileCase("line ends", "no Host on HTTP/1.1", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n"),
        HostileCase("line ends", "empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"),
        HostileCase("line ends", "Expect 100-continue with its body",
                    post + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"),
    ]

    /// Chunk sizes, extensions, data and trailers.
    static let chunked: [HostileCase] = [
        HostileCase("chunked", "chunk size with a trailing space", chunkedPost + "\r\n5 \r\nhello\r\n0\r\n\r\n",
                    proxydStricter: chunkAsItCame),
        HostileCase("chunked", "size past 64 bits", chunkedPost + "\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "size 0x5", chunkedPost + "\r\n0x5\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "negative size", chunkedPost + "\r\n-5\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "space before the size", chunkedPost + "\r\n 5\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "size in capitals", chunkedPost + "\r\nA\r\n0123456789\r\n0\r\n\r\n"),
        HostileCase("chunked", "size with leading zeros", chunkedPost + "\r\n0005\r\nhello\r\n0000\r\n\r\n"),
        HostileCase("chunked", "extension on the last chunk", chunkedPost + "\r\n5\r\nhello\r\n0;a=b\r\n\r\n"),
        HostileCase("chunked", "size of 2^63 - 1", chunkedPost + "\r\n7fffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "empty extension", chunkedPost + "\r\n5;\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "extension", chunkedPost + "\r\n5;a=b\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "extension with a quoted value", chunkedPost + "\r\n5;a=\"b c\"\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "extension with a control byte", chunkedPost + "\r\n5;a=\u{01}\r\nhello\r\n0\r\n\r\n",
                    proxydStricter: chunkAsItCame),
        HostileCase("chunked", "extension ended by a bare LF", chunkedPost + "\r\n5;a\nhello\r\n0\r\n\r\n",
                    proxydStricter: chunkAsItCame),
        HostileCase("chunked", "data longer than its size", chunkedPost + "\r\n3\r\nhello\r\n0\r\n\r\n"),
        HostileCase("chunked", "no CRLF after the data", chunkedPost + "\r\n5\r\nhello0\r\n\r\n"),
        HostileCase("chunked", "bare LF line ends", chunkedPost + "\r\n5\nhello\n0\n\n", proxydStricter: chunkAsItCame),
        HostileCase("chunked", "no final CRLF", chunkedPost + "\r\n5\r\nhello\r\n0\r\n", unfinished: true),
        HostileCase("chunked", "a trailer", chunkedPost + "\r\n5\r\nhello\r\n0\r\nX-T: v\r\n\r\n"),
        HostileCase("chunked", "a trailer with a bare LF", chunkedPost + "\r\n5\r\nhello\r\n0\r\nX-T: v\n\r\n",
                    proxydStricter: chunkAsItCame),
        HostileCase("chunked", "a trailer with a NUL", chunkedPost + "\r\n5\r\nhello\r\n0\r\nX-T: \u{0}\r\n\r\n",
                    proxydStricter: chunkAsItCame),
        HostileCase("chunked", "a Content-Length trailer", chunkedPost + "\r\n5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n"),
        HostileCase("chunked", "empty size line", chunkedPost + "\r\n\r\nhello\r\n0\r\n\r\n"),
    ]

    /// Request lines: separators, methods, target forms, versions.
    static let requestLine: [HostileCase] = [
        HostileCase("request line", "two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", proxydStricter: lineAsItCame),
        HostileCase("request line", "tabs as separators", "GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n", proxydStricter: lineAsItCame),
        HostileCase("request line", "lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "absolute-form with userinfo", "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "absolute-form with another Host", "GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "absolute-form without Host", "GET http://a/x HTTP/1.1\r\n\r\n"),
        HostileCase("request line", "absolute-form with a port, Host without",
                    "GET http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "absolute-form without a port, Host with http's",
                    "GET http://a/ HTTP/1.1\r\nHost: a:80\r\n\r\n"),
        HostileCase("request line", "https absolute-form with 443, Host without",
                    "GET https://a:443/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "absolute-form with an empty port",
                    "GET http://a:/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "http absolute-form with 443, Host without",
                    "GET http://a:443/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "absolute-form with another port, Host without",
                    "GET http://a:8080/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "space inside the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "NUL in the target", "GET /a\u{0}b HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "target starting with //", "GET //evil/x HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "dot segments", "GET /a/../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "non-token byte in the method", "G\u{E9}T / HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "GET *", "GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "CONNECT host:port", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
        HostileCase("request line", "authority-form on GET", "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "fragment in the target", "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "non-ASCII byte in the target", "GET /caf\u{E9} HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "HTTP/0.9", "GET /\r\n\r\n"),
        HostileCase("request line", "HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "HTTP/0.1", "GET / HTTP/0.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "lowercase http/1.1", "GET / http/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "a word after the version", "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n"),
        HostileCase("request line", "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                    proxydStricter: "HAProxy speaks HTTP/2 after the preface; proxyd speaks HTTP/1 only and refuses it"),
    ]

    /// Lines and heads against tune.bufsize (16 KiB) and tune.http.maxhdr (101).
    static let sizes: [HostileCase] = [
        HostileCase("sizes", "8 KiB header value",
                    "GET / HTTP/1.1\r\nHost: a\r\nX-A: \(String(repeating: "a", count: 8192))\r\n\r\n"),
        HostileCase("sizes", "16 KiB header value",
                    "GET / HTTP/1.1\r\nHost: a\r\nX-A: \(String(repeating: "a", count: 16384))\r\n\r\n"),
        HostileCase("sizes", "20 KiB target", "GET /\(String(repeating: "a", count: 20480)) HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("sizes", "9 KiB method", "\(String(repeating: "G", count: 9216)) / HTTP/1.1\r\nHost: a\r\n\r\n"),
        HostileCase("sizes", "99 headers", "GET / HTTP/1.1\r\nHost: a\r\n" + headerLines(98) + "\r\n"),
        HostileCase("sizes", "101 headers", "GET / HTTP/1.1\r\nHost: a\r\n" + headerLines(100) + "\r\n"),
        HostileCase("sizes", "200 headers", "GET / HTTP/1.1\r\nHost: a\r\n" + headerLines(199) + "\r\n"),
    ]

    /// A second request after the first one's body, on the same connection.
    static let pipelining: [HostileCase] = [
        HostileCase("pipelining", "after a CL body", post + "Content-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
                    requests: 2),
        HostileCase("pipelining", "after a chunked body",
                    chunkedPost + "\r\n" + hello + "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n", requests: 2),
        HostileCase("pipelining", "a hostile second request",
                    "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n" + hello,
                    requests: 2),
        HostileCase("pipelining", "after Connection: close",
                    "GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", requests: 2),
        HostileCase("pipelining", "HTTP/1.0 keep-alive after a body",
                    "POST /1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.0\r\nHost: a\r\n\r\n",
                    requests: 2),
        HostileCase("pipelining", "a second request inside a chunk",
                    chunkedPost + "\r\n1c\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\n"),
    ]

    static func headerLines(_ count: Int) -> String {
        (0..<count).map { "X-\($0): v\r\n" }.joined()
    }
}
