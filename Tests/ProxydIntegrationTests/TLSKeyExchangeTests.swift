import Foundation
import XCTest

/// Which key exchanges a `bind … ssl` offers. HAProxy 2.6 offers no finite-field DHE unless
/// `tune.ssl.default-dh-param` (or DH parameters in the PEM file) asks for it: proxyd used
/// to offer seven DHE-RSA suites with OpenSSL's built-in groups by default, which scanners
/// report as LOGJAM "common primes".
final class TLSKeyExchangeTests: TLSTestCase {
    private func config(port: Int, dhParam: String?) throws -> String {
        """
        global
            nbthread 1
            crt-base \(try m.directory.path)
            \(dhParam.map { "tune.ssl.default-dh-param \($0)" } ?? "")

        defaults
            mode tcp
            timeout connect 2s
            timeout client 5s
            timeout server 5s

        frontend fe
            bind 127.0.0.1:\(port) ssl crt rsa.pem
            default_backend app
        backend app
            server app 127.0.0.1:\(TCP.freePort())

        """
    }

    /// The cipher each probe agreed on ("none" when the handshake failed).
    private func negotiated(port: Int) throws -> [String] {
        let probes = [["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"], ["-tls1_2"]]
        return try probes.map { args in
            let r = try Tool.sClient(port: port, args + ["-servername", "rsa.test"], hold: 0.2)
            let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("New, ") }
            guard let line, !line.contains("(NONE)"), let cipher = line.split(separator: " ").last else { return "none" }
            return String(cipher)
        }
    }

    private func outcomes(dhParam: String?) throws -> (ours: [String], theirs: [String]) {
        let theirPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: try config(port: theirPort, dhParam: dhParam), waitForPorts: [theirPort])
        let theirs = try negotiated(port: theirPort)
        reference.stop()
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: try config(port: port, dhParam: dhParam), waitForPorts: [port])
        defer { proxy.stop() }
        return (try negotiated(port: port), theirs)
    }

    func testNoDHEByDefaultAsHAProxy() throws {
        let (ours, theirs) = try outcomes(dhParam: nil)
        XCTAssertEqual(ours, theirs)
        XCTAssertEqual(ours, ["none", "ECDHE-RSA-AES256-GCM-SHA384"], "a DHE-only client is refused; ECDHE works")
    }

    func testDHEWhenADefaultDHParamSizeIsSet() throws {
        let (ours, theirs) = try outcomes(dhParam: "2048")
        XCTAssertEqual(ours, theirs)
        XCTAssertEqual(ours, ["DHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"])
    }
}
