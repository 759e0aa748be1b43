import XCTest
import NIOCore
import Glibc
@testable import ProxyCore

/// Syslog headers, log-format rendering and the non-blocking sinks.
final class LogFormatTests: XCTestCase {
    override func setUp() {
        setenv("TZ", "UTC", 1)
        tzset()
    }

    /// 2026-11-25 09:29:29.362 UTC
    let time = WallTime(seconds: 1_795_598_969, microseconds: 362_512)

    private func header(_ target: LogTarget, hostname: String? = nil, severity: Int = 6) -> String {
        let logger = ProxyLogger(outputs: [], tag: "proxyd", hostname: hostname, pid: 3196)
        var line: [UInt8] = []
        logger.appendHeader(&line, target: target, severity: severity, time: time)
        return String(decoding: line, as: UTF8.self)
    }

    func testRFC3164AsHAProxyWritesIt() {
        let target = LogTarget(destination: .stdout, facility: "local0", facilityCode: 16)
        XCTAssertEqual(header(target), "<134>Nov 25 09:29:29 proxyd[3196]: ")
        XCTAssertEqual(header(target, severity: 1), "<129>Nov 25 09:29:29 proxyd[3196]: ")
        XCTAssertEqual(header(target, hostname: "lb1"), "<134>Nov 25 09:29:29 lb1 proxyd[3196]: ")
        // Single-digit days are space-padded, as syslog writes them.
        let early = WallTime(seconds: 1_794_130_169, microseconds: 0)  // 2026-11-08
        let logger = ProxyLogger(outputs: [], tag: "proxyd", hostname: nil, pid: 1)
        var line: [UInt8] = []
        logger.appendHeader(&line, target: target, severity: 6, time: early)
        XCTAssertTrue(String(decoding: line, as: UTF8.self).hasPrefix("<134>Nov  8 "))
    }

    func testOtherFormats() {
        var target = LogTarget(destination: .stdout, facility: "local1", facilityCode: 17, format: .rfc5424)
        XCTAssertEqual(header(target), "<142>1 2026-11-25T09:29:29.362512+00:00 - proxyd 3196 - - ")
        target.format = .raw
        XCTAssertEqual(header(target), "")
        target.format = .short
        XCTAssertEqual(header(target), "<6>")
        // As HAProxy 2.6 writes them (compared on the same config).
        target.format = .iso
        XCTAssertEqual(header(target), "2026-11-25T09:29:29.362512+00:00 ")
        target.format = .timed
        XCTAssertEqual(header(target), "<6>2026-11-25T09:29:29.362512+00:00 ")
        target.format = .priority
        XCTAssertEqual(header(target), "<142>")
    }

