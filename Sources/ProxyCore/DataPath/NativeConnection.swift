#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// A connection of data path v2: a non-blocking socket driven by its reactor's epoll,
/// edge-triggered, registered once for its whole life. It is the `SessionTransport` a
/// session talks through, client or server side.
///
/// Reading: an edge marks the socket readable; a read the session asked for runs then,
/// or, when the socket was already readable, at the end of the current event (never
/// inside the session's own call, which NIO's channels never did either). A read that
/// fills less than the scratch buffer drained the socket, so no extra `read` has to
/// find `EAGAIN`. Writing: straight to the socket at `flush`; what the socket cannot
/// take waits for the next EPOLLOUT edge.
///
/// On io_uring with receives and sends in the ring (`readsInRing`), the reads and
/// writes go through NativeConnection+Ring.swift instead: same promises to the session.
final class NativeConnection: SessionTransport, RingIOHandler, DeferredWork {
    var events: TransportEvents?
    let reactor: Reactor
    unowned let context: NativeLoopContext
    private(set) var descriptor: CInt
    /// Receives and sends run in the reactor's io_uring (NativeConnection+Ring.swift),
    /// until a splice takes the connection back to readiness and calls.
    var readsInRing: Bool

    enum State { case connecting, open, closed }
    var state: State
    /// The socket may hold bytes we have not read (an edge came since the last short read).
    var readable = false
    /// The session asked for a read.
    var readRequested = false
    /// The peer shut its side (EPOLLRDHUP/EPOLLHUP came): after the bytes still queued, a
    /// read finds the end at once, and no further edge will say so.
    private var peerHungUp = false
    var queuedForRead = false
    var inputClosed = false
    /// Writes queued since the last flush, and those the socket could not take yet (in
    /// the ring: also those of the send in flight, which the kernel reads until its
    /// completion).
    var pending: [ByteBuffer] = []
    var pendingBytes = 0
    /// The socket was full: the rest waits for EPOLLOUT.
    private var waitingForWritable = false
    private(set) var isWritable = true
    /// `closeOutput` asked while writes were pending: shut down once they are out.
    var shutdownAfterWrites = false
    /// `closeAfterWrites`: the close waits for the queue to empty, bounded by this timer.
    var closesAfterWrites = false
    var closeTimer: ReactorTimers.Handle?
    /// In the ring: what came while the session did not ask (its receive is cancelled
    /// then, so at most what was already on its way lands here), and how the input ended
    /// (0, or -errno), told once the session asks again.
    var held: ByteBuffer?
    var heldEnd: Int32?
    var receive = RingReceive.idle
    /// In the ring: a send is in the kernel; `pending` holds its bytes.
    var sendInFlight = false
    /// In the ring: the sendmsg header and vectors of a send of several buffers, made at
    /// the first such send.
    var sendMessage: UnsafeMutablePointer<msghdr>?
    /// Ends to tell the session at the end of the current event.
    private var closedToReport = false
    var failed = false
    /// Completion of a connect in progress (server side).
    private var onConnected: ((CInt) -> Void)?
    /// The connect's deadline (`timeout connect`): see `connect(to:context:timeout:completion:)`.
    var connectTimer: ReactorTimers.Handle?
    /// Kernel splicing (SplicePump): this connection's input goes through `spliceOut` to
    /// another connection; `spliceIn` brings another's input to this one's output.
    private var spliceOut: SplicePump?
    private var spliceIn: SplicePump?

    private var remote: SocketAddress?
    private var local: SocketAddress?

    /// NIO's defaults: unwritable above 64 KiB pending, writable again below 32 KiB.
    static let highWater = 65536
    static let lowWater = 32768

    /// An accepted connection; `remote` is what accept4 gave, `local` the listener's
    /// address when it is bound to one (nil for a wildcard: asked when needed).
    init(accepted fd: CInt, remote: SocketAddress?, local: SocketAddress?, context: NativeLoopContext) {
        self.descriptor = fd
        self.reactor = context.reactor
        self.context = context
        self.remote = remote
        self.local = local
        self.state = .open
        self.readsInRing = context.reactor.receivesInRing
    }

