import Foundation
import XCTest

/// `subscribe ha` on the control socket (docs/ha-protocol.md), as vrrpd uses it: the
/// snapshot, events pushed when servers change, EOF when proxyd dies, and stops that
/// wait for a hold subscriber.
final class HASubscriptionTests: XCTestCase {
    struct Setup {
        let proxy: ProxydProcess
        let port: Int
        let admin: String
        let user: String
        let config: String
    }

    /// proxyd with frontend `fe` → backend `app` (`servers`), a stats-only listen section,
    /// a frontend answering by itself, and admin and user control sockets.
    private func start(_ servers: [TestBackend], serverOptions: String = "", global: String = "",
                       arguments: [String] = []) throws -> Setup {
        let port = TCP.freePort(), statsPort = TCP.freePort(), selfPort = TCP.freePort()
        let config = """
            global
                nbthread 2
                stats socket {DIR}/admin.sock mode 600 level admin
                stats socket {DIR}/user.sock mode 666 level user
                stats timeout 1s
            \(global)

            defaults
                mode http
                timeout connect 2s
                timeout client 10s
                timeout server 10s

            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app

            listen stats
                bind 127.0.0.1:\(statsPort)
                stats enable

            frontend answers
                bind 127.0.0.1:\(selfPort)
                http-request return status 200

            backend app
            \(ProxyFixture.serverLines(servers, options: serverOptions))

            """
        let proxy = try ProxydProcess(config: config, extraArguments: arguments, waitForPorts: [port])
        let dir = proxy.directory.path
        // With {DIR} resolved: a reload must use the same socket paths.
        let setup = Setup(proxy: proxy, port: port, admin: dir + "/admin.sock", user: dir + "/user.sock",
                          config: proxy.configText)
        // The control sockets come just after the listeners, one after the other.
        XCTAssertTrue(ControlClient.eventually(5) {
            FileManager.default.fileExists(atPath: setup.admin) && FileManager.default.fileExists(atPath: setup.user)
        })
        return setup
    }

    private func subscribe(_ path: String, hold: Bool = false) throws -> (UnixLineClient, [String]) {
        let client = try UnixLineClient(path: path)
        try client.send(hold ? "subscribe ha hold\n" : "subscribe ha\n")
        return (client, try client.lines(through: "ready"))
    }

    /// Milliseconds `body` took.
    private func elapsed(_ body: () throws -> Void) rethrows -> Int {
        let start = Date()
        try body()
        return Int(Date().timeIntervalSince(start) * 1000)
    }

    // MARK: the snapshot and the line protocol

    func testSnapshotListsFrontendsInConfigOrderThenPingPong() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let (client, lines) = try subscribe(setup.admin)
        XCTAssertEqual(lines.count, 5, "\(lines)")
        let header = lines[0].split(separator: " ").map(String.init)
        XCTAssertEqual(Array(header.prefix(2)), ["proxyd-ha", "1"])
        XCTAssertEqual(header[2], "pid=\(setup.proxy.pid)")
        var namespace = stat()
        XCTAssertEqual(stat("/proc/self/ns/net", &namespace), 0)
        XCTAssertEqual(header[3], "netns=\(namespace.st_ino)", "the same namespace as this test")
        XCTAssertEqual(Array(header.suffix(2)), ["state=serving", "grace=3000"])
        XCTAssertEqual(Array(lines[1...]), ["frontend fe up", "frontend stats up", "frontend answers up", "ready"],
                       "a stats page and a frontend that answers by itself are always up")

        try client.send("ping\n")
        XCTAssertEqual(try client.line(), "pong")
        try client.send("show info\n")
        XCTAssertTrue(try client.line().hasPrefix("error: "), "runtime API commands are not for subscribers")
        // `stats timeout 1s` does not apply: still there after it.
        usleep(1_300_000)
        try client.send("ping\n")
        XCTAssertEqual(try client.line(), "pong")

