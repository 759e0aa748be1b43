import Foundation
import XCTest

/// What an operator sees without a syslog (issue 11, item 2): `proxyd -db` prints server
/// state changes and alerts on stderr as `haproxy -db` does, and a log line that cannot
/// be delivered is counted in `show info`'s `DroppedLogs`.
final class OperatorConsoleTests: XCTestCase {
    /// stderr with the pid and the check durations set aside, one line each, sorted (the
    /// two backends' checks run in either order).
    static func normalized(_ text: String) -> [String] {
        text.split(separator: "\n").map {
            $0.replacingOccurrences(of: #"^(\[[A-Z]+\] +)\(\d+\)"#, with: "$1(PID)", options: .regularExpression)
                .replacingOccurrences(of: #"check duration: \d+ms"#, with: "check duration: Nms", options: .regularExpression)
        }.sorted()
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// The same config under `haproxy -db` and `proxyd -db`: a server going DOWN while a
    /// backup serves, a backend left with nothing, then the server coming back UP.
    func testDashDBPrintsServerStateChangesAsHAProxyDoes() throws {
        let haproxy = ReferenceHAProxy.path
        guard FileManager.default.isExecutableFile(atPath: haproxy) else { throw XCTSkip("no haproxy") }
        let backup = try TestBackend(name: "backup")
        let comesBack = TCP.freePort()
        let gone = TCP.freePort()
        func config(_ port: Int) -> String {
            """
            defaults
                mode http
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                server myweb1 127.0.0.1:\(comesBack) check inter 200 fall 1 rise 1
                server myweb2 127.0.0.1:\(backup.port) check inter 200 backup
            backend solo
                server only 127.0.0.1:\(gone) check inter 200 fall 1

            """
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var pids: [String: pid_t] = [:]
        defer { for pid in pids.values { ControlClient.stop(pid) } }
        for (name, binary) in [("haproxy", haproxy), ("proxyd", ProxydProcess.proxydPath)] {
            let port = TCP.freePort()
            let cfg = dir.appendingPathComponent("\(name).cfg").path
            try config(port).write(toFile: cfg, atomically: true, encoding: .utf8)
            pids[name] = try ControlClient.spawn(binary, ["-db", "-f", cfg], log: dir.appendingPathComponent("\(name).err").path)
            XCTAssertTrue(TCP.waitUntilListening(port: port, timeout: 10), "\(name) did not start")
        }
        func stderr(_ name: String) -> String { Self.read(dir.appendingPathComponent("\(name).err").path) }
        func seen(_ text: String) -> Bool { ["haproxy", "proxyd"].allSatisfy { stderr($0).contains(text) } }

        XCTAssertTrue(ControlClient.eventually(5) { seen("app/myweb1 is DOWN") && seen("'solo' has no server available!") },
                      "haproxy:\n\(stderr("haproxy"))\nproxyd:\n\(stderr("proxyd"))")
        let listener = try TestBackend(name: "myweb1", port: comesBack)
        defer { listener.stop() }
        XCTAssertTrue(ControlClient.eventually(5) { seen("app/myweb1 is UP") },
                      "haproxy:\n\(stderr("haproxy"))\nproxyd:\n\(stderr("proxyd"))")
        usleep(300_000)
        // Stopped with SIGTERM: neither says more (HAProxy's hard stop prints nothing).
        for pid in pids.values { ControlClient.stop(pid) }
        pids = [:]

        let theirs = Self.normalized(stderr("haproxy")), ours = Self.normalized(stderr("proxyd"))
        XCTAssertEqual(ours, theirs)
        // The lines themselves, so that this test fails if both printed nothing alike.
        XCTAssertTrue(ours.contains("[WARNING]  (PID) : Server app/myweb1 is DOWN, reason: Layer4 connection problem, "
                                    + "info: \"Connection refused\", check duration: Nms. 0 active and 1 backup servers left. "
                                    + "Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue."), ours.joined(separator: "\n"))
        XCTAssertTrue(ours.contains("[ALERT]    (PID) : backend 'solo' has no server available!"), ours.joined(separator: "\n"))
        XCTAssertTrue(ours.contains("[WARNING]  (PID) : Server app/myweb1 is UP, reason: Layer4 check passed, check duration: Nms. "
                                    + "1 active and 1 backup servers online. 0 sessions requeued, 0 total in queue."), ours.joined(separator: "\n"))
        XCTAssertEqual(ours.count, 4, ours.joined(separator: "\n"))
    }

    /// `-q` silences them, as HAProxy's quiet mode.
    func testQuietPrintsNoStateChange() throws {
        let gone = TCP.freePort()
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            defaults
                mode http
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend solo
            backend solo
                server only 127.0.0.1:\(gone) check inter 100 fall 1
            """, extraArguments: ["-db", "-q"], waitForPorts: [port])
        defer { proxy.stop() }
        // Without -q the DOWN line and the alert come within the first check (100 ms).
        usleep(800_000)
        proxy.signal(SIGTERM)
        XCTAssertNotNil(proxy.waitForExit(timeout: 5))
        XCTAssertEqual(proxy.stderrText(), "")
    }

    /// No syslog at the configured path: every line is counted in DroppedLogs, and the
    /// failure is said once on stderr in HAProxy's words. Once a syslog listens there, lines
    /// arrive and the count stops growing.
    func testLinesThatCannotBeDeliveredAreCountedInDroppedLogs() throws {
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("lgt-\(UUID().uuidString.prefix(8)).sock").path
        let proxy = try ProxydProcess(config: """
            global
                log \(socketPath) local0
                stats socket {DIR}/admin.sock level admin
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
            """, extraArguments: ["-db"], waitForPorts: [port])
        defer { proxy.stop() }
        let admin = proxy.directory.appendingPathComponent("admin.sock").path
        func dropped() throws -> Int? {
            let info = try ControlClient.socat("show info", socket: admin)
            return info.split(separator: "\n").first { $0.hasPrefix("DroppedLogs: ") }.flatMap { Int($0.dropFirst(13)) }
        }
        // The readiness probe's line (a connection closed before its first byte is logged as
        // a bad request, as by HAProxy) may be dropped already.
        let base = try XCTUnwrap(try dropped())
        XCTAssertLessThanOrEqual(base, 1)
        for i in 0..<3 { XCTAssertEqual(try ProxyFixture.get(port: port, path: "/lost\(i)").status, 200) }
        XCTAssertTrue(try ControlClient.eventually(3) { try dropped() == base + 3 }, "DroppedLogs did not grow by 3")

        let syslog = try LogReceiver(path: socketPath)
        defer { syslog.stop() }
        XCTAssertEqual(try ProxyFixture.get(port: port, path: "/delivered").status, 200)
        XCTAssertNotNil(syslog.wait(for: "GET /delivered HTTP/1.1"))
        XCTAssertEqual(try dropped(), base + 3)

        proxy.signal(SIGTERM)
        XCTAssertNotNil(proxy.waitForExit(timeout: 5))
        XCTAssertEqual(Self.normalized(proxy.stderrText()),
                       ["[ALERT]    (PID) : sendmsg()/writev() failed in logger #1: No such file or directory (errno=2)"])
    }
}
