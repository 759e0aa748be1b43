import Foundation
import XCTest

/// `%[sample]` expressions in `log-format` (issue 15) side by side with Debian's HAProxy
/// 2.6: the connection's addresses, the status a server answered, the method, the
/// proxies' and server's names, variables, converters and `%{+Q}` quoting, for answered,
/// denied, bad and empty requests and for a `mode tcp` session. (Fetches that read the
/// request or response, such as `path` or `req.hdr`, are refused at load by both: see
/// Fixtures/agreement/cases.txt.)
final class LogSampleComparisonTests: XCTestCase {
    // dst_port minus the side's own port is 0 on both; src_port differs per connection.
    static let config = """
        defaults
            mode http
            timeout connect 2s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:PORT
            log LOG local0
            log-format "samples src=%[src] dst=%[dst] sp=%[src_port,bool] dp=%[dst_port,sub(PORT)] st=%[status] st1=%[status,add(1)] m=%[method] ml=%[method,lower] mq=%{+Q}[method] fe=%[fe_name] be=%[be_name] srv=%[srv_name] sid=%[srv_id] u=%[var(txn.user)] uq=%{+Q}[var(txn.user)] none=%[var(txn.none)] nq=%{+Q}[var(txn.none)] e=%[str()] fu=%[fe_name,upper] sh=%[src,hex] ST=%ST"
            http-request set-var(txn.user) req.hdr(x-user),lower
            http-request deny if { path /deny }
            use_backend other if { path /other }
            default_backend be
        backend be
            server echo 127.0.0.1:SERVER
        backend other
            server first 127.0.0.1:1 disabled
            server second 127.0.0.1:SERVER

        """

    func testSampleExpressionsLogAsInHAProxy() throws {
        let sides = try SideBySideHTTP(Self.config)
        defer { sides.stop() }
        let (expected, actual) = try sides.exchange([
            "GET /a HTTP/1.1\r\nHost: t\r\nX-User: Bob\r\n\r\n",
            "PATCH /b HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
            "DELETE /other HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /deny HTTP/1.1\r\nHost: t\r\nX-User: Eve\r\n\r\n",
        ])
        XCTAssertEqual(actual, expected)
        let (badExpected, badActual) = try sides.exchange(["GARBAGE\r\n\r\n"])
        XCTAssertEqual(badActual.map { $0.prefix(3) }, badExpected.map { $0.prefix(3) })

        // 6 lines: the 5 requests and the test's own check that the port listens.
        let (haproxyLines, proxydLines) = sides.logs(prefix: "samples ", count: 6)
        XCTAssertEqual(haproxyLines.count, 6, "\(haproxyLines)")
        XCTAssertEqual(proxydLines.sorted(), haproxyLines.sorted())
        // What HAProxy itself logs, so that the comparison above cannot pass on a proxy that
        // writes `-` everywhere.
        let answered = "samples src=127.0.0.1 dst=127.0.0.1 sp=1 dp=0 st=200 st1=201 m=GET ml=get mq=\"GET\" fe=fe be=be srv=echo sid=1 u=bob uq=\"bob\" none=- nq=\"\" e=- fu=FE sh=7F000001 ST=200"
        XCTAssertTrue(haproxyLines.contains(answered), "\(haproxyLines)")
        // PATCH is no method HAProxy knows by number: its text is gone by log time.
        XCTAssertTrue(haproxyLines.contains { $0.contains(" m=- ml=- mq=\"\" ") && $0.contains("ST=200") }, "\(haproxyLines)")
        XCTAssertTrue(haproxyLines.contains { $0.contains("m=DELETE") && $0.contains("be=other srv=second sid=2") }, "\(haproxyLines)")
        // A denied request: no server answered, no status; the backend is the frontend.
        XCTAssertTrue(haproxyLines.contains { $0.contains("st=- st1=- m=GET") && $0.contains("be=fe srv=- sid=- u=eve") && $0.hasSuffix("ST=403") }, "\(haproxyLines)")
        // A bad request has no stream: only the connection and the frontend are known.
        XCTAssertTrue(haproxyLines.contains { $0.contains("st=- st1=- m=- ml=- mq=\"\" fe=fe be=- srv=- sid=-") && $0.hasSuffix("ST=400") }, "\(haproxyLines)")
    }

    /// Stick counters in the log line, read before the stream lets them go, as HAProxy
    /// does: the counter's values, an untracked counter as `-`, `src_*` of a table.
    func testStickCountersLogAsInHAProxy() throws {
        let sides = try SideBySideHTTP("""
            defaults
                mode http
                timeout connect 2s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:PORT
                log LOG local0
                stick-table type ip size 1k expire 1m store http_req_cnt,conn_cur,gpc0
                http-request track-sc0 src if { path_beg /t }
                http-request sc-inc-gpc0(0) if { path /t/inc }
                log-format "stick cnt=%[sc_http_req_cnt(0)] cur=%[sc0_conn_cur] g=%[sc_get_gpc0(0)] src=%[src_http_req_cnt(fe)] t=%[sc_tracked(0)] x=%[sc_http_req_cnt(1)] %HP"
                default_backend be
            backend be
                server echo 127.0.0.1:SERVER

            """)
        defer { sides.stop() }
        // The line of the test's own check that the port listens first, on both sides: its
        // `src_http_req_cnt` is the table's when it is written, which must be before /t.
        _ = sides.logs(prefix: "stick ", count: 1)
        let requests = ["/t", "/t/inc", "/other", "/t"].map { "GET \($0) HTTP/1.1\r\nHost: t\r\n\r\n" }
        let (expected, actual) = try sides.exchange(requests)
        XCTAssertEqual(actual, expected)
        // 5 lines: the 4 requests and the test's own check that the port listens.
        let (haproxyLines, proxydLines) = sides.logs(prefix: "stick ", count: 5)
        XCTAssertEqual(haproxyLines.count, 5, "\(haproxyLines)")
        XCTAssertEqual(proxydLines, haproxyLines)
        XCTAssertTrue(haproxyLines.contains("stick cnt=2 cur=1 g=1 src=2 t=1 x=- /t/inc"), "\(haproxyLines)")
    }

    /// `mode tcp`: no status or method; the backend and server are the session's.
    func testTCPModeSamplesAsInHAProxy() throws {
        try TCPEchoLogSideBySide.assertBothLog("tcpsamples st=- m=- fe=fe be=be srv=echo src=127.0.0.1 dp=0 k=key") { port, logPath, echoPort in
            """
            defaults
                mode tcp
                timeout connect 2s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                log \(logPath) local0
                log-format "tcpsamples st=%[status] m=%[method] fe=%[fe_name] be=%[be_name] srv=%[srv_name] src=%[src] dp=%[dst_port,sub(\(port))] k=%[var(txn.k)]"
                tcp-request content set-var(txn.k) str(KeY),lower
                default_backend be
            backend be
                server echo 127.0.0.1:\(echoPort)

            """
        }
    }
}
