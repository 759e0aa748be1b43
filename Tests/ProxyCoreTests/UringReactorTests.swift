import CLinux
import Dispatch
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import XCTest
@testable import ProxyCore

/// The reactor on io_uring (Engine/UringPoller.swift): the backend choice and its
/// fallback, multishot accept with pause and resume, and a close that really closes
/// although the kernel holds a request on the socket. ReactorTests covers the rest on
/// whichever backend `PROXYD_IO` selects (run it with `PROXYD_IO=uring` and without).
final class UringReactorTests: XCTestCase {
    private var reactor: Reactor!

    override func setUpWithError() throws {
        try super.setUpWithError()
        try XCTSkipIf(IOBackend.probeKernel() != nil, "io_uring unavailable here: \(IOBackend.probeKernel()!)")
        reactor = Reactor(name: "proxyd-dp-uring", backend: .uring)
        reactor.start()
    }

    override func tearDown() {
        reactor?.stop()
        reactor = nil
        super.tearDown()
    }

    private func onLoop<T>(_ body: @escaping () throws -> T) throws -> T {
        try reactor.submit { try body() }.wait()
    }

    // MARK: Choice

    func testBackendChoiceFallsBackToEpollAndSaysWhy() {
        let usable: () -> String? = { nil }
        let forbidden: () -> String? = { "io_uring_setup failed: Operation not permitted" }
        XCTAssertEqual(IOBackend.choose(requested: nil, probe: usable), .init(backend: .epoll, fallbackReason: nil))
        XCTAssertEqual(IOBackend.choose(requested: "epoll", probe: usable), .init(backend: .epoll, fallbackReason: nil))
        XCTAssertEqual(IOBackend.choose(requested: "uring", probe: usable), .init(backend: .uring, fallbackReason: nil))
        XCTAssertEqual(IOBackend.choose(requested: "uring", probe: forbidden),
                       .init(backend: .epoll, fallbackReason: "io_uring_setup failed: Operation not permitted"))
        XCTAssertEqual(IOBackend.choose(requested: "kqueue", probe: usable).backend, .epoll)
        XCTAssertNotNil(IOBackend.choose(requested: "kqueue", probe: usable).fallbackReason)
    }

    func testRingIOChoiceSaysWhyWhenRefused() {
        let usable: (RingIOSettings) -> String? = { _ in nil }
        let refused: (RingIOSettings) -> String? = { _ in "IORING_REGISTER_PBUF_RING failed: Invalid argument" }
        XCTAssertEqual(IOBackend.chooseRingIO(requested: nil, bufferCount: nil, probe: usable).settings, RingIOSettings())
        XCTAssertEqual(IOBackend.chooseRingIO(requested: "on", bufferCount: 4, probe: usable).settings?.bufferCount, 4)
        // Asked off: no settings, nothing to warn about.
        XCTAssertNil(IOBackend.chooseRingIO(requested: "off", bufferCount: nil, probe: usable).settings)
        XCTAssertNil(IOBackend.chooseRingIO(requested: "off", bufferCount: nil, probe: usable).reason)
        let failed = IOBackend.chooseRingIO(requested: nil, bufferCount: nil, probe: refused)
        XCTAssertNil(failed.settings)
        XCTAssertEqual(failed.reason, "IORING_REGISTER_PBUF_RING failed: Invalid argument")
        XCTAssertNotNil(IOBackend.chooseRingIO(requested: nil, bufferCount: 3, probe: usable).reason)
        XCTAssertNil(IOBackend.chooseRingIO(requested: "maybe", bufferCount: nil, probe: usable).settings)
        // This kernel has it all (6.x).
        XCTAssertNil(IOBackend.probeRingIO(RingIOSettings()))
    }

    func testReactorRunsOnTheBackendItWasGiven() {
        XCTAssertEqual(reactor.backend, .uring)
        XCTAssertTrue(reactor.acceptsInKernel)
        // Receives and sends in the ring unless asked off (PROXYD_URING_RINGIO in the tests'
        // environment would change the first).
        if getenv("PROXYD_URING_RINGIO") == nil { XCTAssertTrue(reactor.receivesInRing) }
        let poller = Reactor(name: "proxyd-dp-poll", backend: .uring, ringIO: .some(nil))
        XCTAssertEqual(poller.backend, .uring)
        XCTAssertFalse(poller.receivesInRing)
        let epoll = Reactor(name: "proxyd-dp-ep", backend: .epoll)
        XCTAssertEqual(epoll.backend, .epoll)
        XCTAssertFalse(epoll.acceptsInKernel)
        XCTAssertFalse(epoll.receivesInRing)
    }

    /// ReactorTests run on whichever backend PROXYD_IO names: check that it does.
    func testReactorsFollowPROXYD_IO() {
        let requested = getenv("PROXYD_IO").map { String(cString: $0) }
        XCTAssertEqual(Reactor(name: "proxyd-dp-env").backend, requested == "uring" ? .uring : .epoll)
    }

    // MARK: Accept

