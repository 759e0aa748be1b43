import Foundation
import XCTest

/// `bind … ssl crt …`: proxyd terminates TLS, in mode http and tcp, with real clients
/// (curl, openssl s_client, socat) and certificates made by openssl for the test.
final class TLSTerminationTests: TLSTestCase {
    /// A global section with the lab's TLS lines (`crt-base`, its cipher string, …).
    private func preamble(mode: String, timeoutClient: String = "10s") throws -> String {
        """
        global
            nbthread 1
            crt-base \(try m.directory.path)
            ca-base \(try m.directory.path)
            ssl-default-bind-ciphers  ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:RSA+AESGCM:RSA+AES:!aNULL:!MD5:!DSS
            ssl-default-bind-options  no-sslv3
            ssl-server-verify         none
            tune.ssl.default-dh-param 2048

        defaults
            mode \(mode)
            timeout connect 2s
            timeout client \(timeoutClient)
            timeout server 10s

        """
    }

    func testCurlThroughHTTPModeTerminationWithKeepAlive() throws {
        let app = try TestBackend(name: "app")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http") + """
            frontend https-in
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let url = "https://127.0.0.1:\(port)/"
        let result = try Tool.curlInsecure(["-w", " %{http_code} %{num_connects}\n", url, url, url])
        XCTAssertEqual(result.status, 0, result.all)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines, ["app 200 1", "app 200 0", "app 200 0"], "three answers on one TLS connection: \(result.all)")
        XCTAssertEqual(app.requestCount, 3)
        // A client that sends close_notify right after its request still gets the answer.
        let halfClosed = try Tool.run(Tool.socat, ["-t", "5", "-", "OPENSSL:127.0.0.1:\(port),verify=0"],
                                      input: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(halfClosed.stdout.hasPrefix("HTTP/1.1 200"), halfClosed.all)
        XCTAssertTrue(halfClosed.stdout.hasSuffix("\r\n\r\napp"), halfClosed.all)
    }

