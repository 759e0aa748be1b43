import CLinux
import Glibc

/// One reactor's io_uring (IOBackend.uring): the requests the reactor keeps in the
/// kernel and the one `io_uring_enter` per loop round that submits what changed and
/// waits for completions.
///
/// What it replaces: `epoll_ctl` (a registration, a pause, a removal) becomes an SQE
/// carried by the round's single enter, and `accept4` becomes accept requests kept
/// waiting on each listener, whose completions deliver the new descriptors with their
/// peers' addresses (a multishot accept cannot give addresses, and the session asks for
/// its client's at once: a `getpeername` per connection, measured in step 9). Connections
/// receive and send in the ring too (multishot recv into the provided buffers registered
/// here, sends as SQEs: Reactor+RingIO.swift, step 11) unless that is off or refused;
/// then they keep their readiness model: a multishot poll, edge-triggered, reports the
/// same bits epoll did, and `NativeConnection` reads and writes with calls.
///
/// A request holds a reference to its file: a descriptor closed while polled stays open
/// in the kernel until the request is cancelled, so `Reactor.close` always cancels (the
/// cancel runs at the next enter, at the end of the same round).
final class UringPoller {
    private let ring: UnsafeMutablePointer<clinux_uring>

    /// A request's `user_data`: kind in the top byte, then the index of an accept among
    /// its listener's, 16 bits of the descriptor slot's generation, and the descriptor.
    enum Kind: UInt64 {
        case poll = 0
        case accept = 1
        /// A cancel's or a close's own completion: nothing to do.
        case control = 2
        /// A connection's multishot receive (Reactor+RingIO).
        case receive = 3
        /// A connection's send.
        case send = 4
    }

    static func token(kind: Kind, generation: UInt32, fd: CInt, index: Int = 0) -> UInt64 {
        kind.rawValue << 56 | UInt64(UInt8(truncatingIfNeeded: index)) << 48
            | UInt64(generation & generationMask) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    static let generationMask: UInt32 = 0xFFFF
    static func kind(of token: UInt64) -> Kind? { Kind(rawValue: token >> 56) }
    static func index(of token: UInt64) -> Int { Int(UInt8(truncatingIfNeeded: token >> 48)) }
    static func generation(of token: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: token >> 32) & generationMask }
    static func descriptor(of token: UInt64) -> Int { Int(UInt32(truncatingIfNeeded: token)) }

    static let entries: UInt32 = 1024

    /// The provided buffers of this ring's receives (RingIOSettings), nil when receives
    /// and sends are system calls.
    private let receiveBuffers: UnsafeMutablePointer<clinux_buffer_ring>?

    /// Nil when the ring cannot be set up (the reactor then runs on epoll). With
    /// `ringIO`, a buffer ring is registered too; if the kernel refuses it the reactor
    /// keeps io_uring as a poller (IOBackend.ringIO probes the same before).
    init?(ringIO: RingIOSettings? = nil) {
        ring = .allocate(capacity: 1)
        guard clinux_uring_init(ring, Self.entries) == 0 else {
            ring.deallocate()
            return nil
        }
        if let ringIO, clinux_uring_probe_ring_io(ring) == 0 {
            let buffers = UnsafeMutablePointer<clinux_buffer_ring>.allocate(capacity: 1)
            if clinux_buffer_ring_setup(ring, buffers, UInt32(ringIO.bufferCount), UInt32(ringIO.bufferSize),
                                        Self.bufferGroup) == 0 {
                receiveBuffers = buffers
            } else {
                buffers.deallocate()
                receiveBuffers = nil
            }
        } else {
            receiveBuffers = nil
        }
    }

    deinit {
        clinux_uring_exit(ring)
        ring.deallocate()
        if let receiveBuffers {
            clinux_buffer_ring_free(receiveBuffers)
            receiveBuffers.deallocate()
        }
    }

    // MARK: Receives and sends in the ring

    static let bufferGroup: UInt16 = 1
    var receivesInRing: Bool { receiveBuffers != nil }

    func receive(_ fd: CInt, token: UInt64) {
        precondition(clinux_uring_recv_multishot(ring, fd, Self.bufferGroup, token) == 0, "io_uring submission queue stuck")
    }

