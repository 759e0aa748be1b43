import Atomics
import CLinux
import Dispatch
import Glibc
import NIOConcurrencyHelpers
import NIOCore

/// The owner of a descriptor registered in a `Reactor`. Called on the reactor's thread
/// with the raw epoll bits (`ReactorEvent`); for an edge-triggered descriptor it must
/// read or write until EAGAIN, since the same readiness is not reported twice.
protocol DescriptorHandler: AnyObject {
    func descriptorReady(_ events: UInt32)
}

/// The owner of a listener whose connections the kernel accepts (io_uring accept
/// requests, `Reactor.registerAcceptor`). Called on the reactor's thread.
protocol AcceptCompletionHandler: AnyObject {
    /// A new connection, non-blocking and close-on-exec, and its peer's address; the
    /// handler owns it.
    func connectionAccepted(_ fd: CInt, remote: SocketAddress?)
    /// Accepting stopped on this error (out of descriptors or memory, usually); the
    /// listener stays paused until `resumeListener`.
    func acceptStopped(_ error: CInt)
}

/// epoll's event bits as `DescriptorHandler.descriptorReady` receives them.
enum ReactorEvent {
    static let readable: UInt32 = EPOLLIN.rawValue
    static let writable: UInt32 = EPOLLOUT.rawValue
    /// The peer shut down its side (read EOF pending).
    static let readHangUp: UInt32 = EPOLLRDHUP.rawValue
    /// Both directions are gone (reset, or both sides shut down).
    static let hangUp: UInt32 = EPOLLHUP.rawValue
    /// A pending socket error (SO_ERROR says which).
    static let error: UInt32 = EPOLLERR.rawValue
}

/// One event loop on one thread over raw descriptors (issue 13, data path v2): one
/// epoll (or one io_uring: `IOBackend`, `UringPoller`), an eventfd for wake-ups from other threads, a timer heap, and a table of
/// descriptor handlers indexed by fd. It is an NIO `EventLoop`, so futures, promises,
/// `scheduleTask` and `scheduleCallback` work on it unchanged, but it owns no channels:
/// connections register their descriptors and get raw readiness bits.
///
/// The path of an event allocates nothing: `epoll_wait` fills a buffer made once, the
/// handler is found by fd in a ContiguousArray, and the call is a protocol call.
final class Reactor: EventLoop, CustomStringConvertible, @unchecked Sendable {
    let name: String

    /// -1 when the reactor runs on io_uring.
    private let epollFD: CInt
    /// Set when the reactor runs on io_uring: it replaces epoll entirely.
    let uring: UringPoller?  // internal for the io_uring side
    let wakeFD: CInt
    private static let maxEventsPerWait = 256
    private let events: UnsafeMutablePointer<epoll_event>
    /// The `data.u64` of the eventfd's registration; descriptors use generation << 32 | fd,
    /// and no generation reaches this value with a valid fd below 2^32 - 1.
    static let wakeToken = UInt64.max

    // MARK: State shared with other threads (under `queueLock`)

    private let queueLock = NIOLock()
    private var remoteTasks = ContiguousArray<@Sendable () -> Void>()
    /// An eventfd write is on its way: more tasks do not write again until the loop drains.
    private var wakePending = false
    /// Set once the loop has run its last task: later tasks are dropped, the eventfd is closed.
    private var queueClosed = false
    private var stopRequestedRemotely = false
    private var shutdownCallbacks: [(DispatchQueue, @Sendable (Error?) -> Void)] = []

    /// created → running → stopped, for `start()` and `stop()` to wait on.
    private let lifecycle = ConditionLock(value: Lifecycle.created)
    private enum Lifecycle { case created, running, stopped }

    // MARK: Loop-thread state

    /// Tasks the loop gave itself: no lock, no wake-up.
    private var localTasks = ContiguousArray<@Sendable () -> Void>()
    /// The batch being run; swapped with a queue so neither array is reallocated.
    private var runningTasks = ContiguousArray<@Sendable () -> Void>()
    var timers = ReactorTimers()  // Reactor+Timers.swift too
    var descriptors = ContiguousArray<DescriptorSlot>()  // internal for the io_uring side
    var stopping = false
    /// Events for a descriptor closed earlier in the same batch (loop thread; for tests).
    var staleEventsDropped = 0

