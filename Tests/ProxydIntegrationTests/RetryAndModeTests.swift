import Foundation
import XCTest

/// `retries`, `option redispatch`, the connection modes and their timeouts.
final class RetryAndModeTests: XCTestCase {
    func testRedispatchMovesTheLastRetryToAnotherServer() throws {
        let alive = try TestBackend(name: "alive")
        let dead = TCP.freePort()
        let (proxy, port) = try ProxyFixture.start(backend: """
                option redispatch
                retries 1
                server dead 127.0.0.1:\(dead)
                server alive 127.0.0.1:\(alive.port)
            """)
        defer { proxy.stop() }
        // Round robin sends one of two requests to the dead server first.
        for _ in 0..<2 {
            let response = try ProxyFixture.get(port: port)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.bodyText, "alive")
        }
    }

    func testWithoutRedispatchRetriesEndIn503() throws {
        let dead = TCP.freePort()
        let (proxy, port) = try ProxyFixture.start(backend: """
                retries 2
                server dead 127.0.0.1:\(dead)
            """)
        defer { proxy.stop() }
        let started = Date()
        XCTAssertEqual(try ProxyFixture.get(port: port).status, 503)
        // Two retries after refusals, each after HAProxy's one-second turn-around.
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 1.8)
    }

    func testHTTPCloseClosesBothSidesAfterEachResponse() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a], defaults: "option httpclose")
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port, timeout: 3)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let bytes = client.receiveAll()
        let response = try XCTUnwrap(HTTPTestResponse.parse(bytes))
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertEqual(bytes.count, response.byteCount, "then the connection ends")
        XCTAssertTrue(a.heads.last?.contains("\r\nConnection: close") ?? false)
    }

    func testKeepAliveTimeoutClosesIdleConnectionsSilently() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a], defaults: "timeout http-keep-alive 300ms")
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port, timeout: 3)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.receiveResponse().status, 200)
        let started = Date()
        XCTAssertEqual(client.receiveAll(), [], "no 408 between requests, just a close")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
    }

    func testPrivilegesAreDroppedAndChrootApplied() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to drop privileges") }
        let a = try TestBackend(name: "a")
        let jail = FileManager.default.temporaryDirectory.appendingPathComponent("jail-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: jail, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: jail) }
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: """
            global
                nbthread 1
                chroot \(jail.path)
                user nobody
                group nogroup
            defaults
                mode http
                timeout connect 2s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                server a 127.0.0.1:\(a.port)

            """, waitForPorts: [port])
        defer { proxy.stop() }
        XCTAssertEqual(try ProxyFixture.get(port: port).bodyText, "a")
        let status = try String(contentsOfFile: "/proc/\(proxy.pid)/status", encoding: .utf8)
        let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") } ?? ""
        let nobody = getpwnam("nobody")!.pointee.pw_uid
        XCTAssertTrue(uidLine.split(separator: "\t").dropFirst().allSatisfy { $0 == "\(nobody)" }, String(uidLine))
        let root = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(proxy.pid)/root")
        XCTAssertEqual(root, jail.path)
    }
}
