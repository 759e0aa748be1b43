import Foundation
import XCTest

/// What `openssl s_client` probes get from a `bind … ssl` under HAProxy 2.6 and under
/// proxyd, on the same config: which certificate (an RSA and an ECDSA one carry the same
/// name) and which cipher (ChaCha20 for clients that list it first).
final class TLSCertificateChoiceTests: TLSTestCase {
    /// `site-rsa.pem`, `site-ecdsa.pem`, and the same two as the bundle `bundle/site.pem.{rsa,ecdsa}`.
    private func siteCertificates() throws -> String {
        let m = try m
        let bundle = m.path("bundle")
        if FileManager.default.fileExists(atPath: bundle) { return bundle }
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        for (kind, key) in [("rsa", ["rsa:2048"]), ("ecdsa", ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])] {
            let base = m.path("site-\(kind)")
            let made = try Tool.run(Tool.openssl, ["req", "-x509", "-newkey"] + key + [
                "-nodes", "-keyout", base + ".key", "-out", base + ".crt", "-days", "30",
                "-subj", "/CN=site.test", "-addext", "subjectAltName=DNS:site.test"])
            guard made.status == 0 else { throw TestFailure("openssl req: \(made.all)") }
            let pem = try String(contentsOfFile: base + ".crt", encoding: .utf8) + String(contentsOfFile: base + ".key", encoding: .utf8)
            try pem.write(toFile: base + ".pem", atomically: true, encoding: .utf8)
            try pem.write(toFile: bundle + "/site.pem.\(kind)", atomically: true, encoding: .utf8)
        }
        return bundle
    }

    private func config(_ binds: [String]) -> String {
        """
        global
            nbthread 1

        defaults
            mode tcp
            timeout connect 2s
            timeout client 5s
            timeout server 5s

        frontend fe
        \(binds.map { "    bind \($0)" }.joined(separator: "\n"))
            default_backend app
        backend app
            server app 127.0.0.1:\(TCP.freePort())

        """
    }

    /// "KEY CIPHER" for each probe: the server's key ("RSA" for 2048 bits, "ECDSA" for 256)
    /// and the cipher agreed, or "none" when the handshake failed.
    private func outcome(port: Int, _ args: [String]) throws -> String {
        let r = try Tool.sClient(port: port, args, hold: 0.1)
        let lines = r.stdout.split(separator: "\n")
        guard let new = lines.first(where: { $0.hasPrefix("New, ") }), !new.contains("(NONE)"),
              let cipher = new.split(separator: " ").last else { return "none" }
        let bits = lines.first { $0.hasPrefix("Server public key is ") }?.split(separator: " ")[4]
        let key = bits == "2048" ? "RSA" : bits == "256" ? "ECDSA" : "?\(bits ?? "")"
        return "\(key) \(cipher)"
    }

    /// Each probe's outcome under haproxy then under proxyd, per port (same order as `binds`).
    private func sideBySide(binds: (Int) -> [String], probes: [[String]]) throws -> (theirs: [[String]], ours: [[String]]) {
        // Probes run four at a time: each is an s_client process of a few hundred ms.
        func run(_ ports: [Int]) throws -> [[String]] {
            let jobs = ports.flatMap { port in probes.map { (port, $0) } }
            let results = ProbeResults(Array(repeating: "?", count: jobs.count))
            let gate = DispatchSemaphore(value: 4)
            DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
                gate.wait()
                defer { gate.signal() }
                let text = (try? outcome(port: jobs[i].0, jobs[i].1)) ?? "error"
                results.set(i, text)
            }
            let all = results.values
            return ports.indices.map { Array(all[($0 * probes.count)..<(($0 + 1) * probes.count)]) }
        }
        let count = binds(0).count
        let theirPorts = (0..<count).map { _ in TCP.freePort() }
        let theirConfig = config((0..<count).map { binds(theirPorts[$0])[$0] })
        let reference = try ReferenceHAProxy(config: theirConfig, waitForPorts: theirPorts)
        let theirs = try run(theirPorts)
        reference.stop()
        let ourPorts = (0..<count).map { _ in TCP.freePort() }
        let proxy = try ProxydProcess(config: config((0..<count).map { binds(ourPorts[$0])[$0] }), waitForPorts: ourPorts)
        defer { proxy.stop() }
        return (theirs, try run(ourPorts))
    }

    private let sni = ["-servername", "site.test"]

    /// An RSA and an ECDSA certificate for site.test, loaded four ways: a multi-cert
    /// bundle, two `crt` (RSA first), a directory, a crt-list (RSA first).
    func testCertificateFollowsTheClientsSignatureAlgorithmsAsHAProxy() throws {
        let bundle = try siteCertificates()
        let m = try m
        let list = m.path("site.list")
        try "\(m.path("site-rsa.pem"))\n\(m.path("site-ecdsa.pem")) site.test\n".write(toFile: list, atomically: true, encoding: .utf8)
        let binds: (Int) -> [String] = { port in [
            "127.0.0.1:\(port) ssl crt \(bundle)/site.pem",
            "127.0.0.1:\(port) ssl crt \(m.path("site-rsa.pem")) crt \(m.path("site-ecdsa.pem"))",
            "127.0.0.1:\(port) ssl crt \(bundle)/",
            "127.0.0.1:\(port) ssl crt-list \(list)",
        ] }
        let probes: [[String]] = [
            sni, sni + ["-tls1_2"],
            sni + ["-sigalgs", "ECDSA+SHA256"], sni + ["-tls1_2", "-sigalgs", "ECDSA+SHA256"],
            sni + ["-tls1_2", "-sigalgs", "RSA+SHA256"],
            sni + ["-tls1_3", "-sigalgs", "RSA-PSS+SHA256"], sni + ["-tls1_2", "-sigalgs", "RSA-PSS+SHA256"],
            // A TLS 1.3-only hello carries no ECDSA suite: HAProxy gives RSA.
            sni + ["-tls1_3"],
            // TLS 1.2 with only RSA suites.
            sni + ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
            // Without SNI, or another name: the first certificate loaded.
            [], ["-tls1_2"], ["-servername", "other.test"], ["-sigalgs", "ECDSA+SHA256"],
        ]
        let rsaPSS: Set<Int> = [5, 6]
        let (theirs, ours) = try sideBySide(binds: binds, probes: probes)
        for bind in 0..<4 {
            for (i, probe) in probes.enumerated() {
                let what = "bind \(bind + 1), s_client \(probe.joined(separator: " "))"
                if rsaPSS.contains(i) {
                    // On purpose: HAProxy counts RSA-PSS as no RSA and gives ECDSA, which fails.
                    XCTAssertEqual(theirs[bind][i], "none", what)
                    XCTAssertTrue(ours[bind][i].hasPrefix("RSA "), "\(what): \(ours[bind][i])")
                } else {
                    XCTAssertEqual(ours[bind][i], theirs[bind][i], what)
                }
            }
            XCTAssertEqual(ours[bind][0], "ECDSA TLS_AES_256_GCM_SHA384", "a default client with SNI gets ECDSA")
            XCTAssertEqual(ours[bind][3], "ECDSA ECDHE-ECDSA-AES256-GCM-SHA384")
            XCTAssertEqual(ours[bind][4], "RSA ECDHE-RSA-AES256-GCM-SHA384")
        }
        XCTAssertEqual(ours[1][9], "RSA TLS_AES_256_GCM_SHA384", "without SNI, the first crt (RSA)")
        XCTAssertEqual(ours[3][9], "RSA TLS_AES_256_GCM_SHA384", "without SNI, the crt-list's first line (RSA)")
        XCTAssertEqual(ours[0][9], "ECDSA TLS_AES_256_GCM_SHA384", "a bundle loads ECDSA first")
    }

    /// HAProxy sets SSL_OP_PRIORITIZE_CHACHA with the server's preference: a client listing
    /// ChaCha20 first gets it; others get the server's order.
    func testChaCha20ForClientsThatListItFirstAsHAProxy() throws {
        let m = try m
        let binds: (Int) -> [String] = { port in ["127.0.0.1:\(port) ssl crt \(m.path("rsa.pem"))"] }
        let probes: [[String]] = [
            ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"],
            ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"],
            ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"],
            ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305"],
            ["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"],
            ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"],
        ]
        let (theirs, ours) = try sideBySide(binds: binds, probes: probes)
        XCTAssertEqual(ours[0], theirs[0])
        XCTAssertEqual(ours[0], [
            "RSA ECDHE-RSA-CHACHA20-POLY1305", "RSA TLS_CHACHA20_POLY1305_SHA256",
            "RSA ECDHE-RSA-AES256-GCM-SHA384",
            // The server's order (OpenSSL's DEFAULT) puts ChaCha20 before AES-128.
            "RSA ECDHE-RSA-CHACHA20-POLY1305",
            "RSA TLS_AES_256_GCM_SHA384", "RSA TLS_CHACHA20_POLY1305_SHA256",
        ])
    }
}

/// Results written from concurrent probes.
private final class ProbeResults: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String]
    init(_ initial: [String]) { storage = initial }
    func set(_ i: Int, _ value: String) { lock.lock(); storage[i] = value; lock.unlock() }
    var values: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}
