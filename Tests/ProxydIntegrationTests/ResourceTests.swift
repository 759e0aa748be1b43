import Foundation
import XCTest

/// What a long-running proxyd must not do: keep memory of connections that are gone.
final class ResourceTests: XCTestCase {
    func testConnectionChurnDoesNotGrowMemory() throws {
        let a = try TestBackend(name: "a")
        for mode in ["http", "tcp"] {
            let (proxy, port) = try ProxyFixture.start(servers: [a], mode: mode)
            defer { proxy.stop() }
            func churn(_ count: Int) throws {
                for _ in 0..<count { try TCP.Connection(port: port).close() }
                usleep(300_000)
            }
            try churn(1000)  // warm-up: pools and allocator arenas settle
            let before = proxy.residentKiB()
            try churn(5000)
            let growth = proxy.residentKiB() - before
            // A leaked connection costs ~5 KiB: 5000 of them would be ~25 MiB. Below that,
            // glibc's arenas move by a few MiB from run to run (4.3 MiB once in a full
            // suite; 16 KiB over 20,000 connections when measured alone).
            XCTAssertLessThan(growth, 8 * 1024, "\(mode): RSS grew by \(growth) KiB over 5000 connections")
        }
    }

    /// A client that pipelines requests without ever reading the answers: proxyd holds at
    /// most a buffer's worth of them; the rest waits in the kernel, then in the client.
    func testAClientPipeliningWithoutReadingIsNotBufferedWithoutBound() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let before = proxy.residentKiB()
        let burst = Array(String(repeating: "GET /pipelined HTTP/1.1\r\nHost: test\r\n\r\n", count: 1000).utf8)
        var sent = 0
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, sent < 200 * 1024 * 1024 {
            let n = burst.withUnsafeBytes { send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the send timeout: nobody reads any more
            sent += n
        }
        let growth = proxy.residentKiB() - before
        // Socket buffers take a few MiB; without a bound proxyd would take everything sent.
        XCTAssertLessThan(sent, 64 * 1024 * 1024, "the client could push \(sent) bytes")
        XCTAssertLessThan(growth, 16 * 1024, "RSS grew by \(growth) KiB")
    }
}
