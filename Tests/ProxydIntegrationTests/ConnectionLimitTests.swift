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

    /// The kernel's accept queue of each bind is HAProxy's: `backlog` when given, else the
    /// frontend's `maxconn`, else the global one (a burst of connects waits there instead of
    /// being dropped). `ss` reads it (Send-Q of a listener), the same for both proxies.
    func testListenQueueIsTheBacklogOrMaxconnAsHAProxy() throws {
        /// Frontends a (global maxconn), b (its own maxconn), c (`backlog`) on `ports`.
        func config(_ ports: [Int]) -> String {
            """
            global
                maxconn 3000
            defaults
                mode http
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend a
                bind 127.0.0.1:\(ports[0])
                default_backend app
            frontend b
                maxconn 700
                bind 127.0.0.1:\(ports[1])
                default_backend app
            frontend c
                maxconn 700
                bind 127.0.0.1:\(ports[2]) backlog 77
                default_backend app
            backend app
                server s 127.0.0.1:9

            """
        }
        /// Send-Q of each listener: its accept queue's size.
        func queues(_ ports: [Int]) throws -> [String] {
            try ports.map { port in
                let out = try ControlClient.run("/usr/bin/ss", ["-Hltn", "sport = :\(port)"]).output
                return out.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first.map(String.init) ?? "?"
            }
        }
        let ours = (0..<3).map { _ in TCP.freePort() }, theirs = (0..<3).map { _ in TCP.freePort() }
        let proxy = try ProxydProcess(config: config(ours), waitForPorts: ours)
        defer { proxy.stop() }
        let reference = try ReferenceHAProxy(config: config(theirs), waitForPorts: theirs)
        defer { reference.stop() }
        XCTAssertEqual(try queues(ours), ["3000", "700", "77"])
        XCTAssertEqual(try queues(ours), try queues(theirs), "HAProxy's queues")
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
