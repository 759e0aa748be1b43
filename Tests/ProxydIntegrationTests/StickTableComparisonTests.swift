import Foundation
import XCTest

/// Stick tables (issue 15) side by side with Debian's HAProxy 2.6 on the same config:
/// rate limiting (429s after N requests), connection limits (rejected connections),
/// `stick on` persistence, and what `show table` says.
final class StickTableComparisonTests: XCTestCase {
    /// Both proxies on one config template (`PORT`, `SOCKET` filled in per side).
    private final class SideBySide {
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let dir: URL
        let reference: ReferenceHAProxy
        let proxy: ProxydProcess
        var haproxySocket: String { dir.appendingPathComponent("haproxy.sock").path }
        var proxydSocket: String { dir.appendingPathComponent("proxyd.sock").path }

        /// `launcher`: how proxyd is started (`env PROXYD_DATAPATH=nio` for the NIO path).
        init(_ template: String, launcher: [String] = []) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("stick-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            func config(_ port: Int, _ socket: String) -> String {
                template.replacingOccurrences(of: "PORT", with: "\(port)").replacingOccurrences(of: "SOCKET", with: socket)
            }
            let haproxySocket = dir.appendingPathComponent("haproxy.sock").path
            let proxydSocket = dir.appendingPathComponent("proxyd.sock").path
            do {
                reference = try ReferenceHAProxy(config: config(haproxyPort, haproxySocket), waitForPorts: [haproxyPort])
            } catch {
                try? FileManager.default.removeItem(at: dir)
                throw error
            }
            do {
                proxy = try ProxydProcess(config: config(proxydPort, proxydSocket), waitForPorts: [proxydPort],
                                          launcher: launcher)
            } catch {
                reference.stop()
                try? FileManager.default.removeItem(at: dir)
                throw error
            }
        }

        func stop() {
            proxy.stop()
            reference.stop()
            try? FileManager.default.removeItem(at: dir)
        }

