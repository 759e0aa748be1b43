import CLinux
import Glibc

/// A connection whose receives and sends run in its reactor's io_uring (issue 13):
/// a multishot receive into the reactor's provided buffers, and sends as SQEs carried
/// by the round's one `io_uring_enter`. Called on the reactor's thread.
protocol RingIOHandler: DescriptorHandler {
    /// Whether this connection wants its I/O in the ring (decided when it is made).
    var readsInRing: Bool { get }
    /// A receive's completion: `result` bytes in `bytes` (valid only during the call: the
    /// buffer goes back to the kernel after it), 0 at the end of input, or -errno
    /// (ENOBUFS: no buffer was free, nothing was taken; ECANCELED: cancelled). `more`:
    /// the receive goes on; without it, it has ended and must be armed again if wanted.
    func receiveCompleted(_ bytes: UnsafeRawBufferPointer, result: Int32, more: Bool)
    /// A send's completion: bytes sent (maybe fewer than asked) or -errno.
    func sendCompleted(_ result: Int32)
}

/// The reactor's side of receives and sends in the ring: requests keyed like polls
/// (kind, generation, descriptor), completions routed to the slot's `ringHandler`.
///
/// Three things keep it safe. A send's bytes must live until its completion: the
/// connection keeps them, and if it is closed meanwhile it is itself kept here
/// (`sendersAfterClose`) until the completion comes. A descriptor closed with SQEs still
/// queued for it must not lend its number to a socket opened in the same round, or
/// those SQEs would act on the new one: such a descriptor is closed in the ring, after
/// them (`Reactor.close`). And a buffer is handed back right after its bytes are copied,
/// so the buffer ring never stays empty beyond a round.
extension Reactor {
    /// Whether connections made on this reactor can receive and send in its ring.
    var receivesInRing: Bool { uring?.receivesInRing ?? false }

    /// What a connection's multishot poll waits for: with receives in the ring, only the
    /// connect's completion and the output's room (errors and hang-ups always come).
    func pollEvents(_ fd: Int) -> UInt32 {
        descriptors[fd].ringHandler != nil ? EPOLLOUT.rawValue : Self.connectionEvents
    }

    private func ringToken(_ kind: UringPoller.Kind, _ fd: CInt) -> UInt64 {
        UringPoller.token(kind: kind, generation: descriptors[Int(fd)].generation, fd: fd)
    }

    /// Arms `fd`'s multishot receive; it runs until `cancelReceive`, the end of input, an
    /// error, or no free buffer.
    func receiveInRing(_ fd: CInt) {
        uring!.receive(fd, token: ringToken(.receive, fd))
    }

    func cancelReceive(_ fd: CInt) {
        uring!.cancel(ringToken(.receive, fd))
    }

    /// Sends `count` bytes at `bytes`, which the caller keeps valid until its
    /// `sendCompleted`. One send at a time per connection: two could interleave.
    func sendInRing(_ fd: CInt, bytes: UnsafeRawPointer, count: Int) {
        uring!.send(fd, bytes: bytes, count: count, token: ringToken(.send, fd))
    }

    func sendInRing(_ fd: CInt, message: UnsafePointer<msghdr>) {
        uring!.send(fd, message: message, token: ringToken(.send, fd))
    }

    /// Before `close(fd)` with a send in flight: the send is cancelled, and `sender` (who
    /// owns its bytes) is kept until its completion says the kernel is done with them.
    func cancelSend(_ fd: CInt, keeping sender: RingIOHandler) {
        let token = ringToken(.send, fd)
        uring!.cancel(token)
        sendersAfterClose[token] = sender
    }

    /// `fd` goes back to readiness: its poll, armed again for every event (the cancel
    /// runs before the new poll, in submission order).
    func leaveRing(_ fd: CInt) {
        descriptors[Int(fd)].ringHandler = nil
        let token = ringToken(.poll, fd)
        uring!.cancel(token)
        uring!.poll(fd, events: Self.connectionEvents, token: token, oneShot: false)
    }

    func receiveCompleted(token: UInt64, result: Int32, flags: UInt32, uring: UringPoller) {
        let more = flags & UringPoller.more != 0
        var bytes = UnsafeRawBufferPointer(start: nil, count: 0)
        var buffer: UInt16?
        if flags & UringPoller.bufferFlag != 0 {
            let id = UInt16(truncatingIfNeeded: flags >> UringPoller.bufferShift)
            buffer = id
            if result > 0 { bytes = uring.receivedBytes(id, count: Int(result)) }
        }
        defer { if let buffer { uring.recycle(buffer) } }
        let fd = UringPoller.descriptor(of: token)
        guard fd < descriptors.count,
              descriptors[fd].generation & UringPoller.generationMask == UringPoller.generation(of: token),
              let handler = descriptors[fd].ringHandler else {
            // The connection was closed: what came after is dropped with it.
            if result > 0 { staleEventsDropped &+= 1 }
            return
        }
        handler.receiveCompleted(bytes, result: result, more: more)
    }

    func sendCompleted(token: UInt64, result: Int32) {
        if !sendersAfterClose.isEmpty, let sender = sendersAfterClose.removeValue(forKey: token) {
            sender.sendCompleted(result)
            return
        }
        let fd = UringPoller.descriptor(of: token)
        guard fd < descriptors.count,
              descriptors[fd].generation & UringPoller.generationMask == UringPoller.generation(of: token),
              let handler = descriptors[fd].ringHandler else { return }
        handler.sendCompleted(result)
    }
}
