import Foundation
import XCTest

/// Faults on the data path (issue 13), each run on HAProxy 2.6 and on proxyd with the
/// same config: a full descriptor table at accept, a server that resets in the middle of
/// a response, a client that goes away in the middle of its TLS handshake. For each, the
/// log line and the counters match HAProxy's, and other connections are served normally.
final class DataPathFaultTests: TLSTestCase {
    /// One side of a comparison: the process and where it logs and answers `show stat`.
    private struct Side {
        /// "haproxy" or "proxyd".
        let name: String
        let pid: Int32
        let log: LogReceiver
        let statsSocket: String
    }

    private static func config(port: Int, server: Int, log: LogReceiver, stats: String, bind: String = "",
                               mode: String = "http") -> String {
        """
        global
            nbthread 1
            log \(log.path) local0
            stats socket \(stats) level admin
        defaults
            mode \(mode)
            log global
            option \(mode)log
            timeout connect 2s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:\(port) \(bind)
            default_backend app
        backend app
            server s1 127.0.0.1:\(server)

        """
    }

    /// Runs `body` against HAProxy, then against proxyd, on the config `make` writes;
    /// returns what proxyd wrote on its standard error.
    @discardableResult
    private func sideBySide(_ make: (_ port: Int, _ log: LogReceiver, _ stats: String) throws -> String,
                            _ body: (_ side: Side, _ port: Int) throws -> Void) throws -> String {
        var proxydStderr = ""
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dpf-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["haproxy", "proxyd"] {
            let log = try LogReceiver()
            defer { log.stop() }
            let port = TCP.freePort()
            let stats = directory.appendingPathComponent("\(name).sock").path
            let config = try make(port, log, stats)
            if name == "haproxy" {
                let reference = try ReferenceHAProxy(config: config, waitForPorts: [port])
                defer { reference.stop() }
                try body(Side(name: name, pid: reference.pid, log: log, statsSocket: stats), port)
            } else {
                let proxy = try ProxydProcess(config: config, waitForPorts: [port])
                defer { proxy.stop() }
                try body(Side(name: name, pid: proxy.pid, log: log, statsSocket: stats), port)
                proxy.stop()
                proxydStderr = proxy.stderrText()
            }
        }
        return proxydStderr
    }

    // MARK: a full descriptor table

