import CLinux
import Dispatch
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import XCTest
@testable import ProxyCore

/// The data path's event loop (Engine/Reactor.swift) on real threads, descriptors and
/// loopback sockets: tasks, timers, promises, epoll events, stale events after fd reuse,
/// accept and connect, and shutdown.
final class ReactorTests: XCTestCase {
    private var reactor: Reactor!
    private var descriptorsBefore: Set<String> = []

    override func setUp() {
        super.setUp()
        descriptorsBefore = openDescriptors()
        reactor = Reactor(name: "proxyd-dp-test")
        reactor.start()
    }

    /// Stopping closes the epoll, the eventfd and every descriptor still registered: the
    /// process is left with the descriptors it had before the test.
    override func tearDown() {
        reactor.stop()
        reactor = nil
        // libdispatch (XCTest's timeouts) opens its timerfds lazily, at any moment; the
        // reactor makes none, so they are not counted.
        let leftOpen = openDescriptors().subtracting(descriptorsBefore).sorted()
            .filter { !describeDescriptor($0).hasSuffix("[timerfd]") }
        XCTAssertEqual(leftOpen, [], "descriptors left open: \(leftOpen.map(describeDescriptor))")
        super.tearDown()
    }

    /// Runs `body` on the loop and waits for its result.
    private func onLoop<T>(_ body: @escaping () throws -> T) throws -> T {
        try reactor.submit { try body() }.wait()
    }

    // MARK: Tasks and timers

