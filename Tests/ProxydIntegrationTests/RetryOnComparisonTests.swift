import Foundation
import XCTest

/// `retry-on` through Debian's HAProxy 2.6 and proxyd on the same config: a server that
/// answers 503 gets the request again (1 + `retries` times, on the same server) and the
/// client gets its last answer; the log's `%rc` counts the retries; `retry-on 404` leaves
/// a 503 alone; `retry-on none` does not retry a refused connection; `empty-response` and
/// `response-timeout` try a silent or slow server again.
final class RetryOnComparisonTests: XCTestCase {
    func testRetryOnAsHAProxy() throws {
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        let closed = TCP.freePort()
        let silent = try TestBackend(name: "silent", behaviour: .closeWithoutResponse)
        let slow = try TestBackend(name: "slow", behaviour: .slow(.milliseconds(1500)))
        func config(_ ports: [Int], log: String) -> String {
            ProxyFixture.preamble(extraDefaults: """
                log \(log) local0
                log-format "REQ %f %ST %rc %s %{+Q}r"
            """) + """
            frontend fe
                bind 127.0.0.1:\(ports[0])
                use_backend other if { path /other }
                use_backend none if { path /none }
                use_backend empty if { path /empty }
                use_backend timeout if { path /timeout }
                default_backend retried
            backend retried
                retry-on 503 504
                retries 2
                server bad 127.0.0.1:\(ports[1])
            backend other
                retry-on 404
                server bad 127.0.0.1:\(ports[1])
            backend none
                retry-on none
                retries 3
                server gone 127.0.0.1:\(closed)
            backend empty
                retry-on empty-response
                retries 2
                server silent 127.0.0.1:\(silent.port)
            backend timeout
                retry-on response-timeout
                retries 1
                timeout server 300ms
                server slow 127.0.0.1:\(slow.port)
            listen bad
                bind 127.0.0.1:\(ports[1])
                http-request return status 503 content-type text/plain string bad
            """
        }
        let ports = (haproxy: [TCP.freePort(), TCP.freePort()], proxyd: [TCP.freePort(), TCP.freePort()])
        let reference = try ReferenceHAProxy(config: config(ports.haproxy, log: haproxyLog.path), waitForPorts: ports.haproxy)
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(ports.proxyd, log: proxydLog.path), waitForPorts: ports.proxyd)
        defer { proxy.stop() }
        func exchange(_ path: String, _ port: Int) throws -> String {
            let client = try TCP.Connection(port: port, timeout: 5)
            try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            guard let response = try? client.receiveResponse() else { return "(no response)" }
            return "\(response.status) \(response.bodyText.prefix(20))"
        }
        let silentBefore = silent.connectionCount
        for path in ["/", "/other", "/none", "/empty", "/timeout", "/last"] {
            XCTAssertEqual(try exchange(path, ports.proxyd[0]), try exchange(path, ports.haproxy[0]), path)
        }
        XCTAssertNotNil(haproxyLog.wait(for: "REQ fe 503 2 bad \"GET /last "))  // after the listen section's own lines
        XCTAssertNotNil(proxydLog.wait(for: "REQ fe 503 2 bad \"GET /last "))
        func lines(_ log: LogReceiver) -> [String] { log.messages.filter { $0.hasPrefix("REQ ") && !$0.contains("BADREQ") } }
        XCTAssertEqual(lines(proxydLog), lines(haproxyLog))
        XCTAssertEqual(lines(proxydLog).filter { $0.hasPrefix("REQ bad ") }.count, 3 + 1 + 3, "\(lines(proxydLog))")
        XCTAssertTrue(lines(proxydLog).contains("REQ fe 503 2 bad \"GET / HTTP/1.1\""), "\(lines(proxydLog))")
        XCTAssertTrue(lines(proxydLog).contains("REQ fe 502 2 silent \"GET /empty HTTP/1.1\""), "\(lines(proxydLog))")
        XCTAssertTrue(lines(proxydLog).contains("REQ fe 504 1 slow \"GET /timeout HTTP/1.1\""), "\(lines(proxydLog))")
        XCTAssertEqual(silent.connectionCount - silentBefore, 6, "3 tries each from HAProxy and proxyd")
    }
}
