import Foundation
import NIOConcurrencyHelpers
import XCTest

/// How a check's connection ends, seen from the server, next to HAProxy 2.6: a reset when
/// the server had not closed first (no FIN exchange, no TIME_WAIT left on the checker per
/// check), a FIN with `tcp-check connect linger` (docs/performance-log.md, step 11).
final class HealthCheckCloseTests: XCTestCase {
    private func config(port: Int, backend: String) -> String {
        """
        global
            nbthread 1
        defaults
            mode tcp
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:\(port)
            default_backend app
        \(backend)
        """
    }

    /// The ends (`fin` or `reset`) the server saw on the first checks of each proxy.
    private func endsSideBySide(answer: String, request: String, backend: (Int) -> String) throws -> [String: [String]] {
        var ends: [String: [String]] = [:]
        for side in ["proxyd", "haproxy"] {
            let server = try EndWatchingServer(answer: answer, requestEnd: request)
            defer { server.stop() }
            let port = TCP.freePort()
            let text = config(port: port, backend: backend(server.port))
            let stop: () -> Void
            if side == "proxyd" {
                let proxy = try ProxydProcess(config: text, waitForPorts: [port])
                stop = { proxy.stop() }
            } else {
                let proxy = try ReferenceHAProxy(config: text, waitForPorts: [port])
                stop = { proxy.stop() }
            }
            let deadline = Date().addingTimeInterval(5)
            while server.ends.count < 3, Date() < deadline { usleep(50_000) }
            stop()
            ends[side] = Array(server.ends.prefix(3))
        }
        return ends
    }

    func testHTTPCheckResetsAServerThatKeepsTheConnection() throws {
        let ends = try endsSideBySide(answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", request: "\r\n\r\n") { port in
            """
            backend app
                option httpchk GET /
                server s 127.0.0.1:\(port) check inter 100ms
            """
        }
        XCTAssertEqual(ends["proxyd"], ["reset", "reset", "reset"], "\(ends)")
        XCTAssertEqual(ends["proxyd"], ends["haproxy"], "\(ends)")
    }

    func testTCPCheckConnectLingerEndsWithAFIN() throws {
        let ends = try endsSideBySide(answer: "+PONG\r\n", request: "PING\r\n") { port in
            """
            backend app
                option tcp-check
                tcp-check connect linger
                tcp-check send PING\\r\\n
                tcp-check expect string +PONG
                server s 127.0.0.1:\(port) check inter 100ms
            """
        }
        XCTAssertEqual(ends["proxyd"], ["fin", "fin", "fin"], "\(ends)")
        XCTAssertEqual(ends["proxyd"], ends["haproxy"], "\(ends)")
    }
}

/// Answers each connection once its request has arrived, keeps it open, and notes how the
/// client ended it: `fin` (a read found the end) or `reset` (ECONNRESET).
private final class EndWatchingServer {
    let port: Int
    private let fd: Int32
    private let state = NIOLockedValueBox<(stopped: Bool, ends: [String])>((false, []))
    private let done = DispatchSemaphore(value: 0)
    var ends: [String] { state.withLockedValue { $0.ends } }

    init(answer: String, requestEnd: String) throws {
        // Accepts time out every 200 ms, so that `stop` ends the thread.
        (fd, port) = try TCP.listenOnLoopback(backlog: 16, name: "end-watching server")
        let answerBytes = Array(answer.utf8), end = Array(requestEnd.utf8)
        Thread { [self] in
            while !state.withLockedValue({ $0.stopped }) {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                if let how = serve(client, answer: answerBytes, requestEnd: end) {
                    state.withLockedValue { $0.ends.append(how) }
                }
                close(client)
            }
            done.signal()
        }.start()
    }

    private func serve(_ client: Int32, answer: [UInt8], requestEnd: [UInt8]) -> String? {
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var answered = false
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n == 0 { return answered ? "fin" : nil }
            if n < 0 { return answered && errno == ECONNRESET ? "reset" : nil }
            bytes += chunk[0..<n]
            if !answered, bytes.count >= requestEnd.count, Array(bytes.suffix(requestEnd.count)) == requestEnd {
                answered = true
                _ = answer.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    func stop() {
        let wasStopped = state.withLockedValue { s -> Bool in defer { s.stopped = true }; return s.stopped }
        guard !wasStopped else { return }
        _ = done.wait(timeout: .now() + 3)
        close(fd)
    }
}

extension HealthCheckCloseTests {
    /// A plain `check` sends nothing: its handshake's last ACK waits, then the check ends
    /// with a reset, so the server never accepts it (HAProxy's CONNECT_DELACK_ALWAYS). The
    /// server sees only SYNs: counted on the wire, side by side.
    func testPlainCheckNeverReachesTheServersAcceptQueue() throws {
        var seen: [String: (syns: Int, accepted: Int)] = [:]
        for side in ["proxyd", "haproxy"] {
            let server = try TestBackend(name: "plain", behaviour: .tcpEcho)
            let syns = try SYNCounter(port: server.port)
            let port = TCP.freePort()
            let text = config(port: port, backend: """
                backend app
                    server s 127.0.0.1:\(server.port) check inter 100ms
                """)
            let stop: () -> Void
            if side == "proxyd" {
                let proxy = try ProxydProcess(config: text, waitForPorts: [port])
                stop = { proxy.stop() }
            } else {
                let proxy = try ReferenceHAProxy(config: text, waitForPorts: [port])
                stop = { proxy.stop() }
            }
            usleep(1_500_000)
            stop()
            syns.stop()
            seen[side] = (syns.count, server.connectionCount)
        }
        for (side, counts) in seen {
            XCTAssertGreaterThan(counts.syns, 5, "\(side) checked: \(seen)")
            // The kernel sends the delayed ACK after 40 ms: a check that a loaded machine
            // holds that long is accepted; most are not.
            XCTAssertLessThan(counts.accepted, counts.syns / 4, "\(side): \(seen)")
        }
    }
}
