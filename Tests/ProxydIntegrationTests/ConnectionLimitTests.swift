import Foundation
import XCTest

/// `maxconn` on servers (with the queue) and on frontends (accepting pauses).
final class ConnectionLimitTests: XCTestCase {
    func testServerMaxconnQueuesThenServes() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(300)))
        let (proxy, port) = try ProxyFixture.start(backend: """
                timeout queue 5s
                server slow 127.0.0.1:\(slow.port) maxconn 1
                """)
        defer { proxy.stop() }
        let first = try TCP.Connection(port: port), second = try TCP.Connection(port: port)
        try first.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        try second.send("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try first.receiveResponse().status, 200)
        XCTAssertEqual(try second.receiveResponse().status, 200)
        XCTAssertEqual(slow.requestCount, 2)
        XCTAssertEqual(slow.peakInFlight, 1, "maxconn 1: the second request waited for the first to finish")
    }

    func testQueueTimeoutGives503() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.seconds(2)))
        let (proxy, port) = try ProxyFixture.start(backend: """
                timeout queue 200ms
                server slow 127.0.0.1:\(slow.port) maxconn 1
                """)
        defer { proxy.stop() }
        let first = try TCP.Connection(port: port), second = try TCP.Connection(port: port)
        try first.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(50_000)
        try second.send("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try second.receiveResponse().status, 503)
        XCTAssertEqual(try first.receiveResponse().status, 200)
    }

    func testFrontendMaxconnPausesAccepting() throws {
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                maxconn 1
                default_backend app
            backend app
            \(ProxyFixture.serverLines([a]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        usleep(100_000)  // the start-up probe's connection is gone
        let first = try TCP.Connection(port: port)
        try first.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try first.receiveResponse().status, 200)
        // The kernel completes the second handshake, but proxyd does not take it.
        let second = try TCP.Connection(port: port, timeout: 0.5)
        try second.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNil(second.receiveSome(), "no answer while the first connection holds the only slot")
        first.close()
        second.setTimeout(5)
        XCTAssertEqual(try second.receiveResponse().status, 200)
    }
}
