import Foundation
import XCTest

/// Variables (issue 15) side by side with Debian's HAProxy 2.6 on the same config: what
/// the client gets, what the server gets (echoed back) and what the log says, for each
/// scope's lifetime (`proc` from `global`, `sess` across kept-alive requests, `txn` per
/// request, `req` gone once the response is processed, `res` still there in the log),
/// `set-var-fmt`, `unset-var`, converters, `var()` in ACLs, and `tcp-request session|content`
/// variables in a `mode http` frontend.
final class VariablesComparisonTests: XCTestCase {
    static let config = """
        global
            nbthread 1
            set-var proc.site str(edge)
            set-var-fmt proc.tag "v-%[var(proc.site)]"
        defaults
            mode http
            timeout connect 2s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:PORT
            log LOG local0
            log-format "vars txn=%[var(txn.user)] req=%[var(req.path)] res=%[var(res.status)] sess=%[var(sess.count)] proc=%[var(proc.tag)] up=%[var(txn.user),upper] n=%[var(txn.n),mul(3),sub(1)] inthex=%[int(10),hex]"
            tcp-request session set-var(sess.client) src
            tcp-request content set-var(txn.host) req.hdr(host),upper
            http-request set-var(txn.user) req.hdr(x-user),lower
            http-request set-var(req.path) path
            http-request set-var(sess.count) var(sess.count,0),add(1)
            http-request set-var(txn.n) req.hdr(x-n)
            http-request set-var(txn.n,ifnotexists) int(7)
            http-request set-var-fmt(txn.greeting) "hello %[var(txn.user)] at %[path]"
            http-request unset-var(txn.user) if { path /forget }
            http-request set-header X-Greeting %[var(txn.greeting)]
            http-request set-header X-Count %[var(sess.count)]
            http-request set-header X-Tag %[var(proc.tag)]
            http-request set-header X-TCP "%[var(sess.client)] %[var(txn.host)]"
            http-request set-var(txn.list) req.hdr(x-list)
            stick-table type ip size 1k expire 30s store http_req_cnt
            http-request track-sc0 src
            http-request set-var(txn.reqs) sc_http_req_cnt(0),mul(10)
            http-request set-header X-Reqs %[var(txn.reqs)]
            http-request set-var(txn.srchex) src,hex
            http-request set-header X-Fields "%[var(txn.list),field(2,:)]|%[var(txn.list),field(-1,:)]|%[var(txn.list),field(2,:,2)]|%[var(txn.list),field(9,:)]|%[var(txn.list),word(2,:)]|%[var(txn.list),word(1,:,0)]|%[var(txn.list),word(2,:,2)]|%[var(txn.list),field(-2,:,2)]"
            http-request set-header X-Trim "%[var(txn.list),ltrim(:a),rtrim(:)]|%[req.hdr(x-enc),url_dec]|%[req.hdr(x-enc2),url_dec]|%[var(txn.list),base64]|%[var(txn.list),length,iif(long,short)]"
            http-request set-header X-Cookie "%[req.cook(sid)]|%[base]|%[ssl_fc]|%[var(txn.list),strcmp(txn.list)]|%[var(txn.srchex)]|%[src,lower]|%[src_port,length]"
            http-request set-header X-N "%[var(txn.n),add(txn.n)]"
            acl is_admin var(txn.user) -m str admin
            acl many var(sess.count) -m int gt 3
            acl odd var(sess.count),odd -m bool
            http-request set-header X-Admin yes if is_admin
            http-request set-header X-Odd yes if odd
            http-request deny deny_status 429 if many
            http-response set-var(res.status) status
            http-response set-header X-Req-Path "%[var(req.path)]"
            http-response set-header X-User "%[var(txn.user)]"
            http-response set-header X-Status "%[var(res.status)]"
            default_backend be
        backend be
            server echo 127.0.0.1:SERVER

        """

    func testVariablesBehaveAsInHAProxy() throws {
        let sides = try SideBySideHTTP(Self.config)
        defer { sides.stop() }
        // One kept-alive connection: sess.count counts its requests (the 4th is denied),
        // txn variables start over with each request.
        let requests = [
            "GET /a?x=1 HTTP/1.1\r\nHost: t\r\nX-User: Admin\r\nX-N: 5\r\nX-List: a::b:c:\r\nX-Enc: a%20b+c%2\r\nX-Enc2: a%20b+c%2F\r\nCookie: x=1; sid=s3cr3t\r\n\r\n",
            "GET /forget HTTP/1.1\r\nHost: t\r\nX-User: Bob\r\n\r\n",
            "GET /c HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /d HTTP/1.1\r\nHost: t\r\nX-User: eve\r\n\r\n",
        ]
        let (expected, actual) = try sides.exchange(requests)
        XCTAssertEqual(expected.count, 4)
        for (e, a) in zip(expected, actual) { XCTAssertEqual(a, e) }
        // The checks above would pass on a proxy that ignores variables only if HAProxy did.
        XCTAssertTrue(expected[0].contains("x-greeting: hello admin at /a"), expected[0])
        XCTAssertTrue(expected[3].hasPrefix("429"), expected[3])
        XCTAssertTrue(expected[0].contains("x-tcp: 127.0.0.1 t"), expected[0])  // (echoed in lower case)
        XCTAssertTrue(expected[1].contains("x-reqs: 20"), expected[1])  // sc_http_req_cnt(0),mul(10)
        // A new connection: a new session, its count starts again.
        let (expectedAgain, actualAgain) = try sides.exchange(["GET /e HTTP/1.1\r\nHost: t\r\n\r\n"])
        XCTAssertEqual(actualAgain, expectedAgain)
        XCTAssertTrue(expectedAgain[0].contains("x-count: 1"), expectedAgain[0])

        // 6 lines: the 5 requests and the test's own check that the port listens.
        let (haproxyLines, proxydLines) = sides.logs(prefix: "vars ", count: 6)
        XCTAssertEqual(haproxyLines.count, 6, "\(haproxyLines)")
        XCTAssertEqual(proxydLines, haproxyLines)
    }

    /// `mode tcp`: `tcp-request session|content set-var` run once per connection; the log
    /// line reads them.
    func testTCPModeVariablesAsInHAProxy() throws {
        try TCPEchoLogSideBySide.assertBothLog("tcpvars client=127.0.0.1 k=key ok=9 none=-") { port, logPath, echoPort in
            """
            defaults
                mode tcp
                timeout connect 2s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                log \(logPath) local0
                log-format "tcpvars client=%[var(sess.client)] k=%[var(txn.k)] ok=%[var(txn.ok)] none=%[var(txn.none)]"
                tcp-request session set-var(sess.client) src
                tcp-request content set-var(txn.k) str(KeY),lower
                tcp-request content set-var(txn.ok) var(sess.client),length if { src 127.0.0.1 }
                default_backend be
            backend be
                server echo 127.0.0.1:\(echoPort)

            """
        }
    }
}