    func send(_ fd: CInt, bytes: UnsafeRawPointer, count: Int, token: UInt64) {
        precondition(clinux_uring_send(ring, fd, bytes, count, token) == 0, "io_uring submission queue stuck")
    }

    func send(_ fd: CInt, message: UnsafePointer<msghdr>, token: UInt64) {
        precondition(clinux_uring_sendmsg(ring, fd, message, token) == 0, "io_uring submission queue stuck")
    }

    /// Closes `fd` at the next enter, after the SQEs queued before (Reactor+RingIO).
    func closeInRing(_ fd: CInt) {
        let control = Self.token(kind: .control, generation: 0, fd: 0)
        precondition(clinux_uring_close(ring, fd, control) == 0, "io_uring submission queue stuck")
    }

    /// The bytes a receive completion put in buffer `id`: valid until `recycle(id)`.
    @inline(__always)
    func receivedBytes(_ id: UInt16, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: clinux_buffer_ring_bytes(receiveBuffers!, id), count: count)
    }

    /// Hands buffer `id` back to the kernel.
    @inline(__always)
    func recycle(_ id: UInt16) {
        clinux_buffer_ring_add(receiveBuffers!, id)
        clinux_buffer_ring_publish(receiveBuffers!)
    }

    static let bufferFlag = UInt32(IORING_CQE_F_BUFFER)
    static let bufferShift: UInt32 = 16  // IORING_CQE_BUFFER_SHIFT

    /// Closes the ring: the kernel cancels every request and drops their files.
    func close() {
        clinux_uring_exit(ring)
    }

    /// Edge-triggered (or, `level`, one-shot: re-armed after each completion, which finds
    /// a still-ready descriptor at once) poll for `events`.
    func poll(_ fd: CInt, events: UInt32, token: UInt64, oneShot: Bool) {
        let result: CInt
        if oneShot {
            result = clinux_uring_poll_oneshot(ring, fd, events, token)
        } else {
            result = clinux_uring_poll_multishot(ring, fd, events, token, 0)
        }
        precondition(result == 0, "io_uring submission queue stuck")
    }

    func accept(_ fd: CInt, peer: UnsafeMutablePointer<clinux_accept_address>, token: UInt64) {
        precondition(clinux_uring_accept(ring, fd, peer, token) == 0, "io_uring submission queue stuck")
    }

    /// Cancels every request on `fd` (a listener's accepts).
    func cancelAll(on fd: CInt) {
        let control = Self.token(kind: .control, generation: 0, fd: 0)
        precondition(clinux_uring_cancel_fd(ring, fd, control) == 0, "io_uring submission queue stuck")
    }

    func cancel(_ token: UInt64) {
        let control = Self.token(kind: .control, generation: 0, fd: 0)
        precondition(clinux_uring_cancel(ring, token, control) == 0, "io_uring submission queue stuck")
    }

    /// Submits what is queued now, without waiting: for the rare changes whose caller
    /// expects them done when the call returns (a listener paused or dropped).
    func submitNow() {
        _ = clinux_uring_enter(ring, 0, 0)
    }

    /// Submits what is queued and waits up to `timeoutNanoseconds` for a completion
    /// (0: no wait; negative: no limit).
    func submitAndWait(timeoutNanoseconds: Int64) {
        let result = clinux_uring_enter(ring, timeoutNanoseconds != 0 ? 1 : 0, timeoutNanoseconds)
        if result < 0 {
            // ETIME: the timer's deadline; EINTR: a signal; EBUSY: completions must be
            // reaped first (they are, next). Anything else is a bug in the submissions.
            precondition(result == -ETIME || result == -EINTR || result == -EBUSY || result == -EAGAIN,
                         "io_uring_enter failed: errno \(-result)")
        }
    }

    /// Calls `body(user_data, res, flags)` for each completion ready now.
    @inline(__always)
    func forEachCompletion(_ body: (UInt64, Int32, UInt32) -> Void) {
        let ready = clinux_uring_cq_ready(ring)
        guard ready > 0 else { return }
        for index in 0..<ready {
            let cqe = clinux_uring_cqe_at(ring, index)!.pointee
            body(cqe.user_data, cqe.res, cqe.flags)
        }
        clinux_uring_cq_advance(ring, ready)
    }

    static let more = UInt32(IORING_CQE_F_MORE)
}
