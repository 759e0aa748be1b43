import Foundation
import XCTest

/// ACL pattern files (`acl NAME FETCH -f FILE`, several `-f`, `-M` map files) through
/// Debian's HAProxy 2.6 and proxyd on the same config and files: comments, blank lines,
/// leading blanks as HAProxy reads them, and the same answers.
final class PatternFileComparisonTests: XCTestCase {
    func testPatternFilesAsHAProxy() throws {
        let echo = try TestBackend(name: "echo", behaviour: .echo)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ru-patterns-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = dir.appendingPathComponent("paths.lst").path
        let networks = dir.appendingPathComponent("nets.lst").path
        let hosts = dir.appendingPathComponent("hosts.map").path
        try "# blocked paths\n/admin\n  /secret\n\n   \n #not-a-comment\n\t/tab\r\n".write(toFile: paths, atomically: true, encoding: .utf8)
        try "10.77.0.0/16\n127.0.0.1\n".write(toFile: networks, atomically: true, encoding: .utf8)
        try "# host backend\nwww.example.com   web\napi.example.com\tapi\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        func config(_ port: Int, socket: String) -> String {
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                acl blocked path_beg -f \(paths)
                acl local src -f \(networks)
                acl both path -f \(paths) -f \(networks) /inline
                acl known_host hdr(host) -i -M -f \(hosts)
                http-request return status 200 content-type text/plain string both if both
                http-request deny if blocked
                http-request return status 200 content-type text/plain string local if local { path /local }
                http-request return status 200 content-type text/plain string known if known_host
                default_backend echo
            backend echo
                server echo 127.0.0.1:\(echo.port)
            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = dir.appendingPathComponent("haproxy.sock").path
        let proxydSocket = dir.appendingPathComponent("proxyd.sock").path
        let reference = try ReferenceHAProxy(config: config(haproxyPort, socket: haproxySocket), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, socket: proxydSocket), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        let cases = [("/admin/x", "x"), ("/secret", "x"), ("/tab", "x"), ("/inline", "x"), ("/10.77.0.0/16", "x"),
                     ("/local", "x"), ("/", "WWW.example.com"), ("/", "api.example.com"),
                     ("/", "other.example.com"), ("/blocked", "x")]
        var answers: [String] = []
        for (path, host) in cases {
            let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\n\r\n"
            let answer = try exchange(request, port: proxydPort)
            XCTAssertEqual(answer, try exchange(request, port: haproxyPort), "\(path) \(host)")
            answers.append(answer.prefix { $0 != "\n" } + " " + answer.split(separator: "\n").dropFirst().first.map(String.init).map { String($0.prefix(12)) }!)
        }
        // What each file line did: a deny, each answer, the lines that are no patterns.
        try compareRuntimeEdits(paths, proxyd: (proxydPort, proxydSocket), haproxy: (haproxyPort, haproxySocket))
        XCTAssertEqual(answers, ["403 <html><body>", "200 both", "200 both", "200 both", "200 get /10.77.0", "200 local",
                                 "200 known", "200 known", "200 get / http/1", "200 get /blocked"])
    }

    /// The runtime API changes a pattern file on both: the same answers to the same
    /// commands (entry references left out: addresses in HAProxy), the same routing after.
    private func compareRuntimeEdits(_ paths: String, proxyd: (Int, String), haproxy: (Int, String)) throws {
        func cli(_ command: String, _ socket: String) throws -> String {
            try ControlClient.socat(command, socket: socket).split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("0x") ? String($0.drop { $0 != " " }) : String($0) }.joined(separator: "\n")
        }
        let steps: [(String, [String])] = [
            ("show acl \(paths)", []), ("add acl \(paths) /new", ["/new/x"]), ("del acl \(paths) /secret", ["/secret/x"]),
            ("del acl \(paths) /nope", []), ("show acl \(paths)", []), ("show acl /nowhere.lst", []), ("add acl \(paths)", []),
            ("clear acl \(paths)", ["/admin", "/new/x"]), ("show acl \(paths)", []),
        ]
        for (command, probes) in steps {
            XCTAssertEqual(try cli(command, proxyd.1), try cli(command, haproxy.1), command)
            for path in probes {
                let request = "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n"
                XCTAssertEqual(try exchange(request, port: proxyd.0), try exchange(request, port: haproxy.0), "\(command): \(path)")
            }
        }
        XCTAssertTrue(try exchange("GET /admin HTTP/1.1\r\nHost: x\r\n\r\n", port: proxyd.0).hasPrefix("200"), "cleared")
    }

    private func exchange(_ request: String, port: Int) throws -> String {
        let client = try TCP.Connection(port: port, timeout: 3)
        try client.send(request)
        guard let response = try? client.receiveResponse() else { return "(no response)" }
        return "\(response.status)\n" + response.bodyText.lowercased()
    }
}
