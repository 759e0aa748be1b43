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
            // A leaked channel costs ~5 KiB: 5000 of them would be ~25 MiB.
            XCTAssertLessThan(growth, 4 * 1024, "\(mode): RSS grew by \(growth) KiB over 5000 connections")
        }
    }
}
