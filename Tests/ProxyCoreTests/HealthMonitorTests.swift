import XCTest
import NIOCore
import NIOPosix
@testable import ProxyCore

/// The monitor in process, on real sockets: what the runtime API will call.
final class HealthMonitorTests: XCTestCase {
    private func waitUntil(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        while NIODeadline.now() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return false
    }

    func testForceHealthAndPauseChecks() throws {
        // A listener that accepts (NIO), as the checked server.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let target = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? target.close().wait() }
        let port = target.localAddress!.port!
        let spare = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let frontendPort = spare.localAddress!.port!
        try spare.close().wait()
        let result = ConfigurationLoader.load(text: """
            global
                nbthread 1
            defaults
                mode tcp
                timeout connect 1s
            frontend fe
                bind 127.0.0.1:\(frontendPort)
                default_backend app
            backend app
                server s1 127.0.0.1:\(port) check inter 100ms rise 2 fall 2
            """ + "\n", name: "test.cfg")
        let config = try XCTUnwrap(result.configuration, "\(result.diagnostics)")
        let runtime = try RuntimeBuilder.build(config)
        defer { runtime.shutdown() }
        try runtime.bind()
        let monitor = try XCTUnwrap(runtime.healthMonitor)
        let backend = runtime.backends[0], server = backend.servers[0]
        XCTAssertEqual(monitor.checkCount, 1)
        XCTAssertTrue(waitUntil { server.health?.snapshot.check?.result.status == .l4ok })
        XCTAssertEqual(server.health?.snapshot.check?.health, 3)

        // `disable health`, then `set server app/s1 health down`: it stays down.
        monitor.setChecksEnabled(server, false)
        XCTAssertEqual(monitor.checksEnabled(server), false)
        monitor.force(server, in: backend, up: false)
        XCTAssertTrue(waitUntil { !server.isUsable.load(ordering: .relaxed) })
        usleep(400_000)
        XCTAssertFalse(server.isUsable.load(ordering: .relaxed), "no check ran to bring it back")
        XCTAssertEqual(server.health?.snapshot.check?.health, 0)

        // `enable health`: two good checks (rise 2) bring it back.
        monitor.setChecksEnabled(server, true)
        XCTAssertTrue(waitUntil { server.isUsable.load(ordering: .relaxed) })
        XCTAssertEqual(server.status.withLockedValue { $0.operationalUp }, true)
        XCTAssertEqual(server.health?.snapshot.check?.health, 3)
    }
}