    func testShowInfoCountsTLSConnections() throws {
        let app = try TestBackend(name: "app")
        let port = TCP.freePort()
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("tlsinfo-\(port).sock").path
        let proxy = try ProxydProcess(config: try preamble(mode: "http").replacingOccurrences(
            of: "    nbthread 1\n", with: "    nbthread 1\n    stats socket \(socket) level admin\n") + """
            frontend https-in
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        func showInfo() throws -> [String: String] {
            let info = try Tool.run(Tool.socat, ["-t", "2", "-", "UNIX-CONNECT:\(socket)"], input: "show info\n").stdout
            return Dictionary(info.split(separator: "\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }, uniquingKeysWith: { first, _ in first })
        }
        // The start-up probe already opened one (HAProxy counts TLS connections at accept).
        let before = Int(try showInfo()["CumSslConns"] ?? "") ?? -1
        for _ in 0..<3 {
            XCTAssertEqual(try Tool.curlInsecure(["https://127.0.0.1:\(port)/"]).stdout, "app")
        }
        let after = try showInfo()
        XCTAssertEqual(Int(after["CumSslConns"] ?? ""), before + 3)
        XCTAssertEqual(after["CurrSslConns"], "0")
    }

    /// The TLS rates of `show info`, which HAProxy computes over the last second: accepted
    /// TLS connections (failed handshakes included), new keys on each side, and the share
    /// of resumptions. They fall back to 0 after two idle seconds; the maxima stay.
    func testShowInfoSSLRates() throws {
        let app = try TestBackend(name: "app")
        let port = TCP.freePort(), plainPort = TCP.freePort()
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("tlsrate-\(port).sock").path
        let proxy = try ProxydProcess(config: try preamble(mode: "http").replacingOccurrences(
            of: "    nbthread 1\n", with: "    nbthread 1\n    stats socket \(socket) level admin\n") + """
            frontend https-in
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                default_backend app
            frontend plain
                bind 127.0.0.1:\(plainPort)
                default_backend loop
            backend app
            \(ProxyFixture.serverLines([app]))
            backend loop
                server self 127.0.0.1:\(port) ssl verify none
            """, waitForPorts: [port, plainPort])
        defer { proxy.stop() }
        func showInfo() throws -> [String: Int] {
            let info = try Tool.run(Tool.socat, ["-t", "2", "-", "UNIX-CONNECT:\(socket)"], input: "show info\n").stdout
            return Dictionary(info.split(separator: "\n").compactMap { line -> (String, Int)? in
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return parts.count == 2 && (parts[0].hasPrefix("Ssl") || parts[0].hasPrefix("MaxSsl")) ? (parts[0], Int(parts[1]) ?? -1) : nil
            }, uniquingKeysWith: { first, _ in first })
        }
        usleep(2_100_000)  // the start-up probe's connection out of the rates
        let sessionFile = try m.path("rate-\(port).pem")
        defer { try? FileManager.default.removeItem(atPath: sessionFile) }
        // One full handshake, two resumed, one plain HTTP on the TLS port (a failed
        // handshake), one request through `loop`: a new key on both sides.
        XCTAssertEqual(try Tool.sClient(port: port, ["-tls1_2", "-sess_out", sessionFile], hold: 0).status, 0)
        for _ in 0..<2 {
            XCTAssertTrue(try Tool.sClient(port: port, ["-tls1_2", "-sess_in", sessionFile], hold: 0).stdout.contains("Reused"))
        }
        let plain = try TCP.Connection(port: port)
        try plain.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = plain.receiveAll()
        XCTAssertEqual(try Tool.curlInsecure(["http://127.0.0.1:\(plainPort)/"]).stdout, "app")
        let busy = try showInfo()
        // Five TLS connections accepted within well under a second (a second's boundary
        // may fall among them: HAProxy's rates weigh the previous second down).
        XCTAssertTrue((3...5).contains(busy["SslRate"] ?? -1), "\(busy)")
        XCTAssertTrue((busy["SslRate"] ?? 99)...5 ~= (busy["MaxSslRate"] ?? -1), "\(busy)")
        XCTAssertTrue((1...2).contains(busy["SslFrontendKeyRate"] ?? -1), "\(busy)")
        XCTAssertEqual(busy["SslBackendKeyRate"], 1, "\(busy)")
        XCTAssertTrue((1...99).contains(busy["SslFrontendSessionReuse_pct"] ?? -1), "\(busy)")
        XCTAssertEqual(busy["SslRateLimit"], 0)
        usleep(2_100_000)
        let idle = try showInfo()
        XCTAssertEqual(idle["SslRate"], 0, "\(idle)")
        XCTAssertEqual(idle["SslFrontendKeyRate"], 0, "\(idle)")
        XCTAssertEqual(idle["SslBackendKeyRate"], 0, "\(idle)")
        XCTAssertEqual(idle["SslFrontendSessionReuse_pct"], 0, "\(idle)")
        XCTAssertEqual(idle["MaxSslRate"], busy["MaxSslRate"], "\(idle)")
        XCTAssertEqual(idle["SslBackendMaxKeyRate"], 1, "\(idle)")
        XCTAssertTrue((1...2).contains(idle["SslFrontendMaxKeyRate"] ?? -1), "\(idle)")
    }

    func testTCPModeTerminationCarriesBytesAndHalfCloseBothWays() throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "tcp") + """
            listen echo
                bind 127.0.0.1:\(port) ssl crt proxy.pem
            \(ProxyFixture.serverLines([echo]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        // socat sends close_notify and shuts its output at the end of its input, then
        // waits (-t) for the rest of the answer: the echo server sees our half-close and
        // says bye after the echoed bytes.
        let payload = String(repeating: "0123456789abcdef", count: 40_000)  // 640 kB, many records
        let result = try Tool.run(Tool.socat, ["-t", "5", "-", "OPENSSL:127.0.0.1:\(port),verify=0"],
                                  input: payload, timeout: 30)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.count, payload.count + 4)
        XCTAssertTrue(result.stdout.hasPrefix("0123456789abcdef"))
        XCTAssertTrue(result.stdout.hasSuffix(payload.suffix(16) + "bye\n"), "echo, then bye after our half-close")
    }

    func testSNIChoosesTheCertificateFromADirectory() throws {
        let app = try TestBackend(name: "app")
        let dir = try m.path("sni-dir")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Name order decides the default: "a-proxy.pem" first.
        try FileManager.default.copyItem(atPath: try m.path("proxy.pem"), toPath: dir + "/a-proxy.pem")
        try FileManager.default.copyItem(atPath: try m.path("other.pem"), toPath: dir + "/b-other.pem")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TCP.freePort(), strictPort = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http") + """
            frontend fe
                bind 127.0.0.1:\(port) ssl crt sni-dir
                bind 127.0.0.1:\(strictPort) ssl strict-sni crt sni-dir
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port, strictPort])
        defer { proxy.stop() }
        func subject(_ port: Int, _ args: [String]) throws -> String {
            let r = try Tool.sClient(port: port, args)
            return r.stdout.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init) ?? "none: \(r.all)"
        }
        XCTAssertEqual(try subject(port, ["-servername", "other.test"]), "subject=CN = other.test")
        XCTAssertEqual(try subject(port, ["-servername", "proxy.test"]), "subject=CN = proxy.test")
        XCTAssertEqual(try subject(port, ["-servername", "x.wild.test"]), "subject=CN = proxy.test", "wildcard")
        XCTAssertEqual(try subject(port, ["-servername", "unknown.test"]), "subject=CN = proxy.test", "default")
        XCTAssertEqual(try subject(port, ["-noservername"]), "subject=CN = proxy.test", "default")
        XCTAssertEqual(try subject(strictPort, ["-servername", "other.test"]), "subject=CN = other.test")
        XCTAssertTrue(try subject(strictPort, ["-servername", "unknown.test"]).hasPrefix("none"), "strict-sni refuses")
        // curl sees the certificate of the name it asked for, and gets its answer.
        let r = try Tool.curlInsecure(["-v", "--resolve", "other.test:\(port):127.0.0.1", "https://other.test:\(port)/"])
        XCTAssertTrue(r.stderr.contains("CN=other.test"), r.stderr)
        XCTAssertEqual(r.stdout, "app")
    }

    func testCrtListWithSNIFilters() throws {
        let app = try TestBackend(name: "app")
        let list = try m.path("certs.list")
        // Paths relative to crt-base; filters replace the certificate's own names; `!` excludes.
        try """
            # default first
            proxy.pem
            other.pem alias.test *.alias.test !no.alias.test

            """.write(toFile: list, atomically: true, encoding: .utf8)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http") + """
            frontend fe
                bind 127.0.0.1:\(port) ssl crt-list \(list)
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        func subject(_ name: String) throws -> String {
            let r = try Tool.sClient(port: port, ["-servername", name])
            return r.stdout.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init) ?? "none: \(r.all)"
        }
        XCTAssertEqual(try subject("alias.test"), "subject=CN = other.test")
        XCTAssertEqual(try subject("x.alias.test"), "subject=CN = other.test")
        XCTAssertEqual(try subject("no.alias.test"), "subject=CN = proxy.test", "excluded by !no.alias.test")
        XCTAssertEqual(try subject("other.test"), "subject=CN = proxy.test", "the filter replaces the certificate's names")
        XCTAssertEqual(try subject("proxy.test"), "subject=CN = proxy.test")
    }

    /// crt-list lines with `[options]`: the certificate SNI picks brings its own ALPN,
    /// versions, ciphers and client-certificate check. The same probes against HAProxy
    /// 2.6 on the same files give the same outcomes.
    func testCrtListLineOptionsMatchHAProxy() throws {
        let app = try TestBackend(name: "app")
        try """
            proxy.pem
            other.pem [alpn http/1.0 ssl-min-ver TLSv1.3 verify required ca-file ca.crt] other.test
            rsa.pem [ciphers ECDHE-RSA-AES128-GCM-SHA256 ssl-max-ver TLSv1.2] rsa.test

            """.write(toFile: try m.path("options.list"), atomically: true, encoding: .utf8)
        func config(_ port: Int) throws -> String {
            try preamble(mode: "http") + """
                frontend fe
                    bind 127.0.0.1:\(port) ssl crt-list \(try m.path("options.list")) alpn http/1.1
                    default_backend app
                backend app
                \(ProxyFixture.serverLines([app]))

                """
        }
        let client = ["-cert", try m.path("client.crt"), "-key", try m.path("client.key")]
        let probes: [[String]] = [
            ["-servername", "proxy.test", "-alpn", "http/1.1,http/1.0"],
            ["-servername", "proxy.test", "-tls1_2"],
            ["-servername", "other.test", "-tls1_2"],
            ["-servername", "other.test"],
            ["-servername", "other.test", "-alpn", "http/1.1,http/1.0"] + client,
            ["-servername", "rsa.test", "-tls1_3"],
            ["-servername", "rsa.test"],
        ]
        /// What a probe got: served or not, version, cipher, ALPN, certificate.
        func outcomes(_ port: Int) throws -> [String] {
            try probes.map { args in
                let r = try Tool.sClient(port: port, args, input: "GET / HTTP/1.0\r\n\r\n")
                let lines = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                let cipher = lines.first { $0.hasPrefix("New, ") } ?? "no session"
                let alpn = lines.first { $0.hasPrefix("ALPN protocol:") || $0.hasPrefix("No ALPN") } ?? "-"
                let subject = lines.first { $0.hasPrefix("subject=") } ?? "-"
                let served = r.stdout.contains("\r\n\r\napp")
                return "\(args.prefix(3).joined(separator: " ")): served=\(served) \(cipher) \(alpn) \(subject)"
            }
        }
        let theirPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: try config(theirPort), waitForPorts: [theirPort])
        let theirs = try outcomes(theirPort)
        reference.stop()
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try config(port), waitForPorts: [port])
        defer { proxy.stop() }
        let ours = try outcomes(port)
        XCTAssertEqual(ours, theirs, "\nours:\n\(ours.joined(separator: "\n"))\ntheirs:\n\(theirs.joined(separator: "\n"))")
        XCTAssertTrue(ours[0].contains("served=true New, TLSv1.3") && ours[0].contains("ALPN protocol: http/1.1"), ours[0])
        XCTAssertTrue(ours[2].contains("served=false"), "other.test wants TLS 1.3: \(ours[2])")
        XCTAssertTrue(ours[3].contains("served=false"), "other.test wants a client certificate: \(ours[3])")
        XCTAssertTrue(ours[4].contains("served=true") && ours[4].contains("ALPN protocol: http/1.0") && ours[4].contains("CN = other.test"), ours[4])
        XCTAssertTrue(ours[5].contains("served=false"), "rsa.test stops at TLS 1.2: \(ours[5])")
        XCTAssertTrue(ours[6].contains("TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256"), ours[6])
    }

    func testALPNAndProtocolVersions() throws {
        let app = try TestBackend(name: "app")
        let port = TCP.freePort(), only13 = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http") + """
            frontend fe
                bind 127.0.0.1:\(port) ssl crt proxy.pem alpn h2,http/1.1
                bind 127.0.0.1:\(only13) ssl crt proxy.pem ssl-min-ver TLSv1.3 curves X25519
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port, only13])
        defer { proxy.stop() }
        let alpn = try Tool.sClient(port: port, ["-alpn", "h2,http/1.1"])
        XCTAssertTrue(alpn.stdout.contains("ALPN protocol: http/1.1"), "h2 is left out, http/1.1 chosen: \(alpn.all)")
        // curl offers h2 and http/1.1, gets http/1.1 and its answer.
        let curl = try Tool.curlInsecure(["-w", " %{http_version}", "https://127.0.0.1:\(port)/"])
        XCTAssertEqual(curl.stdout, "app 1.1", curl.all)

        XCTAssertTrue(try Tool.sClient(port: port, ["-tls1_2"]).stdout.contains("New, TLSv1.2,"))
        XCTAssertTrue(try Tool.sClient(port: port, ["-tls1_3"]).stdout.contains("New, TLSv1.3,"))
        let old = try Tool.sClient(port: port, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        XCTAssertFalse(old.stdout.contains("New, TLSv1.1,"), "below TLS 1.2 is refused by default, as in HAProxy 2.2+")
        XCTAssertTrue(old.all.contains("alert protocol version"), old.all)
        XCTAssertTrue(try Tool.sClient(port: only13, ["-tls1_3"]).stdout.contains("New, TLSv1.3,"))
        XCTAssertTrue(try Tool.sClient(port: only13, ["-groups", "X25519:P-256"]).stdout.contains("Server Temp Key: X25519"))
        let noCurve = try Tool.sClient(port: only13, ["-groups", "P-256"])
        XCTAssertFalse(noCurve.stdout.contains("New, TLSv1.3,"), "curves X25519 only: P-256 refused: \(noCurve.all)")
        let refused = try Tool.sClient(port: only13, ["-tls1_2"])
        XCTAssertFalse(refused.stdout.contains("New, TLSv1.2,"))
        XCTAssertTrue(refused.all.contains("alert protocol version"), refused.all)
        let stderr = proxy.stopAndReadStderr()
        XCTAssertTrue(stderr.contains("proxyd does not speak HTTP/2 yet"), stderr)
    }

    func testSessionResumptionWithIDsAndTickets() throws {
        let app = try TestBackend(name: "app")
        let port = TCP.freePort(), noTickets = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http") + """
            frontend fe
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                bind 127.0.0.1:\(noTickets) ssl crt proxy.pem no-tls-tickets
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port, noTickets])
        defer { proxy.stop() }
        for (p, version) in [(port, "-tls1_2"), (port, "-tls1_3"), (noTickets, "-tls1_2"), (noTickets, "-tls1_3")] {
            let session = try m.path("session-\(p)\(version).pem")
            let first = try Tool.sClient(port: p, [version, "-sess_out", session], hold: 1.5)  // time for TLS 1.3 tickets
            XCTAssertTrue(first.stdout.contains("New, TLSv1."), first.all)
            let second = try Tool.sClient(port: p, [version, "-sess_in", session])
            XCTAssertTrue(second.stdout.contains("Reused, TLSv1."), "\(p) \(version): \(second.all)")
        }
    }

    func testTicketKeysFromAFileSurviveARestart() throws {
        let app = try TestBackend(name: "app")
        let keys = try m.path("ticket.keys")
        var lines: [String] = ["# three keys, the middle one encrypts"]
        for _ in 0..<3 {
            let r = try Tool.run(Tool.openssl, ["rand", "-base64", "80"])
            lines.append(r.stdout.replacingOccurrences(of: "\n", with: ""))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: keys, atomically: true, encoding: .utf8)
        let port = TCP.freePort(), plainPort = TCP.freePort()
        let config = try preamble(mode: "http") + """
            frontend fe
                bind 127.0.0.1:\(port) ssl crt proxy.pem tls-ticket-keys \(keys)
                bind 127.0.0.1:\(plainPort) ssl crt proxy.pem
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """
        var sessions: [String: String] = [:]
        var proxy = try ProxydProcess(config: config, waitForPorts: [port, plainPort])
        for (p, version) in [(port, "-tls1_2"), (port, "-tls1_3"), (plainPort, "-tls1_2"), (plainPort, "-tls1_3")] {
            let session = try m.path("restart-\(p)\(version).pem")
            let first = try Tool.sClient(port: p, [version, "-sess_out", session], hold: 1.5)  // time for TLS 1.3 tickets
            XCTAssertTrue(first.stdout.contains("New, TLSv1."), first.all)
            sessions["\(p)\(version)"] = session
        }
        proxy.stop()
        proxy = try ProxydProcess(config: config, waitForPorts: [port, plainPort])
        defer { proxy.stop() }
        for version in ["-tls1_2", "-tls1_3"] {
            let again = try Tool.sClient(port: port, [version, "-sess_in", sessions["\(port)\(version)"]!])
            XCTAssertTrue(again.stdout.contains("Reused, TLSv1."), "keys from the file: resumed after a restart (\(version))")
            let fresh = try Tool.sClient(port: plainPort, [version, "-sess_in", sessions["\(plainPort)\(version)"]!])
            XCTAssertTrue(fresh.stdout.contains("New, TLSv1."), "random keys: a new process cannot read old tickets (\(version))")
        }
    }

    func testClientCertificateRequired() throws {
        let app = try TestBackend(name: "app")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http") + """
            frontend fe
                bind 127.0.0.1:\(port) ssl crt proxy.pem ca-file ca.crt verify required
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let url = "https://127.0.0.1:\(port)/healthz"
        let without = try Tool.curlInsecure([url])
        XCTAssertNotEqual(without.status, 0, "no client certificate: refused")
        let with = try Tool.curlInsecure(["--cert", try m.path("client.crt"), "--key", try m.path("client.key"), url])
        XCTAssertEqual(with.status, 0, with.all)
        XCTAssertEqual(with.stdout, "app")
        let selfSigned = try Tool.curlInsecure(["--cert", try m.path("rsa.crt"), "--key", try m.path("rsa.key"), url])
        XCTAssertNotEqual(selfSigned.status, 0, "a certificate the CA did not sign: refused")
        let stderr = proxy.stopAndReadStderr()
        XCTAssertTrue(stderr.contains("SSL client certificate not trusted"), stderr)
    }

    func testGarbageAndStalledHandshakesAreLoggedOnceAndHurtNobodyElse() throws {
        let app = try TestBackend(name: "app")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http", timeoutClient: "1s") + """
            frontend https-in
                bind 127.0.0.1:\(port) ssl crt proxy.pem
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        // A client that stalls in the middle of its ClientHello.
        let staller = try TCP.Connection(port: port, timeout: 5)
        try staller.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
        // Plain HTTP on the TLS port: closed at once.
        let plain = try TCP.Connection(port: port, timeout: 5)
        try plain.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(plain.receiveAll().count, 0, "nothing but a close for plain HTTP")
        // Meanwhile a real client is served.
        let good = try Tool.curlInsecure(["https://127.0.0.1:\(port)/"])
        XCTAssertEqual(good.stdout, "app", good.all)
        // The staller is cut by `timeout client` (1 s).
        let started = Date()
        XCTAssertEqual(staller.receiveSome(), [], "closed by the proxy")
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        // A connection that sends nothing and leaves is logged, as HAProxy does without
        // `option dontlognull` (so is the start-up wait's connection; TLSLogTests has the rules).
        try TCP.Connection(port: port).close()
        usleep(200_000)
        XCTAssertEqual(app.connectionCount, 1, "failed handshakes never reached the backend")
        // This frontend has no log target: the lines go to stderr.
        let stderr = proxy.stopAndReadStderr()
        let lines = stderr.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.hasSuffix("https-in/1: SSL handshake failure") }.count, 1, stderr)
        XCTAssertEqual(lines.filter { $0.hasSuffix("https-in/1: Timeout during SSL handshake") }.count, 1, stderr)
        XCTAssertEqual(lines.filter { $0.hasSuffix("https-in/1: Connection closed during SSL handshake") }.count, 2, stderr)
        XCTAssertEqual(lines.filter { $0.contains("SSL handshake") }.count, 4, stderr)
        XCTAssertTrue(lines.contains { $0.hasPrefix("127.0.0.1:") && $0.contains("] https-in/1: ") }, stderr)
    }

    func testAnExpiredCertificateIsAWarningAndStillServed() throws {
        let app = try TestBackend(name: "app")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http") + """
            frontend fe
                bind 127.0.0.1:\(port) ssl crt expired.pem
                default_backend app
            backend app
            \(ProxyFixture.serverLines([app]))
            """, waitForPorts: [port])
        let r = try Tool.curlInsecure(["-v", "https://127.0.0.1:\(port)/"])
        XCTAssertEqual(r.stdout, "app", r.all)
        XCTAssertTrue(r.stderr.contains("expire date: Feb  1 00:00:00 2019 GMT"), r.stderr)
        let stderr = proxy.stopAndReadStderr()
        XCTAssertTrue(stderr.contains("[WARNING]"), stderr)
        XCTAssertTrue(stderr.contains("certificate in '\(try m.path("expired.pem"))' has expired."), stderr)
    }

    func testBadCertificatesAreStartupErrorsNamingTheFile() throws {
        let mismatch = try m.path("mismatch.pem")
        try (try String(contentsOfFile: try m.path("proxy.crt"), encoding: .utf8)
             + String(contentsOfFile: try m.path("other.key"), encoding: .utf8))
            .write(toFile: mismatch, atomically: true, encoding: .utf8)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try preamble(mode: "http") + """
            listen fe
                bind 127.0.0.1:\(port) ssl crt mismatch.pem
                server s 127.0.0.1:1
            """)
        XCTAssertEqual(proxy.waitForExit(timeout: 10), 1)
        let text = proxy.stderrText()
        XCTAssertTrue(text.contains("inconsistencies between private key and certificate loaded from PEM file '\(mismatch)'"), text)

        let badCipher = try ProxydProcess(config: try preamble(mode: "http") + """
            listen fe
                bind 127.0.0.1:\(port) ssl crt proxy.pem ciphers NOSUCHCIPHER
                server s 127.0.0.1:1
            """)
        XCTAssertEqual(badCipher.waitForExit(timeout: 10), 1)
        XCTAssertTrue(badCipher.stderrText().contains("unable to set SSL cipher list to 'NOSUCHCIPHER'"))
    }
}