        // Not counted where HAProxy clients look: Jobs is the same with or without it.
        let jobs = { () throws -> String in
            try ControlClient.socat("show info", socket: setup.admin).split(separator: "\n")
                .first { $0.hasPrefix("Jobs:") }.map(String.init) ?? ""
        }
        let with = try jobs()
        client.close()
        usleep(100_000)
        XCTAssertEqual(try jobs(), with)
        let help = try ControlClient.socat("help", socket: setup.admin)
        XCTAssertFalse(help.contains("subscribe") || help.contains("show ha"), "help lists HAProxy's commands only")
    }

    func testOnlySubscribeHAIsOurs() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        XCTAssertEqual(try ControlClient.socat("subscribe ha now", socket: setup.admin),
                       "error: usage: subscribe ha [hold]\n")
        XCTAssertTrue(try ControlClient.socat("subscribe", socket: setup.admin).hasPrefix("Unknown command"),
                      "anything else is answered as HAProxy answers it")
    }

    func testHoldNeedsOperatorLevel() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let (client, lines) = try subscribe(setup.user, hold: true)
        defer { client.close() }
        XCTAssertEqual(lines.first, "error: permission denied")
        XCTAssertTrue(lines[1].hasPrefix("proxyd-ha 1 "), "still a subscriber")
        let described = try ControlClient.socat("show ha", socket: setup.admin)
        XCTAssertTrue(described.contains("subscriber 1 plain\n"), described)
        // Not a hold: SIGTERM stops at once.
        setup.proxy.signal(SIGTERM)
        XCTAssertEqual(setup.proxy.waitForExit(timeout: 1), 0)
    }

    // MARK: events

    func testRuntimeAPIChangesArePushedWithin100ms() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a], serverOptions: "check inter 10s")
        defer { setup.proxy.stop() }
        let (client, _) = try subscribe(setup.user)
        let changes: [(String, String)] = [
            ("disable server app/a", "frontend fe down"),
            ("enable server app/a", "frontend fe up"),
            ("set server app/a state maint", "frontend fe down"),
            ("set server app/a state ready", "frontend fe up"),
            ("set server app/a health down", "frontend fe down"),
            ("set server app/a health up", "frontend fe up"),
        ]
        for (command, expected) in changes {
            XCTAssertEqual(try ControlClient.socat(command, socket: setup.admin), "\n", command)
            // Timed from the command's answer: the change is made by then.
            var line: String?
            let took = elapsed { line = try? client.line(timeout: 2) }
            XCTAssertEqual(line, expected, command)
            XCTAssertLessThan(took, 100, "\(command): pushed at once")
        }
        // Draining keeps the server usable: no line.
        _ = try ControlClient.socat("set server app/a state drain", socket: setup.admin)
        XCTAssertEqual(client.next(timeout: 0.2), .timeout)
    }

    func testHealthCheckDownAndUpArePushed() throws {
        let a = try TestBackend(name: "a")
        let port = a.port
        let setup = try start([a], serverOptions: "check inter 100 fall 1 rise 1")
        defer { setup.proxy.stop() }
        let (client, lines) = try subscribe(setup.admin)
        XCTAssertTrue(lines.contains("frontend fe up"))
        a.stop()
        XCTAssertEqual(try client.line(timeout: 3), "frontend fe down")
        let again = try TestBackend(name: "a", port: port)
        defer { again.stop() }
        XCTAssertEqual(try client.line(timeout: 3), "frontend fe up")
    }

    func testSIGKILLGivesSubscribersEOFAtOnce() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let (client, _) = try subscribe(setup.admin)
        let took = elapsed {
            setup.proxy.signal(SIGKILL)
            XCTAssertEqual(client.next(timeout: 2), .eof)
        }
        XCTAssertLessThan(took, 50, "EOF within 50 ms of the kill")
    }

    // MARK: drain

    /// A connect that completes within `ms`, or why not: "ok", "timeout" (the SYN went
    /// unanswered), or "refused".
    private func tryConnect(_ port: Int, ms: Int32 = 300) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Foundation.close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc == 0 { return "ok" }
        guard errno == EINPROGRESS else { return errno == ECONNREFUSED ? "refused" : "errno \(errno)" }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, ms) == 1 else { return "timeout" }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err == 0 ? "ok" : (err == ECONNREFUSED ? "refused" : "errno \(err)")
    }

    /// `drain`: new SYNs go unanswered (not refused) while made connections are served;
    /// `undrain`, or the subscriber leaving, lifts it.
    func testDrainDropsNewConnectionsSilentlyAndKeepsMadeOnes() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        try checkDrain(setup)
    }

    /// The same under master-worker (-W), where the worker's listeners are the master's
    /// sockets, shared: vrrpd's drain must reach them too.
    func testDrainUnderMasterWorker() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a], arguments: ["-W"])
        defer { setup.proxy.stop() }
        try checkDrain(setup)
    }

    private func checkDrain(_ setup: Setup) throws {
        let kept = try TCP.Connection(port: setup.port)
        try kept.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try kept.receiveResponse().status, 200)
        let (client, _) = try subscribe(setup.admin, hold: true)
        try client.send("drain\n")
        XCTAssertEqual(client.next(timeout: 2), .line("draining"))
        XCTAssertTrue(ControlClient.eventually(2) { self.tryConnect(setup.port, ms: 100) == "timeout" }, "a new SYN must go unanswered")
        XCTAssertEqual(tryConnect(setup.port), "timeout")
        try kept.send("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try kept.receiveResponse().status, 200, "a connection made before the drain is served")
        try client.send("undrain\n")
        XCTAssertEqual(client.next(timeout: 2), .line("undrained"))
        XCTAssertTrue(ControlClient.eventually(2) { self.tryConnect(setup.port) == "ok" })
        // A subscriber that goes away while draining leaves no deaf listener behind.
        try client.send("drain\n")
        XCTAssertEqual(client.next(timeout: 2), .line("draining"))
        XCTAssertTrue(ControlClient.eventually(2) { self.tryConnect(setup.port, ms: 100) == "timeout" })
        client.close()
        XCTAssertTrue(ControlClient.eventually(2) { self.tryConnect(setup.port) == "ok" }, "drain lifted when its subscriber left")
    }

    // MARK: stopping

    func testSIGTERMWithoutSubscriberStopsAtOnce() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let took = elapsed {
            setup.proxy.signal(SIGTERM)
            XCTAssertEqual(setup.proxy.waitForExit(timeout: 2), 0)
        }
        XCTAssertLessThan(took, 300)
    }

    func testPlainSubscriberHearsTheStopButDoesNotDelayIt() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let (client, _) = try subscribe(setup.admin)
        let took = elapsed {
            setup.proxy.signal(SIGTERM)
            XCTAssertEqual(try? client.line(timeout: 2), "state stopping grace=3000")
            XCTAssertEqual(client.next(timeout: 2), .eof)
            XCTAssertEqual(setup.proxy.waitForExit(timeout: 2), 0)
        }
        XCTAssertLessThan(took, 300)
    }

    func testSIGTERMWithHoldKeepsServingUntilReleaseThenFinishesInFlight() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(800)))
        let setup = try start([slow])
        defer { setup.proxy.stop() }
        let (client, _) = try subscribe(setup.admin, hold: true)
        setup.proxy.signal(SIGTERM)
        XCTAssertEqual(try client.line(timeout: 2), "state stopping grace=3000")
        XCTAssertTrue(try ControlClient.socat("show info", socket: setup.admin).contains("\nStopping: 1\n"))

        // Still accepting and serving, well after the signal.
        usleep(300_000)
        XCTAssertEqual(try ProxyFixture.get(port: setup.port).status, 200)
        let inFlight = try TCP.Connection(port: setup.port)
        try inFlight.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(200_000)

        try client.send("release\n")
        XCTAssertEqual(try client.line(), "released")
        // Then the listeners close while the request in flight finishes.
        XCTAssertTrue(ControlClient.eventually(1) { (try? TCP.Connection(port: setup.port)) == nil },
                      "listeners close after the release")
        let response = try inFlight.receiveResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, "slow")
        XCTAssertEqual(setup.proxy.waitForExit(timeout: 5), 0)
        XCTAssertEqual(client.next(timeout: 1), .eof)
    }

    func testHoldThatNeverReleasesEndsAfterGrace() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a], global: "    grace 500ms")
        defer { setup.proxy.stop() }
        let (client, lines) = try subscribe(setup.admin, hold: true)
        XCTAssertTrue(lines[0].hasSuffix(" grace=500"), lines[0])
        let signalled = Date()
        setup.proxy.signal(SIGTERM)
        XCTAssertEqual(try client.line(timeout: 2), "state stopping grace=500")
        usleep(250_000)
        XCTAssertEqual(try ProxyFixture.get(port: setup.port).status, 200, "still serving during grace")
        XCTAssertEqual(setup.proxy.waitForExit(timeout: 5), 0)
        let took = Date().timeIntervalSince(signalled)
        XCTAssertGreaterThanOrEqual(took, 0.5, "waited the grace")
        XCTAssertLessThan(took, 2, "but not much longer")
    }

    func testSecondSIGTERMStopsAtOnce() throws {
        let a = try TestBackend(name: "a")
        let setup = try start([a])
        defer { setup.proxy.stop() }
        let (client, _) = try subscribe(setup.admin, hold: true)
        setup.proxy.signal(SIGTERM)
        XCTAssertEqual(try client.line(timeout: 2), "state stopping grace=3000")
        let took = elapsed {
            setup.proxy.signal(SIGTERM)
            XCTAssertEqual(setup.proxy.waitForExit(timeout: 2), 0)
        }
        XCTAssertLessThan(took, 300)
    }

    /// The reload as vrrpd sees it: the old process announces its stop and keeps serving,
    /// the new one is at the socket's path already, vrrpd releases the old one.
    func testReloadWithHoldSubscriber() throws {
        let a = try TestBackend(name: "a")
        let old = try start([a])
        defer { old.proxy.stop() }
        let (oldClient, _) = try subscribe(old.admin, hold: true)
        let new = try ProxydProcess(config: old.config, extraArguments: ["-sf", "\(old.proxy.pid)"])
        defer { new.stop() }
        XCTAssertEqual(try oldClient.line(timeout: 5), "state stopping grace=3000")
        let (newClient, lines) = try subscribe(old.admin, hold: true)
        XCTAssertEqual(lines.first?.split(separator: " ")[2], "pid=\(new.pid)", "the new process owns the path")
        XCTAssertNil(old.proxy.waitForExit(timeout: 0.3), "the old process waits for its subscriber")
        try oldClient.send("release\n")
        XCTAssertEqual(try oldClient.line(), "released")
        XCTAssertEqual(old.proxy.waitForExit(timeout: 5), 0)
        XCTAssertEqual(try ProxyFixture.get(port: old.port).status, 200)
        try newClient.send("ping\n")
        XCTAssertEqual(try newClient.line(), "pong")
        newClient.close()  // or stopping the new process would wait for it
    }
}
