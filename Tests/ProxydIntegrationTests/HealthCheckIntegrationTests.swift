import Foundation
import NIOConcurrencyHelpers
import XCTest

/// Health checks against real servers, with the log sentences HAProxy 2.6 writes.
final class HealthCheckIntegrationTests: XCTestCase {
    private func config(log: LogReceiver, port: Int, backend: String, defaults: String = "") -> String {
        """
        global
            nbthread 1
            log \(log.path) local0
        defaults
            mode http
            log global
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        \(defaults)
        frontend fe
            bind 127.0.0.1:\(port)
            default_backend app
        \(backend)
        """
    }

    private func body(_ port: Int) throws -> String {
        let response = try ProxyFixture.get(port: port)
        return String(decoding: response.body, as: UTF8.self)
    }

    /// The lab's "stop a web server" step: the server goes DOWN, gets no request, and
    /// comes back UP when it starts again.
    func testStoppedServerGoesDownGetsNothingAndComesBack() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let a = try TestBackend(name: "a")
        // Released (not stopped) to go away: TestBackend stops itself once, in deinit.
        var b: TestBackend? = try TestBackend(name: "b")
        let bPort = b!.port
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: config(log: log, port: port, backend: """
            backend app
                balance roundrobin
                option httpchk GET /healthz
                http-check expect rstatus (2|3)[0-9][0-9]
                option log-health-checks
                server a 127.0.0.1:\(a.port) check inter 200ms fall 2 rise 2
                server b 127.0.0.1:\(bPort) check inter 200ms fall 2 rise 2
            """), waitForPorts: [port])
        defer { proxy.stop() }

        XCTAssertNotNil(log.wait(for: "Health check for server app/b succeeded, reason: Layer7 check passed, code: 200"))
        XCTAssertTrue(a.heads.contains { $0.hasPrefix("GET /healthz HTTP/1.0") }, "the check's request: \(a.heads)")
        b = nil
        let failed = log.wait(for: "Health check for server app/b failed")
        XCTAssertNotNil(failed)
        XCTAssertTrue(failed?.hasSuffix("status: 1/2 UP.") ?? false || failed?.hasSuffix("status: 0/2 DOWN.") ?? false,
                      failed ?? "")
        let down = log.wait(for: "Server app/b is DOWN.")
        XCTAssertEqual(down, "Server app/b is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.")
        XCTAssertNotNil(log.messages.first {
            $0.contains("Health check for server app/b failed, reason: Layer4 connection problem, info: \"Connection refused\"")
        }, log.messages.joined(separator: "\n"))

        let before = a.requestCount
        for _ in 0..<6 { XCTAssertEqual(try body(port), "a") }
        XCTAssertGreaterThanOrEqual(a.requestCount - before, 6)

        let again = try TestBackend(name: "b", port: bPort)
        _ = again
        XCTAssertEqual(log.wait(for: "Server app/b is UP"),
                       "Server app/b is UP. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.")
        var seen = Set<String>()
        for _ in 0..<4 { seen.insert(try body(port)) }
        XCTAssertEqual(seen, ["a", "b"])
    }

    /// The last server going down: the backend has none left, requests get 503.
    func testLastServerDownAndNoServerAvailable() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let dead = TCP.freePort()
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: config(log: log, port: port, backend: """
            backend app
                server gone 127.0.0.1:\(dead) check inter 300ms
            """), waitForPorts: [port])
        defer { proxy.stop() }
        // Without `option log-health-checks` the reason goes into the DOWN sentence.
        // A refused connect takes 0 ms, or 1 on a busy machine: the duration is read apart.
        let down = log.wait(for: "Server app/gone is DOWN")?
            .replacingOccurrences(of: #"check duration: [01]ms"#, with: "check duration: 0ms", options: .regularExpression)
        XCTAssertEqual(down,
                       "Server app/gone is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.")
        XCTAssertNotNil(log.wait(for: "backend app has no server available!"))
        XCTAssertTrue(log.all.contains { $0.hasPrefix("<128>") && $0.contains("has no server available!") }, "emerg")
        XCTAssertTrue(log.all.contains { $0.hasPrefix("<129>") && $0.contains("is DOWN") }, "alert")
        XCTAssertEqual(try ProxyFixture.get(port: port).status, 503)
    }

    /// A server whose address stopped answering (SYNs dropped) is found by timeout, and an
    /// HTTP server that accepts but never answers by `timeout check`.
    func testSilentServersDetectedByTimeout() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let hole = try BlackHole()
        defer { hole.close() }
        let mute = try TestBackend(name: "mute", behaviour: .slow(.seconds(30)))
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: config(log: log, port: port, backend: """
            backend app
                option httpchk
                option log-health-checks
                timeout connect 400ms
                timeout check 300ms
                server hole 127.0.0.1:\(hole.port) check inter 1s fall 1 rise 1
                server mute 127.0.0.1:\(mute.port) check inter 1s fall 1 rise 1
            """), waitForPorts: [port])
        defer { proxy.stop() }
        let l4 = try XCTUnwrap(log.wait(for: "Health check for server app/hole failed"))
        XCTAssertTrue(l4.hasPrefix("Health check for server app/hole failed, reason: Layer4 timeout, check duration: "), l4)
        XCTAssertTrue(l4.hasSuffix("status: 0/1 DOWN."), l4)
        let l7 = try XCTUnwrap(log.wait(for: "Health check for server app/mute failed"))
        XCTAssertTrue(l7.hasPrefix("Health check for server app/mute failed, reason: Layer7 timeout, check duration: "), l7)
        XCTAssertNotNil(log.wait(for: "Server app/mute is DOWN."))
    }

    func testTCPCheckAndAgent() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let agent = try OneLineServer(reply: "drain 50%\n")
        defer { agent.stop() }
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: config(log: log, port: port, backend: """
            backend app
                mode tcp
                option tcp-check
                option log-health-checks
                tcp-check send PING\\r\\n
                tcp-check expect string PING
                server echo 127.0.0.1:\(echo.port) check inter 500ms
            backend app2
                mode tcp
                option tcp-check
                option log-health-checks
                # The agent answers within it: 300 ms was too short on a machine busy
                # enough (load 9 on 2 cores) to delay the test's agent thread.
                timeout check 1s
                tcp-check send PING\\r\\n
                tcp-check expect string +OK
                server echo 127.0.0.1:\(echo.port) check inter 1s
                server agented 127.0.0.1:\(echo.port) weight 10 agent-check agent-port \(agent.port) agent-inter 300ms
            """, defaults: "    mode tcp"), waitForPorts: [port])
        defer { proxy.stop() }
        XCTAssertNotNil(log.wait(for: "Health check for server app/echo succeeded, reason: Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: "))
        let timeout = try XCTUnwrap(log.wait(for: "Health check for server app2/echo failed"))
        XCTAssertTrue(timeout.contains("reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect string '+OK')\""), timeout)
        let drain = try XCTUnwrap(log.wait(for: "Server app2/agented enters drain state. "))
        XCTAssertTrue(drain.hasSuffix(" backup servers online. 0 sessions requeued, 0 total in queue."), drain)
        agent.reply = "ready\n"
        XCTAssertNotNil(log.wait(for: "Server app2/agented is UP (leaving forced drain)."))
        agent.reply = "maint\n"
        XCTAssertNotNil(log.wait(for: "Server app2/agented is going DOWN for maintenance."))
        agent.reply = "ready\n"
        XCTAssertNotNil(log.wait(for: "Server app2/agented is UP/READY (leaving forced maintenance)."))
    }
}

