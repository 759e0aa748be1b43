import Foundation
import XCTest

/// `set-dst` / `set-dst-port` (issue 15) side by side with Debian's HAProxy 2.6: with a
/// server written `0.0.0.0:0` (HAProxy's "the address the client connected to"), the
/// rules choose where each connection goes; `dst`, `dst_port`, `%fi`/`%fp` and `%si`/`%sp`
/// in the log show it. Two named servers tell the destinations apart.
final class SetDestinationComparisonTests: XCTestCase {
    func testHTTPRequestSetDstChoosesTheServerAsInHAProxy() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        defer { a.stop(); b.stop() }
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        func config(_ port: Int, _ log: LogReceiver) -> String {
            """
            defaults
                mode http
                timeout connect 2s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                log \(log.path) local0
                log-format "setdst fi=%fi:%fp dst=%[dst]:%[dst_port] si=%si:%sp b=%b/%s ST=%ST"
                tcp-request connection set-dst-port int(\(a.port))
                http-request set-dst hdr(x-dst) if { req.hdr(x-dst) -m found }
                http-request set-dst-port hdr(x-port) if { req.hdr(x-port) -m found }
                default_backend be
            backend be
                server any 0.0.0.0:0

            """
        }
        let reference = try ReferenceHAProxy(config: config(haproxyPort, haproxyLog), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, proxydLog), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        // Each list is one connection: later requests on it meet the same rules again.
        let connections = [
            [""],  // the connection rule's port: a
            ["X-Port: \(b.port)\r\n"],
            ["X-Dst: 127.0.0.1\r\nX-Port: \(b.port)\r\n", "X-Port: \(a.port)\r\n"],
            ["X-Dst: not-an-address\r\nX-Port: \(b.port)\r\n"],
        ]
        func bodies(_ port: Int) throws -> [String] {
            var answers: [String] = []
            for headers in connections {
                let client = try TCP.Connection(port: port, timeout: 3)
                for extra in headers {
                    try client.send("GET / HTTP/1.1\r\nHost: t\r\n\(extra)\r\n")
                    let response = try client.receiveResponse()
                    answers.append("\(response.status) \(response.bodyText)")
                }
                client.close()
            }
            return answers
        }
        let expected = try bodies(haproxyPort)
        XCTAssertEqual(expected, ["200 a", "200 b", "200 b", "200 a", "200 b"])
        XCTAssertEqual(try bodies(proxydPort), expected)

        func lines(_ log: LogReceiver) -> [String] {
            let deadline = Date().addingTimeInterval(5)
            var found: [String] = []
            while Date() < deadline {
                found = log.messages.filter { $0.hasPrefix("setdst ") }
                // Five requests, and the readiness probe's empty connection (400, <NOSRV>).
                if found.count >= 6 { break }
                usleep(20_000)
            }
            return found.map {
                $0.replacingOccurrences(of: "\(a.port)", with: "A").replacingOccurrences(of: "\(b.port)", with: "B")
            }
        }
        let haproxyLines = lines(haproxyLog)
        XCTAssertTrue(haproxyLines.contains("setdst fi=127.0.0.1:B dst=127.0.0.1:B si=127.0.0.1:B b=be/any ST=200"), "\(haproxyLines)")
        // The same lines; their order follows when each exchange ended, which two
        // connections in a row may swap (the log of a connection's last request, and the
        // next connection's first).
        XCTAssertEqual(lines(proxydLog).sorted(), haproxyLines.sorted())
    }

    /// HAProxy's own example (examples/option-http_proxy.cfg): a forward proxy that sends
    /// each absolute request to the address and port its URL names (`url_ip`, `url_port`),
    /// as a relative request (`pathq`), through a server `0.0.0.0`.
    func testForwardProxyExampleAsInHAProxy() throws {
        let template = """
            defaults
                mode http
                timeout connect 2s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:PORT
                log LOG local0
                log-format "fwd %HM %HU %HP %HQ %HV %si:%sp %ST"
                acl forbidden_dst url_ip 10.0.0.0/8
                http-request deny if forbidden_dst
                default_backend proxy
            backend proxy
                http-request set-dst url_ip
                http-request set-dst-port url_port
                http-request set-uri %[pathq]
                server next-hop 0.0.0.0

            """
        let sides = try SideBySideHTTP(template)
        defer { sides.stop() }
        let port = sides.server.port
        let (expected, actual) = try sides.exchange([
            "GET http://127.0.0.1:\(port)/some/path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n",
            "GET HTTP://127.0.0.1:\(port) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n",
            "GET http://10.1.2.3:\(port)/no HTTP/1.1\r\nHost: 10.1.2.3:\(port)\r\n\r\n",
        ])
        XCTAssertEqual(actual, expected)
        XCTAssertTrue(expected[0].contains("get /some/path?q=1 http/1.1"), expected[0])  // what the server got
        XCTAssertTrue(expected[2].hasPrefix("403"), expected[2])
        // 4 lines: the 3 requests and the test's own check that the port listens.
        let (haproxyLines, proxydLines) = sides.logs(prefix: "fwd ", count: 4)
        XCTAssertEqual(haproxyLines.count, 4, "\(haproxyLines)")
        XCTAssertEqual(proxydLines, haproxyLines)
        XCTAssertTrue(haproxyLines.contains("fwd GET http://127.0.0.1:\(port)/some/path?q=1 http://127.0.0.1:\(port)/some/path ?q=1 HTTP/1.1 127.0.0.1:\(port) 200"),
                      "\(haproxyLines)")
    }

    /// `mode tcp`: `tcp-request connection|content set-dst[-port]` with constants.
    func testTCPRequestSetDstAsInHAProxy() throws {
        // Connection rules first (127.0.0.9), then the content rule (127.0.0.1).
        try TCPEchoLogSideBySide.assertBothLog("tcpdst fi=127.0.0.1:0 si=127.0.0.1:0") { port, logPath, echoPort in
            """
            defaults
                mode tcp
                timeout connect 2s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                log \(logPath) local0
                log-format "tcpdst fi=%fi:%[dst_port,sub(\(echoPort))] si=%si:%[dst_port,sub(\(echoPort))]"
                tcp-request content set-dst ipv4(127.0.0.1)
                tcp-request connection set-dst-port int(\(echoPort))
                tcp-request connection set-dst ipv4(127.0.0.9)
                default_backend be
            backend be
                server any 0.0.0.0:0

            """
        }
    }
}