    func testExecuteFromAnotherThreadRunsOnTheLoop() throws {
        XCTAssertFalse(reactor.inEventLoop)
        let ran = DispatchSemaphore(value: 0)
        let seen = NIOLockedValueBox<(inLoop: Bool, threadName: String)?>(nil)
        let reactor = self.reactor!
        DispatchQueue.global().async {
            reactor.execute {
                let name = readFirstLine("/proc/thread-self/comm")
                seen.withLockedValue { $0 = (reactor.inEventLoop, name) }
                ran.signal()
            }
        }
        XCTAssertEqual(ran.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(seen.withLockedValue { $0?.inLoop }, true)
        XCTAssertEqual(seen.withLockedValue { $0?.threadName }, "proxyd-dp-test")
    }

    func testTasksFromTheLoopRunInOrderWithoutAWakeUp() throws {
        let recorded = NIOLockedValueBox<[Int]>([])
        let done = reactor.makePromise(of: Void.self)
        reactor.execute {
            for index in 0..<5 {
                self.reactor.execute { recorded.withLockedValue { $0.append(index) } }
            }
            self.reactor.execute { done.succeed(()) }
        }
        try done.futureResult.wait()
        XCTAssertEqual(recorded.withLockedValue { $0 }, [0, 1, 2, 3, 4])
    }

    func testTimersRunInDeadlineOrderAndNeverEarly() throws {
        let start = NIODeadline.now()
        let offsets: [Int64] = [60, 20, 40, 20, 0]  // milliseconds; the two 20s keep their order
        let runs = NIOLockedValueBox<[(index: Int, at: NIODeadline)]>([])
        let futures = offsets.enumerated().map { index, offset in
            reactor.scheduleTask(deadline: start + .milliseconds(offset)) {
                runs.withLockedValue { $0.append((index, .now())) }
            }.futureResult
        }
        try EventLoopFuture.andAllSucceed(futures, on: reactor).wait()
        let recorded = runs.withLockedValue { $0 }
        XCTAssertEqual(recorded.map(\.index), [4, 1, 3, 2, 0])
        for run in recorded {
            let deadline = start + .milliseconds(offsets[run.index])
            XCTAssertGreaterThanOrEqual(run.at, deadline, "timer \(run.index) fired early")
        }
    }

    /// A wave of timers due together runs in rounds of `maxTimersPerRound`, with the
    /// sockets' events in between: a socket made readable by the wave's first timer is
    /// served before the wave's last one (without the bound: after all of them).
    func testAWaveOfDueTimersLetsReadySocketsIn() throws {
        let (local, peer) = try makeSocketPair()
        defer { Glibc.close(peer) }
        let wave = 3 * Reactor.maxTimersPerRound
        let ran = NIOLockedValueBox(0)
        let recorder = EventRecorder()
        let timersRunWhenReadable = NIOLockedValueBox<Int?>(nil)
        final class Watcher: DescriptorHandler, @unchecked Sendable {
            let seen: (UInt32) -> Void
            init(_ seen: @escaping (UInt32) -> Void) { self.seen = seen }
            func descriptorReady(_ events: UInt32) { seen(events) }
        }
        let watcher = Watcher { events in
            recorder.descriptorReady(events)
            if events & ReactorEvent.readable != 0, timersRunWhenReadable.withLockedValue({ $0 }) == nil {
                timersRunWhenReadable.withLockedValue { $0 = ran.withLockedValue { $0 } }
            }
        }
        try onLoop {
            try self.reactor.register(local, handler: watcher)
            let due = NIODeadline.now() + .milliseconds(20)
            for index in 0..<wave {
                _ = self.reactor.scheduleTask(deadline: due) {
                    if index == 0 { _ = Glibc.write(peer, "x", 1) }
                    ran.withLockedValue { $0 += 1 }
                }
            }
        }
        XCTAssertTrue(recorder.waitFor { $0 & ReactorEvent.readable != 0 })
        XCTAssertTrue(ran.withLockedValue { $0 } == wave || { usleep(100_000); return ran.withLockedValue { $0 } == wave }())
        let before = try XCTUnwrap(timersRunWhenReadable.withLockedValue { $0 })
        XCTAssertLessThan(before, wave, "the socket waited for the whole wave")
        XCTAssertGreaterThanOrEqual(before, Reactor.maxTimersPerRound, "a round's timers run together")
        try onLoop { self.reactor.close(local) }
    }

    func testTimersScheduledOnTheLoopAndFromOutsideBothRun() throws {
        let fromOutside = reactor.scheduleTask(in: .milliseconds(5)) { 1 }
        let fromLoop = try onLoop { self.reactor.scheduleTask(in: .milliseconds(5)) { 2 } }
        XCTAssertEqual(try fromOutside.futureResult.wait(), 1)
        XCTAssertEqual(try fromLoop.futureResult.wait(), 2)
    }

    func testCancelledTasksNeverRun() throws {
        let ran = ManagedCounter()
        // 10,000 on the loop, cancelled there: each cancel is a heap removal, not a search.
        let cancelledOnLoop = try onLoop { () -> [EventLoopFuture<Void>] in
            let scheduled = (0..<10_000).map { index in
                self.reactor.scheduleTask(in: .milliseconds(20 + Int64(index % 50))) { ran.increment() }
            }
            for task in scheduled { task.cancel() }
            return scheduled.map(\.futureResult)
        }
        // And from another thread, cancelled from another thread, before and after insertion.
        let early = reactor.scheduleTask(in: .milliseconds(20)) { ran.increment() }
        early.cancel()
        let late = reactor.scheduleTask(in: .milliseconds(30)) { ran.increment() }
        try onLoop { () }
        late.cancel()
        let sentinel = reactor.scheduleTask(in: .milliseconds(120)) { ran.value }
        XCTAssertEqual(try sentinel.futureResult.wait(), 0, "a cancelled task ran")
        for future in cancelledOnLoop + [early.futureResult, late.futureResult] {
            XCTAssertThrowsError(try future.wait()) { error in
                XCTAssertEqual(error as? EventLoopError, .cancelled)
            }
        }
    }

    func testScheduledCallbackRunsAndCancelCallsBack() throws {
        final class Handler: NIOScheduledCallbackHandler, @unchecked Sendable {
            let fired: EventLoopPromise<Bool>
            init(_ fired: EventLoopPromise<Bool>) { self.fired = fired }
            func handleScheduledCallback(eventLoop: some EventLoop) { fired.succeed(true) }
            func didCancelScheduledCallback(eventLoop: some EventLoop) { fired.succeed(false) }
        }
        let runs = Handler(reactor.makePromise())
        let cancels = Handler(reactor.makePromise())
        _ = try reactor.scheduleCallback(in: .milliseconds(5), handler: runs)
        let toCancel = try reactor.scheduleCallback(in: .seconds(5), handler: cancels)
        toCancel.cancel()
        XCTAssertEqual(try runs.fired.futureResult.wait(), true)
        XCTAssertEqual(try cancels.fired.futureResult.wait(), false)
    }

    /// On its own loop a callback is one timer (its id the timer's handle): it runs once,
    /// a cancelled one is told so and never runs, and cancelling one that already ran
    /// does nothing.
    func testScheduledCallbacksOnTheLoop() throws {
        final class Handler: NIOScheduledCallbackHandler, @unchecked Sendable {
            var fired = 0, cancelled = 0
            func handleScheduledCallback(eventLoop: some EventLoop) { fired += 1 }
            func didCancelScheduledCallback(eventLoop: some EventLoop) { cancelled += 1 }
        }
        let runs = Handler(), cancels = Handler()
        let done = reactor.makePromise(of: Void.self)
        let ran = try reactor.submit { () throws -> NIOScheduledCallback in
            let ran = try self.reactor.scheduleCallback(in: .milliseconds(5), handler: runs)
            try self.reactor.scheduleCallback(in: .seconds(5), handler: cancels).cancel()
            self.reactor.scheduleTask(in: .milliseconds(50)) { done.succeed() }
            return ran
        }.wait()
        try done.futureResult.wait()
        try reactor.submit { ran.cancel() }.wait()  // already ran: nothing happens
        try reactor.submit {
            XCTAssertEqual(runs.fired, 1)
            XCTAssertEqual(runs.cancelled, 0)
            XCTAssertEqual(cancels.fired, 0)
            XCTAssertEqual(cancels.cancelled, 1)
        }.wait()
    }

    func testPromiseCallbacksRunOnTheLoop() throws {
        let promise = reactor.makePromise(of: Int.self)
        let reactor = self.reactor!
        let mapped = promise.futureResult.map { value -> (Int, Bool) in (value * 2, reactor.inEventLoop) }
        DispatchQueue.global().async { promise.succeed(21) }
        let (value, onLoop) = try mapped.wait()
        XCTAssertEqual(value, 42)
        XCTAssertTrue(onLoop)
    }

    // MARK: Descriptors

    func testSocketPairReportsInputThenPeerShutdown() throws {
        let (local, peer) = try makeSocketPair()
        defer { Glibc.close(peer) }
        let recorder = EventRecorder()
        try onLoop { try self.reactor.register(local, handler: recorder) }

        XCTAssertEqual(Glibc.write(peer, "ping", 4), 4)
        XCTAssertTrue(recorder.waitFor { $0 & ReactorEvent.readable != 0 }, "no EPOLLIN after the peer wrote")
        Glibc.close(peer)
        XCTAssertTrue(recorder.waitFor { $0 & ReactorEvent.readHangUp != 0 }, "no EPOLLRDHUP after the peer closed")
        try onLoop { self.reactor.close(local) }
        XCTAssertFalse(try onLoop { self.reactor.isRegistered(local) })
    }

    /// Edge-triggered: unread input is reported once, and again only when more arrives.
    func testConnectionsAreEdgeTriggered() throws {
        let (local, peer) = try makeSocketPair()
        defer { Glibc.close(peer) }
        let recorder = EventRecorder()  // never reads
        try onLoop { try self.reactor.register(local, handler: recorder) }
        XCTAssertEqual(Glibc.write(peer, "1", 1), 1)
        XCTAssertTrue(recorder.waitFor { $0 & ReactorEvent.readable != 0 })
        for _ in 0..<5 { try onLoop { () } }  // rounds in which a level-triggered fd would fire again
        XCTAssertEqual(recorder.all.filter { $0 & ReactorEvent.readable != 0 }.count, 1, "\(recorder.all)")
        XCTAssertEqual(Glibc.write(peer, "2", 1), 1)
        XCTAssertTrue(recorder.waitFor(count: 2) { $0 & ReactorEvent.readable != 0 }, "new input was not reported")
    }

    /// Two descriptors ready in one batch; the first handler closes the second and opens an
    /// eventfd that takes the same number. The batch's stale EPOLLIN for the old socket
    /// must not reach the eventfd's handler (an empty eventfd is never readable).
    func testEventOfAClosedDescriptorDoesNotReachItsSuccessor() throws {
        let (first, firstPeer) = try makeSocketPair()
        let (second, secondPeer) = try makeSocketPair()
        defer { Glibc.close(firstPeer); Glibc.close(secondPeer) }
        let successor = EventRecorder()
        let swap = SwapOnInput(reactor: reactor, successor: successor)
        let closerOfSecond = SwapOnInput.Handler(swap: swap, victim: second)
        let closerOfFirst = SwapOnInput.Handler(swap: swap, victim: first)

        try onLoop {
            try self.reactor.register(first, handler: closerOfSecond)
            try self.reactor.register(second, handler: closerOfFirst)
            // Both readable before the next epoll_wait: one batch.
            XCTAssertEqual(Glibc.write(firstPeer, "a", 1), 1)
            XCTAssertEqual(Glibc.write(secondPeer, "b", 1), 1)
        }
        XCTAssertEqual(swap.done.wait(timeout: .now() + 5), .success)
        // Two more loop rounds: anything still due to the successor has arrived.
        try onLoop { () }
        try onLoop { () }
        let (reused, stale) = try onLoop { (swap.successorFD, self.reactor.staleEventsDropped) }
        XCTAssertEqual(reused, swap.victimFD, "the eventfd did not take the closed number")
        XCTAssertEqual(stale, 1, "the closed descriptor's event was not in the batch")
        XCTAssertFalse(successor.all.contains { $0 & ReactorEvent.readable != 0 },
                       "a stale EPOLLIN reached the new descriptor: \(successor.all)")
    }

    // MARK: Accept and connect

    func testListenerAcceptsAndConnectCompletes() throws {
        let listenAddress = try SocketCalls.ipv4Address("127.0.0.1", port: 0)
        let listener = try SocketCalls.listen(on: listenAddress.address, length: listenAddress.length)
        let bound = try SocketCalls.localAddress(listener)
        XCTAssertNotEqual(SocketCalls.port(of: bound.address), 0)
        let acceptor = Acceptor(listenFD: listener)
        try onLoop { try self.reactor.registerListener(listener, handler: acceptor) }

        let connector = EventRecorder()
        let (client, inProgress) = try onLoop { () -> (CInt, Bool) in
            let started = try SocketCalls.startConnect(to: bound.address, length: bound.length)
            try SocketCalls.setNoDelay(started.fd)
            try self.reactor.register(started.fd, handler: connector)
            return started
        }
        if inProgress {
            XCTAssertTrue(connector.waitFor { $0 & ReactorEvent.writable != 0 }, "no EPOLLOUT for the connect")
        }
        XCTAssertEqual(try onLoop { SocketCalls.connectResult(client) }, 0)
        XCTAssertTrue(acceptor.waitForCount(1), "the listener accepted nothing")

        // Bytes both ways through the raw calls.
        let accepted = acceptor.accepted[0]
        let sent = try onLoop { try "hello".utf8CString.withUnsafeBytes { try SocketCalls.send(client, UnsafeRawBufferPointer(rebasing: $0.dropLast())) } }
        XCTAssertEqual(sent, 5)
        var buffer = [UInt8](repeating: 0, count: 16)
        let received = try receiveBlocking(accepted, into: &buffer)
        XCTAssertEqual(Array(buffer[0..<received]), Array("hello".utf8))

        // Paused, the listener takes nothing; resumed, it takes the waiting connection.
        try onLoop { try self.reactor.pauseListener(listener) }
        let second = try SocketCalls.startConnect(to: bound.address, length: bound.length)
        defer { Glibc.close(second.fd) }
        usleep(100_000)
        XCTAssertEqual(acceptor.count, 1, "a paused listener accepted")
        try onLoop { try self.reactor.resumeListener(listener) }
        XCTAssertTrue(acceptor.waitForCount(2), "the resumed listener did not accept")
        for fd in acceptor.accepted { Glibc.close(fd) }
    }

    /// Level-triggered listener: an acceptor taking one connection per event still gets
    /// every connection that was waiting when it was registered.
    func testListenerIsLevelTriggered() throws {
        let any = try SocketCalls.ipv4Address("127.0.0.1", port: 0)
        let listener = try SocketCalls.listen(on: any.address, length: any.length)
        let bound = try SocketCalls.localAddress(listener)
        let clients = try (0..<3).map { _ in try SocketCalls.startConnect(to: bound.address, length: bound.length).fd }
        defer { for fd in clients { Glibc.close(fd) } }
        usleep(20_000)  // all three wait in the backlog: one edge only
        let acceptor = Acceptor(listenFD: listener, batch: 1)
        try onLoop { try self.reactor.registerListener(listener, handler: acceptor) }
        XCTAssertTrue(acceptor.waitForCount(3), "accepted \(acceptor.count) of 3")
        for fd in acceptor.accepted { Glibc.close(fd) }
    }

    func testConnectToAClosedPortIsRefused() throws {
        // A port that was just free: bound, read, and closed again.
        let any = try SocketCalls.ipv4Address("127.0.0.1", port: 0)
        let probe = try SocketCalls.listen(on: any.address, length: any.length)
        let closed = try SocketCalls.localAddress(probe)
        Glibc.close(probe)

        let connector = EventRecorder()
        let outcome = try onLoop { () -> CInt in
            do {
                let started = try SocketCalls.startConnect(to: closed.address, length: closed.length)
                XCTAssertTrue(started.inProgress, "a connect to a closed port succeeded at once")
                try self.reactor.register(started.fd, handler: connector)
                return started.fd
            } catch let error as SocketCallError {
                return -error.errno
            }
        }
        if outcome < 0 {
            XCTAssertEqual(-outcome, ECONNREFUSED)
            return
        }
        XCTAssertTrue(connector.waitFor { $0 & (ReactorEvent.error | ReactorEvent.hangUp) != 0 },
                      "no EPOLLERR/EPOLLHUP for the refused connect")
        XCTAssertEqual(try onLoop { SocketCalls.connectResult(outcome) }, ECONNREFUSED)
    }

    func testAcceptWithNothingPendingIsNil() throws {
        let any = try SocketCalls.ipv4Address("127.0.0.1", port: 0)
        let listener = try SocketCalls.listen(on: any.address, length: any.length)
        defer { Glibc.close(listener) }
        XCTAssertNil(try SocketCalls.acceptConnection(listener))
        XCTAssertThrowsError(try SocketCalls.acceptConnection(-1)) { error in
            XCTAssertEqual(error as? SocketCallError, .failed(call: "accept4", errno: EBADF))
        }
    }

    /// Out of descriptors is its own case (a listener pauses on it). The soft limit is set
    /// to the lowest free descriptor number for the one accept, then restored.
    func testAcceptOutOfDescriptorsIsADistinctError() throws {
        let any = try SocketCalls.ipv4Address("127.0.0.1", port: 0)
        let listener = try SocketCalls.listen(on: any.address, length: any.length)
        defer { Glibc.close(listener) }
        let bound = try SocketCalls.localAddress(listener)
        let client = try SocketCalls.startConnect(to: bound.address, length: bound.length)
        defer { Glibc.close(client.fd) }
        usleep(20_000)  // the handshake completes in the kernel; the connection waits in the backlog

        // libdispatch creates its timer descriptors on first use: make that happen now,
        // not inside the window where no descriptor can be created.
        let dispatchTimerRan = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(1)) { dispatchTimerRan.signal() }
        XCTAssertEqual(dispatchTimerRan.wait(timeout: .now() + 5), .success)

        var saved = rlimit()
        XCTAssertEqual(getrlimit(RLIMIT_NOFILE_VALUE, &saved), 0)
        let lowestFree = dup(0)
        Glibc.close(lowestFree)
        var tight = saved
        tight.rlim_cur = rlim_t(lowestFree)
        XCTAssertEqual(setrlimit(RLIMIT_NOFILE_VALUE, &tight), 0)
        let outcome = Result { try SocketCalls.acceptConnection(listener) }
        XCTAssertEqual(setrlimit(RLIMIT_NOFILE_VALUE, &saved), 0)

        XCTAssertThrowsError(try outcome.get()) { error in
            XCTAssertEqual(error as? SocketCallError, .outOfDescriptors(call: "accept4", errno: EMFILE))
        }
        // With descriptors back, the same connection is taken.
        let accepted = try SocketCalls.acceptConnection(listener)
        XCTAssertNotNil(accepted)
        if let accepted { Glibc.close(accepted) }
    }

