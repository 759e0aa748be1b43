import Foundation
import XCTest

/// Signals and start-up as an operator uses them.
final class ProcessLifeTests: XCTestCase {
    func testSoftStopLetsARequestInFlightFinish() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(700)))
        let (proxy, port) = try ProxyFixture.start(servers: [slow])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(200_000)
        proxy.signal(SIGUSR1)
        usleep(100_000)
        XCTAssertThrowsError(try TCP.Connection(port: port), "no new connection after a soft stop")
        let response = try client.receiveResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, "slow")
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertEqual(proxy.waitForExit(timeout: 5), 0)
    }

    /// HAProxy 2.6's global `grace`: after SIGUSR1 the listeners stay open that long.
    func testSoftStopKeepsAcceptingDuringGrace() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a], global: "grace 600ms")
        defer { proxy.stop() }
        let signalled = Date()
        proxy.signal(SIGUSR1)
        usleep(300_000)
        XCTAssertEqual(try ProxyFixture.get(port: port).status, 200, "still accepting during grace")
        XCTAssertEqual(proxy.waitForExit(timeout: 5), 0)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(signalled), 0.6)
    }

    /// `hard-stop-after` ends a soft stop that a long request would otherwise hold up.
    func testHardStopAfterBoundsTheSoftStop() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.seconds(5)))
        let (proxy, port) = try ProxyFixture.start(servers: [slow], global: "hard-stop-after 500ms")
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(100_000)
        let signalled = Date()
        proxy.signal(SIGUSR1)
        XCTAssertEqual(proxy.waitForExit(timeout: 4), 0)
        let took = Date().timeIntervalSince(signalled)
        XCTAssertGreaterThanOrEqual(took, 0.5)
        XCTAssertLessThan(took, 1.5)
    }

    func testDaemonWritesPidFileAndStopsOnSIGTERM() throws {
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let pidPath = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-\(port).pid").path
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
            \(ProxyFixture.serverLines([a]))
            """, extraArguments: ["-D", "-p", pidPath])
        defer { proxy.stop() }
        XCTAssertEqual(proxy.waitForExit(timeout: 10), 0, "the launching process returns once the daemon is ready")
        let pidText = try String(contentsOfFile: pidPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let daemonPID = try XCTUnwrap(Int32(pidText))
        XCTAssertEqual(try ProxyFixture.get(port: port).bodyText, "a")
        kill(daemonPID, SIGTERM)
        var gone = false
        for _ in 0..<100 where !gone {
            usleep(50_000)
            gone = kill(daemonPID, 0) != 0
        }
        XCTAssertTrue(gone, "the daemon exits on SIGTERM")
        try? FileManager.default.removeItem(atPath: pidPath)
    }
}