    /// A connect in progress (EINPROGRESS) to `remote`; `completion` gets 0 or an errno.
    init(connecting fd: CInt, remote: SocketAddress, context: NativeLoopContext,
         completion: @escaping (CInt) -> Void) {
        self.descriptor = fd
        self.reactor = context.reactor
        self.context = context
        self.remote = remote
        self.state = .connecting
        self.onConnected = completion
        self.readsInRing = context.reactor.receivesInRing
    }

    deinit { freeSendMessage() }

    var eventLoop: EventLoop { reactor }
    /// The peer shut its side or reset: a hang-up came, or a read found the end.
    var peerClosed: Bool { peerHungUp || inputClosed }
    var isActive: Bool { state == .open }
    var tls: TLSEngine? { nil }
    /// The reactor's shared state, for a transport layered on this one (TLSTransport).
    var loopContext: NativeLoopContext { context }

    var remoteAddress: SocketAddress? {
        if remote == nil, state != .closed { remote = NativeSyscalls.peerAddress(descriptor) }
        return remote
    }

    var localAddress: SocketAddress? {
        if local == nil, state != .closed { local = NativeSyscalls.localAddress(descriptor) }
        return local
    }

    // MARK: - Events from the reactor

    func descriptorReady(_ events: UInt32) {
        if state == .connecting {
            guard events & (EPOLLOUT_ | EPOLLERR_ | EPOLLHUP_) != 0 else { return }
            // Writable without an error: connected, no SO_ERROR call needed.
            let failed = events & (EPOLLERR_ | EPOLLHUP_) != 0
            // A server that speaks first (SMTP, MySQL) may have sent its banner before a
            // busy loop saw the connect: the same edge says so, and no later one will.
            if !failed, events & (EPOLLIN_ | EPOLLRDHUP_) != 0 {
                readable = true
                if events & EPOLLRDHUP_ != 0 { peerHungUp = true }
            }
            finishConnect(failed: failed)
            return
        }
        guard state == .open, !readsInRing else { return }
        // An error (a reset) is found by the next read or write, after the bytes that came
        // before it: a server that answers, then resets, is heard out first.
        if events & (EPOLLERR_ | EPOLLRDHUP_ | EPOLLHUP_) != 0 { peerHungUp = true }
        if events & (EPOLLIN_ | EPOLLERR_ | EPOLLRDHUP_ | EPOLLHUP_) != 0 {
            readable = true
            if readRequested { performRead() }
        }
        if events & (EPOLLOUT_ | EPOLLERR_) != 0, waitingForWritable, state == .open {
            waitingForWritable = false
            writePending()
        }
    }

    private func finishConnect(failed: Bool) {
        var error: CInt = 0
        if failed {
            error = NativeSyscalls.pendingError(descriptor)
            if error == 0 { error = ECONNREFUSED }  // a hang-up with no error recorded
        }
        if error == 0 {
            state = .open
        }
        endConnect(error)
    }

    /// The connect ended without an answer from the socket (its deadline passed).
    func failConnect(_ error: CInt) {
        guard state == .connecting else { return }
        endConnect(error)
    }

    private func endConnect(_ error: CInt) {
        let completion = onConnected
        onConnected = nil
        cancelConnectTimer()
        completion?(error)
    }

    /// connect() succeeded at once (a Unix socket): no edge to wait for.
    func completeConnectNow() {
        guard state == .connecting else { return }
        finishConnect(failed: false)
    }

    /// The connect timed out or was abandoned: the socket goes, nobody is told.
    func abandonConnect() {
        onConnected = nil
        cancelConnectTimer()
        guard state != .closed else { return }
        state = .closed
        reactor.close(descriptor)
    }

