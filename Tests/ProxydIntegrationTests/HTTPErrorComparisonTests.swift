import Foundation
import XCTest

/// `http-error status …` through Debian's HAProxy 2.6 and proxyd on the same config: the
/// pages the client gets for a deny (403), a dead server (503) and a backend's own 503.
final class HTTPErrorComparisonTests: XCTestCase {
    func testHTTPErrorPagesAsHAProxy() throws {
        let closed = TCP.freePort()
        func config(_ port: Int) -> String {
            ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                http-error status 503 content-type text/plain string "sorry" hdr X-Why down
                http-error status 403
                http-request deny if { path /deny }
                use_backend own if { path /own }
                default_backend dead
            backend dead
                retries 0
                server nobody 127.0.0.1:\(closed)
            backend own
                retries 0
                http-error status 503 content-type text/html string "<p>own</p>"
                server nobody 127.0.0.1:\(closed)
            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: config(haproxyPort), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        func exchange(_ path: String, _ port: Int) throws -> String {
            let client = try TCP.Connection(port: port, timeout: 5)
            try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            guard let response = try? client.receiveResponse() else { return "(no response)" }
            let headers = response.headers.map { "\($0.0.lowercased()): \($0.1)" }.filter { !$0.hasPrefix("connection") }.sorted()
            return (["\(response.status)"] + headers + [response.bodyText]).joined(separator: "\n")
        }
        for path in ["/", "/deny", "/own"] {
            XCTAssertEqual(try exchange(path, proxydPort), try exchange(path, haproxyPort), path)
        }
        XCTAssertEqual(try exchange("/", proxydPort), "503\ncontent-length: 5\ncontent-type: text/plain\nx-why: down\nsorry")
    }
}
