import Foundation
import XCTest

/// `timeout http-request` bounds the whole request head from its start (issue 14): a
/// client trickling its head a byte at a time (slowloris) gets a 408 and the close when
/// it runs out, as from HAProxy 2.6, however steadily it sends.
final class SlowClientTests: XCTestCase {
    private static func config(port: Int, server: Int, log: LogReceiver? = nil) -> String {
        """
        global
            nbthread 1
        \(log.map { "    log \($0.path) local0" } ?? "")

        defaults
            mode http
            log global
            option httplog
            timeout connect 2s
            timeout client 30s
            timeout server 10s
            timeout http-request 2s
            timeout http-keep-alive 4s

        frontend fe
            bind 127.0.0.1:\(port)
            default_backend app
        backend app
            server a 127.0.0.1:\(server)

        """
    }

    /// What became of a head sent one byte every 300 ms.
    private struct Trickle {
        var response: HTTPTestResponse?
        /// From the first byte sent to the answer (or to giving up).
        var seconds: Double
        /// The proxy closed after its answer.
        var closed: Bool
    }

    /// Sends a never-ending request head (a header value that keeps growing) one byte
    /// every 300 ms until the proxy answers, for at most `limit` seconds.
    private func trickle(_ client: TCP.Connection, limit: Double = 8) -> Trickle {
        let head = Array("GET /slow HTTP/1.1\r\nHost: test\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 200)
        let start = Date()
        var received: [UInt8] = []
        for byte in head where Date().timeIntervalSince(start) < limit {
            if (try? client.send([byte])) == nil { break }  // cut: what came is read below
            var readable = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
            if poll(&readable, 1, 300) > 0 { break }
        }
        let seconds = Date().timeIntervalSince(start)
        client.setTimeout(2)
        received = client.receiveAll()  // the answer, then the close (or the timeout)
        let response = HTTPTestResponse.parse(received)
        // A close shows as EOF right after the answer; receiveAll stops on either.
        let closed = client.receiveSome() == []
        return Trickle(response: response, seconds: seconds, closed: closed)
    }

    func testTrickledHeadGets408WithinTheRequestTimeoutLikeHAProxy() throws {
        let a = try TestBackend(name: "a")
        let ourLog = try LogReceiver(), theirLog = try LogReceiver()
        defer { ourLog.stop(); theirLog.stop() }
        let ours = TCP.freePort()
        let proxy = try ProxydProcess(config: Self.config(port: ours, server: a.port, log: ourLog), waitForPorts: [ours])
        defer { proxy.stop() }
        // A second of silence first: as in HAProxy, the head's 2 s count from its first
        // byte (the silence before it is bounded by the same timeout, as silence).
        let client = try TCP.Connection(port: ours)
        Thread.sleep(forTimeInterval: 1)
        let result = trickle(client)
        XCTAssertEqual(result.response?.status, 408, "proxyd: still no answer after \(result.seconds) s")
        XCTAssertTrue(result.closed, "proxyd closes after the 408")
        XCTAssertGreaterThan(result.seconds, 1.7)
        XCTAssertLessThan(result.seconds, 3.5, "2 s from the first byte, not from the last")
        XCTAssertEqual(a.requestCount, 0)

        let theirs = TCP.freePort()
        let haproxy = try ReferenceHAProxy(config: Self.config(port: theirs, server: a.port, log: theirLog),
                                           waitForPorts: [theirs])
        defer { haproxy.stop() }
        let theirClient = try TCP.Connection(port: theirs)
        Thread.sleep(forTimeInterval: 1)
        let reference = trickle(theirClient)
        XCTAssertEqual(result.response?.status, reference.response?.status, "as HAProxy answers")
        XCTAssertEqual(result.closed, reference.closed)
        XCTAssertEqual(result.seconds, reference.seconds, accuracy: 1.0,
                       "proxyd \(result.seconds) s, HAProxy \(reference.seconds) s")
        // Both log the client's timeout while reading the request: ` 408 ` and `cR--`.
        for (name, log) in [("proxyd", ourLog), ("haproxy", theirLog)] {
            let line = log.wait(for: " 408 ")
            XCTAssertNotNil(line, "\(name) logs the 408: \(log.messages)")
            XCTAssertTrue(line?.contains(" cR-- ") == true, "\(name): \(line ?? "")")
        }
    }

    /// The keep-alive wait before a next request is `timeout http-keep-alive`'s (4 s), not
    /// cut by the 2 s request timeout; that one starts with the next request's first
    /// byte, and bounds that head as it bounds the first.
    func testKeepAliveWaitIsNotTheRequestTimeoutAndTheNextHeadIsBounded() throws {
        let a = try TestBackend(name: "a")
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: Self.config(port: port, server: a.port), waitForPorts: [port])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        try client.send("GET /one HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertEqual(try client.receiveResponse().status, 200, "a normal request is served")

        Thread.sleep(forTimeInterval: 2.5)  // idle past http-request, within http-keep-alive
        try client.send("GET /two HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertEqual(try client.receiveResponse().status, 200, "the keep-alive connection was still there")

        Thread.sleep(forTimeInterval: 1)  // this idle second does not count against the next head
        let result = trickle(client)
        XCTAssertEqual(result.response?.status, 408, "still no answer after \(result.seconds) s")
        XCTAssertTrue(result.closed)
        XCTAssertGreaterThan(result.seconds, 1.7, "counted from the head's first byte")
        XCTAssertLessThan(result.seconds, 3.5, "reads do not push the deadline back")
        XCTAssertEqual(a.requestCount, 2)
    }
}