    struct DescriptorSlot {
        var handler: DescriptorHandler?
        /// Bumped at each registration of this fd number: an event carrying an older
        /// generation belongs to a descriptor closed since, and is dropped.
        var generation: UInt32 = 0
        var isListener = false
        /// io_uring only: a listener whose connections the kernel accepts…
        var acceptHandler: AcceptCompletionHandler?
        /// …and whether its requests (accepts, or a listener's one-shot poll) should be
        /// in the kernel now: false while paused, so a cancelled request is not re-armed.
        var armed = false
        /// The addresses its accept requests write, one per request…
        var acceptPeers: UnsafeMutablePointer<clinux_accept_address>?
        /// …and which of them are in the kernel (bit i: request i), so that a request is
        /// never armed twice on one address, even when a pause and a resume come between
        /// a completion and the round that reads it.
        var acceptsInFlight: UInt32 = 0
        /// io_uring with receives and sends in the ring: the connection they complete to
        /// (Reactor+RingIO.swift).
        var ringHandler: RingIOHandler?
    }

    /// Which backend this reactor runs on (IOBackend.selected unless a test says).
    let backend: IOBackend

    /// `ringIO`: receives and sends in the ring on io_uring; nil (the default) takes
    /// the environment's choice (IOBackend.ringIO, probed only if io_uring is used),
    /// `.some(nil)` keeps them as calls.
    init(name: String, backend requested: IOBackend = IOBackend.selected.backend,
         ringIO: RingIOSettings?? = nil) {
        self.name = name
        let wakeFD = eventfd(0, CInt(EFD_NONBLOCK) | CInt(EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed: errno \(errno)")
        if requested == .uring, let uring = UringPoller(ringIO: ringIO ?? IOBackend.ringIO.settings) {
            // Edge-triggered is enough: every eventfd write is a wake-up of its own.
            uring.poll(wakeFD, events: EPOLLIN.rawValue, token: Self.wakeToken, oneShot: false)
            self.uring = uring
            self.epollFD = -1
            self.backend = .uring
        } else {
            let epollFD = epoll_create1(CInt(EPOLL_CLOEXEC))
            precondition(epollFD >= 0, "epoll_create1 failed: errno \(errno)")
            var registration = epoll_event()
            registration.events = EPOLLIN.rawValue  // level-triggered: read once per wake-up
            registration.data.u64 = Self.wakeToken
            precondition(epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &registration) == 0,
                         "epoll_ctl(eventfd) failed: errno \(errno)")
            self.uring = nil
            self.epollFD = epollFD
            self.backend = .epoll
        }
        self.wakeFD = wakeFD
        self.events = .allocate(capacity: Self.maxEventsPerWait)
        self.events.initialize(repeating: epoll_event(), count: Self.maxEventsPerWait)
    }

    deinit {
        events.deallocate()
        // Never started: nothing else closed them.
        if lifecycle.value == .created {
            if epollFD >= 0 { Glibc.close(epollFD) }
            uring?.close()
            Glibc.close(wakeFD)
        }
    }

    // MARK: Thread

    /// Spawns the loop's thread (detached, named after the reactor: Linux keeps 15
    /// characters) and returns once it runs.
    func start() {
        precondition(lifecycle.value == .created, "Reactor \(name) started twice")

        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, CInt(PTHREAD_CREATE_DETACHED))
        defer { pthread_attr_destroy(&attributes) }
        // The thread holds the reactor until it exits.
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { context in
            let reactor = Unmanaged<Reactor>.fromOpaque(context!).takeRetainedValue()
            reactor.threadMain()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed: \(result)")
        lifecycle.lock(whenValue: .running)
        lifecycle.unlock()
    }

    private func threadMain() {
        pthread_setname_np(pthread_self(), String(decoding: name.utf8.prefix(15), as: UTF8.self))
        pthread_setspecific(currentReactorKey, Unmanaged.passUnretained(self).toOpaque())
        lifecycle.lock()
        lifecycle.unlock(withValue: .running)

        run()
        finishShutdown()

        pthread_setspecific(currentReactorKey, nil)
        lifecycle.lock()
        lifecycle.unlock(withValue: .stopped)
    }

    var description: String { "Reactor(\(name))" }

    var inEventLoop: Bool {
        pthread_getspecific(currentReactorKey) == Unmanaged.passUnretained(self).toOpaque()
    }

    // MARK: The loop

    private func run() {
        if let uring {
            runOnUring(uring)
            return
        }
        while !stopping {
            let ready = epoll_wait(epollFD, events, CInt(Self.maxEventsPerWait), waitTimeout())
            if ready < 0 {
                precondition(errno == EINTR, "epoll_wait failed: errno \(errno)")
                continue
            }
            for index in 0..<Int(ready) {
                dispatch(events[index])
            }
            afterEvents?()
            runDueTimers()
            runQueuedTasks()
            // Work the timers and tasks postponed runs before the next wait.
            afterEvents?()
        }
    }

    // The io_uring side (Reactor+Uring.swift) shares the state marked "internal for the
    // io_uring side": loop-thread only, like the rest.
    var cachedDescriptorLimit = CInt.max
    var limitReadAt: UInt64 = 0
    /// Addresses of listeners dropped since the start: a request cancelled late could
    /// still write one, so they go with the ring.
    var retiredAcceptPeers: [UnsafeMutablePointer<clinux_accept_address>] = []
    /// Connections closed with a send in flight, kept until its completion (Reactor+RingIO).
    var sendersAfterClose: [UInt64: RingIOHandler] = [:]

    static let connectionEvents = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue

    /// Runs after each round's events and again after its timers and tasks (data path
    /// v2's postponed reads and closes, NativeLoopContext). Set on the loop thread.
    var afterEvents: (() -> Void)?

    @inline(__always)
    private func dispatch(_ event: epoll_event) {
        let token = event.data.u64
        if token == Self.wakeToken {
            var counter: UInt64 = 0
            _ = Glibc.read(wakeFD, &counter, MemoryLayout<UInt64>.size)
            return
        }
        let fd = Int(UInt32(truncatingIfNeeded: token))
        guard fd < descriptors.count, descriptors[fd].generation == UInt32(truncatingIfNeeded: token >> 32),
              let handler = descriptors[fd].handler else {
            staleEventsDropped &+= 1
            return
        }
        handler.descriptorReady(event.events)
    }

    /// `waitTimeout` in nanoseconds, for io_uring's timed wait.
    func waitTimeoutNanoseconds() -> Int64 {
        if !localTasks.isEmpty { return 0 }
        guard let deadline = timers.earliestDeadline else { return -1 }
        let now = NIODeadline.now().uptimeNanoseconds
        guard deadline > now else { return 0 }
        return Int64(clamping: deadline - now)
    }

    /// Milliseconds until the earliest timer, rounded up so that a timer never fires early;
    /// 0 when the loop already has work, -1 (forever) when nothing is scheduled.
    private func waitTimeout() -> CInt {
        if !localTasks.isEmpty { return 0 }
        guard let deadline = timers.earliestDeadline else { return -1 }
        let now = NIODeadline.now().uptimeNanoseconds
        guard deadline > now else { return 0 }
        let milliseconds = (deadline - now + 999_999) / 1_000_000
        return CInt(clamping: milliseconds)
    }

    /// At most this many timers run between two waits (HAProxy's `tune.runqueue-depth`,
    /// 200 by default): a wave of connections timing out together (thousands of slowloris
    /// clients cut at once) must not hold back the sockets that are ready meanwhile. The
    /// timers left are still due, so the next wait does not sleep.
    static let maxTimersPerRound = 200

    func runDueTimers() {
        guard !timers.isEmpty else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        let limit = timers.nextSequence
        var ran = 0
        while ran < Self.maxTimersPerRound, let body = timers.popDue(now: now, sequenceLimit: limit) {
            body(true)
            ran += 1
        }
    }

    /// Runs the tasks queued so far (from this thread and others); tasks they queue wait
    /// for the next round, after the next `epoll_wait` (with a zero timeout).
    func runQueuedTasks() {
        if !localTasks.isEmpty {
            swap(&localTasks, &runningTasks)
            runTaskBatch()
        }
        queueLock.lock()
        wakePending = false
        if stopRequestedRemotely { stopping = true }
        if remoteTasks.isEmpty {
            queueLock.unlock()
            return
        }
        swap(&remoteTasks, &runningTasks)
        queueLock.unlock()
        runTaskBatch()
    }

    private func runTaskBatch() {
        for task in runningTasks { task() }
        runningTasks.removeAll(keepingCapacity: true)
    }

    // MARK: EventLoop

    func execute(_ task: @escaping @Sendable () -> Void) {
        if inEventLoop {
            localTasks.append(task)
            return
        }
        queueLock.lock()
        defer { queueLock.unlock() }
        // After the last round the task has no thread left to run on.
        guard !queueClosed else { return }
        remoteTasks.append(task)
        wake()
    }

    /// Under `queueLock`: writing while holding it means the eventfd cannot be closed
    /// (and its number reused) between the decision and the write.
    private func wake() {
        guard !wakePending else { return }
        wakePending = true
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, MemoryLayout<UInt64>.size)
    }

