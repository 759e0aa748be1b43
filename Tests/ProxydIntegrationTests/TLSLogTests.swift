import Foundation
import XCTest

/// What the logs say about TLS: `option httpslog`, the TLS fetches of a `log-format`, and
/// the one-line connection errors, each next to what HAProxy 2.6 writes on the same config.
final class TLSLogTests: TLSTestCase {
    private struct Ports {
        let tls = TCP.freePort(), plain = TCP.freePort(), custom = TCP.freePort(), customPlain = TCP.freePort()
        var all: [Int] { [tls, plain, custom, customPlain] }
    }

    /// The fetches `option httpslog` uses and the others proxyd renders, quoted and in hex.
    private static let customFormat = "%ft %[ssl_fc] %[ssl_fc_protocol] %[ssl_fc_cipher] %[ssl_fc_is_resumed] %[ssl_fc_alpn] %[fc_err] %[ssl_fc_err] %[ssl_fc_err,hex] %[ssl_c_err] %[ssl_c_ca_err] %[ssl_fc_sni] %{+Q}[ssl_fc_sni] %[ssl_fc_has_sni] %sslv %sslc"

    private func config(_ log: LogReceiver, _ p: Ports, app: TestBackend) throws -> String {
        """
        global
            log \(log.path) local0 info
            crt-base \(try m.directory.path)
        defaults
            mode http
            log global
            option dontlognull
            timeout connect 2s
            timeout client 5s
            timeout server 5s
        frontend https-in
            bind 127.0.0.1:\(p.tls) ssl crt proxy.pem
            bind 127.0.0.1:\(p.plain)
            option httpslog
            default_backend app
        frontend custom
            bind 127.0.0.1:\(p.custom) ssl crt proxy.pem alpn http/1.1
            bind 127.0.0.1:\(p.customPlain)
            log-format "\(Self.customFormat)"
            default_backend app
        backend app
            server s1 127.0.0.1:\(app.port)

        """
    }

    /// The same clients against one proxy: no SNI, SNI, plain, a TLS 1.2 session then its
    /// resumption, and the custom format over TLS and plain.
    private func drive(_ p: Ports) throws {
        let sessionFile = try m.path("session-\(p.tls).pem")
        defer { try? FileManager.default.removeItem(atPath: sessionFile) }
        XCTAssertEqual(try Tool.curlInsecure(["https://127.0.0.1:\(p.tls)/ip"]).stdout, "app")
        XCTAssertEqual(try Tool.curlInsecure(["--resolve", "proxy.test:\(p.tls):127.0.0.1",
                                              "https://proxy.test:\(p.tls)/sni"]).stdout, "app")
        XCTAssertEqual(try Tool.curlInsecure(["http://127.0.0.1:\(p.plain)/plain"]).stdout, "app")
        let request = "GET /resume HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let first = try Tool.sClient(port: p.tls, ["-tls1_2", "-sess_out", sessionFile], input: request)
        XCTAssertTrue(first.stdout.contains("HTTP/1.1 200"), first.all)
        let again = try Tool.sClient(port: p.tls, ["-tls1_2", "-sess_in", sessionFile], input: request)
        XCTAssertTrue(again.stdout.contains("Reused, TLSv1.2"), again.all)
        XCTAssertEqual(try Tool.curlInsecure(["--http1.1", "--resolve", "proxy.test:\(p.custom):127.0.0.1",
                                              "https://proxy.test:\(p.custom)/"]).stdout, "app")
        XCTAssertEqual(try Tool.curlInsecure(["http://127.0.0.1:\(p.customPlain)/"]).stdout, "app")
    }

