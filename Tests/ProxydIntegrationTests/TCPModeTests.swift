import Foundation
import XCTest

/// proxyd in `mode tcp`: bytes both ways, half-close, balancing by connection.
final class TCPModeTests: XCTestCase {
    func testBytesFlowBothWaysAndHalfCloseIsPassedOn() throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "tcp") + """
            listen echo
                bind 127.0.0.1:\(port)
            \(ProxyFixture.serverLines([echo]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        let payload = Array(repeating: UInt8(ascii: "z"), count: 3_000_000)
        // Send while reading so that neither side's buffers fill up.
        let sender = Thread { try? client.send(payload); client.shutdownWrite() }
        sender.start()
        let all = client.receiveAll()
        XCTAssertEqual(all.count, payload.count + 4)
        XCTAssertEqual(Array(all.suffix(4)), Array("bye\n".utf8), "the server saw our half-close and still answered")
    }

    /// Both ends close while proxyd still holds bytes for a client that reads slowly: they
    /// are delivered before the connection closes (they used to be dropped with it).
    func testLastBytesReachASlowReaderAfterBothEndsClosed() throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        let port = TCP.freePort()
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "tcp") + """
            listen echo
                bind 127.0.0.1:\(port)
            \(ProxyFixture.serverLines([echo]))
            """, waitForPorts: [port])
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port)
        client.setTimeout(10)
        let payload = Array(repeating: UInt8(ascii: "z"), count: 2_000_000)
        let sender = Thread { try? client.send(payload); client.shutdownWrite() }
        sender.start()
        var received = 0
        var tail: [UInt8] = []
        // 16 KiB every 2 ms: the echo outruns the reader, so proxyd queues what the client
        // has not taken when the server closes.
        while let chunk = client.receiveSome(max: 16_384), !chunk.isEmpty {
            received += chunk.count
            tail = Array((tail + chunk).suffix(4))
            usleep(2_000)
        }
        XCTAssertEqual(received, payload.count + 4)
        XCTAssertEqual(tail, Array("bye\n".utf8))
    }

    /// `option splice-auto` / `splice-request` (HAProxy's kernel splicing): the stream's
    /// bytes go socket -> pipe -> socket (a pipe per spliced way shows in /proc/PID/fd while
    /// the connection lives), arrive whole both ways with the half-close, and are counted
    /// as if they had been read. `nosplice` turns it off.
    func testSplicedStreamsArriveWholeAndAreCounted() throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        for (options, global, pipes) in [("option splice-auto", "", 2), ("option splice-request", "", 1),
                                         ("option splice-auto", "nosplice", 0)] {
            let port = TCP.freePort()
            let socket = NSTemporaryDirectory() + "splice-\(port).sock"
            let proxy = try ProxydProcess(config: ProxyFixture.preamble(
                mode: "tcp", extraGlobal: "stats socket \(socket) level admin" + (global.isEmpty ? "" : "\n    " + global)) + """
                listen echo
                    bind 127.0.0.1:\(port)
                    \(options)
                \(ProxyFixture.serverLines([echo]))
                """, waitForPorts: [port])
            defer { proxy.stop() }
            // The start-up probe's own session may still hold its pipes for a moment.
            XCTAssertTrue(try ControlClient.eventually(5) { try pipeCount(proxy.pid) == 0 }, "no pipe before")
            let client = try TCP.Connection(port: port)
            try client.send(Array("hello".utf8))
            XCTAssertEqual(client.receive(count: 5), Array("hello".utf8), options)
            XCTAssertEqual(try pipeCount(proxy.pid), 2 * pipes, "\(options) \(global): pipe ends")
            let payload = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let sender = Thread { try? client.send(payload); client.shutdownWrite() }
            sender.start()
            let all = client.receiveAll()
            XCTAssertEqual(all.count, payload.count + 4, options)
            XCTAssertTrue(all.prefix(payload.count).elementsEqual(payload), "\(options): the bytes, in order")
            XCTAssertEqual(Array(all.suffix(4)), Array("bye\n".utf8), "the half-close went through")
            // bin and bout of the listen section: every byte, spliced or read. Out: "hello",
            // the payload, "bye\n", and the "bye\n" the echo server sent the start-up probe.
            var fields: [String] = []
            XCTAssertTrue(try ControlClient.eventually(5) {
                let line = try ControlClient.socat("show stat", socket: socket).split(separator: "\n")
                    .first { $0.hasPrefix("echo,FRONTEND,") }
                fields = line.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
                return fields.count > 9 && fields[8] == "\(payload.count + 5)" && fields[9] == "\(payload.count + 13)"
            }, "\(options): bin/bout \(fields.dropFirst(8).prefix(2))")
        }
    }

    /// Pipes the process opened (its standard streams, the test's pipes, left out).
    private func pipeCount(_ pid: Int32) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").filter {
            (Int($0) ?? 0) > 2 && (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)"))?.hasPrefix("pipe:") ?? false
        }.count
    }

    func testTCPRoundRobinPerConnection() throws {
        let a = try TestBackend(name: "a"), b = try TestBackend(name: "b")
        let (proxy, port) = try ProxyFixture.start(servers: [a, b], mode: "tcp")
        defer { proxy.stop() }
        var seen: [String] = []
        for _ in 0..<4 { seen.append(try ProxyFixture.get(port: port).bodyText) }
        // The start-up probe (a bare connect) already took one turn in tcp mode, so the
        // order may start with either server; it must alternate.
        XCTAssertEqual(Set(seen), ["a", "b"])
        XCTAssertEqual(seen[0], seen[2])
        XCTAssertEqual(seen[1], seen[3])
        XCTAssertNotEqual(seen[0], seen[1])
    }

    func testPortInUseIsAClearStartupError() throws {
        let busy = try TestBackend(name: "busy")
        let proxy = try ProxydProcess(config: ProxyFixture.preamble(mode: "tcp") + """
            listen x
                bind 127.0.0.1:\(busy.port)
                server s 127.0.0.1:1
            """)
        XCTAssertEqual(proxy.waitForExit(timeout: 10), 1)
        let text = proxy.stderrText()
        XCTAssertTrue(text.contains("for frontend x: cannot bind socket (Address already in use) for [127.0.0.1:\(busy.port)]"), text)
    }
}