    // MARK: Shutdown

    func testShutdownStopsTheThreadAndFailsPendingTimers() throws {
        let other = Reactor(name: "proxyd-dp-stop")
        other.start()
        XCTAssertTrue(threadNames().contains("proxyd-dp-stop"))
        let pending = other.scheduleTask(in: .seconds(60)) { () }
        // Observed from the loop: once it is gone, nothing (not even `wait()`) runs there.
        let pendingError = NIOLockedValueBox<Error?>(nil)
        pending.futureResult.whenFailure { error in pendingError.withLockedValue { $0 = error } }
        let queued = ManagedCounter()
        other.execute { queued.increment() }
        let stopped = DispatchSemaphore(value: 0)
        other.shutdownGracefully(queue: .global()) { error in
            XCTAssertNil(error)
            stopped.signal()
        }
        XCTAssertEqual(stopped.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(queued.value, 1, "a task queued before the shutdown did not run")
        XCTAssertEqual(pendingError.withLockedValue { $0 } as? EventLoopError, .shutdown,
                       "a pending timer was not failed at shutdown")
        // The thread is detached: give it a moment to be gone from /proc (bounded).
        var gone = false
        for _ in 0..<100 where !gone {
            gone = !threadNames().contains("proxyd-dp-stop")
            if !gone { usleep(10_000) }
        }
        XCTAssertTrue(gone, "the reactor's thread still runs after shutdown")
        other.stop()  // harmless once stopped
    }

    func testGroupHandsOutReactorsRoundRobin() throws {
        let group = ReactorGroup(count: 2, namePrefix: "proxyd-dp-g")
        let picks = (0..<4).map { _ in ObjectIdentifier(group.next() as AnyObject) }
        XCTAssertEqual(picks[0], picks[2])
        XCTAssertEqual(picks[1], picks[3])
        XCTAssertNotEqual(picks[0], picks[1])
        XCTAssertEqual(Array(group.makeIterator()).count, 2)
        XCTAssertTrue(group.nextReactor() === group.reactors[0])
        let names = threadNames()
        XCTAssertTrue(names.contains("proxyd-dp-g0") && names.contains("proxyd-dp-g1"), "\(names)")
        try group.syncShutdownGracefully()
    }

    // MARK: Helpers

    private func makeSocketPair() throws -> (CInt, CInt) {
        var pair: [CInt] = [0, 0]
        guard socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue),
                         0, &pair) == 0 else {
            throw SocketCallError.failed(call: "socketpair", errno: errno)
        }
        return (pair[0], pair[1])
    }

    private func receiveBlocking(_ fd: CInt, into buffer: inout [UInt8]) throws -> Int {
        for _ in 0..<500 {
            if let count = try buffer.withUnsafeMutableBytes({ try SocketCalls.receive(fd, into: $0) }) {
                return count
            }
            usleep(10_000)
        }
        XCTFail("nothing received in 5 s")
        return 0
    }

    private func openDescriptors() -> Set<String> {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        var names = Set<String>()
        while let entry = readdir(directory) {
            names.insert(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        names.remove(String(dirfd(directory)))
        return names
    }

    private func describeDescriptor(_ name: String) -> String {
        var target = [CChar](repeating: 0, count: 256)
        let length = readlink("/proc/self/fd/\(name)", &target, 255)
        return "\(name) → " + (length > 0 ? String(cString: target) : "?")
    }

    private func threadNames() -> [String] {
        guard let directory = opendir("/proc/self/task") else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let id = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard id.first?.isNumber == true else { continue }
            names.append(readFirstLine("/proc/self/task/\(id)/comm"))
        }
        return names
    }
}

