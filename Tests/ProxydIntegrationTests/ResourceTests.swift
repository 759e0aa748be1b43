import Foundation
import XCTest

/// What a long-running proxyd must not do: keep memory of connections that are gone.
final class ResourceTests: XCTestCase {
    func testConnectionChurnDoesNotGrowMemory() throws {
        let a = try TestBackend(name: "a")
        for mode in ["http", "tcp"] {
            let (proxy, port) = try ProxyFixture.start(servers: [a], mode: mode)
            defer { proxy.stop() }
            let descriptors = { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(proxy.pid)/fd").count) ?? 0 }
            let baseline = descriptors()
            func churn(_ count: Int) throws {
                for _ in 0..<count { try TCP.Connection(port: port).close() }
                // In mode tcp the client's close is passed on to the server, and each server
                // connection stays until the server closes its side: a slow test server keeps
                // thousands open for seconds. Wait (bounded) until they are gone.
                let deadline = Date().addingTimeInterval(15)
                repeat { usleep(300_000) } while descriptors() > baseline + 8 && Date() < deadline
            }
            // Warm-up as large as the measure: the allocator's high-water mark (as many
            // connections open at once as the server's pace allows) is reached here.
            try churn(5000)
            let before = proxy.residentKiB()
            try churn(5000)
            let growth = proxy.residentKiB() - before
            // A leaked connection costs ~5 KiB: 5000 of them would be ~25 MiB. Below that,
            // glibc's arenas move by a few MiB from run to run (a 1,000-connection warm-up
            // left 4-8 MiB of high-water growth to the measure in mode tcp).
            XCTAssertLessThan(growth, 8 * 1024, "\(mode): RSS grew by \(growth) KiB over 5000 connections")
            XCTAssertLessThanOrEqual(descriptors(), baseline + 8, "\(mode): descriptors of gone connections")
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
