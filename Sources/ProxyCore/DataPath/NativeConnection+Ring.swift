#if canImport(Glibc)
import Glibc
#endif
import CLinux
import NIOCore

/// Where a connection's multishot receive stands.
enum RingReceive {
    /// None in the kernel: armed at the session's next read.
    case idle
    case armed
    /// Cancelled because the session stopped asking; its last completion is on its way.
    case cancelling
}

/// A connection's reads and writes in its reactor's io_uring (issue 13; Reactor+RingIO).
///
/// Receiving: the session's first read arms a multishot receive, which then delivers
/// every arrival without a call, for as long as the session asks again after each one
/// (an HTTP session keeps reading while it answers, so a kept-alive client's receive
/// stays armed across its requests). An arrival the session did not ask for is kept in
/// `held` and the receive is cancelled: that is the backpressure epoll's path has by not
/// reading, bounded by what was already on its way (a few completions); the next read
/// hands `held` over first, at the end of the current event, as epoll's path does.
/// Each buffer is copied into the session's ByteBuffer (as epoll's path copies its
/// scratch buffer) and goes back to the kernel at once.
///
/// Sending: `flush` queues one send (one buffer) or sendmsg (up to 16) as an SQE, which
/// the round's `io_uring_enter` carries with its wait; one in flight at a time, its
/// bytes kept in `pending` until its completion, which drops what went and sends the
/// rest (a short send continues). The kernel waits for room itself, so no EPOLLOUT.
extension NativeConnection {
    static let maxVectors = 16

    func readInRing() {
        if held != nil || heldEnd != nil {
            if !queuedForRead {
                queuedForRead = true
                context.later(self)
            }
        } else if receive == .idle {
            receive = .armed
            reactor.receiveInRing(descriptor)
        }
    }

    /// The session asked again: what came meanwhile, then the end if it came too.
    func deliverHeld() {
        if let buffer = held {
            held = nil
            readRequested = false
            events?.transportRead(buffer)
            events?.transportReadComplete()
        } else if let end = heldEnd {
            heldEnd = nil
            readRequested = false
            deliverEnd(end)
        } else if receive == .idle, state == .open, !inputClosed {
            receive = .armed
            reactor.receiveInRing(descriptor)
        }
    }

    private func deliverEnd(_ end: Int32) {
        if end == 0 {
            inputClosed = true
            events?.transportInputClosed()
        } else {
            fail()
        }
    }

    func receiveCompleted(_ bytes: UnsafeRawBufferPointer, result: Int32, more: Bool) {
        if !more { receive = .idle }
        guard state == .open, !inputClosed, heldEnd == nil else { return }
        if result > 0 {
            if readRequested, held == nil {
                readRequested = false
                var buffer = context.allocator.buffer(capacity: bytes.count)
                buffer.writeBytes(bytes)
                events?.transportRead(buffer)
                events?.transportReadComplete()
            } else {
                if held == nil {
                    held = context.allocator.buffer(capacity: bytes.count)
                }
                held!.writeBytes(bytes)
                if receive == .armed {
                    receive = .cancelling
                    reactor.cancelReceive(descriptor)
                }
            }
        } else if result == 0 || (result != -ECANCELED && result != -ENOBUFS) {
            // The end of input, or an error (a reset): after the bytes before it, as on
            // epoll's path.
            if readRequested, held == nil {
                readRequested = false
                deliverEnd(result)
            } else {
                heldEnd = result
            }
            return
        }
        // Ended (cancelled, no free buffer, or by the kernel) while the session still
        // wants to read: armed again, submitted after this round's buffers came back.
        if receive == .idle, readRequested, held == nil, state == .open, !inputClosed {
            receive = .armed
            reactor.receiveInRing(descriptor)
        }
    }

    func sendPendingInRing() {
        guard !pending.isEmpty else { return }
        sendInFlight = true
        if pending.count == 1 {
            // `pending` keeps the storage alive (and unmoved) until the completion.
            pending[0].withUnsafeReadableBytes { bytes in
                reactor.sendInRing(descriptor, bytes: bytes.baseAddress!, count: bytes.count)
            }
            return
        }
        if sendMessage == nil {
            let message = UnsafeMutablePointer<msghdr>.allocate(capacity: 1)
            message.initialize(to: msghdr())
            message.pointee.msg_iov = .allocate(capacity: Self.maxVectors)
            sendMessage = message
        }
        let message = sendMessage!
        let count = min(pending.count, Self.maxVectors)
        for index in 0..<count {
            pending[index].withUnsafeReadableBytes { bytes in
                message.pointee.msg_iov[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                                                       iov_len: bytes.count)
            }
        }
        message.pointee.msg_iovlen = count
        reactor.sendInRing(descriptor, message: message)
    }

    func sendCompleted(_ result: Int32) {
        sendInFlight = false
        guard state == .open else {
            // Closed meanwhile: the kernel is done with the bytes now.
            pending.removeAll()
            return
        }
        guard result >= 0 else {
            if result == -ECANCELED { return }
            fail()
            return
        }
        consume(Int(result))
        // A short send, or writes queued meanwhile: the rest goes at once.
        if !pending.isEmpty { sendPendingInRing() }
        afterWrites()
    }

    /// At the close: the receive and a send in flight are cancelled; a send's bytes stay
    /// (and this connection with them) until its completion.
    func cancelRingRequests() {
        if receive != .idle {
            receive = .idle
            reactor.cancelReceive(descriptor)
        }
        held = nil
        heldEnd = nil
        if sendInFlight {
            reactor.cancelSend(descriptor, keeping: self)
        } else {
            pending.removeAll()
        }
    }

    /// Whether the connection can go back to readiness and calls (a splice): nothing in
    /// the ring for it, nothing held.
    var canLeaveRing: Bool {
        !readsInRing || (receive == .idle && held == nil && heldEnd == nil && !sendInFlight)
    }

    func leaveRing() {
        guard readsInRing else { return }
        readsInRing = false
        // Whatever arrived meanwhile was never seen as an edge: the first read finds out.
        readable = true
        reactor.leaveRing(descriptor)
    }

    func freeSendMessage() {
        guard let message = sendMessage else { return }
        message.pointee.msg_iov.deallocate()
        message.deallocate()
        sendMessage = nil
    }
}