    func testLevelsAndLength() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("logtest-\(getpid()).sock").path
        let receiver = try DatagramReceiver(path: path)
        defer { receiver.close() }
        let notice = LogTarget(destination: .unixSocket(path: path), facility: "local1", facilityCode: 17,
                               maxLevel: .notice, length: 80)
        let sinks = LogSinks()
        let logger = sinks.logger(for: [notice], tag: "proxyd", hostname: nil)
        logger.log(.info, "traffic: not for a notice target")
        logger.log(.alert, "Server app/a is DOWN. " + String(repeating: "x", count: 200))
        let line = try XCTUnwrap(receiver.receive())
        XCTAssertTrue(line.hasPrefix("<137>"), line)  // local1.alert
        XCTAssertEqual(line.utf8.count, 80, "len 80: truncated, newline included")
        XCTAssertTrue(line.hasSuffix("\n"))
        XCTAssertNil(receiver.receive(), "the info line was filtered out")
    }

    func testDeadSyslogDropsAndCounts() {
        let sink = LogSink(destination: .unixSocket(path: "/nonexistent/dev/log"))
        let start = DispatchTime.now()
        for _ in 0..<1000 { [UInt8]("x".utf8).withUnsafeBytes { sink.send($0) } }
        XCTAssertEqual(sink.dropped.load(ordering: .relaxed), 1000)
        XCTAssertEqual(sink.sent.load(ordering: .relaxed), 0)
        XCTAssertLessThan(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds, 1_000_000_000)
    }

    func testFullSyslogDropsWithoutBlocking() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("logfull-\(getpid()).sock").path
        let receiver = try DatagramReceiver(path: path)  // never read
        defer { receiver.close() }
        let sink = LogSink(destination: .unixSocket(path: path))
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 1000)
        for _ in 0..<5000 { line.withUnsafeBytes { sink.send($0) } }
        XCTAssertGreaterThan(sink.sent.load(ordering: .relaxed), 0)
        XCTAssertGreaterThan(sink.dropped.load(ordering: .relaxed), 0, "a full socket loses lines instead of blocking")
        XCTAssertEqual(sink.sent.load(ordering: .relaxed) + sink.dropped.load(ordering: .relaxed), 5000)
    }

    /// `stdout`/`stderr`/`fd@N`: a stream socket (systemd's journal) and a pipe nobody
    /// reads lose lines instead of blocking.
    func testStreamsNeverBlock() {
        var pair: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        var pipeEnds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&pipeEnds), 0)
        defer { for fd in pair + pipeEnds { close(fd) } }
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        for fd in [pair[0], pipeEnds[1]] {
            let sink = LogSink(destination: .fileDescriptor(fd))
            for _ in 0..<2000 { line.withUnsafeBytes { sink.send($0) } }  // 8 MB, never read
            XCTAssertGreaterThan(sink.sent.load(ordering: .relaxed), 0)
            XCTAssertGreaterThan(sink.dropped.load(ordering: .relaxed), 0)
        }
    }

    func testFormatParsing() {
        let format = LogFormat("%ci:%cp [%t] %{+Q}r %% x")
        XCTAssertEqual(format.nodes, [
            .variable(.ci, quoted: false), .literal(Array(":".utf8)), .variable(.cp, quoted: false), .separator,
            .literal(Array("[".utf8)), .variable(.t, quoted: false), .literal(Array("]".utf8)), .separator,
            .variable(.r, quoted: true), .separator, .literal(Array("%".utf8)), .separator, .literal(Array("x".utf8)),
        ])
        XCTAssertNil(LogFormat.error(in: LogFormat.httpLogFormat))
        XCTAssertNil(LogFormat.error(in: LogFormat.tcpLogFormat))
        XCTAssertNil(LogFormat.error(in: LogFormat.httpLogCLFFormat))
        XCTAssertNil(LogFormat.error(in: "%[src] %{+Q}[capture.req.hdr(0)] 100%% %sslv"))
        // Word for word what HAProxy 2.6 says of `log-format "%ci %xyz %{+Q}r"`.
        XCTAssertEqual(LogFormat.error(in: "%ci %xyz %{+Q}r"),
                       "failed to parse log-format : no such format variable 'xyz'. If you wanted to emit the '%' character verbatim, you need to use '%%'.")
        // Fetches that read the request or response are gone by log time: HAProxy 2.6
        // refuses them at load, quoting the format from the expression on (its words).
        XCTAssertEqual(LogFormat.error(in: "a %[path] %ci"),
                       "failed to parse log-format : sample fetch <path] %ci> may not be reliably used here because it needs 'HTTP request headers' which is not available here.")
        XCTAssertEqual(LogFormat.error(in: "%[hdr(x),lower]"),
                       "failed to parse log-format : sample fetch <hdr(x),lower]> may not be reliably used here because it needs 'HTTP request headers,HTTP response headers' which is not available here.")
        XCTAssertEqual(LogFormat.error(in: "%[res.hdr(x)]"),
                       "failed to parse log-format : sample fetch <res.hdr(x)]> may not be reliably used here because it needs 'HTTP response headers' which is not available here.")
        XCTAssertEqual(LogFormat.error(in: "%[req.payload(0,1)]"),
                       "failed to parse log-format : sample fetch <req.payload(0,1)]> may not be reliably used here because it needs 'request buffer' which is not available here.")
        XCTAssertEqual(LogFormat.error(in: "%[src,nope]"),
                       "failed to parse log-format : failed to parse sample expression <src,nope]> : unknown converter 'nope'.")
        XCTAssertNil(LogFormat.error(in: "%[status,add(1)] %[method] %[srv_name] %[fe_name] %[be_conn]"))
        XCTAssertTrue(LogFormat(LogFormat.httpLogFormat).usesRequest)
        XCTAssertFalse(LogFormat(LogFormat.tcpLogFormat).usesRequest)
    }

    func testTLSFetchesParseAndRenderAsHAProxy() {
        XCTAssertNil(LogFormat.error(in: LogFormat.httpsLogFormat))
        XCTAssertEqual(LogFormat("%[ssl_fc_err,hex] %{+Q}[ssl_fc_sni] %[src] %[ssl_fc_sni,lower]").nodes, [
            .fetch(.ssl_fc_err, hex: true, quoted: false), .separator, .fetch(.ssl_fc_sni, hex: false, quoted: true),
            .separator, .sample(try! SampleExpression.parse("src").get(), quoted: false),
            .separator, .sample(try! SampleExpression.parse("ssl_fc_sni,lower").get(), quoted: false),
        ])
        // A fetch proxyd does not evaluate yet still logs `-`.
        XCTAssertEqual(LogFormat("%[be_conn]").nodes, [.variable(.unsupported, quoted: false)])
        XCTAssertTrue(LogFormat(LogFormat.httpsLogFormat).usesTLSDetails)
        XCTAssertFalse(LogFormat(LogFormat.httpLogFormat).usesTLSDetails)
        func rendered(_ value: LogFetch.Value, hex: Bool = false, quoted: Bool = false) -> String {
            var line: [UInt8] = []
            LogFetch.append(value, hex: hex, quoted: quoted, to: &line)
            return String(decoding: line, as: UTF8.self)
        }
        // HAProxy's `hex` on an integer: its 8 bytes, big-endian, upper case.
        XCTAssertEqual(rendered(.integer(0x0A00009C), hex: true), "000000000A00009C")
        XCTAssertEqual(rendered(.integer(0)), "0")
        XCTAssertEqual(rendered(.boolean(true)), "1")
        XCTAssertEqual(rendered(.text("a.b"), hex: true), "612E62")
        XCTAssertEqual(rendered(.missing), "-")
        XCTAssertEqual(rendered(.missing, quoted: true), "\"\"")
        XCTAssertEqual(LogFetch.ssl_fc_err.value(nil).isMissing, true)
        XCTAssertEqual(LogFetch.fc_err.value(nil).isMissing, false)
    }

    private func frontend(_ mode: ProxyMode) -> RuntimeFrontend {
        let f = RuntimeFrontend(name: "fe", mode: mode, binds: [], timeouts: FrontendTimeouts(), maxConnections: nil,
                                router: Router(defaultBackend: nil), httpConnectionMode: .keepAlive, forwardFor: nil,
                                errorPages: ErrorPages(), requestRules: [], responseRules: [])
        f.gate = AdmissionGate(limit: 100)
        return f
    }

    private func backend() -> RuntimeBackend {
        let server = RuntimeServer(name: "s1", index: 0, address: try! SocketAddress(ipAddress: "127.0.0.1", port: 8080),
                                   weight: 1, isBackup: false, maxConnections: nil, disabled: false)
        return RuntimeBackend(name: "app", index: 0, mode: .http, servers: [server], timeouts: BackendTimeouts(),
                              retries: 3, redispatch: false, balance: Balance(), httpConnectionMode: .keepAlive,
                              forwardFor: nil, errorPages: ErrorPages(), allBackups: false)
    }

    /// A request's record, rendered with the httplog and tcplog formats, timers from a fake clock.
    func testRenderHTTPAndTCPLines() throws {
        let fe = frontend(.http)
        let gate = AdmissionGate(limit: 100)
        let logger = ProxyLogger(outputs: [], tag: "proxyd", hostname: nil, pid: 1)
        let http = TrafficLog(logger: logger, format: LogFormat(LogFormat.httpLogFormat), connectLineOnly: false,
                              dontLogNull: true, frontend: fe, globalGate: gate)
        let app = backend()
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        func at(_ ms: Int64) -> NIODeadline { t0 + .milliseconds(ms) }
        var record = SessionLogRecord(client: try SocketAddress(ipAddress: "10.0.0.7", port: 51716), local: nil)
        record.accept = time
        record.requestWall = time
        record.acceptAt = t0
        record.requestAt = at(0)
        record.headAt = at(1)
        record.connectStart = at(1)
        record.connectedAt = at(3)
        record.requestSentAt = at(3)
        record.responseAt = at(10)
        record.status = 200
        record.bytesOut = 52
        record.bytesIn = 40
        record.backend = app
        record.server = app.servers[0]
        var buffer = ByteBuffer(string: "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        record.captureRequestLine(buffer)
        var line: [UInt8] = []
        http.render(record, end: at(12), into: &line)
        XCTAssertEqual(String(decoding: line, as: UTF8.self),
                       "10.0.0.7:51716 [25/Nov/2026:09:29:29.362] fe app/s1 1/0/2/7/12 200 52 - - ---- 0/0/0/0/0 0/0 \"GET /x HTTP/1.1\"")

        // No server: 503 with SC, timers never reached are -1.
        var nosrv = SessionLogRecord(client: try SocketAddress(ipAddress: "10.0.0.7", port: 51720), local: nil)
        nosrv.accept = time
        nosrv.requestWall = time
        nosrv.acceptAt = t0
        nosrv.requestAt = at(0)
        nosrv.headAt = at(0)
        nosrv.backend = app
        nosrv.status = 503
        nosrv.bytesOut = 217
        nosrv.terminate("S", "C")
        buffer = ByteBuffer(string: "GET /y HTTP/1.1\r\n\r\n")
        nosrv.captureRequestLine(buffer)
        line.removeAll()
        http.render(nosrv, end: at(0), into: &line)
        XCTAssertEqual(String(decoding: line, as: UTF8.self),
                       "10.0.0.7:51720 [25/Nov/2026:09:29:29.362] fe app/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 0/0/0/0/0 0/0 \"GET /y HTTP/1.1\"")

        let tcp = TrafficLog(logger: logger, format: LogFormat(LogFormat.tcpLogFormat), connectLineOnly: false,
                             dontLogNull: true, frontend: frontend(.tcp), globalGate: gate)
        var session = SessionLogRecord(client: try SocketAddress(ipAddress: "10.0.0.7", port: 42686), local: nil)
        session.accept = time
        session.acceptAt = t0
        session.connectStart = at(0)
        session.connectedAt = at(0)
        session.backend = app
        session.server = app.servers[0]
        session.bytesOut = 5
        session.terminate("c", "D")
        line.removeAll()
        tcp.render(session, end: at(2025), into: &line)
        XCTAssertEqual(String(decoding: line, as: UTF8.self),
                       "10.0.0.7:42686 [25/Nov/2026:09:29:29.362] fe app/s1 0/0/2025 5 cD 0/0/0/0/0 0/0")
    }
}

/// A Unix datagram socket the test reads log lines from.
final class DatagramReceiver {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw NSError(domain: "bind", code: Int(errno)) }
    }

    /// One datagram, or nil after `timeout` seconds.
    func receive(timeout: Double = 0.5) -> String? {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    func close() {
        Glibc.close(fd)
        unlink(path)
    }
}