    func testAcceptsDeliverEveryConnectionWithItsAddressAndPause() throws {
        let any = try SocketCalls.ipv4Address("127.0.0.1", port: 0)
        let listener = try SocketCalls.listen(on: any.address, length: any.length)
        defer { Glibc.close(listener) }
        let bound = try SocketCalls.localAddress(listener)
        let sink = AcceptSink()
        try onLoop { try self.reactor.registerAcceptor(listener, handler: sink) }

        // More at once than requests wait in the kernel: each is armed again as it completes.
        let clients = try (0..<40).map { _ in try SocketCalls.startConnect(to: bound.address, length: bound.length).fd }
        defer { for fd in clients { Glibc.close(fd) } }
        XCTAssertTrue(sink.waitForCount(40), "accepted \(sink.count) of 40")
        // Each with its own peer's address, as accept4 gives it.
        let expected = Set(try clients.map { try SocketCalls.localAddress($0) }.map { SocketCalls.port(of: $0.address) })
        let got = Set(sink.remotes.map { $0?.port ?? -1 })
        XCTAssertEqual(got, Set(expected.map { Int($0) }), "peer addresses")
        XCTAssertTrue(sink.remotes.allSatisfy { $0?.ipAddress == "127.0.0.1" }, "\(sink.remotes)")
        for fd in sink.accepted {
            XCTAssertNotEqual(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "an accepted socket is blocking")
            XCTAssertNotEqual(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0, "an accepted socket lacks close-on-exec")
        }

        // Paused (maxconn), the listener takes nothing; resumed, it takes what waited.
        try onLoop { try self.reactor.pauseListener(listener) }
        let waiting = try SocketCalls.startConnect(to: bound.address, length: bound.length).fd
        defer { Glibc.close(waiting) }
        usleep(100_000)
        XCTAssertEqual(sink.count, 40, "a paused listener accepted")
        try onLoop { try self.reactor.resumeListener(listener) }
        XCTAssertTrue(sink.waitForCount(41), "the resumed listener did not accept")
        // Paused and resumed in one round: every request comes back once, none twice.
        try onLoop {
            try self.reactor.pauseListener(listener)
            try self.reactor.resumeListener(listener)
        }
        let after = try SocketCalls.startConnect(to: bound.address, length: bound.length).fd
        defer { Glibc.close(after) }
        XCTAssertTrue(sink.waitForCount(42), "the listener resumed in the same round did not accept")

        // Unregistered, it takes nothing more; the socket itself stays open.
        try onLoop { self.reactor.unregisterListener(listener) }
        let late = try SocketCalls.startConnect(to: bound.address, length: bound.length).fd
        defer { Glibc.close(late) }
        usleep(100_000)
        XCTAssertEqual(sink.count, 42, "an unregistered listener accepted")
        XCTAssertNotNil(try SocketCalls.acceptConnection(listener).map { Glibc.close($0) }, "the listener was closed")
        for fd in sink.accepted { Glibc.close(fd) }
    }

    // MARK: Close

    /// A polled socket is held by the kernel's request: the reactor's close must cancel
    /// it, or the peer would never see the end of the connection.
    func testCloseOfAPolledSocketReachesThePeer() throws {
        var pair: [CInt] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair), 0)
        let (local, peer) = (pair[0], pair[1])
        defer { Glibc.close(peer) }
        let handler = Readiness()
        try onLoop { try self.reactor.register(local, handler: handler) }
        XCTAssertEqual(Glibc.write(peer, "x", 1), 1)
        XCTAssertTrue(handler.waitForReadable(), "no readiness for input")
        // Read first: a Unix socket closed with unread input resets its peer instead.
        try onLoop {
            var byte: UInt8 = 0
            XCTAssertEqual(Glibc.read(local, &byte, 1), 1)
            self.reactor.close(local)
        }

        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        XCTAssertEqual(Glibc.read(peer, &byte, 1), 0, "the peer did not see the close (errno \(errno))")
    }

    /// The wait honours the next timer to well under a millisecond's rounding.
    func testTimedWaitEndsAtTheTimer() throws {
        let fired = DispatchSemaphore(value: 0)
        let start = NIODeadline.now()
        _ = reactor.scheduleTask(in: .milliseconds(30)) { fired.signal() }
        XCTAssertEqual(fired.wait(timeout: .now() + 5), .success)
        let elapsed = (NIODeadline.now() - start).nanoseconds
        XCTAssertGreaterThanOrEqual(elapsed, 30_000_000)
        XCTAssertLessThan(elapsed, 1_000_000_000)
    }
}

private final class AcceptSink: AcceptCompletionHandler, @unchecked Sendable {
    private let box = NIOLockedValueBox<[CInt]>([])
    private let addresses = NIOLockedValueBox<[SocketAddress?]>([])
    func connectionAccepted(_ fd: CInt, remote: SocketAddress?) {
        box.withLockedValue { $0.append(fd) }
        addresses.withLockedValue { $0.append(remote) }
    }
    var remotes: [SocketAddress?] { addresses.withLockedValue { $0 } }
    func acceptStopped(_ error: CInt) { XCTFail("accept stopped: errno \(error)") }
    var accepted: [CInt] { box.withLockedValue { $0 } }
    var count: Int { accepted.count }

    func waitForCount(_ wanted: Int) -> Bool {
        for _ in 0..<500 {
            if count >= wanted { return true }
            usleep(10_000)
        }
        return false
    }
}

private final class Readiness: DescriptorHandler, @unchecked Sendable {
    private let box = NIOLockedValueBox<UInt32>(0)
    func descriptorReady(_ events: UInt32) { box.withLockedValue { $0 |= events } }

    func waitForReadable() -> Bool {
        for _ in 0..<500 {
            if box.withLockedValue({ $0 }) & ReactorEvent.readable != 0 { return true }
            usleep(10_000)
        }
        return false
    }
}
