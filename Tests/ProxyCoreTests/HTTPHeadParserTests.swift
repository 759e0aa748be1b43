import XCTest
import NIOCore
@testable import ProxyCore

/// Runs `body` with the bytes of `text` as an UnsafeRawBufferPointer.
func withBytes<R>(_ text: String, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let a = Array(text.utf8)
    return try a.withUnsafeBytes { try body($0) }
}

func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try bytes.withUnsafeBytes { try body($0) }
}

final class HTTPRequestParserTests: XCTestCase {
    func parse(_ text: String, _ parser: inout HTTPRequestParser) -> HTTPParseStatus {
        withBytes(text) { parser.parse($0) }
    }

    func status(_ text: String) -> HTTPParseStatus {
        var p = HTTPRequestParser()
        return parse(text, &p)
    }

    func testSimpleGet() {
        let text = "GET /index.html?a=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"
        var p = HTTPRequestParser()
        withBytes(text) { b in
            XCTAssertEqual(p.parse(b), .complete)
            let h = p.head
            XCTAssertEqual(h.method, .get)
            XCTAssertEqual(h.methodSpan.string(in: b), "GET")
            XCTAssertEqual(h.targetSpan.string(in: b), "/index.html?a=1")
            XCTAssertEqual(h.versionSpan.string(in: b), "HTTP/1.1")
            XCTAssertEqual(h.version, .http11)
            XCTAssertEqual(h.headLength, text.utf8.count)
            XCTAssertEqual(h.framing, HTTPBodyFraming.none)
            XCTAssertTrue(h.keepAlive)
            XCTAssertFalse(h.expectContinue)
            XCTAssertEqual(h.host?.string(in: b), "example.com")
            XCTAssertEqual(p.headers.count, 2)
            XCTAssertEqual(p.headers[1].name.string(in: b), "User-Agent")
            XCTAssertEqual(p.headers[1].value.string(in: b), "t")
            XCTAssertEqual(h.headersStart, "GET /index.html?a=1 HTTP/1.1\r\n".utf8.count)
            XCTAssertEqual(h.headersEnd, text.utf8.count - 2)
            XCTAssertEqual(p.headers[0].lineStart, h.headersStart)
            XCTAssertEqual(p.headers[0].lineEnd(in: b), p.headers[1].lineStart)
            XCTAssertEqual(p.headers[1].lineEnd(in: b), h.headersEnd)
        }
    }

    func testMethods() {
        let cases: [(String, HTTPMethod)] = [
            ("GET", .get), ("HEAD", .head), ("POST", .post), ("PUT", .put), ("DELETE", .delete),
            ("OPTIONS", .options), ("CONNECT", .connect), ("TRACE", .trace), ("PATCH", .patch),
            ("PROPFIND", .other), ("get", .other), ("GOT", .other), ("POSTS", .other), ("M-SEARCH", .other),
        ]
        for (m, expected) in cases {
            var p = HTTPRequestParser()
            XCTAssertEqual(parse("\(m) / HTTP/1.1\r\nX: a\r\n\r\n", &p), .complete, m)
            XCTAssertEqual(p.head.method, expected, m)
        }
    }

    func testValueWhitespaceTrimmedAndEmptyValue() {
        let text = "GET / HTTP/1.1\r\nX-A: \t padded value \t \r\nX-B:\r\nX-C:   \r\n\r\n"
        var p = HTTPRequestParser()
        withBytes(text) { b in
            XCTAssertEqual(p.parse(b), .complete)
            XCTAssertEqual(p.headers.map { $0.value.string(in: b) }, ["padded value", "", ""])
        }
    }

