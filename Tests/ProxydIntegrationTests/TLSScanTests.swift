import Foundation
import XCTest

/// testssl.sh (Debian's `testssl.sh`) run against HAProxy 2.6 and proxyd on the same
/// config, both scans at once: proxyd must never be weaker. A scan of the sections below
/// takes about two minutes, so the test runs only with PROXYD_SLOW_TESTS=1.
final class TLSScanTests: TLSTestCase {
    static let testssl = "/usr/bin/testssl"

    /// Sections: protocols, server preference and cipher order, forward secrecy, LOGJAM,
    /// server defaults (certificates).
    private static let sections = ["--protocols", "--server-preference", "--fs", "--logjam", "--server-defaults"]

    /// The findings that are the same on every run of one server (not serials, times).
    private static let compared = [
        "SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3",
        "cipher_order", "cipherorder_TLSv1_2", "cipherorder_TLSv1_3", "protocol_negotiated", "cipher_negotiated",
        "FS", "PFS", "FS_ciphers", "PFS_ciphers", "FS_ECDHE_curves", "PFS_ECDHE_curves",
        "LOGJAM", "LOGJAM-common_primes",
        "cert_numbers", "cert_keySize <cert#1>", "cert_keySize <cert#2>",
        "TLS_session_ticket", "SSL_sessionID_support", "sessionresumption_ID",
    ]

    /// Left out: testssl's ticket-resumption check is a race in `s_client -sess_out
    /// </dev/null` (it quits at once and keeps a TLS 1.3 ticket only if it came first):
    /// measured 2 in 10 against haproxy and against a release proxyd alike.
    private static let racy: Set<String> = ["sessionresumption_ticket"]

    private struct Finding { var severity: String; var text: String }

    private static let rank = ["OK": 0, "INFO": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4, "WARN": 5]

    /// An HTTP frontend with a backend that answers, so that both keep a scanner's
    /// connections open alike (a refused backend connection is retried differently).
    private func config(port: Int, rsa: String, ecdsa: String, backend: Int) -> String {
        """
        global
            nbthread 1

        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s

        frontend fe
            bind 127.0.0.1:\(port) ssl crt \(rsa) crt \(ecdsa)
            default_backend app
        backend app
            server app 127.0.0.1:\(backend)

        """
    }

    /// Starts a scan of site.test at 127.0.0.1:port (SNI included); `finish` waits for it and
    /// reads its JSON findings by id.
    private func startScan(port: Int) throws -> () throws -> [String: Finding] {
        let json = try m.path("scan-\(port).json")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.testssl)
        process.arguments = ["--quiet", "--color", "0", "--warnings", "off", "--fast", "--ip", "127.0.0.1",
                             "--openssl-timeout", "5", "--jsonfile", json] + Self.sections + ["site.test:\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return {
            let deadline = Date().addingTimeInterval(400)
            while process.isRunning, Date() < deadline { usleep(100_000) }
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
                throw TestFailure("testssl did not finish in 400 s")
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: json))
            guard let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
                throw TestFailure("testssl wrote no list of findings")
            }
            var findings: [String: Finding] = [:]
            for item in list {
                guard let id = item["id"] as? String else { continue }
                findings[id] = Finding(severity: item["severity"] as? String ?? "", text: item["finding"] as? String ?? "")
            }
            return findings
        }
    }

    func testTestsslFindsProxydNoWeakerThanHAProxy() throws {
        guard ProcessInfo.processInfo.environment["PROXYD_SLOW_TESTS"] == "1" else {
            throw XCTSkip("a testssl.sh scan takes about two minutes: set PROXYD_SLOW_TESTS=1")
        }
        guard FileManager.default.isExecutableFile(atPath: Self.testssl) else {
            throw XCTSkip("testssl.sh is not installed (scripts/install-deps installs it)")
        }
        let m = try m
        for (kind, key) in [("rsa", ["rsa:2048"]), ("ecdsa", ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])] {
            let base = m.path("scan-\(kind)")
            let made = try Tool.run(Tool.openssl, ["req", "-x509", "-newkey"] + key + [
                "-nodes", "-keyout", base + ".key", "-out", base + ".crt", "-days", "365",
                "-subj", "/CN=site.test", "-addext", "subjectAltName=DNS:site.test"])
            guard made.status == 0 else { throw TestFailure("openssl req: \(made.all)") }
            try (String(contentsOfFile: base + ".crt", encoding: .utf8) + String(contentsOfFile: base + ".key", encoding: .utf8))
                .write(toFile: base + ".pem", atomically: true, encoding: .utf8)
        }
        let (rsa, ecdsa) = (m.path("scan-rsa.pem"), m.path("scan-ecdsa.pem"))
        let app = try TestBackend(name: "app")
        defer { app.stop() }
        let theirPort = TCP.freePort(), ourPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: config(port: theirPort, rsa: rsa, ecdsa: ecdsa, backend: app.port), waitForPorts: [theirPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(port: ourPort, rsa: rsa, ecdsa: ecdsa, backend: app.port), waitForPorts: [ourPort])
        defer { proxy.stop() }
        let started = Date()
        let theirScan = try startScan(port: theirPort), ourScan = try startScan(port: ourPort)
        let theirs = try theirScan(), ours = try ourScan()
        print("testssl: both scans took \(Int(Date().timeIntervalSince(started))) s")

        for id in Self.compared where theirs[id] != nil || ours[id] != nil {
            print("testssl \(id): proxyd '\(ours[id]?.text ?? "-")', haproxy '\(theirs[id]?.text ?? "-")'")
            XCTAssertEqual(ours[id]?.text, theirs[id]?.text, id)
        }
        // Every finding both report: never a worse severity than HAProxy's.
        for (id, their) in theirs where !Self.racy.contains(id) {
            guard let our = ours[id], let a = Self.rank[our.severity], let b = Self.rank[their.severity] else { continue }
            XCTAssertLessThanOrEqual(a, b, "\(id): proxyd \(our.severity) '\(our.text)', haproxy \(their.severity) '\(their.text)'")
        }
        XCTAssertEqual(ours["cert_numbers"]?.text, "2", "both certificates are found")
        XCTAssertEqual(ours["LOGJAM-common_primes"]?.severity, "OK")
        XCTAssertEqual(ours["TLS1_3"]?.text, "offered with final")
        XCTAssertEqual(ours["cipher_order"]?.text, "server")
    }
}
