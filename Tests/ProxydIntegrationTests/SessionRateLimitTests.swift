import Foundation
import XCTest

/// `rate-limit sessions N` through Debian's HAProxy 2.6 and proxyd on the same config: a
/// client opening connection after connection gets them at about N per second from both
/// (the first N at once), and every one is served.
final class SessionRateLimitTests: XCTestCase {
    func testSessionRateAsHAProxy() throws {
        let web = try TestBackend(name: "web")
        func config(_ port: Int) -> String {
            ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                rate-limit sessions 5
                default_backend web
            backend web
                server web 127.0.0.1:\(web.port)
            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: config(haproxyPort), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        Thread.sleep(forTimeInterval: 2.1)  // the probes that waited for the ports are out of the window

        /// Seconds for 12 sessions one after the other, and how many were answered.
        func run(_ port: Int) throws -> (Double, Int) {
            let start = Date()
            var served = 0
            for _ in 0..<12 {
                let client = try TCP.Connection(port: port, timeout: 5)
                try client.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if let response = try? client.receiveResponse(), response.status == 200 { served += 1 }
                client.close()
            }
            return (Date().timeIntervalSince(start), served)
        }
        let (haproxySeconds, haproxyServed) = try run(haproxyPort)
        let (proxydSeconds, proxydServed) = try run(proxydPort)
        XCTAssertEqual(haproxyServed, 12)
        XCTAssertEqual(proxydServed, 12)
        // 5 at once, then one each 0.2 s: about 1.4 s (never under 1 s; some slack above).
        XCTAssertGreaterThan(haproxySeconds, 1.0)
        XCTAssertGreaterThan(proxydSeconds, 1.0, "proxyd took \(proxydSeconds) s, HAProxy \(haproxySeconds) s")
        XCTAssertLessThan(proxydSeconds, max(2.5, haproxySeconds * 1.5), "proxyd took \(proxydSeconds) s, HAProxy \(haproxySeconds) s")
    }
}
