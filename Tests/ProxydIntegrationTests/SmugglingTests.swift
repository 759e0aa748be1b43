import Foundation
import NIOConcurrencyHelpers
import XCTest

/// Hostile request heads (issue 14) through HAProxy 2.6 and proxyd to a server that
/// records the raw bytes it gets: proxyd must answer what HAProxy answers, and what it
/// forwards must be what it understood (CRLF line ends, version 1.0 or 1.1), so a
/// server behind cannot read another request than the proxy did.
final class SmugglingTests: XCTestCase {
    struct Case {
        var name: String
        var request: String
        /// HAProxy forwards normalised bytes where proxyd, which forwards bodies as they
        /// came, refuses instead (a chunk size with trailing whitespace).
        var proxydRefuses = false
    }

    static let cases: [Case] = [
        Case(name: "bare LF inside the head",
             request: "POST / HTTP/1.1\r\nHost: a\r\nX-A: b\nContent-Length: 5\r\n\r\nhello"),
        Case(name: "bare LF everywhere", request: "GET / HTTP/1.1\nHost: a\nX-A: b\n\n"),
        Case(name: "chunk size with a trailing space",
             request: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
             proxydRefuses: true),
        Case(name: "identity before chunked",
             request: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        Case(name: "empty coding before chunked",
             request: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:,chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        Case(name: "authority-form on GET", request: "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case(name: "fragment in the target", request: "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case(name: "HTTP/2.0 request line", request: "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
        Case(name: "HTTP/0.1 request line", request: "GET / HTTP/0.1\r\nHost: a\r\n\r\n"),
    ]

    func testHostileRequestsAnsweredAsHAProxyAndForwardedNormalised() throws {
        let server = try RecordingServer()
        defer { server.stop() }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        func config(_ port: Int) -> String {
            ProxyFixture.preamble() + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                server s 127.0.0.1:\(server.port)

            """
        }
        let reference = try ReferenceHAProxy(config: config(haproxyPort), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort), waitForPorts: [proxydPort])
        defer { proxy.stop() }

        for c in Self.cases {
            let (haproxyAnswer, _) = try exchange(c.request, port: haproxyPort, server: server)
            let (proxydAnswer, forwarded) = try exchange(c.request, port: proxydPort, server: server)
            let haproxyStatus = haproxyAnswer?.status ?? 0, proxydStatus = proxydAnswer?.status ?? 0
            if c.proxydRefuses {
                XCTAssertEqual(haproxyStatus, 200, c.name)
                XCTAssertEqual(proxydStatus, 400, c.name)
            } else {
                XCTAssertEqual(proxydStatus, haproxyStatus, c.name)
                if let mine = proxydAnswer, let theirs = haproxyAnswer, haproxyStatus != 200 {
                    // proxyd's own refusal: HAProxy's error page, byte for byte
                    XCTAssertEqual(mine.headers.map { "\($0.0): \($0.1)" }, theirs.headers.map { "\($0.0): \($0.1)" }, c.name)
                    XCTAssertEqual(mine.bodyText, theirs.bodyText, c.name)
                }
            }
            guard let bytes = forwarded else {
                XCTAssertNotEqual(proxydStatus, 200, "\(c.name): answered 200 without reaching the server")
                continue
            }
            assertNormalised(bytes, c.name)
        }
    }

    /// Every line end CRLF, the version one proxyd speaks, one framing.
    func assertNormalised(_ bytes: [UInt8], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = String(decoding: bytes, as: UTF8.self)
        for (k, byte) in bytes.enumerated() where byte == 0x0A {
            XCTAssertTrue(k > 0 && bytes[k - 1] == 0x0D, "\(name): bare LF at \(k) in \(text.debugDescription)",
                          file: file, line: line)
        }
        let requestLine = String(decoding: bytes.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        XCTAssertTrue(requestLine.hasSuffix(" HTTP/1.1") || requestLine.hasSuffix(" HTTP/1.0"),
                      "\(name): request line \(requestLine.debugDescription)", file: file, line: line)
        let head = text.components(separatedBy: "\r\n\r\n").first ?? text
        let lower = head.lowercased()
        XCTAssertFalse(lower.contains("content-length") && lower.contains("transfer-encoding"),
                       "\(name): two framings in \(head.debugDescription)", file: file, line: line)
        XCTAssertFalse(text.contains("5 \r\n"), "\(name): chunk size forwarded as it came", file: file, line: line)
    }

    /// Sends `request` on a new connection; the answer and what the server got.
    func exchange(_ request: String, port: Int, server: RecordingServer) throws -> (HTTPTestResponse?, [UInt8]?) {
        server.reset()
        let connection = try TCP.Connection(port: port, timeout: 5)
        defer { connection.close() }
        try connection.send(request)
        let answer = try? connection.receiveResponse()
        return (answer, server.received.first)
    }
}

/// A server that takes each connection's bytes until the client is quiet for a moment,
/// keeps them, and answers `200` with `Connection: close`.
final class RecordingServer {
    let port: Int
    private let fd: Int32
    private let state = NIOLockedValueBox<(stopped: Bool, received: [[UInt8]])>((false, []))
    private let done = DispatchSemaphore(value: 0)

    var received: [[UInt8]] { state.withLockedValue { $0.received } }
    func reset() { state.withLockedValue { $0.received = [] } }

    init() throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, len) } }
        guard bound == 0, listen(sock, 16) == 0 else { close(sock); throw TestFailure("recording server: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
        fd = sock
        port = Int(UInt16(bigEndian: addr.sin_port))
        // Accepts with a timeout so that `stop` ends the thread within 0.2 s.
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        Thread { [self] in
            while !state.withLockedValue({ $0.stopped }) {
                let client = accept(fd, nil, nil)
                if client >= 0 { serve(client) }
            }
            done.signal()
        }.start()
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var tv = timeval(tv_sec: 0, tv_usec: 300_000)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        guard !bytes.isEmpty else { return }
        state.withLockedValue { $0.received.append(bytes) }
        let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".utf8)
        _ = answer.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func stop() {
        let wasStopped = state.withLockedValue { s -> Bool in defer { s.stopped = true }; return s.stopped }
        guard !wasStopped else { return }
        _ = done.wait(timeout: .now() + 2)
        close(fd)
    }
}