extension HealthCheckIntegrationTests {
    /// `observe layer4`: traffic that cannot connect counts as failed checks, though the
    /// check port answers; a server in maintenance (`disabled`) is not checked.
    func testObservedErrorsMarkDownAndDisabledIsNotChecked() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let checkTarget = try TestBackend(name: "check")
        let refused = TCP.freePort()
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: config(log: log, port: port, backend: """
            backend app
                retries 0
                option log-health-checks
                server s1 127.0.0.1:\(refused) check port \(checkTarget.port) inter 10s observe layer4 error-limit 2 on-error mark-down
                server off 127.0.0.1:\(refused) check inter 200ms disabled
            """), waitForPorts: [port])
        defer { proxy.stop() }
        XCTAssertNotNil(log.wait(for: "Health check for server app/s1 succeeded"))
        for _ in 0..<2 { XCTAssertEqual(try ProxyFixture.get(port: port).status, 503) }
        XCTAssertEqual(log.wait(for: "Health check for server app/s1 failed"),
                       "Health check for server app/s1 failed, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: L4 unsuccessful connection\", status: 0/2 DOWN.")
        XCTAssertNotNil(log.wait(for: "Server app/s1 is DOWN."))
        usleep(500_000)
        XCTAssertFalse(log.messages.contains { $0.contains("app/off") }, log.messages.joined(separator: "\n"))
    }
}