// MARK: Test handlers

/// RLIMIT_NOFILE is imported as an enum case on Glibc; the calls take its raw value.
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

private func readFirstLine(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, 128, file) != nil else { return "" }
    var text = String(cString: line)
    if text.hasSuffix("\n") { text.removeLast() }
    return text
}

private final class ManagedCounter: @unchecked Sendable {
    private let box = NIOLockedValueBox(0)
    func increment() { box.withLockedValue { $0 += 1 } }
    var value: Int { box.withLockedValue { $0 } }
}

/// Records every event mask it gets; a test thread waits for one that matches.
private final class EventRecorder: DescriptorHandler, @unchecked Sendable {
    private let condition = ConditionLock(value: 0)
    private var events: [UInt32] = []

    func descriptorReady(_ events: UInt32) {
        condition.lock()
        self.events.append(events)
        condition.unlock(withValue: self.events.count)
    }

    var all: [UInt32] {
        condition.lock()
        defer { condition.unlock() }
        return events
    }

    func waitFor(count: Int = 1, _ matches: (UInt32) -> Bool) -> Bool {
        for _ in 0..<500 {
            if all.filter(matches).count >= count { return true }
            usleep(10_000)
        }
        return false
    }
}

/// Accepts in bounded batches, as a listener's handler on the data path will.
private final class Acceptor: DescriptorHandler, @unchecked Sendable {
    private let box = NIOLockedValueBox<[CInt]>([])