    /// HAProxy 2.6, with its descriptor limit lowered under its load: accept fails with
    /// EMFILE, the frontend logs "Proxy fe reached process FD limit (maxsock=N). Please
    /// check 'ulimit-n' and restart." at emerg each time it retries (every 100 ms), no
    /// counter moves, the new client waits in the kernel's queue and is served once a
    /// descriptor is free; connections already open go on. proxyd does the same, without
    /// spinning on the ready listener in between.
    func testFullDescriptorTablePausesAcceptingLogsAndResumes() throws {
        let app = try TestBackend(name: "app")
        defer { app.stop() }
        var lines: [String: [String]] = [:]
        try sideBySide({ port, log, stats in
            Self.config(port: port, server: app.port, log: log, stats: stats)
        }) { side, port in
            // A keep-alive client with its server connection, from before the fault.
            let early = try TCP.Connection(port: port, timeout: 3)
            try early.send("GET /before HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try early.receiveResponse().status, 200)
            // The descriptor table: what is open now and a few more, no further.
            let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(side.pid)/fd").count
            let limit = open + 8
            XCTAssertEqual(try Tool.run("/usr/bin/prlimit", ["--pid", "\(side.pid)", "--nofile=\(limit):\(limit)"]).status, 0)
            var idle: [TCP.Connection] = []
            defer { idle.forEach { $0.close() } }
            var message: String?
            for _ in 0..<24 where message == nil {
                idle.append(try TCP.Connection(port: port, timeout: 3))
                message = side.log.wait(for: "reached process FD limit", timeout: 0.15)
            }
            guard let message else { return XCTFail("no accept failure logged; log:\n\(side.log.messages.joined(separator: "\n"))") }
            // The next client waits in the kernel's queue (the listener's Recv-Q), neither
            // refused nor reset; it sends its request once descriptors are back (sent now,
            // it would race their return: a request accepted with one descriptor free gets
            // a 503 when its server connection finds none, from HAProxy as from proxyd).
            let queuedBefore = try Self.acceptQueue(port: port)
            let waiting = try TCP.Connection(port: port, timeout: 3)
            usleep(200_000)
            XCTAssertEqual(try Self.acceptQueue(port: port), queuedBefore + 1, "the new client is left in the queue")
            // The connection opened before is served as usual on its server connection.
            try early.send("GET /during HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try early.receiveResponse().status, 200, "an open connection is not affected")
            // Nothing spins while the listener stays ready: under 0.1 s of CPU in 1 s.
            let before = Self.cpuTicks(side.pid)
            usleep(1_000_000)
            let used = Self.cpuTicks(side.pid) - before
            XCTAssertLessThan(used, 10, "CPU ticks (1/100 s) used in 1 s with the table full")
            // Retried every 100 ms, logged each time: about ten lines a second.
            let repeats = side.log.messages.filter { $0.contains("reached process FD limit") }.count
            XCTAssertGreaterThanOrEqual(repeats, 5, "the line comes back at each retry")
            XCTAssertLessThanOrEqual(repeats, 40, "the retries are paced")
            XCTAssertEqual(side.log.all.first { $0.contains("reached process FD limit") }?.prefix(5), "<128>",
                           "local0.emerg")
            // Descriptors come back: the queue is taken in and the waiting client served.
            idle.forEach { $0.close() }
            idle.removeAll()
            var drained = false
            for _ in 0..<40 where !drained {
                usleep(50_000)
                drained = try Self.acceptQueue(port: port) == 0
            }
            XCTAssertTrue(drained, "accepting resumed once connections closed")
            usleep(200_000)
            try waiting.send("GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try waiting.receiveResponse().status, 200, "served once descriptors are free")
            lines[side.name] =
                [message.replacingOccurrences(of: #"maxsock=\d+"#, with: "maxsock=N", options: .regularExpression)]
        }
        XCTAssertEqual(lines["proxyd"], ["Proxy fe reached process FD limit (maxsock=N). Please check 'ulimit-n' and restart."])
        XCTAssertEqual(lines["proxyd"], lines["haproxy"])
    }

    /// HAProxy 2.6, out of descriptors when it connects to a server: each attempt logs
    /// "Proxy app reached process FD limit (maxsock=N). Please check 'ulimit-n' and
    /// restart." on the backend (and "Cannot get a server socket." on stderr), is retried
    /// at once, and the client gets a 503 with `SC--`: one `econ`, three `wretr`. Once
    /// descriptors are back, the same client is served.
    func testNoDescriptorForAServerSocketIsLoggedAndCountedAsHAProxyDoes() throws {
        let app = try TestBackend(name: "app")
        defer { app.stop() }
        var results: [String: [String]] = [:]
        let stderr = try sideBySide({ port, log, stats in
            Self.config(port: port, server: app.port, log: log, stats: stats)
        }) { side, port in
            let client = try TCP.Connection(port: port, timeout: 3)
            usleep(100_000)
            // The soft limit at the lowest free descriptor: the next socket cannot be had.
            let soft = try Tool.run("/usr/bin/prlimit", ["--pid", "\(side.pid)", "--nofile", "--output=SOFT", "--noheadings"])
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let open = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(side.pid)/fd").compactMap { Int($0) })
            let lowestFree = (0...).first { !open.contains($0) }!
            XCTAssertEqual(try Tool.run("/usr/bin/prlimit", ["--pid", "\(side.pid)", "--nofile=\(lowestFree):"]).status, 0)
            try client.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
            let refused = try client.receiveResponse()
            XCTAssertEqual(refused.status, 503)
            // Descriptors back (the soft limit up to the hard one): served again.
            XCTAssertEqual(try Tool.run("/usr/bin/prlimit", ["--pid", "\(side.pid)", "--nofile=\(soft):"]).status, 0)
            let again = try TCP.Connection(port: port, timeout: 3)
            try again.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try again.receiveResponse().status, 200, "served once descriptors are back")
            guard side.log.wait(for: "/after") != nil else { return XCTFail("no log: \(side.log.messages)") }
            let stats = try Self.showStat(side.statsSocket)
            var facts = side.log.messages.filter { $0.contains("FD limit") || $0.contains("/first") }
                .map { Self.normalized($0).replacingOccurrences(of: #"maxsock=\d+"#, with: "maxsock=N", options: .regularExpression) }
            for row in ["app/s1", "app/BACKEND"] {
                let fields = stats[row] ?? [:]
                facts.append("\(row) econ=\(fields["econ"] ?? "?") wretr=\(fields["wretr"] ?? "?") hrsp_5xx=\(fields["hrsp_5xx"] ?? "?")")
            }
            results[side.name] = facts
        }
        XCTAssertEqual(results["proxyd"]?.filter { $0.contains("FD limit") }.count, 4, "one line per attempt")
        XCTAssertEqual(stderr.components(separatedBy: "\n").filter { $0 == "Cannot get a server socket." }.count, 4, stderr)
        XCTAssertEqual(results["proxyd"], results["haproxy"],
                       "\nproxyd:\n\((results["proxyd"] ?? []).joined(separator: "\n"))\nhaproxy:\n\((results["haproxy"] ?? []).joined(separator: "\n"))")
    }

    /// Connections waiting for `accept` on a TCP listener: its Recv-Q, as `ss` shows it.
    private static func acceptQueue(port: Int) throws -> Int {
        let run = try Tool.run("/usr/bin/ss", ["-Hltn", "sport = :\(port)"])
        guard let line = run.stdout.split(separator: "\n").first,
              let queue = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { throw TestFailure("ss found no listener on \(port): \(run.all)") }
        return queue
    }

    /// utime + stime of a process, in clock ticks.
    private static func cpuTicks(_ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15.
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    // MARK: a server that resets mid-response

    /// HAProxy 2.6: a server that sent its head and part of the body, then a reset: the
    /// client gets what came and a closed connection, the line says 200 with the bytes
    /// sent and `SD--`, and the server and its backend count one `eresp` and one
    /// `srv_abrt`. A request on another connection in the meantime is served.
    func testServerResetMidResponseIsLoggedAndCountedAsHAProxyDoes() throws {
        let server = try ResettingServer()
        defer { server.stop() }
        var results: [String: [String]] = [:]
        try sideBySide({ port, log, stats in
            Self.config(port: port, server: server.port, log: log, stats: stats)
        }) { side, port in
            let cut = try TCP.Connection(port: port, timeout: 3)
            try cut.send("GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")
            usleep(50_000)
            // Meanwhile, another client, served in full.
            let other = try TCP.Connection(port: port, timeout: 3)
            try other.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try other.receiveResponse()
            XCTAssertEqual(answer.status, 200)
            XCTAssertEqual(String(decoding: answer.body, as: UTF8.self), "ok")
            let got = cut.receiveAll()
            let text = String(decoding: got, as: UTF8.self)
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 200 OK\r\n"), text)
            XCTAssertTrue(text.hasSuffix("\r\n\r\n" + String(repeating: "x", count: ResettingServer.partialBody)),
                          "the part of the body that came, then the end: \(text.debugDescription)")
            guard let line = side.log.wait(for: "/reset") else { return XCTFail("no log line: \(side.log.messages)") }
            _ = side.log.wait(for: "/ok")
            let stats = try Self.showStat(side.statsSocket)
            var facts = [Self.normalized(line)]
            for row in ["app/s1", "app/BACKEND", "fe/FRONTEND"] {
                let fields = stats[row] ?? [:]
                facts.append("\(row) eresp=\(fields["eresp"] ?? "?") srv_abrt=\(fields["srv_abrt"] ?? "?") cli_abrt=\(fields["cli_abrt"] ?? "?") hrsp_2xx=\(fields["hrsp_2xx"] ?? "?")")
            }
            results[side.name] = facts
        }
        XCTAssertEqual(results["proxyd"]?.first, "C [D] fe app/s1 T 200 B - - SD-- \"GET /reset HTTP/1.1\"")
        XCTAssertEqual(results["proxyd"], results["haproxy"],
                       "\nproxyd:\n\(results["proxyd"] ?? [])\nhaproxy:\n\(results["haproxy"] ?? [])")
    }

    /// In `mode tcp`, HAProxy 2.6 calls a server's reset mid-stream `SD` and counts it as
    /// in http (`eresp`, `srv_abrt`); the client has what came before it.
    func testServerResetMidStreamInTCPModeIsLoggedAndCountedAsHAProxyDoes() throws {
        let server = try ResettingServer()
        defer { server.stop() }
        var results: [String: [String]] = [:]
        try sideBySide({ port, log, stats in
            Self.config(port: port, server: server.port, log: log, stats: stats, mode: "tcp")
        }) { side, port in
            let cut = try TCP.Connection(port: port, timeout: 3)
            try cut.send("GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = String(decoding: cut.receiveAll(), as: UTF8.self)
            XCTAssertTrue(text.hasSuffix("\r\n\r\n" + String(repeating: "x", count: ResettingServer.partialBody)), text)
            let other = try TCP.Connection(port: port, timeout: 3)
            try other.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try other.receiveResponse().status, 200, "another connection is served")
            other.close()
            guard side.log.wait(for: " SD") != nil else { return XCTFail("no SD line: \(side.log.messages)") }
            usleep(100_000)
            let stats = try Self.showStat(side.statsSocket)
            // The reset's line (the start-up wait's empty connection is not logged the
            // same on both data paths, and is not this test's business).
            var facts = side.log.messages.filter { $0.contains("app/s1") }.map(Self.normalized).filter { !$0.hasSuffix(" --") }
            for row in ["app/s1", "app/BACKEND"] {
                let fields = stats[row] ?? [:]
                facts.append("\(row) eresp=\(fields["eresp"] ?? "?") srv_abrt=\(fields["srv_abrt"] ?? "?")")
            }
            results[side.name] = facts
        }
        XCTAssertEqual(results["proxyd"]?.filter { $0.hasSuffix(" SD") }, ["C [D] fe app/s1 T B SD"], "\(results)")
        XCTAssertEqual(results["proxyd"], results["haproxy"],
                       "\nproxyd:\n\(results["proxyd"] ?? [])\nhaproxy:\n\(results["haproxy"] ?? [])")
    }

    /// A log line without what changes from run to run: address, date, timers, bytes,
    /// connection counts.
    private static func normalized(_ line: String) -> String {
        line.replacingOccurrences(of: #"127\.0\.0\.1:\d+ \[[^\]]+\]"#, with: "C [D]", options: .regularExpression)
            .replacingOccurrences(of: #" -?\d+/-?\d+/-?\d+/-?\d+/-?\d+ (\d+) (\d+) "#, with: " T $1 B ", options: .regularExpression)
            .replacingOccurrences(of: #"^(C \[D\] \S+ \S+) -?\d+/-?\d+/-?\d+ \d+ "#, with: "$1 T B ", options: .regularExpression)
            .replacingOccurrences(of: #" \d+/\d+/\d+/\d+/\d+ \d+/\d+( |$)"#, with: "$1", options: .regularExpression)
    }

    /// `show stat` on a stats socket, by "proxy/server".
    private static func showStat(_ path: String) throws -> [String: [String: String]] {
        let client = try UnixLineClient(path: path)
        defer { client.close() }
        try client.send("show stat\n")
        var lines: [String] = []
        while case .line(let line) = client.next(timeout: 2), !line.isEmpty { lines.append(line) }
        guard let header = lines.first, header.hasPrefix("# ") else { throw TestFailure("no CSV header: \(lines)") }
        let names = header.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var rows: [String: [String: String]] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count > 1 else { continue }
            rows[fields[0] + "/" + fields[1]] = Dictionary(zip(names, fields), uniquingKeysWith: { a, _ in a })
        }
        return rows
    }

    // MARK: a client gone mid-handshake

    /// HAProxy 2.6 on an `ssl` bind: a client that closes before its hello is complete
    /// is "Connection closed during SSL handshake"; one that resets, or closes after a
    /// whole hello, "SSL handshake failure"; every one counts in the frontend's
    /// `ssl_failed_handshake`. A good client right after is served. Whatever data path
    /// the config gets.
    func testClientGoneMidHandshakeIsLoggedAndCountedAsHAProxyDoes() throws {
        let app = try TestBackend(name: "app")
        defer { app.stop() }
        let certificate = try m.path("proxy.pem")
        let partialHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]
        var results: [String: [String]] = [:]
        try sideBySide({ port, log, stats in
            Self.config(port: port, server: app.port, log: log, stats: stats, bind: "ssl crt \(certificate)")
        }) { side, port in
            // The start-up wait's connection (a FIN, nothing sent) is the first failure.
            let half = try TCP.Connection(port: port)        // part of a hello, then FIN
            try half.send(partialHello)
            half.shutdownWrite()
            _ = half.receiveAll()
            let cut = try TCP.Connection(port: port)         // part of a hello, then reset
            try cut.send(partialHello)
            usleep(100_000)
            cut.reset()
            let whole = try TCP.Connection(port: port)       // a whole hello, then FIN
            try whole.send(try Self.clientHello())
            usleep(100_000)
            whole.shutdownWrite()
            _ = whole.receiveAll()
            XCTAssertEqual(try Tool.curlInsecure(["https://127.0.0.1:\(port)/"]).stdout, "app", "served after")
            _ = side.log.wait(for: "GET / HTTP/1.1")
            usleep(200_000)
            let lines = side.log.messages.map(Self.normalized).sorted()
            let stats = try Self.showStat(side.statsSocket)
            results[side.name] = lines + ["ssl_failed_handshake=\(stats["fe/FRONTEND"]?["ssl_failed_handshake"] ?? "?")"]
        }
        XCTAssertEqual(results["proxyd"], results["haproxy"],
                       "\nproxyd:\n\((results["proxyd"] ?? []).joined(separator: "\n"))\nhaproxy:\n\((results["haproxy"] ?? []).joined(separator: "\n"))")
    }

    /// A complete TLS ClientHello, as `openssl s_client` sends it first.
    private static func clientHello() throws -> [UInt8] {
        let listener = try OneShotListener()
        defer { listener.close() }
        _ = try? Tool.run(Tool.openssl, ["s_client", "-connect", "127.0.0.1:\(listener.port)"], input: "", holdInput: 2, timeout: 8)
        let hello = listener.received
        guard hello.count > 5, hello[0] == 0x16 else { throw TestFailure("no ClientHello from openssl: \(hello.count) bytes") }
        return hello
    }
}

/// A listener that takes one connection and keeps the first bytes its client sends
/// (within a second), then closes it: to capture a real ClientHello.
private final class OneShotListener {
    let port: Int
    private let fd: Int32
    private let done = DispatchSemaphore(value: 0)
    private var bytes: [UInt8] = []

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listener = fd
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        guard listen(listener, 4) == 0 else { throw TestFailure("listen: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [self] in
            defer { done.signal() }
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 5000) == 1 else { return }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            defer { Foundation.close(connection) }
            var tv = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if n > 0 { bytes = Array(buffer[0..<n]) }
        }.start()
    }

    /// What the client sent, once the connection is over (bounded wait).
    var received: [UInt8] {
        _ = done.wait(timeout: .now() + 6)
        done.signal()
        return bytes
    }

    func close() { Foundation.close(fd) }
}

/// An HTTP server that, asked for `/reset`, sends a head announcing 1000 bytes and only
/// `partialBody` of them, waits a moment, then resets the connection (SO_LINGER 0);
/// anything else gets "ok", keep-alive.
private final class ResettingServer: @unchecked Sendable {
    static let partialBody = 100
    let port: Int
    private let fd: Int32
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var isStopped = false

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listener = fd
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        guard listen(listener, 64) == 0 else { throw TestFailure("listen: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [self] in
            defer { finished.signal() }
            // Bounded: stops when asked, or after a minute at most.
            for _ in 0..<600 where stopped.wait(timeout: .now()) == .timedOut {
                var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) == 1 else { continue }
                let connection = accept(listener, nil, nil)
                if connection >= 0 { Thread { Self.serve(connection) }.start() }
            }
        }.start()
    }

    private static func serve(_ connection: Int32) {
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            pending += buffer[0..<n]
            guard let end = HTTPTestResponse.find(Array("\r\n\r\n".utf8), in: pending, from: 0) else { continue }
            let head = String(decoding: pending[..<end], as: UTF8.self)
            pending.removeSubrange(..<(end + 4))
            if head.hasPrefix("GET /reset ") {
                send(connection, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "x", count: partialBody))
                usleep(300_000)
                var linger = Foundation.linger(l_onoff: 1, l_linger: 0)
                setsockopt(connection, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Foundation.linger>.size))
                break
            }
            send(connection, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        }
        Foundation.close(connection)
    }

    private static func send(_ connection: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Foundation.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func stop() {
        guard !isStopped else { return }
        isStopped = true
        stopped.signal()
        _ = finished.wait(timeout: .now() + 2)
        Foundation.close(fd)
    }
}