extension HealthCheckIntegrationTests {
    /// `on-marked-down shutdown-sessions`: sessions on a server that goes DOWN are cut
    /// (logged with HAProxy's `DD`); without it they go on.
    func testShutdownSessionsWhenMarkedDown() throws {
        let log = try LogReceiver()
        defer { log.stop() }
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        var checkTarget: TestBackend? = try TestBackend(name: "check")
        let checkPort = checkTarget!.port
        let port = TCP.freePort(), port2 = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                log \(log.path) local0
            defaults
                mode tcp
                log global
                option tcplog
                timeout connect 1s
                timeout client 30s
                timeout server 30s
            listen cut
                bind 127.0.0.1:\(port)
                server s1 127.0.0.1:\(echo.port) check port \(checkPort) inter 200ms fall 1 on-marked-down shutdown-sessions
            listen keep
                bind 127.0.0.1:\(port2)
                server s1 127.0.0.1:\(echo.port) check port \(checkPort) inter 200ms fall 1
            """, waitForPorts: [port, port2])
        defer { proxy.stop() }
        let cut = try TCP.Connection(port: port), kept = try TCP.Connection(port: port2)
        for c in [cut, kept] {
            try c.send("hi")
            XCTAssertEqual(c.receive(count: 2), Array("hi".utf8))
        }
        checkTarget = nil  // the check port stops answering: s1 goes DOWN in both
        XCTAssertNotNil(log.wait(for: "Server cut/s1 is DOWN"))
        XCTAssertNotNil(log.wait(for: "Server keep/s1 is DOWN"))
        cut.setTimeout(3)
        XCTAssertEqual(cut.receiveSome(), [], "the session was cut: EOF, not a timeout")
        // (The start-up probe's own session is logged too, as a normal one.)
        let line = try XCTUnwrap(log.wait(for: " 2 DD "), log.messages.joined(separator: "\n"))
        XCTAssertTrue(line.contains(" cut cut/s1 "), line)
        try kept.send("still")
        XCTAssertEqual(kept.receive(count: 5), Array("still".utf8), "without shutdown-sessions it goes on")
        _ = checkPort
    }
}

/// A TCP server that answers every connection with one line and closes (an agent).
final class OneLineServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private var thread: Thread?
    private let stopped = NIOLockedValueBox(false)
    private let replyBox: NIOLockedValueBox<String>
    /// What the next connections get.
    var reply: String {
        get { replyBox.withLockedValue { $0 } }
        set { replyBox.withLockedValue { $0 = newValue } }
    }

    init(reply: String) throws {
        let replyBox = NIOLockedValueBox(reply)
        self.replyBox = replyBox
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        listen(fd, 16)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let stopped = self.stopped
        let thread = Thread {
            while !stopped.withLockedValue({ $0 }) {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                let bytes = Array(replyBox.withLockedValue { $0 }.utf8)
                _ = bytes.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
                Foundation.close(client)
            }
        }
        self.thread = thread
        thread.start()
    }

    func stop() {
        stopped.withLockedValue { $0 = true }
        shutdown(fd, Int32(SHUT_RDWR))
        Foundation.close(fd)
    }
}