    func testHTTP10DefaultsToClose() {
        var p = HTTPRequestParser()
        XCTAssertEqual(parse("GET / HTTP/1.0\r\n\r\n", &p), .complete)
        XCTAssertEqual(p.head.version, .http10)
        XCTAssertFalse(p.head.keepAlive)
        XCTAssertEqual(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &p), .complete)
        XCTAssertTrue(p.head.keepAlive)
        XCTAssertEqual(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &p), .complete)
        XCTAssertFalse(p.head.keepAlive)
    }

    func testConnectionTokensAcrossHeaders() {
        var p = HTTPRequestParser()
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nConnection: foo, UPGRADE\r\nConnection:  ,close ,\r\nUpgrade: websocket\r\n\r\n", &p), .complete)
        XCTAssertTrue(p.head.connectionUpgrade)
        XCTAssertTrue(p.head.connectionClose)
        XCTAssertFalse(p.head.connectionKeepAlive)
        XCTAssertFalse(p.head.keepAlive)
        XCTAssertTrue(p.head.hasUpgrade)
        // "closed" is not "close", "keep-alive2" not "keep-alive"
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nConnection: closed, keep-alive2\r\n\r\n", &p), .complete)
        XCTAssertFalse(p.head.connectionClose)
        XCTAssertFalse(p.head.connectionKeepAlive)
        XCTAssertTrue(p.head.keepAlive)
    }

    func testExpectContinue() {
        var p = HTTPRequestParser()
        XCTAssertEqual(parse("PUT /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n", &p), .complete)
        XCTAssertTrue(p.head.expectContinue)
        XCTAssertEqual(p.head.framing, .contentLength(10))
        XCTAssertEqual(parse("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n", &p), .complete)
        XCTAssertFalse(p.head.expectContinue, "ignored in HTTP/1.0")
        XCTAssertEqual(parse("PUT /x HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", &p), .complete)
        XCTAssertFalse(p.head.expectContinue)
    }

    func testFraming() {
        var p = HTTPRequestParser()
        XCTAssertEqual(parse("POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n", &p), .complete)
        XCTAssertEqual(p.head.framing, .contentLength(0))
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", &p), .complete)
        XCTAssertEqual(p.head.framing, .contentLength(UInt64.max))
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &p), .complete)
        XCTAssertEqual(p.head.framing, .chunked)
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n", &p), .complete)
        XCTAssertEqual(p.head.framing, .chunked)
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked , \r\n\r\n", &p), .complete)
        XCTAssertEqual(p.head.framing, .chunked, "a trailing comma starts no coding (HAProxy 2.6)")
        // identical duplicates, in one field or several
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n", &p), .complete)
        XCTAssertEqual(p.head.framing, .contentLength(5))
    }

    /// Codings before `chunked` are a 422 and a broken list a 400, as HAProxy 2.6 answers
    /// (issue 14); other targets than origin-, absolute-form and `*` are a 400.
    func testTransferCodingsAndTargetsAsHAProxy() {
        let te = { (v: String) in self.status("POST / HTTP/1.1\r\nTransfer-Encoding: \(v)\r\n\r\n") }
        XCTAssertEqual(te("identity, chunked"), .error(.unsupportedTransferCoding))
        XCTAssertEqual(te("gzip, chunked"), .error(.unsupportedTransferCoding))
        XCTAssertEqual(te(",chunked"), .error(.unsupportedTransferCoding))
        XCTAssertEqual(status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
                       .error(.unsupportedTransferCoding))
        XCTAssertEqual(te("chunked, chunked"), .error(.invalidTransferEncoding))
        XCTAssertEqual(te("chunked,,"), .error(.invalidTransferEncoding))
        XCTAssertEqual(te("chunked;q=1"), .error(.invalidTransferEncoding))
        XCTAssertEqual(te("identity"), .error(.invalidTransferEncoding))
        XCTAssertEqual(status("GET * HTTP/1.1\r\n\r\n"), .complete)
        XCTAssertEqual(status("GET http://a/x HTTP/1.1\r\n\r\n"), .complete)
        XCTAssertEqual(status("CONNECT a:443 HTTP/1.1\r\n\r\n"), .complete)
        XCTAssertEqual(status("GET foo HTTP/1.1\r\n\r\n"), .error(.invalidTarget))
    }

    /// Versions are read as HAProxy 2.6 reads them, and a head whose bytes say something
    /// else than what was understood (bare LF, `HTTP/2.0`) is flagged for normalising.
    func testVersionsAndNormalisingFlag() {
        var p = HTTPRequestParser()
        for (version, understood, exact) in [("HTTP/1.1", HTTPVersion.http11, true), ("HTTP/1.0", .http10, true),
                                             ("HTTP/1.2", .http11, false), ("HTTP/2.0", .http11, false),
                                             ("HTTP/0.1", .http10, false), ("HTTP/0.9", .http10, false)] {
            XCTAssertEqual(parse("GET / \(version)\r\nHost: a\r\n\r\n", &p), .complete, version)
            XCTAssertEqual(p.head.version, understood, version)
            XCTAssertEqual(p.head.needsNormalising, !exact, version)
        }
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nX-A: b\nContent-Length: 5\r\n\r\n", &p), .complete)
        XCTAssertTrue(p.head.needsNormalising)
        XCTAssertEqual(parse("GET / HTTP/1.1\nHost: a\r\n\r\n", &p), .complete)
        XCTAssertTrue(p.head.needsNormalising)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nHost: a\r\n\n", &p), .complete)
        XCTAssertTrue(p.head.needsNormalising)
    }

    /// The HTTP/2 preface is no HTTP/1.1 request (HAProxy speaks HTTP/2 after it; proxyd
    /// does not, and must not forward it as `PRI * HTTP/1.1`). Other 2.0 lines are 1.1.
    func testHTTP2PrefaceRefused() {
        XCTAssertEqual(status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), .error(.invalidRequestLine))
        XCTAssertEqual(status("PRI * HTTP/1.1\r\nHost: a\r\n\r\n"), .complete)
        XCTAssertEqual(status("PUT * HTTP/2.0\r\nHost: a\r\n\r\n"), .complete)
    }

    /// Content-Length said more than once goes to the server as one field.
    func testRepeatedContentLengthFound() {
        for (text, repeated) in [("Content-Length: 5", false), ("Content-Length: 5, 5", true),
                                 ("Content-Length: 5\r\ncontent-length: 5", true), ("X-A: 1, 2", false)] {
            var p = HTTPRequestParser()
            let bytes = Array("POST / HTTP/1.1\r\nHost: a\r\n\(text)\r\n\r\n".utf8)
            XCTAssertEqual(withBytes(bytes) { p.parse($0) }, .complete, text)
            XCTAssertEqual(withBytes(bytes) { isContentLengthRepeated(p.headers, in: $0) }, repeated, text)
        }
    }

    func testUpgradeToH2CFound() {
        for (text, h2c) in [("Upgrade: h2c", true), ("Upgrade: websocket, H2C", true), ("Upgrade: websocket", false),
                            ("X-Upgrade: h2c", false), ("Upgrade: h2", false)] {
            var p = HTTPRequestParser()
            let bytes = Array("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\(text)\r\n\r\n".utf8)
            XCTAssertEqual(withBytes(bytes) { p.parse($0) }, .complete, text)
            XCTAssertEqual(withBytes(bytes) { isUpgradeToH2C(p.headers, in: $0) }, h2c, text)
        }
    }

    /// The rebuilt head is the one that was understood: CRLF only, version 1.0/1.1,
    /// what follows the head untouched.
    func testNormaliseRequestHead() {
        var p = HTTPRequestParser()
        var buffer = ByteBuffer(string: "\nPOST /x HTTP/2.0\r\nX-A: b\nContent-Length: 5\r\n\nhello\nGET")
        XCTAssertEqual(buffer.withUnsafeReadableBytes { p.parse($0) }, .complete)
        normaliseRequestHead(p.head, in: &buffer)
        XCTAssertEqual(String(buffer: buffer),
                       "POST /x HTTP/1.1\r\nX-A: b\r\nContent-Length: 5\r\n\r\nhello\nGET")
        XCTAssertEqual(buffer.withUnsafeReadableBytes { p.parse($0) }, .complete)
        XCTAssertFalse(p.head.needsNormalising)
        XCTAssertEqual(p.head.framing, .contentLength(5))
        buffer = ByteBuffer(string: "GET / HTTP/0.1\nHost: a\n\n")
        XCTAssertEqual(buffer.withUnsafeReadableBytes { p.parse($0) }, .complete)
        normaliseRequestHead(p.head, in: &buffer)
        XCTAssertEqual(String(buffer: buffer), "GET / HTTP/1.0\r\nHost: a\r\n\r\n")
    }

    func testLeadingEmptyLinesAndBareLF() {
        var p = HTTPRequestParser()
        let text = "\r\n\nGET / HTTP/1.1\nHost: h\n\n"
        withBytes(text) { b in
            XCTAssertEqual(p.parse(b), .complete)
            XCTAssertEqual(p.head.start, 3)
            XCTAssertEqual(p.head.methodSpan.string(in: b), "GET")
            XCTAssertEqual(p.head.host?.string(in: b), "h")
            XCTAssertEqual(p.head.headLength, text.utf8.count)
            XCTAssertEqual(p.head.headersEnd, text.utf8.count - 1)
            XCTAssertEqual(p.headers[0].lineEnd(in: b), p.head.headersEnd)
        }
        withBytes("GET / HTTP/1.1\r\n\r\n") { b in
            XCTAssertEqual(p.parse(b), .complete)
            XCTAssertEqual(p.head.headersStart, 16)
            XCTAssertEqual(p.head.headersEnd, 16)
        }
        withBytes("GET / HTTP/1.1\n\n") { b in
            XCTAssertEqual(p.parse(b), .complete)
            XCTAssertEqual(p.head.headersEnd, 15)
        }
        withBytes("GET / HTTP/1.1\r\nX-A: 1  \r\nY: 2\n\r\n") { b in
            XCTAssertEqual(p.parse(b), .complete)
            XCTAssertEqual(p.headers[0].lineEnd(in: b), p.headers[1].lineStart)
            XCTAssertEqual(p.headers[1].lineEnd(in: b), p.head.headersEnd)
            XCTAssertEqual(p.head.headersEnd, b.count - 2)
        }
    }

    func testPipelined() {
        let first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        let second = "POST /b HTTP/1.1\r\nHost: y\r\nContent-Length: 3\r\n\r\nabc"
        let third = "HEAD /c HTTP/1.1\r\nHost: z\r\n\r\n"
        let all = Array((first + second + third).utf8)
        var p = HTTPRequestParser()
        var offset = 0
        var targets: [String] = []
        while offset < all.count {
            let st: HTTPParseStatus = all.withUnsafeBytes { raw in
                let slice = UnsafeRawBufferPointer(rebasing: raw[offset...])
                let st = p.parse(slice)
                if st == .complete { targets.append(p.head.targetSpan.string(in: slice)) }
                return st
            }
            XCTAssertEqual(st, .complete)
            guard st == .complete else { return }
            offset += p.head.headLength
            if case .contentLength(let n) = p.head.framing { offset += Int(n) }
        }
        XCTAssertEqual(targets, ["/a", "/b", "/c"])
        XCTAssertEqual(offset, all.count)
    }

    func testEveryPrefixIsIncomplete() {
        let texts = [
            "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\nX-Long: aaaaaaaa\r\n\r\n",
            "\r\nPOST / HTTP/1.0\nContent-Length: 10\n\n",
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            var p = HTTPRequestParser()
            for k in 0..<bytes.count {
                let st = bytes.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[0..<k])) }
                XCTAssertEqual(st, .incomplete, "prefix \(k) of \(text.debugDescription)")
            }
            XCTAssertEqual(withBytes(bytes) { p.parse($0) }, .complete)
        }
    }

    func testHostileRequests() {
        let cases: [(String, HTTPParseError)] = [
            // framing ambiguities
            ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", .conflictingContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", .conflictingContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 5a\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", .invalidTransferEncoding),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .invalidTransferEncoding),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", .invalidTransferEncoding),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .invalidTransferEncoding),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", .invalidTransferEncoding),
            ("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", .invalidTransferEncoding),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncodingInHTTP10),
            // header syntax
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", .whitespaceBeforeColon),
            ("GET / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n", .whitespaceBeforeColon),
            ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", .obsoleteLineFolding),
            ("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", .bareCR),
            ("GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n", .bareCR),
            ("GET / HTTP/1.1\rHost: a\r\n\r\n", .bareCR),
            ("GET / HTTP/1.1\r\nX-A: a\r\n\r\r\n", .bareCR),
            ("GET / HTTP/1.1\r\nX-A: a\u{0}b\r\n\r\n", .invalidHeaderValue),
            ("GET / HTTP/1.1\r\nX-A: a\u{1}b\r\n\r\n", .invalidHeaderValue),
            ("GET / HTTP/1.1\r\nX-A: a\u{7f}\r\n\r\n", .invalidHeaderValue),
            ("GET / HTTP/1.1\r\nX\u{0}A: a\r\n\r\n", .invalidHeaderName),
            ("GET / HTTP/1.1\r\nX(A): a\r\n\r\n", .invalidHeaderName),
            ("GET / HTTP/1.1\r\nX\"A: a\r\n\r\n", .invalidHeaderName),
            ("GET / HTTP/1.1\r\n: a\r\n\r\n", .invalidHeaderName),
            ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", .invalidHeaderName),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", .duplicateHost),
            ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", .duplicateHost),
            ("GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", .hostAuthorityMismatch),
            ("GET http://u:p@a.example:81/x HTTP/1.1\r\nHost: a.example\r\n\r\n", .hostAuthorityMismatch),
            ("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n", .hostAuthorityMismatch),
            // request line
            ("G(T / HTTP/1.1\r\n\r\n", .invalidMethod),
            ("GE\u{0}T / HTTP/1.1\r\n\r\n", .invalidMethod),
            (" GET / HTTP/1.1\r\n\r\n", .invalidRequestLine),
            ("GET  / HTTP/1.1\r\n\r\n", .invalidTarget),
            ("GET / HTTP/1.1 \r\n\r\n", .invalidVersion),
            ("GET /  HTTP/1.1\r\n\r\n", .invalidVersion),
            ("GET\t/ HTTP/1.1\r\n\r\n", .invalidRequestLine),
            ("GET /\tHTTP/1.1\r\n\r\n", .invalidRequestLine),
            ("GET /\r\n\r\n", .invalidRequestLine),
            ("GET\r\n\r\n", .invalidRequestLine),
            ("GET / \r\n\r\n", .invalidVersion),
            ("GET /a\u{0}b HTTP/1.1\r\n\r\n", .invalidTarget),
            ("GET /\u{e9} HTTP/1.1\r\n\r\n", .invalidTarget),
            ("GET / HTTP/1.x\r\n\r\n", .invalidVersion),
            ("GET / http/1.1\r\n\r\n", .invalidVersion),
            ("GET / HTTP/11\r\n\r\n", .invalidVersion),
            ("GET / HTTP/1.10\r\n\r\n", .invalidVersion),
            ("GET example.com:80 HTTP/1.1\r\n\r\n", .invalidTarget),
            ("GET http:foo HTTP/1.1\r\n\r\n", .invalidTarget),
            ("GET /a#frag HTTP/1.1\r\n\r\n", .invalidTarget),
            ("GET http://h/a?b#c HTTP/1.1\r\n\r\n", .invalidTarget),
            ("\r\rGET / HTTP/1.1\r\n\r\n", .bareCR),
            ("\u{16}\u{3}\u{1}\u{2}\u{0}", .invalidMethod),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(status(text), .error(expected), text.debugDescription)
        }
        XCTAssertEqual(HTTPParseError.unsupportedVersion.requestStatusCode, 505)
        XCTAssertEqual(HTTPParseError.unsupportedTransferCoding.requestStatusCode, 422)
        XCTAssertEqual(HTTPParseError.bareCR.requestStatusCode, 400)
    }

    /// Both framings: chunked wins (the session drops the Content-Length), as HAProxy.
    func testTransferEncodingWinsOverContentLength() {
        for text in ["POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"] {
            var p = HTTPRequestParser()
            XCTAssertEqual(parse(text, &p), .complete, text.debugDescription)
            XCTAssertEqual(p.head.framing, .chunked)
            XCTAssertTrue(p.head.hasContentLength && p.head.hasTransferEncoding)
        }
        var r = HTTPResponseParser()
        withBytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") { b in
            XCTAssertEqual(r.parse(b, requestMethod: .get), .complete)
            XCTAssertEqual(r.head.framing, .chunked)
        }
    }

    /// obs-fold: the parser says where the folded line starts; once the line break
    /// before it is made spaces (as HAProxy does), the head parses, the value joined.
    func testFoldedLinesAreFoundAndUndone() {
        for (text, value) in [("GET / HTTP/1.1\r\nX-A: a\r\n b\r\nHost: h\r\n\r\n", "a   b"),
                              ("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n  c\r\n\r\n", "a  \tb    c"),
                              ("GET / HTTP/1.1\nX-A: a\n b\n\n", "a  b")] {
            var buffer = ByteBuffer(string: text)
            var p = HTTPRequestParser()
            var status = buffer.withUnsafeReadableBytes { p.parse($0) }
            var folds = 0
            while case .error(.obsoleteLineFolding) = status, let line = p.foldedLineStart {
                XCTAssertTrue(unfoldLine(at: line, in: &buffer))
                folds += 1
                status = buffer.withUnsafeReadableBytes { p.parse($0) }
            }
            XCTAssertEqual(status, .complete, text.debugDescription)
            XCTAssertGreaterThan(folds, 0)
            XCTAssertEqual(p.head.headLength, text.utf8.count, "nothing moves")
            buffer.withUnsafeReadableBytes { b in
                XCTAssertEqual(p.firstHeader("x-a", in: b)?.value.string(in: b), value)
            }
        }
        var p = HTTPRequestParser()
        XCTAssertEqual(parse("GET / HTTP/1.1\r\n Host: a\r\n\r\n", &p), .error(.obsoleteLineFolding))
        XCTAssertNil(p.foldedLineStart, "nothing above to join: a 400")
    }

    func testAuthorityMatchingHost() {
        let ok = [
            "GET http://A.example/x?y HTTP/1.1\r\nHost: a.EXAMPLE\r\n\r\n",
            "GET http://u:p@a.example:81/x HTTP/1.1\r\nHost: a.example:81\r\n\r\n",
            "GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET http://a.example/x HTTP/1.1\r\n\r\n",
            "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: anything\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", // no Host in 1.1: forwarded, as HAProxy does
            // The scheme's default port, or an empty one, on either side (HAProxy 2.6).
            "GET http://a.example:80/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET http://a.example/ HTTP/1.1\r\nHost: a.example:80\r\n\r\n",
            "GET HTTPS://a.example:443/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET http://a.example:/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]\r\n\r\n",
        ]
        for text in ok { XCTAssertEqual(status(text), .complete, text.debugDescription) }
        let mismatched = [
            "GET http://a.example:443/ HTTP/1.1\r\nHost: a.example\r\n\r\n",  // not http's port
            "GET https://a.example:80/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET http://a.example:8080/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET http://a.example:080/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "CONNECT a.example:80 HTTP/1.1\r\nHost: a.example\r\n\r\n",      // no scheme, no default
        ]
        for text in mismatched {
            XCTAssertEqual(status(text), .error(.hostAuthorityMismatch), text.debugDescription)
        }
    }

    func testTooManyHeaders() {
        func request(_ count: Int) -> String {
            var s = "GET / HTTP/1.1\r\n"
            for k in 0..<count { s += "X-\(k): v\r\n" }
            return s + "\r\n"
        }
        var p = HTTPRequestParser()
        // tune.http.maxhdr 101 counts the request line: 100 fields pass, 101 do not
        XCTAssertEqual(parse(request(100), &p), .complete)
        XCTAssertEqual(p.headers.count, 100)
        XCTAssertEqual(parse(request(101), &p), .error(.tooManyHeaders))
        var small = HTTPRequestParser(maxHeaders: 4)
        XCTAssertEqual(parse(request(3), &small), .complete)
        XCTAssertEqual(parse(request(4), &small), .error(.tooManyHeaders))
        var r = HTTPResponseParser()
        XCTAssertEqual(withBytes("HTTP/1.1 200 OK\r\n" + String(request(101).dropFirst(16))) { r.parse($0, requestMethod: .get) },
                       .error(.tooManyHeaders))
    }

    func testHeadTooLarge() {
        XCTAssertEqual(HTTPRequestParser.defaultMaxHeadLength, 15360)
        let line = "GET / HTTP/1.1\r\n"
        let pad = "X: " + String(repeating: "a", count: 100) + "\r\n"
        // exactly at the limit passes
        var p = HTTPRequestParser(maxHeadLength: 200)
        var text = line + pad
        text += "Y: " + String(repeating: "b", count: 200 - text.utf8.count - 7) + "\r\n\r\n"
        XCTAssertEqual(text.utf8.count, 200)
        XCTAssertEqual(parse(text, &p), .complete)
        // one more byte does not
        let over = line + pad + "Y: " + String(repeating: "b", count: 200 - (line + pad).utf8.count - 6) + "\r\n\r\n"
        XCTAssertEqual(over.utf8.count, 201)
        XCTAssertEqual(parse(over, &p), .error(.headTooLarge))
        // an incomplete head that already fills the limit is an error, not .incomplete
        XCTAssertEqual(parse(String(over.utf8.prefix(200))!, &p), .error(.headTooLarge))
        XCTAssertEqual(parse(String(over.utf8.prefix(199))!, &p), .incomplete)
        // the default limit: a 20 KB header
        var d = HTTPRequestParser()
        XCTAssertEqual(parse(line + "X: " + String(repeating: "a", count: 20000) + "\r\n\r\n", &d), .error(.headTooLarge))
        // a complete small head followed by lots of body bytes is fine
        let body = String(repeating: "z", count: 40000)
        XCTAssertEqual(parse(line + "Content-Length: 40000\r\n\r\n" + body, &d), .complete)
    }

    func testFindHeaderAndHelpers() {
        let text = "GET /p/q?x=1&name=val&&e=&name=second HTTP/1.1\r\nHost: A\r\nX-Forwarded-For: 1.2.3.4\r\nx-forwarded-for: 5\r\n\r\n"
        var p = HTTPRequestParser()
        withBytes(text) { b in
            XCTAssertEqual(p.parse(b), .complete)
            XCTAssertEqual(p.firstHeader("x-forwarded-for", in: b)?.value.string(in: b), "1.2.3.4")
            XCTAssertNil(p.firstHeader("x-forwarded", in: b))
            let name: [UInt8] = Array("host".utf8)
            name.withUnsafeBufferPointer { n in
                XCTAssertEqual(p.firstHeader(lowercased: n, in: b)?.value.string(in: b), "A")
            }
            let t = p.head.targetSpan
            XCTAssertEqual(HTTPTarget.path(of: t, in: b).string(in: b), "/p/q")
            XCTAssertEqual(HTTPTarget.query(of: t, in: b)?.string(in: b), "x=1&name=val&&e=&name=second")
            XCTAssertEqual(HTTPTarget.urlParameter("name", of: t, in: b)?.string(in: b), "val")
            XCTAssertEqual(HTTPTarget.urlParameter("x", of: t, in: b)?.string(in: b), "1")
            XCTAssertEqual(HTTPTarget.urlParameter("e", of: t, in: b)?.string(in: b), "")
            XCTAssertNil(HTTPTarget.urlParameter("nam", of: t, in: b))
            XCTAssertNil(HTTPTarget.urlParameter("Name", of: t, in: b))
            XCTAssertNil(HTTPTarget.urlParameter("frag", of: t, in: b))
            XCTAssertTrue(p.head.methodSpan.equals("GET", in: b))
            XCTAssertFalse(p.head.methodSpan.equals("get", in: b))
            XCTAssertTrue(p.headers[1].name.equalsCaseInsensitive("x-forwarded-for", in: b))
            XCTAssertEqual(p.headers[1].name.lowercaseHash(in: b), p.headers[2].name.lowercaseHash(in: b))
            XCTAssertEqual(p.headers[1].name.lowercaseHash(in: b), asciiLowercaseHash("x-forwarded-for"))
            XCTAssertNotEqual(p.headers[0].name.lowercaseHash(in: b), p.headers[1].name.lowercaseHash(in: b))
        }
        withBytes("GET /nopath HTTP/1.1\r\n\r\n") { b in
            XCTAssertEqual(p.parse(b), .complete)
            XCTAssertEqual(HTTPTarget.path(of: p.head.targetSpan, in: b).string(in: b), "/nopath")
            XCTAssertNil(HTTPTarget.query(of: p.head.targetSpan, in: b))
            XCTAssertNil(HTTPTarget.urlParameter("a", of: p.head.targetSpan, in: b))
        }
    }

    func testTokenTableMatchesDefinition() {
        let special = Set("!#$%&'*+-.^_`|~".utf8)
        for c in 0...255 {
            let b = UInt8(c)
            let expected = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || special.contains(b)
            XCTAssertEqual(isTokenChar(b), expected, "byte \(c)")
        }
    }
}

