import Foundation
import XCTest

/// `http-request set-path|set-query|set-uri|set-method|set-pathq|replace-path|replace-pathq|
/// replace-uri|replace-header|replace-value` and `http-response replace-header|replace-value`
/// through Debian's HAProxy 2.6 and proxyd on the same config: the request line and headers
/// the server gets (echoed back) and the answer the client gets must be the same.
final class RewriteRulesComparisonTests: XCTestCase {
    func testRequestLineAndHeaderRewritesAsHAProxy() throws {
        let echo = try TestBackend(name: "echo", behaviour: .echo)
        let other = try TestBackend(name: "other", behaviour: .echo)
        func config(port: Int) -> String {
            ProxyFixture.preamble() + #"""
            frontend fe
                bind 127.0.0.1:\#(port)
                http-request replace-path /foo/(.*) /\1 if { path_beg /p1 }
                http-request replace-pathq ^/a(.*) /b\1 if { path_beg /a }
                http-request replace-uri ^/u(.*) /U\1 if { path_beg /u }
                http-request set-pathq /new?x=%[src] if { path_beg /spq }
                http-request set-query %[src] if { path_beg /sq }
                http-request set-path /z%[src] if { path_beg /sp/ }
                http-request set-header X-Seen-Old yes if { path_beg /sp/ }
                http-request set-method PUT if { path /m }
                http-request set-header X-Put yes if METH_PUT
                http-request set-path /m2 if { path /m }
                http-request set-uri /routed if { path /r }
                http-request replace-header X-A (.*)-(.*) \2+\1
                http-request replace-header X-A ^(t.*)$ [\1]
                http-request replace-value X-B ^(a)$ A
                http-response replace-value X-Server ^(e)(cho)$ \2\1
                http-response replace-header X-Server ^c(.*) C\1
                use_backend other if { path /routed }
                default_backend echo
            backend echo
                server echo 127.0.0.1:\#(echo.port)
            backend other
                http-request replace-path ^/(.*) /other/\1
                server other 127.0.0.1:\#(other.port)
            """#
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: config(port: haproxyPort), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(port: proxydPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        let targets = ["/p1/foo/bar?q=1", "/x/foo/bar", "/p1/nomatch", "/abc?y=2", "/u1?k", "/spq/a?b",
                       "/sq?old", "/sq", "/sp/a?q", "/m", "/r?k=v", "/plain"]
        for target in targets {
            let request = "GET \(target) HTTP/1.1\r\nHost: x\r\nX-A: one-two\r\nX-B: a, b, a\r\n\r\n"
            let expected = try exchange(request, port: haproxyPort)
            let actual = try exchange(request, port: proxydPort)
            XCTAssertEqual(actual, expected, "request: \(target)")
        }
        // The rules did something: the server saw the rewritten line, not the client's.
        let sample = try exchange("GET /p1/foo/bar?q=1 HTTP/1.1\r\nHost: x\r\nX-A: one-two\r\n\r\n", port: proxydPort)
        XCTAssertTrue(sample.contains("get /bar?q=1 http/1.1"), sample)
        XCTAssertTrue(sample.contains("x-a: [two+one]"), sample)
        XCTAssertTrue(sample.contains("x-server: Choe"), sample)
    }

    /// One raw request; the answer with header names in lower case and no date, the echoed
    /// request head lower-cased (HAProxy writes header names in lower case).
    private func exchange(_ request: String, port: Int) throws -> String {
        let client = try TCP.Connection(port: port, timeout: 3)
        try client.send(request)
        guard let response = try? client.receiveResponse() else { return "(no response)" }
        let headers = response.headers
            .map { ($0.0.lowercased(), $0.1) }
            .filter { !["date", "connection"].contains($0.0) }
            .map { "\($0.0): \($0.1)" }
        return (["\(response.status)"] + headers + [response.bodyText.lowercased()]).joined(separator: "\n")
    }
}
