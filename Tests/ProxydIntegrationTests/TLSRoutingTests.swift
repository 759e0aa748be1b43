import Foundation
import XCTest

/// Routing by TLS facts: `req.ssl_sni` in `mode tcp` without terminating TLS
/// (`tcp-request inspect-delay`), and `ssl_fc` / `ssl_fc_sni` after termination.
final class TLSRoutingTests: TLSTestCase {
    private func nginx(_ name: String) throws -> TLSNginx {
        try TLSNginx(name: name, certificate: try m.path("nginx.crt"), key: try m.path("nginx.key"), clientCA: nil)
    }

    func testPassthroughRoutesByClientHelloSNI() throws {
        let a = try nginx("web-a"), b = try nginx("web-b"), fallback = try nginx("web-default")
        defer { a.stop(); b.stop(); fallback.stop() }
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "tcp") + """
            frontend tls-in
                bind 127.0.0.1:\(port)
                tcp-request inspect-delay 5s
                tcp-request content reject if { req.ssl_sni -i evil.test }
                use_backend be-a if { req.ssl_sni -i a.test }
                use_backend be-b if { req_ssl_sni -m end .b.test }
                default_backend be-default
            backend be-a
                server a 127.0.0.1:\(a.port)
            backend be-b
                server b 127.0.0.1:\(b.port)
            backend be-default
                server d 127.0.0.1:\(fallback.port)
            """, waitForPorts: [port])
        defer { proxy.stop() }
        func get(_ host: String?) throws -> ToolRun {
            guard let host else { return try Tool.curlInsecure(["https://127.0.0.1:\(port)/"]) }
            return try Tool.curlInsecure(["--resolve", "\(host):\(port):127.0.0.1", "https://\(host):\(port)/"])
        }
        XCTAssertTrue(try get("a.test").stdout.hasPrefix("web-a client=[] verify=NONE sni=[a.test]"))
        XCTAssertTrue(try get("A.TEST").stdout.hasPrefix("web-a "), "-i")
        XCTAssertTrue(try get("x.b.test").stdout.hasPrefix("web-b "))
        XCTAssertTrue(try get("c.test").stdout.hasPrefix("web-default "))
        XCTAssertTrue(try get(nil).stdout.hasPrefix("web-default "), "no SNI: default backend")
        let evil = try get("evil.test")
        XCTAssertNotEqual(evil.status, 0, "rejected: \(evil.all)")
        // A ClientHello split in small pieces is put together before routing.
        let r = try Tool.sClient(port: port, ["-servername", "a.test", "-max_send_frag", "512"],
                                 input: "GET / HTTP/1.0\r\n\r\n", hold: 1)
        XCTAssertTrue(r.stdout.contains("web-a "), r.all)
    }

    /// HAProxy's usual gate for passthrough: only a ClientHello gets in
    /// (`req.ssl_hello_type 1`); plain bytes are refused at once, not after the delay.
    func testOnlyClientHellosPassTheHelloTypeGate() throws {
        let web = try nginx("web")
        defer { web.stop() }
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "tcp") + """
            frontend tls-in
                bind 127.0.0.1:\(port)
                tcp-request inspect-delay 5s
                acl clienthello req.ssl_hello_type 1
                tcp-request content accept if clienthello
                tcp-request content reject
                default_backend web
            backend web
                server w 127.0.0.1:\(web.port)
            """, waitForPorts: [port])
        defer { proxy.stop() }
        XCTAssertTrue(try Tool.curlInsecure(["https://127.0.0.1:\(port)/"]).stdout.hasPrefix("web "))
        let started = Date()
        let plain = try TCP.Connection(port: port)
        try plain.send("GET / HTTP/1.0\r\n\r\n")
        XCTAssertEqual(plain.receiveAll(), [], "rejected: closed without an answer")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "not a hello: decided at once")
        // The deprecated spelling, in an anonymous ACL.
        let config2 = proxy.configText.replacingOccurrences(of: "accept if clienthello", with: "accept if { req_ssl_hello_type 1 }")
        proxy.stop()
        let again = try ProxydProcess(config: config2, waitForPorts: [port])
        defer { again.stop() }
        XCTAssertTrue(try Tool.curlInsecure(["https://127.0.0.1:\(port)/"]).stdout.hasPrefix("web "))
        let plain2 = try TCP.Connection(port: port)
        try plain2.send("GET / HTTP/1.0\r\n\r\n")
        XCTAssertEqual(plain2.receiveAll(), [])
    }

    func testNonTLSBytesGoToTheDefaultBackendWithoutWaiting() throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "tcp") + """
            frontend fe
                bind 127.0.0.1:\(port)
                tcp-request inspect-delay 5s
                use_backend nowhere if { req.ssl_sni -i a.test }
                default_backend echo
            backend nowhere
                server n 127.0.0.1:1
            backend echo
            \(ProxyFixture.serverLines([echo]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let started = Date()
        let client = try TCP.Connection(port: port)
        try client.send("hello\n")
        XCTAssertEqual(client.receive(count: 6), Array("hello\n".utf8), "the bytes read while inspecting are passed on")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "plain bytes are not TLS: decided at once")
        client.shutdownWrite()
        XCTAssertEqual(client.receiveAll(), Array("bye\n".utf8), "half-close passed on")
    }

    func testSSLFrontendFetchesAfterTermination() throws {
        let a = try TestBackend(name: "other"), b = try TestBackend(name: "tls"), c = try TestBackend(name: "plain")
        let tlsPort = TCP.freePort(), plainPort = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "http") + """
            frontend fe
                bind 127.0.0.1:\(tlsPort) ssl crt \(try m.path("proxy.pem")) crt \(try m.path("other.pem"))
                bind 127.0.0.1:\(plainPort)
                use_backend other if { ssl_fc_sni -i other.test }
                use_backend tls if { ssl_fc }
                default_backend plain
            backend other
            \(ProxyFixture.serverLines([a]))
            backend tls
            \(ProxyFixture.serverLines([b]))
            backend plain
            \(ProxyFixture.serverLines([c]))
            """, waitForPorts: [tlsPort, plainPort])
        defer { proxy.stop() }
        let other = try Tool.curlInsecure(["-v", "--resolve", "other.test:\(tlsPort):127.0.0.1", "https://other.test:\(tlsPort)/"])
        XCTAssertEqual(other.stdout, "other")
        XCTAssertTrue(other.stderr.contains("CN=other.test"), "two crt on one bind: SNI picks the second")
        XCTAssertEqual(try Tool.curlInsecure(["https://127.0.0.1:\(tlsPort)/"]).stdout, "tls")
        XCTAssertEqual(try Tool.curlInsecure(["http://127.0.0.1:\(plainPort)/"]).stdout, "plain")
    }
}