final class HTTPResponseParserTests: XCTestCase {
    func parse(_ text: String, _ method: HTTPMethod = .get, _ parser: inout HTTPResponseParser) -> HTTPParseStatus {
        withBytes(text) { parser.parse($0, requestMethod: method) }
    }

    func testSimpleResponse() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nhello world!"
        var p = HTTPResponseParser()
        withBytes(text) { b in
            XCTAssertEqual(p.parse(b, requestMethod: .get), .complete)
            XCTAssertEqual(p.head.status, 200)
            XCTAssertEqual(p.head.reasonSpan.string(in: b), "OK")
            XCTAssertEqual(p.head.statusSpan.string(in: b), "200")
            XCTAssertEqual(p.head.framing, .contentLength(12))
            XCTAssertTrue(p.head.keepAlive)
            XCTAssertEqual(p.head.headLength, text.utf8.count - 12)
            XCTAssertEqual(p.head.headersStart, 17)
            XCTAssertEqual(p.head.headersEnd, text.utf8.count - 14)
            XCTAssertEqual(p.headers.count, 2)
        }
    }

    func testFramingRules() {
        var p = HTTPResponseParser()
        let cl = "Content-Length: 5\r\n"
        // no body
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\n\(cl)\r\n", .head, &p), .complete)
        XCTAssertEqual(p.head.framing, HTTPBodyFraming.none)
        XCTAssertTrue(p.head.keepAlive)
        XCTAssertEqual(parse("HTTP/1.1 204 No Content\r\n\r\n", .get, &p), .complete)
        XCTAssertEqual(p.head.framing, HTTPBodyFraming.none)
        XCTAssertEqual(parse("HTTP/1.1 304 Not Modified\r\n\(cl)\r\n", .get, &p), .complete)
        XCTAssertEqual(p.head.framing, HTTPBodyFraming.none)
        XCTAssertEqual(parse("HTTP/1.1 100 Continue\r\n\r\n", .post, &p), .complete)
        XCTAssertEqual(p.head.framing, HTTPBodyFraming.none)
        XCTAssertTrue(p.head.isInterim)
        // tunnels
        XCTAssertEqual(parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", .get, &p), .complete)
        XCTAssertEqual(p.head.framing, .tunnel)
        XCTAssertFalse(p.head.isInterim)
        XCTAssertTrue(p.head.connectionUpgrade)
        XCTAssertTrue(p.head.hasUpgrade)
        XCTAssertEqual(parse("HTTP/1.1 200 Connection established\r\n\r\n", .connect, &p), .complete)
        XCTAssertEqual(p.head.framing, .tunnel)
        XCTAssertEqual(parse("HTTP/1.1 407 Auth\r\n\(cl)\r\n", .connect, &p), .complete)
        XCTAssertEqual(p.head.framing, .contentLength(5))
        // lengths
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .get, &p), .complete)
        XCTAssertEqual(p.head.framing, .chunked)
        XCTAssertTrue(p.head.keepAlive)
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .get, &p), .complete)
        XCTAssertEqual(p.head.framing, .untilClose)
        XCTAssertFalse(p.head.keepAlive)
        XCTAssertEqual(parse("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .get, &p), .complete)
        XCTAssertEqual(p.head.framing, .untilClose)
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\n\r\n", .get, &p), .complete)
        XCTAssertEqual(p.head.framing, .untilClose)
        XCTAssertFalse(p.head.keepAlive)
        // keep-alive rules
        XCTAssertEqual(parse("HTTP/1.0 200 OK\r\n\(cl)\r\n", .get, &p), .complete)
        XCTAssertFalse(p.head.keepAlive)
        XCTAssertEqual(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\(cl)\r\n", .get, &p), .complete)
        XCTAssertTrue(p.head.keepAlive)
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\(cl)\r\n", .get, &p), .complete)
        XCTAssertFalse(p.head.keepAlive)
    }

    func testStatusLineVariants() {
        var p = HTTPResponseParser()
        withBytes("HTTP/1.1 404\r\n\r\n") { b in
            XCTAssertEqual(p.parse(b, requestMethod: .get), .complete)
            XCTAssertEqual(p.head.status, 404)
            XCTAssertEqual(p.head.reasonSpan.count, 0)
        }
        withBytes("HTTP/1.1 503 \r\n\r\n") { b in
            XCTAssertEqual(p.parse(b, requestMethod: .get), .complete)
            XCTAssertEqual(p.head.status, 503)
        }
        withBytes("HTTP/1.1 200 Very\tFine OK\r\n\r\n") { b in
            XCTAssertEqual(p.parse(b, requestMethod: .get), .complete)
            XCTAssertEqual(p.head.reasonSpan.string(in: b), "Very\tFine OK")
        }
    }

    func testHostileResponses() {
        let cases: [(String, HTTPParseError)] = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n", .conflictingContentLength),
            ("HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n", .invalidContentLength),
            ("HTTP/1.1 20 OK\r\n\r\n", .invalidStatusLine),
            ("HTTP/1.1 2000 OK\r\n\r\n", .invalidStatusLine),
            ("HTTP/1.1 099 OK\r\n\r\n", .invalidStatusLine),
            ("HTTP/1.1  200 OK\r\n\r\n", .invalidStatusLine),
            ("HTTP/1.1 2x0 OK\r\n\r\n", .invalidStatusLine),
            ("HTTP/1.1\r\n\r\n", .invalidStatusLine),
            ("HTTX/1.1 200 OK\r\n\r\n", .invalidStatusLine),
            ("HTTP/1.1x 200 OK\r\n\r\n", .invalidStatusLine),
            ("HTTP/3.0 200 OK\r\n\r\n", .unsupportedVersion),
            ("HTTP/1.1 200 O\u{0}K\r\n\r\n", .invalidHeaderValue),
            ("HTTP/1.1 200 OK\rX: y\r\n\r\n", .bareCR),
            ("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", .whitespaceBeforeColon),
            ("HTTP/1.1 200 OK\r\n z\r\n\r\n", .obsoleteLineFolding),
            ("HTTP/1.1 200 OK\r\nX: \u{1b}[31m\r\n\r\n", .invalidHeaderValue),
        ]
        for (text, expected) in cases {
            var p = HTTPResponseParser()
            XCTAssertEqual(parse(text, .get, &p), .error(expected), text.debugDescription)
        }
    }

    func testEveryPrefixIsIncomplete() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\n"
        let bytes = Array(text.utf8)
        var p = HTTPResponseParser()
        for k in 0..<bytes.count {
            let st = bytes.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[0..<k]), requestMethod: .get) }
            XCTAssertEqual(st, .incomplete, "prefix \(k)")
        }
        XCTAssertEqual(withBytes(bytes) { p.parse($0, requestMethod: .get) }, .complete)
    }

    func testPipelinedResponsesWithInterim() {
        let all = Array(("HTTP/1.1 100 Continue\r\n\r\n" + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                         + "HTTP/1.1 204 No Content\r\n\r\n").utf8)
        var p = HTTPResponseParser()
        var offset = 0
        var statuses: [Int] = []
        while offset < all.count {
            let st = all.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[offset...]), requestMethod: .post) }
            XCTAssertEqual(st, .complete)
            guard st == .complete else { return }
            statuses.append(p.head.status)
            offset += p.head.headLength
            if case .contentLength(let n) = p.head.framing { offset += Int(n) }
        }
        XCTAssertEqual(statuses, [100, 200, 204])
    }
}