    private func cancelConnectTimer() {
        guard let timer = connectTimer else { return }
        connectTimer = nil
        reactor.cancelTimer(timer)
    }

    // MARK: - SessionTransport

    func read() {
        guard state == .open, !inputClosed else { return }
        readRequested = true
        if readsInRing {
            readInRing()
            return
        }
        if readable, !queuedForRead {
            queuedForRead = true
            context.later(self)
        }
    }

    func runDeferred() {
        queuedForRead = false
        if closedToReport {
            closedToReport = false
            reportClosed()
            return
        }
        if readsInRing {
            if readRequested, state == .open { deliverHeld() }
            return
        }
        if readRequested, readable, state == .open { performRead() }
    }

    private func performRead() {
        readRequested = false
        if let pump = spliceOut, pump.isOpen {
            performSplice(pump)
            return
        }
        let scratch = context.scratch
        let count = NativeSyscalls.receive(descriptor, into: scratch)
        if count > 0 {
            if count < scratch.count { readable = peerHungUp }
            var buffer = context.allocator.buffer(capacity: count)
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
            events?.transportRead(buffer)
            events?.transportReadComplete()
        } else if count == 0 {
            readable = false
            inputClosed = true
            events?.transportInputClosed()
        } else if count == -EAGAIN_ {
            readable = false
            readRequested = true  // still wanted: the next edge reads
        } else {
            fail()
        }
    }

    func write(_ buffer: ByteBuffer) {
        guard state != .closed, buffer.readableBytes > 0 else { return }
        pending.append(buffer)
        pendingBytes += buffer.readableBytes
        // Counted at the write, as NIO does: a socket waiting for EPOLLOUT must stop the
        // other side's reads however the session flushes.
        if isWritable, pendingBytes > Self.highWater { isWritable = false }
    }

    func flush() {
        guard state == .open, !waitingForWritable else { return }
        if readsInRing {
            if !sendInFlight { sendPendingInRing() }
            return
        }
        writePending()
    }

    func writeAndFlush(_ buffer: ByteBuffer) {
        write(buffer)
        flush()
    }

    private func writePending() {
        guard drainSplice() else { return }
        while !pending.isEmpty {
            let written = NativeSyscalls.send(descriptor, pending)
            if written < 0 {
                if written == -EAGAIN_ {
                    waitingForWritable = true
                    break
                }
                fail()
                return
            }
            consume(written)
        }
        afterWrites()
    }

    /// What follows writes that emptied (or not) the queue: the deferred shutdown, and
    /// the writability the session follows.
    func afterWrites() {
        if pending.isEmpty {
            if shutdownAfterWrites {
                shutdownAfterWrites = false
                NativeSyscalls.shutdownOutput(descriptor)
            }
            if closesAfterWrites {
                close()
                return
            }
            if !isWritable {
                isWritable = true
                events?.transportWritabilityChanged()
            }
        } else if isWritable, pendingBytes > Self.highWater {
            isWritable = false
        } else if !isWritable, pendingBytes < Self.lowWater {
            isWritable = true
            events?.transportWritabilityChanged()
        }
    }

    /// Drops `count` bytes written from the front of `pending`.
    func consume(_ count: Int) {
        pendingBytes -= count
        var left = count
        var done = 0
        while left > 0, done < pending.count {
            let size = pending[done].readableBytes
            if size <= left {
                left -= size
                done += 1
            } else {
                pending[done].moveReaderIndex(forwardBy: left)
                left = 0
            }
        }
        if done == pending.count {
            pending.removeAll(keepingCapacity: pending.count <= 4)
        } else if done > 0 {
            pending.removeFirst(done)
        }
    }

    func closeOutput() {
        guard state == .open else { return }
        if pending.isEmpty, !sendInFlight, (spliceIn?.inPipe ?? 0) == 0 {
            NativeSyscalls.shutdownOutput(descriptor)
        } else {
            shutdownAfterWrites = true
        }
    }

