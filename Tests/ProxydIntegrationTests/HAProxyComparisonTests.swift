import Foundation
import XCTest

/// The same config and the same requests through HAProxy 2.6 (Debian's) and proxyd: the
/// answers must be the same, header names compared without case (HAProxy writes them in
/// lower case, proxyd forwards the server's bytes) and dates ignored.
final class HAProxyComparisonTests: XCTestCase {
    static let haproxy = "/usr/sbin/haproxy"

    func testSameAnswersAsHAProxy() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.haproxy) else {
            throw XCTSkip("haproxy is not installed (scripts/install-deps installs it)")
        }
        let web = try TestBackend(name: "web"), api = try TestBackend(name: "api")
        let echo = try TestBackend(name: "echo", behaviour: .echo)
        let closed = TCP.freePort()
        func config(port: Int) -> String {
            ProxyFixture.preamble(extraDefaults: "    timeout http-request 1s") + """
            frontend fe
                bind 127.0.0.1:\(port)
                acl blocked path_beg /private
                http-request deny if blocked
                http-request redirect location /new if { path /old }
                http-request redirect prefix /pre code 301 if { path_beg /p/ }
                http-request return status 200 content-type text/plain string "pong" if { path /ping }
                http-request set-header X-Client %[src]
                http-response set-header X-Served-By proxy
                use_backend api if { path_beg /api }
                use_backend gone if { path_beg /gone }
                use_backend echo if { path_beg /echo }
                default_backend web
            backend web
                server web 127.0.0.1:\(web.port)
            backend api
                server api 127.0.0.1:\(api.port)
            backend echo
                server echo 127.0.0.1:\(echo.port)
            backend gone
                retries 0
                server nobody 127.0.0.1:\(closed)

            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cmp-\(haproxyPort)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let haproxyConfig = dir.appendingPathComponent("haproxy.cfg").path
        try config(port: haproxyPort).write(toFile: haproxyConfig, atomically: true, encoding: .utf8)
        let reference = Process()
        reference.executableURL = URL(fileURLWithPath: Self.haproxy)
        reference.arguments = ["-db", "-f", haproxyConfig]
        let referenceErrors = Pipe()
        reference.standardError = referenceErrors
        try reference.run()
        defer { reference.terminate(); reference.waitUntilExit() }
        let proxy = try ProxydProcess(config: config(port: proxydPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        guard TCP.waitUntilListening(port: haproxyPort, timeout: 10) else {
            reference.terminate()
            let text = String(decoding: referenceErrors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            return XCTFail("haproxy did not start: \(text)")
        }

        let requests = [
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /api/v1 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /private/data HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /old HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /p/a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n",
            "GE T / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nBad\u{1}Header: y\r\n\r\n",
            "GET /slow HTTP/1.1\r\nHost: x\r\n",
            // What reaches the server (echoed back): both framings (chunked wins, the
            // Content-Length goes), folded header lines (made spaces), and a first
            // header line that folds onto nothing (400).
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "GET /echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\tc\r\n\r\n",
            "GET /echo HTTP/1.1\r\n X-First: a\r\nHost: x\r\n\r\n",
        ]
        for request in requests {
            let expected = try exchange(request, port: haproxyPort)
            let actual = try exchange(request, port: proxydPort)
            XCTAssertEqual(actual, expected, "request: \(request.debugDescription)")
        }
    }

    /// Sends one raw request and returns the normalised answer.
    private func exchange(_ request: String, port: Int) throws -> String {
        let client = try TCP.Connection(port: port, timeout: 3)
        try client.send(request)
        guard let response = try? client.receiveResponse() else { return "(no response)" }
        let headers = response.headers
            .map { ($0.0.lowercased(), $0.1) }
            .filter { !["date", "connection"].contains($0.0) }
            .map { "\($0.0): \($0.1)" }
        // An echoed request head: HAProxy writes header names in lower case.
        let body = request.hasPrefix("GET /echo") || request.hasPrefix("POST /echo")
            ? response.bodyText.lowercased() : response.bodyText
        return (["\(response.status)"] + headers + [body]).joined(separator: "\n")
    }
}
