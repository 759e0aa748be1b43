import Foundation
import XCTest

/// `proxyd -vv` prints the build options as `haproxy -vv` does (issue 11, item 6).
final class BuildOptionsTests: XCTestCase {
    func testDoubleVPrintsTheBuildOptions() throws {
        let r = try Sandbox.runProcess(ProxydProcess.proxydPath, ["-vv"], timeout: 30)
        XCTAssertEqual(r.status, 0, r.output)
        let lines = r.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("proxyd version "), lines[0])
        func line(_ prefix: String) -> String? { lines.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) } }

        XCTAssertNotNil(line("Build date: "), r.output)
        XCTAssertNotNil(line("Running on: Linux "), r.output)
        XCTAssertNotNil(line("  OPTIONS = "), r.output)
        let built = try XCTUnwrap(line("Built with OpenSSL version : "), r.output)
        let running = try XCTUnwrap(line("Running on OpenSSL version : "), r.output)
        XCTAssertTrue(built.hasPrefix("OpenSSL 3."), built)
        // The library proxyd runs with is the system's: what `openssl version` reports.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") {
            let v = try Sandbox.runProcess("/usr/bin/openssl", ["version"], timeout: 20)
            let library = v.output.range(of: "(Library: ").map { String(v.output[$0.upperBound...].prefix { $0 != ")" }) }
                ?? v.output.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(running, library)
        }
        XCTAssertEqual(line("OpenSSL library supports SNI : "), "yes")
        XCTAssertTrue(line("OpenSSL library supports : ")?.contains("TLSv1.2 TLSv1.3") == true, r.output)

        let features = try XCTUnwrap(line("Feature list : ")).split(separator: " ").map(String.init)
        for f in ["+EPOLL", "+OPENSSL", "+SYSTEMD", "+THREAD", "-LUA", "-QUIC"] {
            XCTAssertTrue(features.contains(f), "feature list lacks \(f): \(features)")
        }
        XCTAssertTrue(line("Built with multi-threading support (MAX_THREADS=64, default=") != nil, r.output)
        XCTAssertTrue(lines.contains("  <default> : mode=HTTP  side=FE|BE  mux=H1    flags="), r.output)
        XCTAssertTrue(lines.contains("  <default> : mode=TCP   side=FE|BE  mux=PASS  flags="), r.output)
        XCTAssertTrue(lines.contains("      epoll : pref=300,  test result OK"), r.output)

        // The algorithms are those the parser accepts, as --dump-keywords lists them.
        let algorithms = try XCTUnwrap(line("Available balancing algorithms : ")).split(separator: " ").map(String.init)
        let dump = try Sandbox.runProcess(ProxydProcess.proxydPath, ["--dump-keywords"], timeout: 30)
        var accepted: [String] = []
        for row in dump.output.split(separator: "\n") {
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if fields.count >= 3, fields[0] == "balance", fields[2] == "supported" { accepted.append(fields[1]) }
        }
        XCTAssertEqual(algorithms, accepted)
        for a in ["roundrobin", "static-rr", "leastconn", "first", "source", "uri", "url_param", "hdr", "random"] {
            XCTAssertTrue(algorithms.contains(a), "\(a) missing from \(algorithms)")
        }
    }

    func testSingleVPrintsTheVersionAlone() throws {
        let r = try Sandbox.runProcess(ProxydProcess.proxydPath, ["-v"], timeout: 30)
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.output.hasPrefix("proxyd version "), r.output)
        XCTAssertEqual(r.output.split(separator: "\n").count, 1, r.output)
    }
}
