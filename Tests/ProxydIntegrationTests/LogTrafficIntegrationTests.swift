import Foundation
import XCTest

/// Traffic logs of a real run, read by the real `halog`, and next to HAProxy's own.
final class LogTrafficIntegrationTests: XCTestCase {
    static let halog = "/usr/sbin/halog"

    private func run(_ path: String, _ arguments: [String], input: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// `%Tw`, the queue: a request that waited for a slot on a full server logs its wait,
    /// one that never got a slot logs the queue timeout (`sQ`), as HAProxy 2.6 does
    /// (`0/101/-1/-1/101 503 … sQ--` on the same setup).
    func testQueueTimeIsLogged() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(300)))
        let port = TCP.freePort(), shortPort = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                log \(log.path) local0
            defaults
                mode http
                log global
                option httplog
                timeout connect 1s
                timeout client 5s
                timeout server 5s
                timeout queue 1s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                server slow 127.0.0.1:\(slow.port) maxconn 1
            frontend short
                bind 127.0.0.1:\(shortPort)
                default_backend shortqueue
            backend shortqueue
                timeout queue 100ms
                server slow 127.0.0.1:\(slow.port) maxconn 1
            """, waitForPorts: [port, shortPort])
        defer { proxy.stop() }
        func together(_ port: Int, _ paths: [String]) {
            let group = DispatchGroup()
            for path in paths {
                DispatchQueue.global().async(group: group) { _ = try? ProxyFixture.get(port: port, path: path) }
                usleep(50_000)  // in this order
            }
            group.wait()
        }
        together(port, ["/first", "/second"])
        together(shortPort, ["/held", "/dropped"])
        let second = try XCTUnwrap(log.wait(for: "GET /second"))
        // Tw: the first request's 300 ms less the 50 ms head start.
        let secondTimes = try XCTUnwrap(second.firstMatch(of: #/ app/slow 0/(\d+)/(\d+)/\d+/\d+ 200 /#), second)
        XCTAssertGreaterThan(Int(secondTimes.1)!, 150, second)
        XCTAssertLessThan(Int(secondTimes.1)!, 400, second)
        let dropped = try XCTUnwrap(log.wait(for: "GET /dropped"))
        let droppedTimes = try XCTUnwrap(dropped.firstMatch(of: #/ shortqueue/<NOSRV> 0/(\d+)/-1/-1/\d+ 503 \d+ - - sQ-- \d+/\d+/\d+/\d+/0 0/1 /#), dropped)
        XCTAssertGreaterThanOrEqual(Int(droppedTimes.1)!, 100, dropped)
    }

    /// Retries against a server that refuses: each attempt has its own `timeout connect`
    /// and a second's turn-around, so `retries 3` waits about three seconds and logs `SC`
    /// with 3 retries, as HAProxy 2.6 does on the same setup (`0/0/-1/-1/3003 503 … SC--
    /// 1/1/0/0/3`). A timer over the whole connect phase used to cut it at `timeout
    /// connect` (`sC`, one retry); and a refused `retries 0` logs 0, not 1.
    func testRetriesWaitTheirTurnAroundAndAreCounted() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let closed = TCP.freePort()
        let port = TCP.freePort(), noRetryPort = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                log \(log.path) local0
            defaults
                mode http
                log global
                option httplog
                timeout connect 1s
                timeout client 10s
                timeout server 10s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            frontend once
                bind 127.0.0.1:\(noRetryPort)
                default_backend noretry
            backend app
                server refuses 127.0.0.1:\(closed)
            backend noretry
                retries 0
                server refuses 127.0.0.1:\(closed)
            """, waitForPorts: [port, noRetryPort])
        defer { proxy.stop() }
        let started = Date()
        let response = try ProxyFixture.get(port: port, path: "/retried")
        let waited = Date().timeIntervalSince(started)
        XCTAssertEqual(response.status, 503)
        XCTAssertGreaterThanOrEqual(waited, 2.9, "three turn-arounds of a second")
        let line = try XCTUnwrap(log.wait(for: "GET /retried"))
        XCTAssertNotNil(line.firstMatch(of: #/ app/refuses 0/0/-1/-1/\d+ 503 \d+ - - SC-- \d+/\d+/\d+/\d+/3 /#), line)
        _ = try ProxyFixture.get(port: noRetryPort, path: "/once")
        let once = try XCTUnwrap(log.wait(for: "GET /once"))
        XCTAssertNotNil(once.firstMatch(of: #/ noretry/refuses 0/0/-1/-1/\d+ 503 \d+ - - SC-- \d+/\d+/\d+/\d+/0 /#), once)
    }

    /// A request that cannot be read (400) and one that never ends (408) are answered by
    /// HAProxy's connection layer, whose bytes its log does not count: `400 0 … PR--` and
    /// `408 0 … cR--` with `<BADREQ>`, the same fields from both proxies.
    func testUnreadableRequestsLogNoBytesAsHAProxy() throws {
        func lines(_ start: (String, Int) throws -> Void) throws -> [String] {
            let log = try LogReceiver()
            defer { log.stop() }
            let port = TCP.freePort()
            try start("""
                global
                    log \(log.path) local0
                defaults
                    mode http
                    log global
                    option httplog
                    timeout connect 1s
                    timeout client 5s
                    timeout server 5s
                    timeout http-request 300ms
                frontend fe
                    bind 127.0.0.1:\(port)

                """, port)
            for request in ["GE T / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n"] {
                let client = try TCP.Connection(port: port, timeout: 3)
                try client.send(request)
                _ = try? client.receiveResponse()
            }
            _ = log.wait(for: " 408 ")
            // status, bytes, termination state and request of each line. (The readiness
            // probes, connections closed without a byte, log `400 0 CR--` in both; the two
            // harnesses probe a different number of times: left out here.)
            return log.all.filter { !$0.contains(" CR-- ") }.compactMap { line in
                line.firstMatch(of: #/ fe fe/<NOSRV> \S+ (\d+ \d+) - - (\S+) \S+ \S+ (".*")/#)
                    .map { "\($0.1) \($0.2) \($0.3)" }
            }
        }
        let ours = try lines { config, port in
            let proxy = try ProxydProcess(config: config, waitForPorts: [port])
            self.addTeardownBlock { proxy.stop() }
        }
        XCTAssertEqual(ours, ["400 0 PR-- \"<BADREQ>\"", "408 0 cR-- \"<BADREQ>\""])
        let theirs = try lines { config, port in
            let haproxy = try ReferenceHAProxy(config: config, waitForPorts: [port])
            self.addTeardownBlock { haproxy.stop() }
        }
        XCTAssertEqual(ours, theirs)
    }

    /// A connection closed before its first byte: HAProxy 2.6 counts it as a bad request
    /// (`ereq`, `req_tot` and `hrsp_4xx` grow), logs `400 0 … CR-- "<BADREQ>"`
    /// unless `option dontlognull`, and answers 400 to a client that only half-closed.
    /// The same assertions hold for both proxies on the same config.
    func testConnectionsClosedBeforeAnyByteAsHAProxy() throws {
        func observe(dontLogNull: Bool, _ start: (String, Int) throws -> Void) throws -> (lines: Int, ereq: Int, req: Int, hrsp4xx: Int, answer: String) {
            let log = try LogReceiver()
            defer { log.stop() }
            let port = TCP.freePort()
            let socket = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(port).sock").path
            defer { try? FileManager.default.removeItem(atPath: socket) }
            try start("""
                global
                    log \(log.path) local0
                    stats socket \(socket) level admin
                defaults
                    mode http
                    log global
                    option httplog
                    \(dontLogNull ? "option dontlognull" : "")
                    timeout connect 1s
                    timeout client 5s
                    timeout server 5s
                frontend fe
                    bind 127.0.0.1:\(port)
                    http-request return status 200 content-type text/plain string ok

                """, port)
            func stats() throws -> [String: Int] {
                let text = try ControlClient.socat("show stat", socket: socket)
                let rows = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
                guard let header = rows.first, let row = rows.first(where: { $0.count > 1 && $0[1] == "FRONTEND" }) else { return [:] }
                var out: [String: Int] = [:]
                for (i, name) in header.enumerated() where i < row.count { out[name.replacingOccurrences(of: "# ", with: "")] = Int(row[i]) }
                return out
            }
            let before = try stats()
            let linesBefore = log.all.filter { $0.contains(" CR-- ") }.count
            for _ in 0..<3 { _ = try TCP.Connection(port: port, timeout: 3) }  // closed at once
            let halfClosed = try TCP.Connection(port: port, timeout: 3)
            shutdown(halfClosed.fd, Int32(SHUT_WR))
            let answer = (try? halfClosed.receiveResponse()).map { "\($0.status)" } ?? "(nothing)"
            let ok = try ProxyFixture.get(port: port, path: "/")
            XCTAssertEqual(ok.status, 200)
            _ = log.wait(for: "GET / HTTP/1.1")
            usleep(200_000)
            let after = try stats()
            func grew(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
            return (log.all.filter { $0.contains(" CR-- ") }.count - linesBefore, grew("ereq"), grew("req_tot"),
                    grew("hrsp_4xx"), answer)
        }
        for dontLogNull in [false, true] {
            let ours = try observe(dontLogNull: dontLogNull) { config, port in
                let proxy = try ProxydProcess(config: config, waitForPorts: [port])
                self.addTeardownBlock { proxy.stop() }
            }
            let theirs = try observe(dontLogNull: dontLogNull) { config, port in
                let haproxy = try ReferenceHAProxy(config: config, waitForPorts: [port])
                self.addTeardownBlock { haproxy.stop() }
            }
            for (who, r) in [("proxyd", ours), ("haproxy", theirs)] {
                XCTAssertEqual(r.lines, dontLogNull ? 0 : 4, "\(who), dontlognull \(dontLogNull): \(r)")
                XCTAssertEqual(r.ereq, 4, "\(who): \(r)")
                XCTAssertEqual(r.req, 5, "\(who): \(r)")
                XCTAssertEqual(r.hrsp4xx, 4, "\(who): \(r)")
                XCTAssertEqual(r.answer, "400", "\(who): \(r)")
            }
        }
    }

    /// `option httplog` lines through `halog -st` (status counts) and `-srv`: halog reads
    /// syslog files, so the header is the one `log-send-hostname` gives (5 fields).
    func testHalogReadsHTTPLogs() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.halog) else { throw XCTSkip("no halog") }
        let log = try LogReceiver()
        defer { log.stop() }
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                log \(log.path) local0
                log-send-hostname lb1
            defaults
                mode http
                log global
                option httplog
                option dontlognull
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                http-request deny if { path /deny }
                use_backend empty if { path /empty }
                default_backend app
            backend app
                server a 127.0.0.1:\(a.port)
            backend empty
                server none 127.0.0.1:1 disabled
            """, waitForPorts: [port])
        defer { proxy.stop() }
        for _ in 0..<5 { XCTAssertEqual(try ProxyFixture.get(port: port, path: "/ok").status, 200) }
        for _ in 0..<2 { XCTAssertEqual(try ProxyFixture.get(port: port, path: "/deny").status, 403) }
        XCTAssertEqual(try ProxyFixture.get(port: port, path: "/empty").status, 503)
        // A connection that sends nothing is not logged (dontlognull).
        try TCP.Connection(port: port).close()
        XCTAssertNotNil(log.wait(for: "\"GET /empty HTTP/1.1\""))
        usleep(200_000)
        let lines = log.all
        XCTAssertEqual(lines.count, 8, lines.joined())
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("<134>") && $0.contains(" lb1 proxyd[") }, lines.joined())
        // What a syslog daemon writes to its file: the line without `<PRI>`.
        let file = lines.map { String($0.drop { $0 != ">" }.dropFirst()) }.joined()
        let statuses = try run(Self.halog, ["-st"], input: file)
        XCTAssertEqual(statuses.split(separator: "\n").map(String.init), ["200 5", "403 2", "503 1"], statuses)
        let codes = try run(Self.halog, ["-tc"], input: file)
        XCTAssertTrue(codes.contains("-- 5"), codes)
        XCTAssertTrue(codes.contains("PR 2"), codes)
        XCTAssertTrue(codes.contains("SC 1"), codes)
        let servers = try run(Self.halog, ["-srv", "-H"], input: file)
        XCTAssertTrue(servers.contains("app/a"), servers)

        let ok = try XCTUnwrap(log.messages.first { $0.contains("GET /ok") })
        let pattern = #"^127\.0\.0\.1:\d+ \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] fe app/a \d+/0/\d+/\d+/\d+ 200 \d+ - - ---- \d+/\d+/0/0/0 0/0 "GET /ok HTTP/1\.1"$"#
        XCTAssertNotNil(ok.range(of: pattern, options: .regularExpression), ok)
        let denied = try XCTUnwrap(log.messages.first { $0.contains("GET /deny") })
        XCTAssertTrue(denied.contains(" fe fe/<NOSRV> 0/-1/-1/-1/0 403 "), denied)
        XCTAssertTrue(denied.contains(" - - PR-- "), denied)
        let empty = try XCTUnwrap(log.messages.first { $0.contains("GET /empty") })
        XCTAssertTrue(empty.contains(" fe empty/<NOSRV> 0/-1/-1/-1/0 503 "), empty)
        XCTAssertTrue(empty.contains(" - - SC-- "), empty)
    }

    /// `option tcplog`: one line per session at its end, with HAProxy's fields; a session
    /// without data is not logged with `dontlognull`, and is without it.
    func testTCPLog() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let port = TCP.freePort(), port2 = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                log \(log.path) local0 info
            defaults
                mode tcp
                log global
                option tcplog
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            listen quiet
                bind 127.0.0.1:\(port)
                option dontlognull
                server e1 127.0.0.1:\(echo.port)
            listen chatty
                bind 127.0.0.1:\(port2)
                server e1 127.0.0.1:\(echo.port)
            """, waitForPorts: [port, port2])
        defer { proxy.stop() }
        let c = try TCP.Connection(port: port)
        try c.send("hello")
        XCTAssertEqual(c.receive(count: 5), Array("hello".utf8))
        c.shutdownWrite()
        _ = c.receiveAll()
        c.close()
        try TCP.Connection(port: port).close()
        let line = try XCTUnwrap(log.wait(for: " quiet quiet/e1 "))
        let pattern = #"^127\.0\.0\.1:\d+ \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] quiet quiet/e1 0/\d+/\d+ \d+ -- \d+/\d+/0/0/0 0/0$"#
        XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), line)
        try TCP.Connection(port: port2).close()
        XCTAssertNotNil(log.wait(for: " chatty chatty/e1 "), "without dontlognull an empty session is logged")
        usleep(200_000)
        XCTAssertEqual(log.messages.filter { $0.contains(" quiet quiet/") }.count, 1, log.messages.joined(separator: "\n"))
    }

    /// The same config under HAProxy 2.6 and proxyd: the health-check sentences match word
    /// for word once durations are set aside.
    func testHealthSentencesMatchHAProxy() throws {
        let haproxy = "/usr/sbin/haproxy"
        guard FileManager.default.isExecutableFile(atPath: haproxy) else { throw XCTSkip("no haproxy") }
        let good = try TestBackend(name: "good")
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let refused = TCP.freePort()
        func config(_ log: LogReceiver, _ port: Int) -> String {
            """
            global
                log \(log.path) local0
            defaults
                mode http
                log global
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                option httpchk GET /healthz
                http-check expect rstatus (2|3)[0-9][0-9]
                option log-health-checks
                server good 127.0.0.1:\(good.port) check inter 10s fall 3 rise 2
                server refused 127.0.0.1:\(refused) check inter 10s fall 3 rise 2
            backend tcpapp
                mode tcp
                option tcp-check
                option log-health-checks
                tcp-check send PING\\r\\n
                tcp-check expect string PING
                server echo 127.0.0.1:\(echo.port) check inter 10s
                server gone 127.0.0.1:\(refused) check inter 10s
            backend quiet
                server gone 127.0.0.1:\(refused) check inter 10s
            """
        }
        func sentences(_ log: LogReceiver) -> [String] {
            // "Connect from" lines are the start-up probe's connection (proxyd only).
            log.messages.filter { !$0.hasPrefix("Connect from") }.map { $0.replacingOccurrences(of: #"check duration: \d+ms"#, with: "check duration: Nms",
                                                     options: .regularExpression) }.sorted()
        }
        let theirs = try LogReceiver()
        defer { theirs.stop() }
        let theirPort = TCP.freePort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("haproxy-\(UUID().uuidString.prefix(8)).cfg")
        try (config(theirs, theirPort) + "\n").write(to: dir, atomically: true, encoding: .utf8)
        let reference = Process()
        reference.executableURL = URL(fileURLWithPath: haproxy)
        reference.arguments = ["-f", dir.path, "-db", "-q"]
        reference.standardError = FileHandle.nullDevice
        reference.standardOutput = FileHandle.nullDevice
        try reference.run()
        let ours = try LogReceiver()
        defer { ours.stop() }
        let ourPort = TCP.freePort()
        let proxy = try ProxydProcess(config: config(ours, ourPort), waitForPorts: [ourPort])
        defer { proxy.stop() }
        // Each server is checked once in this window (inter 10s).
        // First checks are spread over the shortest interval (10 s for 5 checks: 0, 2, … 8 s).
        XCTAssertNotNil(theirs.wait(for: "backend quiet has no server available!", timeout: 12))
        XCTAssertNotNil(ours.wait(for: "backend quiet has no server available!", timeout: 12))
        usleep(1_500_000)
        reference.terminate()
        reference.waitUntilExit()
        try? FileManager.default.removeItem(at: dir)
        XCTAssertEqual(sentences(ours), sentences(theirs))
        XCTAssertEqual(sentences(ours).count, 8, sentences(ours).joined(separator: "\n"))
    }
}

extension LogTrafficIntegrationTests {
    /// A syslog that is gone, and one that never reads (its buffer full): requests are
    /// served all the same and at once; the lines are lost, not waited for.
    func testDeadOrFullSyslogNeverBlocksRequests() throws {
        let full = try LogReceiver(reading: false)
        defer { full.stop() }
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                log {DIR}/no-such-syslog.sock local0
                log \(full.path) len 8192 local0
            defaults
                mode http
                log global
                option httplog
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                server a 127.0.0.1:\(a.port)
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let start = Date()
        let path = "/" + String(repeating: "x", count: 4000)  // long lines fill the socket fast
        for _ in 0..<300 { XCTAssertEqual(try ProxyFixture.get(port: port, path: path).status, 200) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
        XCTAssertGreaterThanOrEqual(a.requestCount, 300)
    }
}
