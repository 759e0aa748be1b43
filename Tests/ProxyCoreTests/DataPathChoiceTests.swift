import Foundation
import XCTest
@testable import ProxyCore

/// Which data path a configuration runs on (Runtime/DataPath.swift): TLS, bind or server
/// side, runs on the native one (TLSTransport); only `mode tcp` content inspection keeps a
/// configuration on NIO. The TLS integration tests run on whichever this picks, so this
/// pins that they exercise the native path by default.
final class DataPathChoiceTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("dp-choice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = directory.appendingPathComponent("k.pem").path, crt = directory.appendingPathComponent("c.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                             "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=choice.test"]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        XCTAssertEqual(openssl.terminationStatus, 0)
        let pem = try String(contentsOfFile: crt) + String(contentsOfFile: key)
        try pem.write(to: directory.appendingPathComponent("proxy.pem"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func choice(_ body: String, environment: [String: String] = [:]) throws -> DataPath {
        let text = """
            defaults
                timeout client 5s
                timeout server 5s
                timeout connect 2s
            \(body)

            """
        let result = ConfigurationLoader.load(text: text, name: "choice.cfg")
        let configuration = try XCTUnwrap(result.configuration, "\(result.diagnostics)")
        // Built, never bound: the addresses are only parsed.
        let runtime = try RuntimeBuilder.build(configuration, threads: 1)
        defer { runtime.shutdown() }
        return DataPath.choose(frontends: runtime.frontends, backends: runtime.backends, environment: environment)
    }

    func testTLSBothSidesRunsNatively() throws {
        let tls = """
            frontend https-in
                mode http
                bind 127.0.0.1:18443 ssl crt \(directory.path)/proxy.pem
                default_backend be
            backend be
                mode http
                server s1 127.0.0.1:8443 ssl verify none
            """
        XCTAssertEqual(try choice(tls), .native)
        XCTAssertEqual(try choice(tls, environment: ["PROXYD_DATAPATH": "nio"]), .nio)
    }

    func testTCPContentInspectionStaysOnNIO() throws {
        let inspecting = """
            frontend sni-in
                mode tcp
                bind 127.0.0.1:18443
                tcp-request inspect-delay 5s
                use_backend be if { req.ssl_sni -i a.test }
                default_backend be
            backend be
                mode tcp
                server s1 127.0.0.1:8443
            """
        XCTAssertEqual(try choice(inspecting), .nio)
        XCTAssertEqual(try choice(inspecting, environment: ["PROXYD_DATAPATH": "native"]), .nio)
    }
}
