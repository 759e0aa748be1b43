import Foundation
import XCTest

/// `-sf` reloads as `service proxyd reload` does them: the control socket must answer
/// throughout (vrrpd's probe fails over otherwise), and every old process must finish its
/// requests and exit 0.
final class ReloadTests: XCTestCase {
    func testControlSocketSurvivesThreeReloads() throws {
        try reload(times: 3, chroot: false)
    }

    /// With `chroot`, the old process cannot reach the socket's path at all, and it used to
    /// die of SIGILL in one reload in six (libdispatch's monitor wants /proc): more reloads
    /// here, so that a comeback of that trap is likely to show.
    func testControlSocketSurvivesReloadsInChroot() throws {
        guard getuid() == 0 else { throw XCTSkip("chroot needs root") }
        try reload(times: 6, chroot: true)
    }

    private func reload(times reloads: Int, chroot: Bool) throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(500)))
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("proxyd-reload-\(UUID().uuidString.prefix(8))").path
        let jail = directory + "/jail"
        try FileManager.default.createDirectory(atPath: jail, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/admin.sock"
        let port = TCP.freePort()
        let config = """
            global
                nbthread 1
                stats socket \(socketPath) mode 600 level admin
                stats timeout 30s
            \(chroot ? "    chroot \(jail)" : "")

            defaults
                mode http
                timeout connect 2s
                timeout client 10s
                timeout server 10s

            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app

            backend app
            \(ProxyFixture.serverLines([slow]))

            """
        var current = try ProxydProcess(config: config, waitForPorts: [port])
        defer { current.stop() }
        // The control socket is bound just after the listeners.
        XCTAssertTrue(try ControlClient.eventually(5) { try answersShowInfo(socketPath, pid: current.pid) })

        for round in 1...reloads {
            // A request in flight on the old process, which must finish it after the reload.
            let client = try TCP.Connection(port: port)
            try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            usleep(100_000)
            let old = current
            current = try ProxydProcess(config: config, extraArguments: ["-sf", "\(old.pid)"])
            XCTAssertTrue(try ControlClient.eventually(5) { try answersShowInfo(socketPath, pid: current.pid) },
                          "round \(round): the new process answers on the socket")
            let response = try client.receiveResponse()
            XCTAssertEqual(response.status, 200, "round \(round): the request in flight completes")
            XCTAssertEqual(old.waitForExit(timeout: 5), 0, "round \(round): the old process exits 0")
            XCTAssertEqual(old.process.terminationReason, .exit, "round \(round): not killed by a signal")
            old.stop()
            XCTAssertTrue(try answersShowInfo(socketPath, pid: current.pid),
                          "round \(round): the old process left the new one's socket in place")
            XCTAssertEqual(try ProxyFixture.get(port: port).status, 200)
        }

        current.signal(SIGTERM)
        XCTAssertEqual(current.waitForExit(timeout: 5), 0)
        XCTAssertEqual(current.process.terminationReason, .exit)
        // Even from inside the chroot: the directory was opened before.
        XCTAssertFalse(FileManager.default.fileExists(atPath: socketPath),
                       "the last process removes its own socket")
    }

    /// `show info` on the socket names `pid`.
    private func answersShowInfo(_ path: String, pid: Int32) throws -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        return try ControlClient.socat("show info", socket: path).contains("\nPid: \(pid)\n")
    }
}
