import Foundation
import XCTest

/// proxyd in `mode tcp`: bytes both ways, half-close, balancing by connection.
final class TCPModeTests: XCTestCase {
    func testBytesFlowBothWaysAndHalfCloseIsPassedOn() throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "tcp") + """
            listen echo
                bind 127.0.0.1:\(port)
            \(ProxyFixture.serverLines([echo]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        let payload = Array(repeating: UInt8(ascii: "z"), count: 3_000_000)
        // Send while reading so that neither side's buffers fill up.
        let sender = Thread { try? client.send(payload); client.shutdownWrite() }
        sender.start()
        let all = client.receiveAll()
        XCTAssertEqual(all.count, payload.count + 4)
        XCTAssertEqual(Array(all.suffix(4)), Array("bye\n".utf8), "the server saw our half-close and still answered")
    }

    func testTCPRoundRobinPerConnection() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        let (proxy, port) = try ProxyFixture.start(servers: [a, b], mode: "tcp")
        defer { proxy.stop() }
        var seen: [String] = []
        for _ in 0..<4 { seen.append(try ProxyFixture.get(port: port).bodyText) }
        // The start-up probe (a bare connect) already took one turn in tcp mode, so the
        // order may start with either server; it must alternate.
        XCTAssertEqual(Set(seen), ["a", "b"])
        XCTAssertEqual(seen[0], seen[2])
        XCTAssertEqual(seen[1], seen[3])
        XCTAssertNotEqual(seen[0], seen[1])
    }

    func testPortInUseIsAClearStartupError() throws {
        let busy = try TestBackend(name: "busy")
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "tcp") + """
            listen x
                bind 127.0.0.1:\(busy.port)
                server s 127.0.0.1:1
            """)
        XCTAssertEqual(proxy.waitForExit(timeout: 10), 1)
        let text = proxy.stderrText()
        XCTAssertTrue(text.contains("for frontend x: cannot bind socket (Address already in use) for [127.0.0.1:\(busy.port)]"), text)
    }
}