    let listenFD: CInt
    let batch: Int
    init(listenFD: CInt, batch: Int = 64) {
        self.listenFD = listenFD
        self.batch = batch
    }

    func descriptorReady(_ events: UInt32) {
        for _ in 0..<batch {
            guard let fd = try? SocketCalls.acceptConnection(listenFD) else { return }
            box.withLockedValue { $0.append(fd) }
        }
    }

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

/// Shared by two handlers: whichever sees input first closes the other's descriptor and
/// opens an eventfd in its place.
private final class SwapOnInput: @unchecked Sendable {
    let reactor: Reactor
    let successor: EventRecorder
    let done = DispatchSemaphore(value: 0)
    var victimFD: CInt = -1
    var successorFD: CInt = -2

    init(reactor: Reactor, successor: EventRecorder) {
        self.reactor = reactor
        self.successor = successor
    }

    final class Handler: DescriptorHandler {
        let swap: SwapOnInput
        let victim: CInt
        init(swap: SwapOnInput, victim: CInt) {
            self.swap = swap
            self.victim = victim
        }

        func descriptorReady(_ events: UInt32) {
            guard events & ReactorEvent.readable != 0, swap.victimFD < 0 else { return }
            swap.victimFD = victim
            swap.reactor.close(victim)
            swap.successorFD = eventfd(0, CInt(EFD_NONBLOCK) | CInt(EFD_CLOEXEC))
            try! swap.reactor.register(swap.successorFD, handler: swap.successor)
            swap.done.signal()
        }
    }
}

/// The reactor's timer heap alone: order, cancellation anywhere in the heap, stale handles.
final class ReactorTimersTests: XCTestCase {
    func testRandomSchedulesAndCancelsPopInDeadlineOrder() {
        var timers = ReactorTimers()
        var random: UInt64 = 0x9E37_79B9_7F4A_7C15
        func nextRandom() -> UInt64 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return random >> 33
        }
        var fired: [(deadline: UInt64, id: Int)] = []
        var handles: [(handle: ReactorTimers.Handle, deadline: UInt64, id: Int)] = []
        for id in 0..<2_000 {
            let deadline = nextRandom() % 500  // many equal deadlines
            let handle = timers.schedule(deadline: deadline) { due in
                XCTAssertTrue(due)
                fired.append((deadline, id))
            }
            handles.append((handle, deadline, id))
        }
        var cancelled = Set<Int>()
        for entry in handles where nextRandom() % 2 == 0 {
            XCTAssertTrue(timers.cancel(entry.handle))
            XCTAssertFalse(timers.cancel(entry.handle), "a second cancel found the timer again")
            cancelled.insert(entry.id)
        }
        XCTAssertEqual(timers.count, 2_000 - cancelled.count)

