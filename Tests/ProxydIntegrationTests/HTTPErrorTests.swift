import Foundation
import XCTest

/// The answers proxyd sends on its own behalf, byte for byte as HAProxy 2.6 sends them.
final class HTTPErrorTests: XCTestCase {
    func testMalformedRequestGets400AndClose() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("GE T / HTTP/1.1\r\nHost: x\r\n\r\n")
        let bytes = client.receiveAll()
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), """
            HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n
            """)
        XCTAssertEqual(a.requestCount, 0)
    }

    /// Both Content-Length and Transfer-Encoding (a smuggling pattern): as HAProxy 2.6,
    /// the body is read chunked, the Content-Length is not forwarded, and the connection
    /// closes after the answer so that nothing after it is read as another request.
    func testContentLengthWithTransferEncodingGoesChunkedAndCloses() throws {
        let a = try TestBackend(name: "a", behaviour: .countBody)
        let (proxy, port) = try ProxyFixture.start(servers: [a])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n")
        let response = try client.receiveResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.bodyText, "4", "the chunked framing counted")
        XCTAssertEqual(response.header("Connection"), "close")
        try? client.send("GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(client.receiveAll(), [], "the connection is closed after the answer")
        XCTAssertEqual(a.requestCount, 1)
        XCTAssertFalse(a.heads[0].lowercased().contains("content-length"), a.heads[0])
    }

    func testIncompleteRequestTimesOutWith408() throws {
        let a = try TestBackend(name: "a")
        let (proxy, port) = try ProxyFixture.start(servers: [a], defaults: "timeout http-request 300ms")
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n")
        let response = try client.receiveResponse()
        XCTAssertEqual(response.status, 408)
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertTrue(response.bodyText.contains("Your browser didn't send a complete request in time."))
    }

    func testInvalidServerResponseGives502() throws {
        let bad = try TestBackend(name: "bad", behaviour: .garbage)
        let (proxy, port) = try ProxyFixture.start(servers: [bad])
        defer { proxy.stop() }
        let response = try ProxyFixture.get(port: port)
        XCTAssertEqual(response.status, 502)
        XCTAssertTrue(response.bodyText.contains("The server returned an invalid or incomplete response."))
    }

    func testServerClosingWithoutAnswerGives502() throws {
        let bad = try TestBackend(name: "bad", behaviour: .closeWithoutResponse)
        let (proxy, port) = try ProxyFixture.start(servers: [bad])
        defer { proxy.stop() }
        XCTAssertEqual(try ProxyFixture.get(port: port).status, 502)
    }

    func testNoUsableServerGives503() throws {
        let closedPort = TCP.freePort()
        let (proxy, port) = try ProxyFixture.start(backend: "server gone 127.0.0.1:\(closedPort)\nretries 0")
        defer { proxy.stop() }
        let response = try ProxyFixture.get(port: port)
        XCTAssertEqual(response.status, 503)
        XCTAssertEqual(response.bodyText, "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n")
    }

    func testSlowServerGives504() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.seconds(5)))
        let (proxy, port) = try ProxyFixture.start(servers: [slow], backend: "timeout server 300ms")
        defer { proxy.stop() }
        let started = Date()
        let response = try ProxyFixture.get(port: port)
        XCTAssertEqual(response.status, 504)
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)
    }

    func testErrorfileReplacesTheResponse() throws {
        let closedPort = TCP.freePort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("errfile-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<h1>our own 503</h1>\n"
        let path = dir.appendingPathComponent("503.http").path
        try page.write(toFile: path, atomically: true, encoding: .utf8)
        let (proxy, port) = try ProxyFixture.start(backend: "server gone 127.0.0.1:\(closedPort)\nretries 0",
                                                   defaults: "errorfile 503 \(path)")
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        // As HAProxy 2.6 sends a file its stream raised (ReplyComparisonTests compares the
        // two): names in lower case, its own `Connection` line left out.
        XCTAssertEqual(String(decoding: client.receiveAll(), as: UTF8.self),
                       "HTTP/1.0 503 Service Unavailable\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n"
                       + "<h1>our own 503</h1>\n")
    }
}
