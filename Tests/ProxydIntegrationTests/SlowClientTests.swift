import Foundation
import XCTest

/// `timeout http-request` bounds the whole request head from its start (issue 14): a
/// client trickling its head a byte at a time (slowloris) gets a 408 and the close when
/// it runs out, as from HAProxy 2.6, however steadily it sends.
final class SlowClientTests: XCTestCase {
    private static func config(port: Int, server: Int, log: LogReceiver? = nil, extraDefaults: String = "") -> String {
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
        \(extraDefaults)

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

    /// `option http-buffer-request` (issue 14): the body is awaited before a server is
    /// chosen, and `timeout http-request` bounds head and body together from the first
    /// byte, as in HAProxy 2.6. A body that comes whole in time is forwarded whole; one
    /// trickled past the deadline gets a 408 and no server ever hears of it.
    func testBufferedRequestBodyIsBoundedByTheRequestTimeoutLikeHAProxy() throws {
        struct Seen { var status: Int?; var body = ""; var interim = ""; var answer: [UInt8] = []; var seconds: Double; var connectionsWhileWaiting: Int; var logLine: String? }
        func run(_ start: (String, LogReceiver) throws -> (port: Int, stop: () -> Void)) throws -> (whole: Seen, trickled: Seen) {
            let a = try TestBackend(name: "a", behaviour: .countBody)  // answers the body size it got
            defer { a.stop() }
            let log = try LogReceiver()
            defer { log.stop() }
            let port = TCP.freePort()
            let proxy = try start(Self.config(port: port, server: a.port, log: log,
                                              extraDefaults: "    option http-buffer-request"), log)
            defer { proxy.stop() }
            let head = "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 20\r\n\r\n"

            // Head and half the body, a pause, then the rest: one request, sent whole.
            let client = try TCP.Connection(port: port, timeout: 5)
            defer { client.close() }
            var started = Date()
            try client.send(head + "0123456789")
            Thread.sleep(forTimeInterval: 0.6)
            let waiting = a.connectionCount
            try client.send("abcdefghij")
            let response = try? client.receiveResponse()
            let whole = Seen(status: response?.status, body: response?.bodyText ?? "", seconds: Date().timeIntervalSince(started),
                             connectionsWhileWaiting: waiting, logLine: log.wait(for: "/upload"))

            // The head, then a body byte every 300 ms: past the 2 s deadline.
            let slow = try TCP.Connection(port: port, timeout: 5)
            defer { slow.close() }
            started = Date()
            try slow.send(head)
            var answered = false
            for byte in Array("0123456789abcdefghi".utf8) where !answered {
                if (try? slow.send([byte])) == nil { break }
                var readable = pollfd(fd: slow.fd, events: Int16(POLLIN), revents: 0)
                answered = poll(&readable, 1, 300) > 0
            }
            let answer = slow.receiveAll()
            var trickled = Seen(status: HTTPTestResponse.parse(answer)?.status, answer: answer, seconds: Date().timeIntervalSince(started),
                                connectionsWhileWaiting: a.connectionCount - 1, logLine: log.wait(for: " 408 "))

            // `Expect: 100-continue`: the proxy answers the 100 itself (the client would
            // not send the body it waits for otherwise) and the server gets no Expect.
            let expecting = try TCP.Connection(port: port, timeout: 1.5)
            defer { expecting.close() }
            try expecting.send("POST /expect HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            let interim = String(decoding: expecting.receiveSome() ?? [], as: UTF8.self)
            try expecting.send("hello")
            let expectAnswer = try? expecting.receiveResponse()
            let expectSeen = a.heads.last { $0.contains("/expect") }?.lowercased().contains("expect:")
            trickled.interim = interim + (expectSeen == false ? "" : " (the server saw Expect)")
            trickled.body = expectAnswer?.bodyText ?? ""
            return (whole, trickled)
        }
        let ours = try run { config, _ in
            let port = Int(config.components(separatedBy: "bind 127.0.0.1:")[1].prefix { $0.isNumber })!
            let p = try ProxydProcess(config: config, waitForPorts: [port])
            return (port, p.stop)
        }
        let theirs = try run { config, _ in
            let port = Int(config.components(separatedBy: "bind 127.0.0.1:")[1].prefix { $0.isNumber })!
            let p = try ReferenceHAProxy(config: config, waitForPorts: [port])
            return (port, p.stop)
        }
        for (name, seen) in [("proxyd", ours), ("haproxy", theirs)] {
            print("http-buffer-request, \(name): trickled body answered after \(seen.trickled.seconds) s: \(seen.trickled.logLine ?? "no log")")
            XCTAssertEqual(seen.whole.status, 200, "\(name): a body sent whole in time is served")
            XCTAssertEqual(seen.whole.body, "20", "\(name): the server got the whole body")
            XCTAssertEqual(seen.whole.connectionsWhileWaiting, 0, "\(name): no server before the body is in")
            XCTAssertEqual(seen.trickled.status, 408, "\(name): a trickled body runs out of time")
            XCTAssertEqual(seen.trickled.connectionsWhileWaiting, 0, "\(name): the trickled request reached no server")
            XCTAssertEqual(seen.trickled.interim, "HTTP/1.1 100 Continue\r\n\r\n", "\(name): 100-continue answered by the proxy")
            XCTAssertEqual(seen.trickled.body, "5", "\(name): then the body went through")
            XCTAssertGreaterThan(seen.trickled.seconds, 1.7, name)
            XCTAssertLessThan(seen.trickled.seconds, 3.5, "\(name): 2 s from the first byte, not from the last")
        }
        // HAProxy's 408 page; after its head was parsed HAProxy writes the header names in
        // lower case and in another order, so they are compared as a set.
        let page = { (answer: [UInt8]) in HTTPTestResponse.parse(answer).map {
            ($0.headers.map { "\($0.0.lowercased()): \($0.1)" }.sorted(), $0.bodyText) } }
        XCTAssertEqual(page(ours.trickled.answer)?.0, page(theirs.trickled.answer)?.0)
        XCTAssertEqual(page(ours.trickled.answer)?.1, page(theirs.trickled.answer)?.1)
        // The same termination flags and request in both logs (the client's timeout, while the request was read).
        let flags = { (line: String?) in line?.split(separator: " ").first { $0.count == 4 && ($0.first == "c" || $0.first == "-") } }
        XCTAssertNotNil(flags(theirs.trickled.logLine), "haproxy's log: \(theirs.trickled.logLine ?? "none")")
        let request = { (line: String?) in line?.components(separatedBy: "\"").dropFirst().first }
        XCTAssertEqual(request(ours.trickled.logLine), "POST /upload HTTP/1.1")
        XCTAssertEqual(request(ours.trickled.logLine), request(theirs.trickled.logLine))
        XCTAssertEqual(flags(ours.trickled.logLine), flags(theirs.trickled.logLine),
                       "proxyd: \(ours.trickled.logLine ?? "none"); haproxy: \(theirs.trickled.logLine ?? "none")")
    }

    /// A request body that stops halfway, without `http-buffer-request`: once the head is
    /// at the server HAProxy 2.6 waits under `timeout server` (1 s) alone, not the
    /// shorter-lived silence of `timeout client`, and answers 504 with `sH--`.
    func testStalledBodyEndsWithTheServerTimeoutLikeHAProxy() throws {
        func run(_ start: (String, Int) throws -> () -> Void) throws -> (status: Int?, seconds: Double, log: String?) {
            let a = try TestBackend(name: "a", behaviour: .countBody)  // answers once the body is in
            defer { a.stop() }
            let log = try LogReceiver()
            defer { log.stop() }
            let port = TCP.freePort()
            let config = Self.config(port: port, server: a.port, log: log)
                .replacingOccurrences(of: "timeout server 10s", with: "timeout server 1s")
                .replacingOccurrences(of: "timeout client 30s", with: "timeout client 3s")
            let stop = try start(config, port)
            defer { stop() }
            let client = try TCP.Connection(port: port, timeout: 5)
            defer { client.close() }
            let started = Date()
            try client.send("POST /stalled HTTP/1.1\r\nHost: test\r\nContent-Length: 20\r\n\r\n0123456789")
            let status = try? client.receiveResponse().status
            return (status, Date().timeIntervalSince(started), log.wait(for: "/stalled"))
        }
        let ours = try run { config, port in try ProxydProcess(config: config, waitForPorts: [port]).stop }
        let theirs = try run { config, port in try ReferenceHAProxy(config: config, waitForPorts: [port]).stop }
        for (name, seen) in [("proxyd", ours), ("haproxy", theirs)] {
            XCTAssertEqual(seen.status, 504, name)
            XCTAssertEqual(seen.seconds, 1, accuracy: 0.5, "\(name): timeout server, not timeout client")
            XCTAssertTrue(seen.log?.contains(" sH-- ") == true, "\(name): \(seen.log ?? "no log")")
        }
    }

    /// Without `timeout http-keep-alive`, the wait for a next request is `timeout
    /// http-request`'s (1 s), not `timeout client`'s (3 s), and ends with a silent close,
    /// as in HAProxy 2.6.
    func testKeepAliveWaitFallsBackToTheRequestTimeoutLikeHAProxy() throws {
        func idleClose(_ start: (String, Int) throws -> () -> Void) throws -> (seconds: Double, bytes: [UInt8]) {
            let a = try TestBackend(name: "a")
            defer { a.stop() }
            let port = TCP.freePort()
            let config = Self.config(port: port, server: a.port)
                .replacingOccurrences(of: "timeout client 30s", with: "timeout client 3s")
                .replacingOccurrences(of: "timeout http-request 2s", with: "timeout http-request 1s")
                .replacingOccurrences(of: "    timeout http-keep-alive 4s\n", with: "")
            let stop = try start(config, port)
            defer { stop() }
            let client = try TCP.Connection(port: port, timeout: 5)
            defer { client.close() }
            try client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            _ = try client.receiveResponse()
            let idleFrom = Date()
            let bytes = client.receiveAll()  // until the proxy closes
            return (Date().timeIntervalSince(idleFrom), bytes)
        }
        let ours = try idleClose { config, port in try ProxydProcess(config: config, waitForPorts: [port]).stop }
        let theirs = try idleClose { config, port in try ReferenceHAProxy(config: config, waitForPorts: [port]).stop }
        for (name, seen) in [("proxyd", ours), ("haproxy", theirs)] {
            XCTAssertEqual(seen.seconds, 1, accuracy: 0.5, "\(name): timeout http-request, not timeout client")
            XCTAssertEqual(seen.bytes, [], "\(name): a silent close")
        }
    }
}