    // Scheduled callbacks from other threads (Reactor+Timers.swift): loop-side state.
    static let localCallback: UInt64 = 1 << 63
    let nextRemoteCallback = ManagedAtomic<UInt64>(0)
    /// Loop-thread only.
    var remoteCallbacks: [UInt64: ReactorTimers.Handle] = [:]
    /// Callbacks scheduled from another thread whose scheduling has not reached the loop
    /// yet, and those of them cancelled meanwhile. Both under `remoteLock`.
    let remoteLock = NIOLock()
    var pendingRemoteCallbacks: Set<UInt64> = []
    var cancelledRemoteCallbacks: Set<UInt64> = []

    // MARK: Shutdown

    /// Stops the loop after the tasks already queued; the callback runs on `queue` once
    /// the thread has closed its epoll and eventfd.
    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable (Error?) -> Void) {
        let neverStarted = lifecycle.value == .created
        queueLock.lock()
        if queueClosed || neverStarted {
            queueLock.unlock()
            queue.async { callback(nil) }
            return
        }
        shutdownCallbacks.append((queue, callback))
        stopRequestedRemotely = true
        wake()
        queueLock.unlock()
    }

    /// Stops the loop and waits for its thread to finish. Not from the loop itself.
    func stop() {
        precondition(!inEventLoop, "Reactor.stop() called on its own thread")
        guard lifecycle.value != .created else { return }
        queueLock.lock()
        if !queueClosed {
            stopRequestedRemotely = true
            wake()
        }
        queueLock.unlock()
        lifecycle.lock(whenValue: .stopped)
        lifecycle.unlock()
    }

    /// On the loop thread after the last round: fail the timers (their failures may queue
    /// more tasks), run what is queued until it settles, close the queue, drop and close
    /// every registered descriptor, then the epoll and the eventfd.
    private func finishShutdown() {
        var rounds = 0
        repeat {
            for body in timers.removeAll() { body(false) }
            runQueuedTasks()
            rounds += 1
        } while (!localTasks.isEmpty || !timers.isEmpty || hasRemoteTasks()) && rounds < 1000

        queueLock.lock()
        queueClosed = true
        let callbacks = shutdownCallbacks
        shutdownCallbacks = []
        queueLock.unlock()
        // Tasks that arrived between the last round and the closing.
        runQueuedTasks()
        localTasks.removeAll()

        if let uring {
            // Accepts cancelled now, before their addresses are freed below (closing the
            // ring cancels what is left, but in a kernel worker, later).
            for fd in descriptors.indices where descriptors[fd].acceptHandler != nil { cancelListener(fd, uring: uring) }
            uring.submitNow()
        }
        for fd in descriptors.indices where descriptors[fd].handler != nil || descriptors[fd].acceptHandler != nil {
            descriptors[fd].handler = nil
            descriptors[fd].acceptHandler = nil
            Glibc.close(CInt(fd))
        }
        if epollFD >= 0 { Glibc.close(epollFD) }
        // Closing the ring cancels its requests, which releases the files they held.
        uring?.close()
        for fd in descriptors.indices { retireAcceptPeers(fd) }
        for peers in retiredAcceptPeers { peers.deallocate() }
        retiredAcceptPeers = []
        Glibc.close(wakeFD)
        for (queue, callback) in callbacks {
            queue.async { callback(nil) }
        }
    }

    private func hasRemoteTasks() -> Bool {
        queueLock.withLock { !remoteTasks.isEmpty }
    }

    // MARK: Descriptors (loop thread only)

    /// Registers a connection's descriptor, edge-triggered for input, output and the
    /// peer's shutdown: the one `epoll_ctl` of its life. The reactor keeps `handler`
    /// until `close(fd)`.
    func register(_ fd: CInt, handler: DescriptorHandler) throws {
        try add(fd, handler: handler,
                events: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
                isListener: false)
    }

    /// Registers a listening socket, level-triggered for input: an accept loop takes a
    /// bounded batch per event and is called again for the rest.
    func registerListener(_ fd: CInt, handler: DescriptorHandler) throws {
        try add(fd, handler: handler, events: EPOLLIN.rawValue, isListener: true)
    }

    /// Stops reporting a listener's pending connections (maxconn reached).
    func pauseListener(_ fd: CInt) throws {
        if let uring {
            let index = checkedListener(fd)
            guard descriptors[index].armed else { return }
            descriptors[index].armed = false
            cancelListener(index, uring: uring)
            // Now, as EPOLL_CTL_MOD would: a connection arriving after this call waits.
            uring.submitNow()
            return
        }
        try modifyListener(fd, events: 0)
    }

    func resumeListener(_ fd: CInt) throws {
        if uring != nil {
            let index = checkedListener(fd)
            guard !descriptors[index].armed else { return }
            descriptors[index].armed = true
            armListener(index)
            return
        }
        try modifyListener(fd, events: EPOLLIN.rawValue)
    }

    /// Forgets a listener without closing its socket, which other reactors may still
    /// watch: EPOLL_CTL_DEL, the one case that needs it (a closed descriptor leaves epoll
    /// only once every copy is closed).
    func unregisterListener(_ fd: CInt) {
        assert(inEventLoop, "Reactor.unregisterListener outside its loop")
        let index = Int(fd)
        guard index >= 0, index < descriptors.count,
              descriptors[index].handler != nil || descriptors[index].acceptHandler != nil else { return }
        if let uring {
            cancelListener(index, uring: uring)
            uring.submitNow()
            retireAcceptPeers(index)
        } else {
            _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        }
        descriptors[index].handler = nil
        descriptors[index].acceptHandler = nil
        descriptors[index].isListener = false
        descriptors[index].armed = false
    }

    /// Forgets the handler and closes the descriptor; closing removes it from the epoll
    /// set, so no EPOLL_CTL_DEL. An event for it still in this round's batch is dropped
    /// by the generation check, even if the fd number is registered again meanwhile.
    func close(_ fd: CInt) {
        assert(inEventLoop, "Reactor.close outside its loop")
        let index = Int(fd)
        if index >= 0 && index < descriptors.count {
            if let uring, descriptors[index].handler != nil || descriptors[index].acceptHandler != nil {
                // The request holds the file: the socket really closes once cancelled.
                if descriptors[index].isListener {
                    cancelListener(index, uring: uring)
                    retireAcceptPeers(index)
                } else {
                    uring.cancel(UringPoller.token(kind: .poll, generation: descriptors[index].generation, fd: fd))
                    if descriptors[index].ringHandler != nil {
                        // Sends or a receive for this fd may still wait to be submitted:
                        // its number must stay taken until they are (Reactor+RingIO).
                        descriptors[index].handler = nil
                        descriptors[index].ringHandler = nil
                        uring.closeInRing(fd)
                        return
                    }
                }
            }
            descriptors[index].handler = nil
            descriptors[index].acceptHandler = nil
            descriptors[index].isListener = false
            descriptors[index].armed = false
        }
        Glibc.close(fd)
    }

    /// Whether a handler is registered for `fd` (for tests and assertions).
    func isRegistered(_ fd: CInt) -> Bool {
        Int(fd) < descriptors.count && (descriptors[Int(fd)].handler != nil || descriptors[Int(fd)].acceptHandler != nil)
    }

    /// A fresh slot for `fd` with the next generation; the caller fills it.
    func claimSlot(_ fd: CInt) -> Int {
        assert(inEventLoop, "Reactor.register outside its loop")
        precondition(fd >= 0, "register of a negative descriptor")
        let index = Int(fd)
        if index >= descriptors.count {
            let newCount = Swift.max(index + 1, descriptors.count * 2, 64)
            descriptors.append(contentsOf: repeatElement(DescriptorSlot(), count: newCount - descriptors.count))
        }
        precondition(descriptors[index].handler == nil && descriptors[index].acceptHandler == nil,
                     "fd \(fd) registered twice")
        descriptors[index] = DescriptorSlot(generation: descriptors[index].generation &+ 1)
        return index
    }

    private func add(_ fd: CInt, handler: DescriptorHandler, events: UInt32, isListener: Bool) throws {
        if uring != nil {
            let index = claimSlot(fd)
            descriptors[index].handler = handler
            descriptors[index].isListener = isListener
            if isListener {
                descriptors[index].armed = true
                armListener(index)
            } else {
                if let ringHandler = handler as? RingIOHandler, ringHandler.readsInRing {
                    descriptors[index].ringHandler = ringHandler
                }
                uring!.poll(fd, events: pollEvents(index),
                            token: UringPoller.token(kind: .poll, generation: descriptors[index].generation, fd: fd),
                            oneShot: false)
            }
            return
        }
        assert(inEventLoop, "Reactor.register outside its loop")
        precondition(fd >= 0, "register of a negative descriptor")
        let index = Int(fd)
        if index >= descriptors.count {
            let newCount = Swift.max(index + 1, descriptors.count * 2, 64)
            descriptors.append(contentsOf: repeatElement(DescriptorSlot(), count: newCount - descriptors.count))
        }
        precondition(descriptors[index].handler == nil, "fd \(fd) registered twice")
        let generation = descriptors[index].generation &+ 1
        var registration = epoll_event()
        registration.events = events
        registration.data.u64 = UInt64(generation) << 32 | UInt64(UInt32(fd))
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &registration) == 0 else {
            throw SocketCallError.failed(call: "epoll_ctl", errno: errno)
        }
        descriptors[index] = DescriptorSlot(handler: handler, generation: generation, isListener: isListener)
    }

    private func modifyListener(_ fd: CInt, events: UInt32) throws {
        assert(inEventLoop, "Reactor listener change outside its loop")
        let index = Int(fd)
        precondition(index < descriptors.count && descriptors[index].isListener,
                     "fd \(fd) is not a registered listener")
        var registration = epoll_event()
        registration.events = events
        registration.data.u64 = UInt64(descriptors[index].generation) << 32 | UInt64(UInt32(fd))
        guard epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &registration) == 0 else {
            throw SocketCallError.failed(call: "epoll_ctl", errno: errno)
        }
    }
}

/// The reactor running on the current thread, if any (`Reactor.inEventLoop`). A key
/// rather than a pthread_self comparison: a thread id can be reused after a loop exits.
private let currentReactorKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
    return key
}()
