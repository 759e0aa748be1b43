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

/// Settings reach the checks: `default-server`, `port`, `addr`, `agent-*`, `spread-checks`,
/// the check kinds and their timeouts.
final class HealthMonitorSettingsTests: XCTestCase {
    func testDefaultServerPortAddrAndTimeouts() throws {
        let result = ConfigurationLoader.load(text: """
            global
                spread-checks 20
            defaults
                mode http
                timeout connect 3s
            backend app
                default-server check inter 3s fastinter 1s downinter 5s rise 4 fall 5
                timeout check 700ms
                option httpchk GET /healthz
                server a 127.0.0.1:8080
                server b 127.0.0.1:8081 port 9999 addr 127.0.0.2 agent-check agent-port 7777 agent-inter 4s
                server c 127.0.0.1:8082 no-check
            backend plain
                server p 127.0.0.1:8083 check
            """ + "\n", name: "test.cfg")
        let config = try XCTUnwrap(result.configuration, "\(result.diagnostics)")
        let runtime = try RuntimeBuilder.build(config, threads: 1)
        defer { runtime.shutdown() }
        let monitor = try XCTUnwrap(runtime.healthMonitor)
        let runners = monitor.runners
        XCTAssertEqual(runners.map { "\($0.server.name)\($0.isAgent ? "/agent" : "")" }, ["a", "b", "b/agent", "p"])
        let a = runners[0], b = runners[1], agent = runners[2], p = runners[3]
        XCTAssertEqual([a.interval, a.fastInterval, a.downInterval], [3000, 1000, 5000])
        XCTAssertEqual([a.health.rise, a.health.fall], [4, 5])
        XCTAssertEqual(a.address, try SocketAddress(ipAddress: "127.0.0.1", port: 8080))
        XCTAssertEqual(b.address, try SocketAddress(ipAddress: "127.0.0.2", port: 9999))
        XCTAssertEqual(agent.address, try SocketAddress(ipAddress: "127.0.0.1", port: 7777))
        XCTAssertEqual([agent.interval, agent.health.rise, agent.health.fall], [4000, 1, 1])
        // `timeout check`: connecting takes at most min(timeout connect, inter), reading 700 ms.
        XCTAssertEqual(a.connectTimeout, 3000)
        XCTAssertEqual(a.readTimeout, 700)
        // Without it, `inter` bounds the whole check (2 s by default).
        XCTAssertEqual(p.connectTimeout, 2000)
        XCTAssertNil(p.readTimeout)
        if case .http(let request, _, _) = a.script {
            XCTAssertEqual(String(decoding: request, as: UTF8.self), "GET /healthz HTTP/1.0\r\n\r\n")
        } else {
            XCTFail("httpchk expected")
        }
        if case .connect = p.script {} else { XCTFail("a plain connect check expected") }
        // spread-checks 20: each interval moves by up to ±10 %.
        for _ in 0..<200 {
            XCTAssertTrue((2700...3300).contains(monitor.spread(3000)))
        }
        XCTAssertNil(runtime.backends[0].servers[2].health, "no health state for a server without checks")
        XCTAssertNotNil(runtime.backends[0].servers[1].health?.snapshot.agent)
    }
}
