import Foundation
import XCTest

/// `tarpit` (and `timeout tarpit`), `reject`, `silent-drop`, `set-log-level`, `set-src`,
/// `set-src-port` through Debian's HAProxy 2.6 and proxyd on the same config: what the
/// client gets (an answer, a close, or nothing at all), when, what the server gets, and the
/// log line with its syslog priority.
final class RuleEffectsComparisonTests: XCTestCase {
    func testRuleEffectsAsHAProxy() throws {
        let echo = try TestBackend(name: "echo", behaviour: .echo)
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        func config(_ ports: [Int], log: String) -> String {
            ProxyFixture.preamble(extraDefaults: """
                log \(log) local0
                log-format "REQ %ci %ST %tsc %{+Q}r"
                timeout tarpit 400ms
            """) + """
            frontend fe
                bind 127.0.0.1:\(ports[0])
                http-request tarpit if { path /tarpit }
                http-request tarpit deny_status 403 if { path /tarpit403 }
                http-request reject if { path /reject }
                http-request silent-drop if { path /drop }
                http-request set-log-level silent if { path /quiet }
                http-request set-log-level err if { path /err }
                http-request set-src hdr(x-real-ip) if { path /src }
                http-request set-header X-Src %[src] if { path /src }
                http-request set-src-port int(4242) if { path /srcport }
                http-request set-header X-Port %[src_port] if { path /srcport }
                default_backend echo
            listen quiet
                bind 127.0.0.1:\(ports[1])
                http-response set-log-level silent
                server echo 127.0.0.1:\(echo.port)
            frontend dropper
                bind 127.0.0.1:\(ports[2])
                tcp-request connection silent-drop if { src 127.0.0.1 }
                default_backend echo
            backend echo
                server echo 127.0.0.1:\(echo.port)
            """
        }
        let ports = (haproxy: (0..<3).map { _ in TCP.freePort() }, proxyd: (0..<3).map { _ in TCP.freePort() })
        let reference = try ReferenceHAProxy(config: config(ports.haproxy, log: haproxyLog.path), waitForPorts: ports.haproxy)
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(ports.proxyd, log: proxydLog.path), waitForPorts: ports.proxyd)
        defer { proxy.stop() }

        let paths = ["/tarpit", "/tarpit403", "/reject", "/drop", "/quiet", "/err", "/src", "/srcport", "/plain"]
        for path in paths {
            let request = "GET \(path) HTTP/1.1\r\nHost: x\r\nX-Real-IP: 10.77.1.2\r\n\r\n"
            let expected = try probe(request, port: ports.haproxy[0])
            let actual = try probe(request, port: ports.proxyd[0])
            XCTAssertEqual(actual.answer, expected.answer, path)
            XCTAssertEqual(actual.slow, expected.slow, "\(path): held \(actual.seconds) s, HAProxy \(expected.seconds) s")
        }
        // `tcp-request connection silent-drop`: the client hears nothing, not even a close.
        let dropped = (try probe("GET / HTTP/1.1\r\nHost: x\r\n\r\n", port: ports.proxyd[2]),
                       try probe("GET / HTTP/1.1\r\nHost: x\r\n\r\n", port: ports.haproxy[2]))
        XCTAssertEqual(dropped.0.answer, dropped.1.answer)
        XCTAssertEqual(dropped.0.answer, "(silence)")
        _ = try probe("GET /q HTTP/1.1\r\nHost: x\r\n\r\n", port: ports.haproxy[1])
        _ = try probe("GET /q HTTP/1.1\r\nHost: x\r\n\r\n", port: ports.proxyd[1])
        _ = try probe("GET /last HTTP/1.1\r\nHost: x\r\n\r\n", port: ports.haproxy[0])
        _ = try probe("GET /last HTTP/1.1\r\nHost: x\r\n\r\n", port: ports.proxyd[0])
        XCTAssertNotNil(haproxyLog.wait(for: "/last"))
        XCTAssertNotNil(proxydLog.wait(for: "/last"))
        // Lines with their priority (`<131>`: local0.err), without the syslog date and tag.
        func lines(_ log: LogReceiver) -> [String] {
            log.all.filter { $0.contains("REQ ") }.map { line in
                String(line.prefix { $0 != ">" }) + "> " + String(line[line.range(of: "REQ ")!.lowerBound...])
                    .trimmingCharacters(in: .newlines)
            }.sorted()
        }
        // (Not `%B`: proxyd forwards the server's header bytes, HAProxy rewrites them.)
        XCTAssertEqual(lines(proxydLog), lines(haproxyLog))
        XCTAssertFalse(lines(proxydLog).contains { $0.contains("/quiet") || $0.contains("/q ") }, "silent")
        XCTAssertTrue(lines(proxydLog).contains("<131> REQ 127.0.0.1 200 ---- \"GET /err HTTP/1.1\""), "\(lines(proxydLog))")
    }

    /// `tcp-request content silent-drop` in `mode tcp` (proxyd's NIO path, which content
    /// inspection takes; `http-request silent-drop` there too): the client hears nothing.
    func testContentSilentDropAsHAProxy() throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        func config(_ ports: [Int]) -> String {
            ProxyFixture.preamble() + """
            frontend tcpdropper
                bind 127.0.0.1:\(ports[0])
                mode tcp
                tcp-request content silent-drop if { src 127.0.0.1 }
                default_backend tcpecho
            frontend httpdropper
                bind 127.0.0.1:\(ports[1])
                http-request silent-drop
                default_backend httpecho
            backend httpecho
                server echo 127.0.0.1:\(echo.port)
            backend tcpecho
                mode tcp
                server echo 127.0.0.1:\(echo.port)
            """
        }
        let ports = (haproxy: [TCP.freePort(), TCP.freePort()], proxyd: [TCP.freePort(), TCP.freePort()])
        let reference = try ReferenceHAProxy(config: config(ports.haproxy), waitForPorts: ports.haproxy)
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(ports.proxyd), waitForPorts: ports.proxyd)
        defer { proxy.stop() }
        for index in 0..<2 {
            let request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            let (proxyd, haproxy) = (try probe(request, port: ports.proxyd[index]), try probe(request, port: ports.haproxy[index]))
            XCTAssertEqual(proxyd.answer, haproxy.answer)
            XCTAssertEqual(proxyd.answer, "(silence)")
        }
    }

    /// One request on a new connection: the answer (status, headers without date, the
    /// echoed head lower-cased), `(closed)` for a close without one, `(silence)` when
    /// nothing at all comes within a second; and whether it took over 0.3 s.
    private func probe(_ request: String, port: Int) throws -> (answer: String, slow: Bool, seconds: Double) {
        let client = try TCP.Connection(port: port, timeout: 1)
        defer { client.close() }
        let start = Date()
        try client.send(request)
        var data: [UInt8] = []
        var answer = "(silence)"
        while true {
            if let response = HTTPTestResponse.parse(data) {
                let headers = response.headers.map { ($0.0.lowercased(), $0.1) }
                    .filter { !["date", "connection"].contains($0.0) }.map { "\($0.0): \($0.1)" }
                answer = (["\(response.status)"] + headers + [response.bodyText.lowercased()]).joined(separator: "\n")
                break
            }
            guard let chunk = client.receiveSome() else { break }
            if chunk.isEmpty { answer = data.isEmpty ? "(closed)" : "(cut)"; break }
            data += chunk
        }
        let seconds = Date().timeIntervalSince(start)
        return (answer, seconds > 0.3, seconds)
    }
}