        // Nothing is due before the earliest deadline; everything by the last.
        let earliest = timers.earliestDeadline!
        if earliest > 0 { XCTAssertNil(timers.popDue(now: earliest - 1, sequenceLimit: .max)) }
        while let body = timers.popDue(now: 1_000, sequenceLimit: .max) { body(true) }
        XCTAssertTrue(timers.isEmpty)
        XCTAssertEqual(Set(fired.map(\.id)), Set(0..<2_000).subtracting(cancelled))
        for (earlier, later) in zip(fired, fired.dropFirst()) {
            XCTAssertTrue(earlier.deadline < later.deadline
                          || (earlier.deadline == later.deadline && earlier.id < later.id),
                          "\(earlier) fired before \(later)")
        }

        // A handle of a timer that already ran does not cancel the slot's next timer.
        let reused = timers.schedule(deadline: 5) { _ in }
        XCTAssertFalse(timers.cancel(handles[0].handle))
        XCTAssertEqual(timers.count, 1)
        XCTAssertTrue(timers.cancel(reused))
    }

    func testTimersAddedWhileRunningWaitForTheNextRound() {
        var timers = ReactorTimers()
        _ = timers.schedule(deadline: 1) { _ in }
        let limit = timers.nextSequence
        _ = timers.schedule(deadline: 0) { _ in }  // as if scheduled by the running timer
        XCTAssertNil(timers.popDue(now: 10, sequenceLimit: limit), "a timer from this round ran in it")
        XCTAssertNotNil(timers.popDue(now: 10, sequenceLimit: .max))
    }
}
