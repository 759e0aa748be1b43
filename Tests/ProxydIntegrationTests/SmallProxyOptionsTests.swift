import Foundation
import NIOCore
import XCTest

/// The small options of issue 15, side by side with HAProxy 2.6 on the same config:
/// keep-alive probes on both sockets (`option tcpka`), the listen queue (`backlog`), what
/// a server is told under `option http-pretend-keepalive`, and what `option
/// dontlog-normal` leaves in the log.
final class SmallProxyOptionsTests: XCTestCase {
    func testSocketsAndServerHeadersAsHAProxy() throws {
        // One slow server per section: a connection left idle by one is not counted for another.
        let slow = try (0..<2).map { try TestBackend(name: "slow\($0)", behaviour: .slow(.milliseconds(1500))) }
        let echo = try TestBackend(name: "echo", behaviour: .echo)
        defer { slow.forEach { $0.stop() }; echo.stop() }
        func config(_ ports: [Int]) -> String {
            ProxyFixture.preamble() + """
            listen probes
                bind 127.0.0.1:\(ports[0])
                backlog 7
                option tcpka
                clitcpka-idle 50
                srvtcpka-idle 40s
                srvtcpka-intvl 5s
                srvtcpka-cnt 3
                server slow 127.0.0.1:\(slow[0].port)
            listen plain
                bind 127.0.0.1:\(ports[1])
                server slow 127.0.0.1:\(slow[1].port)
            listen pretend
                bind 127.0.0.1:\(ports[2])
                option http-server-close
                option http-pretend-keepalive
                server echo 127.0.0.1:\(echo.port)

            """
        }
        let haproxyPorts = (0..<3).map { _ in TCP.freePort() }, proxydPorts = (0..<3).map { _ in TCP.freePort() }
        let reference = try ReferenceHAProxy(config: config(haproxyPorts), waitForPorts: haproxyPorts)
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPorts), waitForPorts: proxydPorts)
        defer { proxy.stop() }

        /// For a request in flight through `port` to the slow server: whether the proxy's
        /// client socket and its server socket have keep-alive probes armed (`ss -o`
        /// shows `timer:(keepalive,…)`), and the listen queue of `port`.
        func observe(_ port: Int, _ server: TestBackend, _ pid: Int32) throws -> String {
            let client = try TCP.Connection(port: port, timeout: 5)
            defer { client.close() }
            try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            Thread.sleep(forTimeInterval: 0.5)  // connected to the server, waiting for it
            let sockets = try Sandbox.runProcess("/usr/bin/ss", ["-tnopH", "state", "established"], timeout: 10).output
                .split(separator: "\n").filter { $0.contains("pid=\(pid),") }
            let clientSide = sockets.filter { $0.contains("127.0.0.1:\(port) ") }
            let serverSide = sockets.filter { $0.contains("127.0.0.1:\(server.port) ") }
            let queue = try Sandbox.runProcess("/usr/bin/ss", ["-ltnH", "sport = :\(port)"], timeout: 10).output
                .split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first ?? "?"
            _ = try? client.receiveResponse()
            /// `timer:(keepalive,49sec,0)` read as "50s" (tens of seconds up), or "none".
            func probes(_ lines: [Substring]) -> String {
                guard let line = lines.first(where: { $0.contains("timer:(keepalive,") }) else { return "none" }
                let after = line.split(separator: "timer:(keepalive,", maxSplits: 1).last ?? ""
                let digits = after.prefix { $0.isNumber }
                guard let n = Int(digits), after.dropFirst(digits.count).hasPrefix("sec") else { return String(after.prefix(8)) }
                return "\((n + 9) / 10 * 10)s"
            }
            return "client \(clientSide.count) keepalive \(probes(clientSide)), "
                + "server \(serverSide.count) keepalive \(probes(serverSide)), backlog \(queue)"
        }
        for i in 0..<2 {
            let expected = try observe(haproxyPorts[i], slow[i], reference.pid)
            let actual = try observe(proxydPorts[i], slow[i], proxy.pid)
            XCTAssertEqual(actual, expected, "section \(i)")
            XCTAssertTrue(expected.hasPrefix(i == 0 ? "client 1 keepalive 50s, server 1 keepalive 40s"
                                                    : "client 1 keepalive none, server 1 keepalive none"), expected)
        }
        XCTAssertTrue(try observe(proxydPorts[0], slow[0], proxy.pid).hasSuffix("backlog 7"))

        // With http-server-close the server is told `Connection: close`, unless pretending.
        func connectionHeader(_ port: Int) throws -> String {
            let client = try TCP.Connection(port: port, timeout: 5)
            defer { client.close() }
            try client.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try client.receiveResponse().bodyText.lowercased()
            return head.split(separator: "\r\n").filter { $0.hasPrefix("connection:") }.joined(separator: ",")
        }
        XCTAssertEqual(try connectionHeader(proxydPorts[2]), try connectionHeader(haproxyPorts[2]))
        XCTAssertEqual(try connectionHeader(proxydPorts[2]), "")
    }

    func testDontLogNormalAsHAProxy() throws {
        let web = try TestBackend(name: "web")
        defer { web.stop() }
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        let closed = TCP.freePort()
        func config(_ port: Int, log: String) -> String {
            ProxyFixture.preamble(extraDefaults: """
                log \(log) local0
                option dontlognull
                option dontlog-normal
                log-format "REQ %b/%s %tsc %ST %{+Q}r"
            """) + """
            frontend fe
                bind 127.0.0.1:\(port)
                use_backend gone if { path /gone }
                default_backend web
            backend web
                server web 127.0.0.1:\(web.port)
            backend gone
                retries 0
                server nobody 127.0.0.1:\(closed)

            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: config(haproxyPort, log: haproxyLog.path), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, log: proxydLog.path), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        for port in [haproxyPort, proxydPort] {
            for path in ["/a", "/gone", "/b"] {
                let client = try TCP.Connection(port: port, timeout: 5)
                try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try? client.receiveResponse()
                client.close()
            }
        }
        XCTAssertNotNil(haproxyLog.wait(for: "GET /gone"))
        XCTAssertNotNil(proxydLog.wait(for: "GET /gone"))
        Thread.sleep(forTimeInterval: 0.3)  // a normal line would have come by now
        func lines(_ r: LogReceiver) -> [String] { r.messages.filter { $0.contains("REQ ") } }
        XCTAssertEqual(lines(proxydLog), lines(haproxyLog))
        XCTAssertEqual(lines(proxydLog).count, 1, "\(lines(proxydLog))")
    }

    /// `option logasap`: one line per request, written when the response head goes out
    /// (http) or the server connection is made (tcp), with `+` before what is not final.
    func testLogAsapAsHAProxy() throws {
        let web = try TestBackend(name: "web")
        defer { web.stop() }
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        func config(_ ports: [Int], log: String) -> String {
            ProxyFixture.preamble(extraDefaults: """
                log \(log) local0
                option dontlognull
                option logasap
            """) + """
            listen web
                bind 127.0.0.1:\(ports[0])
                log-format "REQ http %ST %B %tsc %Ta %Tt %{+Q}r"
                server web 127.0.0.1:\(web.port)
            listen raw
                mode tcp
                bind 127.0.0.1:\(ports[1])
                log-format "REQ tcp %ts %B %Tt %Tw"
                server web 127.0.0.1:\(web.port)

            """
        }
        let haproxyPorts = [TCP.freePort(), TCP.freePort()], proxydPorts = [TCP.freePort(), TCP.freePort()]
        let reference = try ReferenceHAProxy(config: config(haproxyPorts, log: haproxyLog.path), waitForPorts: haproxyPorts)
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPorts, log: proxydLog.path), waitForPorts: proxydPorts)
        defer { proxy.stop() }
        for ports in [haproxyPorts, proxydPorts] {
            for port in ports {
                let client = try TCP.Connection(port: port, timeout: 5)
                // Two requests on one connection: each its own early line (http).
                try client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try? client.receiveResponse()
                try client.send("GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                _ = try? client.receiveResponse()
                client.close()
            }
        }
        XCTAssertNotNil(haproxyLog.wait(for: "REQ tcp"))
        XCTAssertNotNil(proxydLog.wait(for: "REQ tcp"))
        Thread.sleep(forTimeInterval: 0.3)  // a second line would have come by now
        // Durations and sizes differ from run to run: their digits are left out.
        func lines(_ r: LogReceiver) -> [String] {
            r.messages.filter { $0.contains("REQ ") }
                .map { $0.replacingOccurrences(of: "[0-9]+", with: "N", options: .regularExpression) }
        }
        // The early tcp line of the port probe that waited for the proxy to listen may
        // or may not be there: the last tcp line is the test's.
        func http(_ r: LogReceiver) -> [String] { lines(r).filter { $0.hasPrefix("REQ http") } }
        XCTAssertEqual(http(proxydLog), http(haproxyLog))
        XCTAssertEqual(http(proxydLog).count, 2, "\(lines(proxydLog))")
        XCTAssertTrue(http(proxydLog).first?.hasPrefix("REQ http N +N ---- +N +N") == true, "\(lines(proxydLog))")
        XCTAssertEqual(lines(proxydLog).last, lines(haproxyLog).last)
        XCTAssertEqual(lines(proxydLog).last, "REQ tcp -- +N +N N")
    }
}
