import Foundation
import XCTest

/// The responses proxyd sends on its own behalf, chosen as HAProxy 2.6 chooses them:
/// `errorfile`, `errorloc`/`errorloc302`/`errorloc303`, `http-errors` sections imported
/// with `errorfiles NAME [CODE…]` (the section may come after the proxy), in the order
/// written; and code by code, the backend's page, else the frontend's, else the built-in
/// one. The same config and requests go through Debian's haproxy; answers must match
/// (header names without case: HAProxy writes an errorfile's names in lower case).
final class ErrorPagesTests: XCTestCase {
    func testSameErrorPagesAsHAProxy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("errpages-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func page(_ name: String, _ status: String, _ body: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try "HTTP/1.1 \(status)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let site503 = try page("site503.http", "503 Service Unavailable", "site is busy\n")
        let site403 = try page("site403.http", "403 Forbidden", "site says no\n")
        let front503 = try page("front503.http", "503 Service Unavailable", "frontend page\n")
        let closed = TCP.freePort()
        func config(port: Int) -> String {
            ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                errorloc 403 http://example.com/denied
                errorfile 503 \(front503)
                http-request deny if { path /deny }
                http-request deny deny_status 429 if { path /slow-down }
                use_backend imported if { path_beg /imported }
                use_backend partial if { path_beg /partial }
                use_backend bare if { path_beg /bare }
                default_backend relocated
            backend imported
                retries 0
                errorfiles site
                server nobody 127.0.0.1:\(closed)
            backend partial
                retries 0
                errorfiles site 403
                errorloc303 503 /maintenance
                http-request deny if { path /partial/deny }
                server nobody 127.0.0.1:\(closed)
            backend bare
                retries 0
                server nobody 127.0.0.1:\(closed)
            backend relocated
                retries 0
                errorfiles site
                errorloc302 503 https://status.example.com/
                server nobody 127.0.0.1:\(closed)
            http-errors site
                errorfile 503 \(site503)
                errorfile 403 \(site403)

            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: config(port: haproxyPort), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(port: proxydPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        let paths = ["/deny", "/slow-down", "/imported", "/partial", "/partial/deny", "/bare", "/"]
        var answers: [String: String] = [:]
        for path in paths {
            let expected = try exchange(path, port: haproxyPort)
            let actual = try exchange(path, port: proxydPort)
            XCTAssertEqual(actual, expected, path)
            answers[path] = actual
        }
        // What each case is, so that a change on both sides cannot pass unseen.
        XCTAssertTrue(answers["/deny"]?.hasPrefix("302\n") == true && answers["/deny"]!.contains("location: http://example.com/denied"))
        XCTAssertTrue(answers["/imported"]?.hasSuffix("site is busy\n") == true, "the section's page")
        XCTAssertTrue(answers["/partial"]?.contains("location: /maintenance") == true, "303 by errorloc303")
        XCTAssertTrue(answers["/partial/deny"]?.hasSuffix("site says no\n") == true, "only 403 imported")
        XCTAssertTrue(answers["/bare"]?.hasSuffix("frontend page\n") == true, "no backend page: the frontend's")
        XCTAssertTrue(answers["/"]?.contains("location: https://status.example.com/") == true, "a later line wins")
    }

    /// Unknown sections, codes not declared, and section errors: HAProxy's words.
    func testConfigErrorsAsHAProxy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("errpages-cfg-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("503.http")
        try "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n".write(to: file, atomically: true, encoding: .utf8)
        let configs = [
            "unknown.cfg": ProxyFixture.preamble() + """
            frontend f
                bind 127.0.0.1:18999
                errorfiles nosuch 503
                errorfiles site 404
                default_backend b
            backend b
                server s 127.0.0.1:1
            http-errors site
                errorfile 503 \(file.path)

            """,
            "section.cfg": """
            http-errors site
                errorfile 503 \(file.path)
                bogus 1
                errorfile 999 \(file.path)
            frontend f
                errorloc 403
                errorloc 999 /x
                errorfiles
            http-errors site

            """,
        ]
        for (name, text) in configs {
            let path = dir.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let ours = try CheckModeTests.execute(CheckModeTests.proxyd.path, ["-c", "-f", path])
            XCTAssertEqual(ours.status, 1, ours.description)
            guard let haproxy = CheckModeTests.which("haproxy") else { continue }
            let theirs = try CheckModeTests.execute(haproxy, ["-c", "-f", path])
            XCTAssertEqual(CheckModeTests.normalized(ours), CheckModeTests.normalized(theirs), name)
        }
    }

    private func exchange(_ path: String, port: Int) throws -> String {
        let client = try TCP.Connection(port: port, timeout: 5)
        try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        guard let response = try? client.receiveResponse() else { return "(no response)" }
        let headers = response.headers
            .map { ($0.0.lowercased(), $0.1) }
            .filter { !["date", "connection"].contains($0.0) }
            .map { "\($0.0): \($0.1)" }
        return (["\(response.status)"] + headers + [response.bodyText]).joined(separator: "\n")
    }
}
