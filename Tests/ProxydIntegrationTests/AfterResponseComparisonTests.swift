import Foundation
import XCTest

/// `http-after-response` through Debian's HAProxy 2.6 and proxyd on the same config: the
/// rules edit every answer, the server's and the proxy's own (deny, redirect, return, 503),
/// and the log shows the status they set; `http-response set-status` too.
final class AfterResponseComparisonTests: XCTestCase {
    func testAfterResponseRulesAsHAProxy() throws {
        let echo = try TestBackend(name: "echo", behaviour: .echo)
        let closed = TCP.freePort()
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        func config(_ port: Int, log: String) -> String {
            ProxyFixture.preamble(extraDefaults: """
                log \(log) local0
                log-format "REQ %ST %{+Q}r"
            """) + #"""
            frontend fe
                bind 127.0.0.1:\#(port)
                http-request deny if { path /deny }
                http-request redirect location /x if { path /redir }
                http-request return status 200 content-type text/plain string pong if { path /ping }
                http-after-response set-header X-After yes
                http-after-response set-status 299 reason Fine if { status 200 }
                http-after-response set-status 418 if { status 503 }
                http-after-response del-header cache-control
                http-after-response replace-header Content-Type (.*) \1;x
                http-after-response add-header X-Status-Seen 403 if { status 403 }
                use_backend dead if { path /dead }
                use_backend teapot if { path /teapot }
                default_backend echo
            backend echo
                http-after-response set-header X-Backend echo
                server echo 127.0.0.1:\#(echo.port)
            backend teapot
                http-response set-status 202
                http-after-response replace-value X-Server ^(e)(cho)$ \2\1
                server echo 127.0.0.1:\#(echo.port)
            backend dead
                retries 0
                server nobody 127.0.0.1:\#(closed)
            """#
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: config(haproxyPort, log: haproxyLog.path), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, log: proxydLog.path), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        var answers: [String: String] = [:]
        for path in ["/ok", "/deny", "/redir", "/ping", "/dead", "/teapot"] {
            let request = "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n"
            answers[path] = try exchange(request, port: proxydPort)
            XCTAssertEqual(answers[path], try exchange(request, port: haproxyPort), path)
        }
        let sample = answers["/deny"] ?? ""
        XCTAssertTrue(sample.contains("x-after: yes") && sample.contains("content-type: text/html;x")
                      && sample.contains("x-status-seen: 403") && !sample.contains("cache-control"), sample)
        XCTAssertNotNil(haproxyLog.wait(for: "/teapot"))
        XCTAssertNotNil(proxydLog.wait(for: "/teapot"))
        func lines(_ log: LogReceiver) -> [String] { log.messages.filter { $0.hasPrefix("REQ ") && !$0.contains("BADREQ") } }
        XCTAssertEqual(lines(proxydLog), lines(haproxyLog))
        XCTAssertTrue(lines(proxydLog).contains("REQ 299 \"GET /ok HTTP/1.1\""), "\(lines(proxydLog))")
    }

    /// The status line, headers in lower case without date and connection (sorted: HAProxy
    /// writes the ones it adds in its own order), the body lower-cased.
    private func exchange(_ request: String, port: Int) throws -> String {
        let client = try TCP.Connection(port: port, timeout: 5)
        try client.send(request)
        var data: [UInt8] = []
        var parsed = HTTPTestResponse.parse(data)
        while parsed == nil, let chunk = client.receiveSome(), !chunk.isEmpty {
            data += chunk
            parsed = HTTPTestResponse.parse(data)
        }
        guard let response = parsed else { return "(no response)" }
        let statusLine = String(decoding: data.prefix { $0 != 13 }, as: UTF8.self)
        let headers = response.headers.map { ($0.0.lowercased(), $0.1) }
            .filter { !["date", "connection"].contains($0.0) }.map { "\($0.0): \($0.1)" }
        return ([statusLine] + headers.sorted() + [response.bodyText.lowercased()]).joined(separator: "\n")
    }
}