    func closeAfterWrites(within limit: TimeAmount) {
        guard state == .open, !closesAfterWrites else { return close() }
        if pending.isEmpty, !sendInFlight, (spliceIn?.inPipe ?? 0) == 0 { return close() }
        // The session is done with this connection: only the queue's end closes it now.
        events = nil
        closesAfterWrites = true
        shutdownAfterWrites = true
        closeTimer = reactor.runAfter(limit) { [weak self] in
            self?.closeTimer = nil
            self?.close()
        }
    }

    func close() {
        guard state != .closed else { return }
        state = .closed
        closesAfterWrites = false
        if let closeTimer {
            self.closeTimer = nil
            reactor.cancelTimer(closeTimer)
        }
        onConnected = nil
        cancelConnectTimer()
        if readsInRing {
            cancelRingRequests()
        } else {
            pending.removeAll()
        }
        pendingBytes = 0
        spliceOut?.close()
        spliceIn?.close()
        reactor.close(descriptor)
        // Told after the caller's own work, as NIO's channelInactive comes.
        closedToReport = true
        if !queuedForRead {
            queuedForRead = true
            context.later(self)
        }
    }

    // MARK: - Kernel splicing (`option splice-*`)

    /// From now on this connection's input goes to `destination` through a pipe, never
    /// through user space; the session hears only how many bytes went
    /// (`transportSpliced`). Both must be open with nothing queued: a `mode tcp` session
    /// asks right after the connect, before its first read. False when no pipe could be
    /// had: the bytes are then read and written as usual.
    @discardableResult
    func splice(into destination: NativeConnection) -> Bool {
        // Splicing works on readiness (the pipe's edges): both leave the ring first.
        guard canLeaveRing, destination.canLeaveRing,
              state == .open, destination.state == .open, spliceOut == nil, destination.spliceIn == nil,
              destination.pending.isEmpty, let pump = SplicePump(destination: destination) else { return false }
        leaveRing()
        destination.leaveRing()
        spliceOut = pump
        destination.spliceIn = pump
        return true
    }

    /// A read, spliced: socket -> pipe, then as much as the destination takes at once.
    /// Bytes still in the pipe wait for the destination's EPOLLOUT, and the destination is
    /// unwritable until then, which holds the session's next read back.
    private func performSplice(_ pump: SplicePump) {
        guard pump.inPipe == 0, let destination = pump.destination, destination.state == .open else {
            readRequested = true  // read once the destination has emptied the pipe
            return
        }
        let count = pump.fill(from: descriptor)
        if count > 0 {
            // A short splice need not have drained the socket (it stops at packet
            // bounds): `readable` stays, and the next read finds EAGAIN if it did.
            pump.inPipe = count
            events?.transportSpliced(count)
            destination.flush()
            events?.transportReadComplete()
        } else if count == 0 {
            readable = false
            inputClosed = true
            events?.transportInputClosed()
        } else if count == -EAGAIN_ {
            readable = false
            readRequested = true
        } else {
            fail()
        }
    }

    /// Moves what a spliced source left in the pipe to this socket. False while bytes
    /// remain (this connection waits for EPOLLOUT, unwritable) or after a failure.
    private func drainSplice() -> Bool {
        guard let pump = spliceIn, pump.inPipe > 0 else { return true }
        let moved = pump.drain(to: descriptor)
        if moved > 0 {
            pump.inPipe -= moved
        } else if moved != -EAGAIN_ {
            fail()
            return false
        }
        guard pump.inPipe == 0 else {
            waitingForWritable = true
            isWritable = false
            return false
        }
        return true
    }

    /// A reset or an error: the session hears of the failure, then of the close.
    func fail() {
        guard state != .closed else { return }
        failed = true
        close()
    }

    private func reportClosed() {
        let events = self.events
        self.events = nil
        if failed { events?.transportFailed() }
        events?.transportClosed()
    }
}