        /// Runs `body` against each side: (HAProxy's result, proxyd's).
        func both<T>(_ body: (_ port: Int, _ socket: String) throws -> T) rethrows -> (T, T) {
            (try body(haproxyPort, haproxySocket), try body(proxydPort, proxydSocket))
        }
    }

    static func preamble() -> String {
        """
        global
            nbthread 1
            stats socket SOCKET mode 600 level admin
        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s

        """
    }

    /// `show table` once the last request's session has ended on both sides (a client
    /// has its answer a moment before the proxy has released what it tracked).
    static func settledTable(_ socket: String, _ name: String) throws -> String {
        Thread.sleep(forTimeInterval: 0.2)
        return try ask(socket, "show table \(name)")
    }

    /// One runtime API command's answer (the socket closes after it).
    static func ask(_ socket: String, _ command: String) throws -> String {
        let client = try UnixLineClient(path: socket)
        defer { close(client.fd) }
        try client.send(command + "\n")
        var lines: [String] = []
        while case .line(let line) = client.next(timeout: 5) { lines.append(line) }
        return lines.joined(separator: "\n")
    }

    /// `show table` lines with what differs between two processes masked: the entry's
    /// address and the milliseconds left before it expires (rounded to seconds).
    static func normalised(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var words = line.split(separator: " ").map(String.init)
            for i in words.indices {
                if words[i].hasPrefix("0x"), words[i].hasSuffix(":") { words[i] = "0x?:" }
                if words[i].hasPrefix("exp="), let ms = Int(words[i].dropFirst(4)) {
                    words[i] = "exp=\((ms + 500) / 1000)s"
                }
            }
            return words.joined(separator: " ")
        }.joined(separator: "\n")
    }

    static func status(_ port: Int, path: String = "/", headers: String = "") -> String {
        guard let client = try? TCP.Connection(port: port, timeout: 3) else { return "refused" }
        defer { client.close() }
        guard (try? client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\(headers)Connection: close\r\n\r\n")) != nil,
              let response = try? client.receiveResponse() else { return "closed" }
        return "\(response.status) \(response.bodyText)"
    }

    func testRateLimitAnswers429AfterNRequestsAsHAProxyDoes() throws {
        let sides = try SideBySide(Self.preamble() + """
        frontend fe
            bind 127.0.0.1:PORT
            stick-table type ip size 100k expire 30s store http_req_rate(10s),http_req_cnt,http_err_cnt,conn_cnt,conn_cur,gpc0,gpt0
            http-request track-sc0 src
            http-request deny deny_status 429 if { sc_http_req_rate(0) gt 3 }
            http-request sc-inc-gpc0(0) if { path /count }
            http-request sc-set-gpt0(0) 5 if { path /count }
            http-request return status 200 content-type text/plain string ok

        """)
        defer { sides.stop() }
        let (expected, actual) = try sides.both { port, socket -> ([String], String) in
            let answers = (0..<6).map { i in Self.status(port, path: i == 1 ? "/count" : "/") }
            return (answers, Self.normalised(try Self.settledTable(socket, "fe")))
        }
        XCTAssertEqual(expected.0, ["200 ok", "200 ok", "200 ok", "429 " + expected.0[3].dropFirst(4), "429 " + expected.0[4].dropFirst(4), "429 " + expected.0[5].dropFirst(4)])
        XCTAssertEqual(actual.0.map { String($0.prefix(3)) }, expected.0.map { String($0.prefix(3)) })
        XCTAssertEqual(actual.1, expected.1)
        XCTAssertTrue(expected.1.contains("key=127.0.0.1 use=0 exp=30s gpt0=5 gpc0=1 conn_cnt=6 conn_cur=0 http_req_cnt=6 http_req_rate(10000)=6 http_err_cnt=3"), expected.1)

        // The list, a filter, `set table` and `clear table`.
        let (listExpected, listActual) = try sides.both { port, socket -> String in
            var out = try Self.ask(socket, "show table") + "\n"
            out += try Self.ask(socket, "set table fe key 10.1.2.3 data.gpc0 7") + "\n"
            out += try Self.ask(socket, "show table fe data.gpc0 gt 5") + "\n"
            out += try Self.ask(socket, "show table fe data.nope gt 5") + "\n"
            out += try Self.ask(socket, "clear table fe key 10.1.2.3") + "\n"
            out += try Self.ask(socket, "show table fe key 10.1.2.3") + "\n"
            out += try Self.ask(socket, "show table nope")
            return Self.normalised(out)
        }
        XCTAssertEqual(listActual, listExpected)
        XCTAssertTrue(listExpected.contains("key=10.1.2.3 use=0 exp=30s gpt0=0 gpc0=7"), listExpected)
    }

    /// A counter nobody tracks has no sample: `lt` does not match it, `!{ gt }` does, and
    /// `sc_tracked` says false, as in HAProxy (proxyd read 0 before, so `lt 5` matched).
    func testUntrackedCounterHasNoSampleAsInHAProxy() throws {
        let sides = try SideBySide(Self.preamble() + """
        frontend fe
            bind 127.0.0.1:PORT
            stick-table type ip size 100 store http_req_cnt
            http-request deny deny_status 403 if { sc_http_req_cnt(1) lt 5 }
            http-request deny deny_status 401 if !{ sc_http_req_cnt(1) gt 5 } { path /negated }
            http-request deny deny_status 410 if !{ sc_tracked(1) } { path /tracked }
            http-request return status 200 content-type text/plain string ok

        """)
        defer { sides.stop() }
        let (expected, actual) = sides.both { port, _ in
            ["/", "/negated", "/tracked"].map { Self.status(port, path: $0).prefix(3) }
        }
        XCTAssertEqual(expected, ["200", "401", "410"])
        XCTAssertEqual(actual, expected)
    }

    func testConnectionLimitRejectsAsHAProxyDoes() throws {
        try connectionLimit(launcher: [])
    }

    /// The same on the NIO path, where the rules run as the session starts.
    func testConnectionLimitRejectsOnTheNIOPathToo() throws {
        try connectionLimit(launcher: ["/usr/bin/env", "PROXYD_DATAPATH=nio"])
    }

    private func connectionLimit(launcher: [String]) throws {
        let sides = try SideBySide(Self.preamble() + """
        frontend fe
            bind 127.0.0.1:PORT
            stick-table type ip size 1k store conn_cur,conn_cnt,conn_rate(10s),sess_cnt
            tcp-request connection track-sc0 src
            tcp-request connection reject if { sc0_conn_cur gt 2 }
            http-request deny deny_status 429 if { src_conn_rate ge 6 }
            http-request return status 200 content-type text/plain string ok

        """, launcher: launcher)
        defer { sides.stop() }
        let (expected, actual) = try sides.both { port, socket -> ([String], String) in
            // Four connections held open: the third and the fourth are refused.
            var held: [TCP.Connection] = []
            for _ in 0..<4 {
                held.append(try TCP.Connection(port: port, timeout: 3))
                Thread.sleep(forTimeInterval: 0.1)
            }
            var answers: [String] = []
            for connection in held {
                if (try? connection.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) != nil,
                   let response = try? connection.receiveResponse() {
                    answers.append("\(response.status)")
                } else {
                    answers.append("closed")
                }
                connection.close()
            }
            Thread.sleep(forTimeInterval: 0.2)
            // Then one at a time: the connection rate (6 in 10 s) turns them into 429s.
            answers += (0..<2).map { _ in String(Self.status(port).prefix(3)) }
            return (answers, Self.normalised(try Self.settledTable(socket, "fe")))
        }
        // The readiness probe that waited for the port was a connection too: the fifth
        // request is the sixth connection in 10 s.
        XCTAssertEqual(expected.0, ["200", "200", "closed", "closed", "429", "429"])
        XCTAssertEqual(actual.0, expected.0)
        XCTAssertEqual(actual.1, expected.1)
    }

    func testStickOnSendsClientsBackToTheirServerAsHAProxyDoes() throws {
        let one = try TestBackend(name: "one"), two = try TestBackend(name: "two")
        let sides = try SideBySide(Self.preamble() + """
        frontend fe
            bind 127.0.0.1:PORT
            default_backend be
        backend be
            balance roundrobin
            stick-table type string len 16 size 1k expire 10m
            stick on req.hdr(x-user)
            server one 127.0.0.1:\(one.port)
            server two 127.0.0.1:\(two.port)

        """)
        defer { sides.stop() }
        let (expected, actual) = try sides.both { port, socket -> ([String], String) in
            func user(_ name: String) -> String {
                String(Self.status(port, headers: "X-User: \(name)\r\n").dropFirst(4))
            }
            var served = [user("alice"), user("bob"), user("alice"), user("bob"), user("alice")]
            _ = try Self.ask(socket, "disable server be/one")
            served += [user("alice"), user("alice")]
            _ = try Self.ask(socket, "enable server be/one")
            served += [user("alice"), user("bob")]
            return (served, Self.normalised(try Self.settledTable(socket, "be")))
        }
        // Alice stays on her server until it goes away, then stays on the new one.
        XCTAssertEqual(Set(expected.0[0...4].enumerated().filter { $0.offset % 2 == 0 }.map(\.element)).count, 1)
        XCTAssertEqual(actual.0, expected.0)
        XCTAssertEqual(actual.1, expected.1)
        XCTAssertTrue(expected.1.contains("server_id=2 server_key=two"), expected.1)
    }

    func testTablesOfOtherSectionsKeyedByHeaderAndAddressAsHAProxyDoes() throws {
        let sides = try SideBySide(Self.preamble() + """
        frontend fe
            bind 127.0.0.1:PORT
            http-request track-sc1 req.hdr(x-user) table per_user
            http-request track-sc2 src table per_ip
            http-request deny deny_status 403 if { src_http_req_rate(per_ip) gt 4 }
            http-request deny deny_status 429 if { sc1_http_req_cnt gt 2 }
            http-request return status 404 content-type text/plain string nf if { path /nf }
            http-request return status 200 content-type text/plain string ok
        backend per_user
            stick-table type string len 8 size 10 store http_req_cnt,http_err_cnt,http_err_rate(1m),conn_cur,sess_cnt
        backend per_ip
            stick-table type ipv6 size 10 expire 1m store http_req_rate(10s),http_err_cnt

        """)
        defer { sides.stop() }
        let (expected, actual) = try sides.both { port, socket -> ([String], String) in
            let answers = ["c", "b", "a", "a", "b", "/nf", "c"].map { user in
                user == "/nf" ? Self.status(port, path: "/nf") : Self.status(port, headers: "X-User: \(user)\r\n")
            }.map { String($0.prefix(3)) }
            return (answers, Self.normalised(try Self.settledTable(socket, "per_user") + "\n"
                                             + Self.ask(socket, "show table per_ip")))
        }
        XCTAssertEqual(expected.0, ["200", "200", "200", "200", "403", "403", "403"])
        XCTAssertEqual(actual.0, expected.0)
        XCTAssertEqual(actual.1, expected.1)
        XCTAssertTrue(expected.1.contains("key=::ffff:127.0.0.1 use=0 exp=60s http_req_rate(10000)=7 http_err_cnt=3"), expected.1)
    }

    func testTCPModeLimitsAndStickinessAsHAProxyDoes() throws {
        let one = try TestBackend(name: "one"), two = try TestBackend(name: "two")
        let sides = try SideBySide(Self.preamble().replacingOccurrences(of: "mode http", with: "mode tcp") + """
        frontend fe
            bind 127.0.0.1:PORT
            stick-table type ip size 1k store conn_cur,conn_cnt,sess_cnt,bytes_in_cnt
            tcp-request connection track-sc0 src
            tcp-request connection reject if { sc0_conn_cur gt 1 }
            default_backend be
        backend be
            balance roundrobin
            stick-table type ip size 1k expire 10m
            stick on src
            server one 127.0.0.1:\(one.port)
            server two 127.0.0.1:\(two.port)

        """)
        defer { sides.stop() }
        let (expected, actual) = try sides.both { port, socket -> ([String], String, String) in
            var answers: [String] = []
            let request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            for _ in 0..<3 {
                // One connection at a time is served, the same server each time; a second
                // one alongside is refused.
                let first = try TCP.Connection(port: port, timeout: 3)
                Thread.sleep(forTimeInterval: 0.1)
                let second = try TCP.Connection(port: port, timeout: 3)
                try first.send(request)
                answers.append((try? first.receiveResponse()).map { $0.bodyText } ?? "closed")
                answers.append((try? second.send(request)).flatMap { try? second.receiveResponse() }.map { $0.bodyText } ?? "closed")
                first.close()
                second.close()
                Thread.sleep(forTimeInterval: 0.1)
            }
            return (answers, Self.normalised(try Self.settledTable(socket, "fe")), Self.normalised(try Self.ask(socket, "show table be")))
        }
        // Which server comes first depends on where the readiness probe's connection went:
        // each side sticks to its first server, and its table says which.
        for side in [expected, actual] {
            XCTAssertEqual(side.0.enumerated().filter { $0.offset % 2 == 1 }.map(\.element), ["closed", "closed", "closed"])
            let served = Set(side.0.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
            XCTAssertEqual(served.count, 1, "\(side.0)")
            let id = served.first == "one" ? 1 : 2
            XCTAssertTrue(side.2.contains("key=127.0.0.1 use=0 exp=600s server_id=\(id) server_key=\(served.first ?? "")"), side.2)
        }
        XCTAssertEqual(actual.1, expected.1)
        XCTAssertTrue(expected.1.contains("conn_cnt=7 conn_cur=0 sess_cnt=4 bytes_in_cnt=138"), expected.1)
    }

    /// In `mode http`, `tcp-request content` tracking lasts one request: three requests on
    /// one connection count three connections and no session, as in HAProxy 2.6.
    func testContentTrackingIsPerRequestInHTTPModeAsHAProxyDoes() throws {
        let sides = try SideBySide(Self.preamble() + """
        frontend fe
            bind 127.0.0.1:PORT
            stick-table type ip size 1k store conn_cnt,conn_cur,sess_cnt,http_req_cnt
            tcp-request content track-sc0 src
            http-request return status 200 content-type text/plain string ok

        """)
        defer { sides.stop() }
        let (expected, actual) = try sides.both { port, socket -> String in
            let client = try TCP.Connection(port: port, timeout: 3)
            for _ in 0..<3 {
                try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try client.receiveResponse()
            }
            client.close()
            return Self.normalised(try Self.settledTable(socket, "fe"))
        }
        XCTAssertEqual(actual, expected)
        XCTAssertTrue(expected.contains("conn_cnt=3 conn_cur=0 sess_cnt=0 http_req_cnt=3"), expected)
    }

    /// `http-response sc-inc-gpc0/1` and `sc-set-gpt0` on what servers answer (a HAProxy
    /// serves 404 and 200 behind both).
    func testResponseRulesCountWhatServersAnswerAsHAProxyDoes() throws {
        let serverPort = TCP.freePort()
        let server = try ReferenceHAProxy(config: """
        defaults
            mode http
            timeout client 5s
            timeout server 5s
            timeout connect 5s
        listen s1
            bind 127.0.0.1:\(serverPort)
            http-request return status 404 if { path /nf }
            http-request return status 200 content-type text/plain string ok

        """, waitForPorts: [serverPort])
        defer { server.stop() }
        let sides = try SideBySide(Self.preamble() + """
        frontend fe
            bind 127.0.0.1:PORT
            stick-table type ip size 1k store gpc0,gpc1,gpt0,http_err_cnt,http_req_rate(10s)
            http-request track-sc0 src
            http-response set-header X-Req-Rate %[sc_http_req_rate(0)]
            http-response sc-inc-gpc0(0) if { status 404 }
            http-response sc-set-gpt0(0) 7 if { status 200 }
            http-response sc-inc-gpc1
            default_backend be
        backend be
            server s1 127.0.0.1:\(serverPort)

        """)
        defer { sides.stop() }
        let (expected, actual) = try sides.both { port, socket -> ([String], String) in
            let answers = try ["/", "/nf", "/nf", "/"].map { path -> String in
                let client = try TCP.Connection(port: port, timeout: 3)
                defer { client.close() }
                try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                let response = try client.receiveResponse()
                return "\(response.status) rate=\(response.header("x-req-rate") ?? "-")"
            }
            return (answers, Self.normalised(try Self.settledTable(socket, "fe")))
        }
        XCTAssertEqual(expected.0, ["200 rate=1", "404 rate=2", "404 rate=3", "200 rate=4"])
        XCTAssertEqual(actual.0, expected.0)
        XCTAssertEqual(actual.1, expected.1)
        XCTAssertTrue(expected.1.contains("gpt0=7 gpc0=2 http_req_rate(10000)=4 http_err_cnt=2 gpc1=4"), expected.1)
    }
}
