import Foundation
import XCTest

/// proxyd on io_uring with receives and sends in the ring (`PROXYD_IO=uring`,
/// Reactor+RingIO.swift): what the ring must keep from epoll's path. Backpressure (a
/// reader that stops makes the receives stop, not proxyd's memory grow), resets in the
/// middle of a transfer (the connections go, their descriptors with them), and more
/// connections with data than receive buffers (they wait their turn, nothing lost).
final class UringRingIOTests: XCTestCase {
    private static func start(mode: String, server: Int, environment: [String] = []) throws -> (ProxydProcess, Int) {
        let port = TCP.freePort()
        let config = ProxyFixture.preamble(mode: mode) + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                server s1 127.0.0.1:\(server)

            """
        return (try ProxydProcess(config: config, waitForPorts: [port],
                                  launcher: ["/usr/bin/env", "PROXYD_IO=uring"] + environment), port)
    }

    /// Byte `position` of every stream these tests send: a stream cut, reordered or
    /// doubled anywhere shows.
    private static func patternByte(_ position: Int, seed: Int = 0) -> UInt8 {
        UInt8(truncatingIfNeeded: (position + seed * 7) % 251)
    }

    private static func descriptorCount(_ proxy: ProxydProcess) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(proxy.pid)/fd").count) ?? -1
    }

    // MARK: Backpressure

    /// A client sends without reading its echo: the echo's way back fills, proxyd stops
    /// receiving from the server (its receive cancelled), the server stops reading, and
    /// so on back to the client, whose sends stall. proxyd holds a few buffers, not the
    /// stream: its RSS grows by far less than what the client managed to send. Read
    /// afterwards, every byte comes back in order.
    func testStalledReaderHoldsTheSenderBackWithBoundedMemory() throws {
        let echo = try BlockingEchoServer()
        defer { echo.stop() }
        let (proxy, port) = try Self.start(mode: "tcp", server: echo.port)
        defer { proxy.stop() }
        let client = try TCP.Connection(port: port, timeout: 5)
        try client.send([0, 1, 2])
        XCTAssertEqual(client.receive(count: 3), [0, 1, 2])
        let before = proxy.residentKiB()

        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let chunk = (0..<(251 * 256)).map { Self.patternByte($0 + 3) }
        let limit = 256 << 20
        var sent = 0
        while sent < limit {
            let offset = sent % chunk.count
            let count = chunk[offset...].withUnsafeBytes { Foundation.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { break }  // stalled for a second: held back
            sent += count
        }
        usleep(200_000)
        let grown = proxy.residentKiB() - before
        XCTAssertLessThan(sent, limit, "the client was never held back")
        XCTAssertGreaterThan(sent, 1 << 20, "the client was held back before the buffers filled")
        // What proxyd can hold: its provided buffers (2 MiB), two connections' pending
        // writes (64 KiB each) and held receives, allocator slack: 6 MiB measured here;
        // a receive left armed without a reader grew it by 280 MiB.
        XCTAssertLessThan(grown, 24 * 1024, "proxyd grew by \(grown) KiB while \(sent >> 10) KiB were in flight")

        var received = 0
        var mismatch: Int?
        while received < sent, let part = client.receiveSome(), !part.isEmpty {
            for (index, byte) in part.enumerated() where mismatch == nil && byte != Self.patternByte(received + index + 3) {
                mismatch = received + index
            }
            received += part.count
        }
        XCTAssertEqual(received, sent, "bytes echoed back")
        XCTAssertNil(mismatch, "the echo differs from what was sent at byte \(mismatch ?? -1)")
    }

    // MARK: Resets mid-transfer

    /// Clients that reset in the middle of a request body (http) and of a stream whose
    /// echo they do not read (tcp, so proxyd has sends in flight and bytes held): each
    /// connection goes with its server side, the descriptors come back to where they
    /// were, and the next client is served.
    func testResetsMidTransferReleaseEverythingAndOthersAreServed() throws {
        let counter = try TestBackend(name: "app", behaviour: .countBody)
        defer { counter.stop() }
        let (proxy, port) = try Self.start(mode: "http", server: counter.port)
        defer { proxy.stop() }
        XCTAssertEqual(try ProxyFixture.get(port: port).status, 200)
        let baseline = Self.descriptorCount(proxy)
        let body = [UInt8](repeating: 0x61, count: 256 << 10)
        for _ in 0..<10 {
            let client = try TCP.Connection(port: port)
            try client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
            try client.send(body)
            client.reset()
        }
        let answer = try ProxyFixture.get(port: port)
        XCTAssertEqual(answer.status, 200)

        let echo = try BlockingEchoServer()
        defer { echo.stop() }
        let (tcpProxy, tcpPort) = try Self.start(mode: "tcp", server: echo.port)
        defer { tcpProxy.stop() }
        let tcpBaseline = Self.descriptorCount(tcpProxy)
        for _ in 0..<4 {
            let client = try TCP.Connection(port: tcpPort)
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var sent = 0
            while sent < 32 << 20 {
                let count = body.withUnsafeBytes { Foundation.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if count <= 0 { break }
                sent += count
            }
            client.reset()
        }
        let check = try TCP.Connection(port: tcpPort)
        try check.send("still here")
        XCTAssertEqual(String(decoding: check.receive(count: 10), as: UTF8.self), "still here")
        check.close()

        for (process, expected, name) in [(proxy, baseline, "http"), (tcpProxy, tcpBaseline, "tcp")] {
            var count = Self.descriptorCount(process)
            for _ in 0..<50 where count > expected {
                usleep(100_000)
                count = Self.descriptorCount(process)
            }
            XCTAssertLessThanOrEqual(count, expected, "\(name): descriptors left after the resets")
            XCTAssertTrue(process.process.isRunning, "\(name): proxyd died: \(process.stderrText())")
        }
    }

    // MARK: Buffer ring exhaustion

    /// Two receive buffers for 32 connections streaming at once: receives end with
    /// ENOBUFS (having taken nothing) and are armed again once buffers come back; every
    /// stream arrives whole and in order.
    func testMoreConnectionsWithDataThanBuffersWaitAndLoseNothing() throws {
        let echo = try BlockingEchoServer()
        defer { echo.stop() }
        let (proxy, port) = try Self.start(mode: "tcp", server: echo.port, environment: ["PROXYD_URING_BUFFERS=2"])
        defer { proxy.stop() }
        let connections = 32
        let perConnection = 128 << 10
        let piece = 32 << 10
        let failures = LockedList()
        let done = DispatchSemaphore(value: 0)
        for index in 0..<connections {
            Thread {
                defer { done.signal() }
                do {
                    let client = try TCP.Connection(port: port, timeout: 10)
                    var position = 0
                    while position < perConnection {
                        try client.send((position..<(position + piece)).map { Self.patternByte($0, seed: index) })
                        let back = client.receive(count: piece)
                        guard back.count == piece else { return failures.add("connection \(index): \(back.count) of \(piece) bytes at \(position)") }
                        for (offset, byte) in back.enumerated() where byte != Self.patternByte(position + offset, seed: index) {
                            return failures.add("connection \(index): byte \(position + offset) differs")
                        }
                        position += piece
                    }
                    client.close()
                } catch {
                    failures.add("connection \(index): \(error)")
                }
            }.start()
        }
        for _ in 0..<connections { XCTAssertEqual(done.wait(timeout: .now() + 60), .success) }
        XCTAssertEqual(failures.items, [])
        XCTAssertFalse(proxy.stderrText().contains("poller only"), proxy.stderrText())
    }
}

private final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ item: String) { lock.lock(); list.append(item); lock.unlock() }
    var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
}

/// An echo server on blocking sockets, a thread per connection: it reads only as fast
/// as its writes go, so a reader that stops holds it back (NIO's echo would buffer).
final class BlockingEchoServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 128) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound else { Foundation.close(listener); throw TestFailure("echo server: errno \(errno)") }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread {
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }  // closed by stop()
                Thread {
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    loop: while true {
                        let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                        guard count > 0 else { break }
                        var offset = 0
                        while offset < count {
                            let written = buffer[offset..<count].withUnsafeBytes {
                                Foundation.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                            }
                            guard written > 0 else { break loop }
                            offset += written
                        }
                    }
                    Foundation.close(connection)
                }.start()
            }
        }.start()
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        Foundation.close(listener)
    }
}