    /// Lines with what differs between two runs (client ports, dates, timers, sizes) masked, sorted.
    private func normalized(_ log: LogReceiver, count: Int) -> [String] {
        let deadline = Date().addingTimeInterval(5)
        while log.messages.count < count, Date() < deadline { usleep(20_000) }
        usleep(200_000)
        return log.messages.map { line in
            line.replacingOccurrences(of: #"127\.0\.0\.1:\d+ \[[^\]]+\]"#, with: "C [D]", options: .regularExpression)
                .replacingOccurrences(of: #" \d+/\d+/\d+/\d+/\d+ (\d{3}) \d+ "#, with: " T $1 B ", options: .regularExpression)
                // actconn/feconn count the test's own connections still open (a readiness
                // probe HAProxy had not yet seen close read 2/2 once): not the proxies'.
                .replacingOccurrences(of: #" ---- \d+/\d+/"#, with: " ---- A/F/", options: .regularExpression)
        }.sorted()
    }

    func testHTTPSLogAndTLSFetchesMatchHAProxy() throws {
        let app = try TestBackend(name: "app")
        let theirLog = try LogReceiver(), ourLog = try LogReceiver()
        defer { theirLog.stop(); ourLog.stop() }
        let theirPorts = Ports(), ourPorts = Ports()
        let reference = try ReferenceHAProxy(config: try config(theirLog, theirPorts, app: app), waitForPorts: theirPorts.all)
        try drive(theirPorts)
        let theirs = normalized(theirLog, count: 7)
        reference.stop()
        let proxy = try ProxydProcess(config: try config(ourLog, ourPorts, app: app), waitForPorts: ourPorts.all)
        defer { proxy.stop() }
        try drive(ourPorts)
        let ours = normalized(ourLog, count: 7)

        XCTAssertEqual(ours.count, 7, ours.joined(separator: "\n"))
        XCTAssertEqual(ours, theirs, "\nours:\n\(ours.joined(separator: "\n"))\ntheirs:\n\(theirs.joined(separator: "\n"))")
        // What the lines say, spelled out (HAProxy's own lines are above).
        let tls13 = "0/0000000000000000/0/0/0 proxy.test/TLSv1.3/TLS_AES_256_GCM_SHA384"
        XCTAssertTrue(ours.contains(#"C [D] https-in~ app/s1 T 200 B - - ---- A/F/0/0/0 0/0 "GET /sni HTTP/1.1" "# + tls13), ours.joined(separator: "\n"))
        XCTAssertTrue(ours.contains { $0.contains(#" https-in~ "#) && $0.contains(#""GET /ip HTTP/1.1" 0/0000000000000000/0/0/0 -/TLSv1.3/"#) })
        XCTAssertTrue(ours.contains { $0.contains(#" https-in "#) && $0.hasSuffix(#""GET /plain HTTP/1.1" 0/-/-/-/0 -/-/-"#) })
        XCTAssertEqual(ours.filter { $0.contains(#""GET /resume HTTP/1.1" 0/0000000000000000/0/0/1 -/TLSv1.2/"#) }.count, 1, ours.joined(separator: "\n"))
        XCTAssertTrue(ours.contains("custom~ 1 TLSv1.3 TLS_AES_256_GCM_SHA384 0 http/1.1 0 0 0000000000000000 0 0 proxy.test \"proxy.test\" 1 TLSv1.3 TLS_AES_256_GCM_SHA384"), ours.joined(separator: "\n"))
        XCTAssertTrue(ours.contains("custom 0 - - 0 - 0 - - - - - \"\" 0 - -"), ours.joined(separator: "\n"))
    }

    /// Failed handshakes, one line each, with HAProxy 2.6's words and rules: a FIN is
    /// "Connection closed", a reset or bytes that are not TLS "SSL handshake failure", a
    /// stall "Timeout"; with `option dontlognull` only the refused ones are written.
    func testHandshakeErrorsAreLoggedAsHAProxyLogsThem() throws {
        let app = try TestBackend(name: "app")
        func config(_ log: LogReceiver, _ port: Int, _ quietPort: Int) throws -> String {
            """
            global
                log \(log.path) local0 info
                crt-base \(try m.directory.path)
            defaults
                mode http
                log global
                option httplog
                timeout connect 2s
                timeout client 1s
                timeout server 5s
            frontend https-in
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                default_backend app
            frontend quiet
                bind 127.0.0.1:\(quietPort) ssl crt proxy.pem
                option dontlognull
                default_backend app
            backend app
                server s1 127.0.0.1:\(app.port)

            """
        }
        let partialHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]
        /// Each kind of failure once on each frontend, and a good request.
        func drive(_ port: Int, _ quietPort: Int) throws {
            for p in [port, quietPort] {
                try TCP.Connection(port: p).close()                   // FIN, nothing sent
                // A reset, nothing sent, once accepted: NIO cannot tell the address of a
                // connection reset before its accept, where HAProxy can (docs/tls.md).
                let reset = try TCP.Connection(port: p)
                usleep(100_000)
                reset.reset()
                let plain = try TCP.Connection(port: p)               // plain HTTP
                try plain.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = plain.receiveAll()
                let half = try TCP.Connection(port: p)                // part of a hello, then FIN
                try half.send(partialHello)
                half.shutdownWrite()
                _ = half.receiveAll()
                let cut = try TCP.Connection(port: p)                 // part of a hello, then reset
                try cut.send(partialHello)
                usleep(100_000)
                cut.reset()
                let staller = try TCP.Connection(port: p)             // part of a hello, then nothing
                try staller.send(partialHello)
                XCTAssertEqual(staller.receiveSome(), [], "closed after timeout client")
                XCTAssertEqual(try Tool.curlInsecure(["https://127.0.0.1:\(p)/"]).stdout, "app")
            }
        }
        func lines(_ log: LogReceiver) -> [String] {
            usleep(300_000)
            return log.messages.map {
                $0.replacingOccurrences(of: #"127\.0\.0\.1:\d+ \[[^\]]+\]"#, with: "C [D]", options: .regularExpression)
                  .replacingOccurrences(of: #" \d+/\d+/\d+/\d+/\d+ 200 \d+ "#, with: " T 200 B ", options: .regularExpression)
            }.sorted()
        }
        let theirLog = try LogReceiver(), ourLog = try LogReceiver()
        defer { theirLog.stop(); ourLog.stop() }
        let theirPort = TCP.freePort(), theirQuiet = TCP.freePort()
        let reference = try ReferenceHAProxy(config: try config(theirLog, theirPort, theirQuiet), waitForPorts: [theirPort, theirQuiet])
        try drive(theirPort, theirQuiet)
        let theirs = lines(theirLog)
        reference.stop()
        let ourPort = TCP.freePort(), ourQuiet = TCP.freePort()
        let proxy = try ProxydProcess(config: try config(ourLog, ourPort, ourQuiet), waitForPorts: [ourPort, ourQuiet])
        defer { proxy.stop() }
        try drive(ourPort, ourQuiet)
        let ours = lines(ourLog)
        XCTAssertEqual(ours, theirs, "\nours:\n\(ours.joined(separator: "\n"))\ntheirs:\n\(theirs.joined(separator: "\n"))")
        // Spelled out; the first "closed" line of each run is the start-up wait's connection.
        XCTAssertEqual(ours.filter { $0 == "C [D] https-in/1: Connection closed during SSL handshake" }.count, 3, ours.joined(separator: "\n"))
        XCTAssertEqual(ours.filter { $0 == "C [D] https-in/1: SSL handshake failure" }.count, 3, ours.joined(separator: "\n"))
        XCTAssertEqual(ours.filter { $0 == "C [D] https-in/1: Timeout during SSL handshake" }.count, 1, ours.joined(separator: "\n"))
        XCTAssertEqual(ours.filter { $0.hasPrefix("C [D] quiet/1: ") }, Array(repeating: "C [D] quiet/1: SSL handshake failure", count: 3))
        XCTAssertTrue(ourLog.all.allSatisfy { $0.hasPrefix("<134>") }, "local0.info: \(ourLog.all)")
    }
}
