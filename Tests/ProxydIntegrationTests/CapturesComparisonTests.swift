import Foundation
import XCTest

/// Captures (issue 15) side by side with Debian's HAProxy 2.6 on the same config: header
/// captures cut to their length, `declare capture` slots filled by `http-request` and
/// `http-response capture`, the `capture.req.hdr()`/`capture.res.hdr()` fetches, and the
/// log's `%hr`, `%hrl`, `%hs`, `%hsl` (with `option httplog`'s `{a|b}` too), and `capture
/// cookie` (`%CC`; the echo server sets no cookie, so `%CS` stays `-`).
final class CapturesComparisonTests: XCTestCase {
    static let config = """
        global
            nbthread 1
        defaults
            mode http
            timeout connect 2s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:PORT
            log LOG local0
            log-format "caps cc=%CC cs=%CS qc=%{+Q}CC hr=%hr hrl=%hrl hs=%hs hsl=%hsl q=%{+Q}hr c0=%[capture.req.hdr(0)] c2=%[capture.req.hdr(2)] r1=%[capture.res.hdr(1)]"
            capture request header Host len 5
            capture cookie SESS len 12
            capture request header X-Multi len 20
            declare capture request len 8
            declare capture response len 4
            capture response header Content-Type len 6
            http-request capture path id 2
            http-request capture req.hdr(x-extra),upper len 3
            http-request set-header X-Seen "%[capture.req.hdr(0)]/%[capture.req.hdr(3)]"
            http-response capture res.hdr(x-none) id 0
            default_backend be
        backend be
            server echo 127.0.0.1:SERVER
        frontend plain
            bind 127.0.0.1:PLAIN
            log LOG local0
            option httplog
            capture request header User-Agent len 10
            capture request header Host len 30
            capture response header Content-Type len 30
            default_backend be

        """

    func testCapturesBehaveAsInHAProxy() throws {
        let plainHAProxy = TCP.freePort(), plainProxyd = TCP.freePort()
        var template = Self.config
        // The second frontend's port differs per side: a placeholder each proxy fills in.
        template = template.replacingOccurrences(of: "PLAIN", with: "PORT_PLAIN")
        let sides = try SideBySideHTTP(template, extraPorts: ["PORT_PLAIN": (plainHAProxy, plainProxyd)])
        defer { sides.stop() }
        let requests = [
            "GET /some/path HTTP/1.1\r\nHost: abcdefgh\r\nX-Multi: a\r\nX-Multi: b, c|{d}\r\nX-Extra: xyz123\r\n\r\n",
            "GET /two HTTP/1.1\r\nHost: h\r\nCookie: a=1; SESSX=12345678901234567; SESS=2\r\n\r\n",
        ]
        let (expected, actual) = try sides.exchange(requests)
        XCTAssertEqual(actual, expected)
        XCTAssertTrue(expected[0].contains("x-seen: abcde/xyz"), expected[0])  // (echoed in lower case)
        let (haproxyLines, proxydLines) = sides.logs(prefix: "caps ", count: 3)
        // The 2 requests, and the port check: a connection with no request logs no capture.
        XCTAssertEqual(haproxyLines.count, 3, "\(haproxyLines)")
        XCTAssertEqual(proxydLines, haproxyLines)
        XCTAssertTrue(haproxyLines.contains { $0.hasPrefix("caps cc=SESSX=123456 cs=- qc=\"SESSX=123456\"") }, "\(haproxyLines)")

        // `option httplog`: `{…}` after the termination state and queues.
        let request = "GET /p HTTP/1.1\r\nHost: plain.example\r\nUser-Agent: curl/7.88.1-test\r\n\r\n"
        for (port, log) in [(plainHAProxy, sides.haproxyLog), (plainProxyd, sides.proxydLog)] {
            let client = try TCP.Connection(port: port, timeout: 3)
            try client.send(request)
            _ = try client.receiveResponse()
            XCTAssertNotNil(log.wait(for: "GET /p HTTP/1.1"), "no httplog line")
        }
        func captured(_ log: LogReceiver) -> String? {
            log.messages.first { $0.contains("GET /p HTTP/1.1") }.flatMap { line in
                line.range(of: " {").map { String(line[$0.lowerBound...]) }
            }
        }
        XCTAssertEqual(captured(sides.proxydLog), captured(sides.haproxyLog))
        XCTAssertEqual(captured(sides.haproxyLog), " {curl/7.88.|plain.example} {} \"GET /p HTTP/1.1\"")
    }
}
