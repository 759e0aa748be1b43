import CLinux
import Glibc
import NIOCore

/// The reactor's rounds on io_uring (IOBackend.uring, UringPoller): the wait, the
/// completions in place of epoll's events, and the listeners' accept requests. The state
/// stays in Reactor.swift; epoll's side of the same operations is there too.
extension Reactor {
    /// The same rounds on io_uring: one `io_uring_enter` submits the round's changes and
    /// waits (to the next timer's deadline, to the nanosecond); completions take the
    /// place of epoll's events.
    func runOnUring(_ uring: UringPoller) {
        while !stopping {
            uring.submitAndWait(timeoutNanoseconds: waitTimeoutNanoseconds())
            uring.forEachCompletion { token, result, flags in
                complete(token: token, result: result, flags: flags, uring: uring)
            }
            afterEvents?()
            runDueTimers()
            runQueuedTasks()
            afterEvents?()
        }
    }

    @inline(__always)
    private func complete(token: UInt64, result: Int32, flags: UInt32, uring: UringPoller) {
        let more = flags & UringPoller.more != 0
        if token == Self.wakeToken {
            var counter: UInt64 = 0
            _ = Glibc.read(wakeFD, &counter, MemoryLayout<UInt64>.size)
            if !more { uring.poll(wakeFD, events: EPOLLIN.rawValue, token: Self.wakeToken, oneShot: false) }
            return
        }
        guard let kind = UringPoller.kind(of: token), kind != .control else { return }
        if kind == .receive {
            receiveCompleted(token: token, result: result, flags: flags, uring: uring)
            return
        }
        if kind == .send {
            sendCompleted(token: token, result: result)
            return
        }
        let fd = UringPoller.descriptor(of: token)
        let current = fd < descriptors.count
            && descriptors[fd].generation & UringPoller.generationMask == UringPoller.generation(of: token)
            && (descriptors[fd].handler != nil || descriptors[fd].acceptHandler != nil)
        if kind == .accept {
            guard current, let handler = descriptors[fd].acceptHandler, let peers = descriptors[fd].acceptPeers else {
                // Accepted after the listener was dropped: nobody takes the connection.
                if result >= 0 { Glibc.close(result) }
                return
            }
            let index = UringPoller.index(of: token)
            descriptors[fd].acceptsInFlight &= ~(1 << UInt32(index))
            if result >= 0 {
                // Read before the request is armed again on the same address.
                let remote = NativeSyscalls.socketAddress(peers[index].address)
                if result >= descriptorLimit() {
                    // The request took RLIMIT_NOFILE when it was armed; the limit is lower
                    // now (prlimit). This connection is served; the listener pauses as on
                    // EMFILE and its next requests, armed under the new limit, fail as
                    // accept4 would.
                    if descriptors[fd].armed {
                        descriptors[fd].armed = false
                        uring.cancelAll(on: CInt(fd))
                    }
                    handler.connectionAccepted(result, remote: remote)
                    handler.acceptStopped(EMFILE)
                    return
                }
                armAccept(fd, index: index, uring: uring)
                handler.connectionAccepted(result, remote: remote)
            } else if result == -ECANCELED || result == -ECONNABORTED || result == -EINTR || result == -EAGAIN {
                // Cancelled by a pause that a resume followed, or a connection gone before
                // it was taken: armed again if wanted.
                armAccept(fd, index: index, uring: uring)
            } else if descriptors[fd].armed {
                descriptors[fd].armed = false
                uring.cancelAll(on: CInt(fd))
                handler.acceptStopped(-result)
            }
            return
        }
        guard current, let handler = descriptors[fd].handler else {
            if result >= 0 { staleEventsDropped &+= 1 }
            return
        }
        if result == -ECANCELED { return }
        if !more, result >= 0 {
            // A listener's one-shot poll, or a multishot poll the kernel ended (its
            // completion queue overflowed): armed again while still wanted.
            if descriptors[fd].isListener {
                if descriptors[fd].armed { uring.poll(CInt(fd), events: EPOLLIN.rawValue, token: token, oneShot: true) }
            } else {
                uring.poll(CInt(fd), events: pollEvents(fd), token: token, oneShot: false)
            }
        }
        handler.descriptorReady(result >= 0 ? UInt32(result) : ReactorEvent.error)
    }

    /// Accept requests kept waiting on each listener: each takes one connection, and is
    /// armed again (an SQE, no call) when its completion is read. HAProxy takes up to 64
    /// connections per wake-up (`tune.maxaccept`); 16 per round and reactor is enough
    /// when a round lasts microseconds.
    static let acceptsPerListener = 16

    /// Arms accept request `index` of listener `fd` if the listener is armed and the
    /// request is not in the kernel already.
    private func armAccept(_ fd: Int, index: Int, uring: UringPoller) {
        let bit: UInt32 = 1 << UInt32(index)
        guard descriptors[fd].armed, descriptors[fd].acceptsInFlight & bit == 0,
              let peers = descriptors[fd].acceptPeers else { return }
        descriptors[fd].acceptsInFlight |= bit
        uring.accept(CInt(fd), peer: peers + index,
                     token: UringPoller.token(kind: .accept, generation: descriptors[fd].generation, fd: CInt(fd), index: index))
    }


    func retireAcceptPeers(_ index: Int) {
        if let peers = descriptors[index].acceptPeers { retiredAcceptPeers.append(peers) }
        descriptors[index].acceptPeers = nil
        descriptors[index].acceptsInFlight = 0
    }

    /// RLIMIT_NOFILE's soft limit, read again at most once a second (a clock read per
    /// accepted connection, one getrlimit a second while connections come).
    private func descriptorLimit() -> CInt {
        let now = NIODeadline.now().uptimeNanoseconds
        if now &- limitReadAt > 1_000_000_000 || limitReadAt == 0 {
            var limit = rlimit()
            if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
                cachedDescriptorLimit = limit.rlim_cur >= rlim_t(CInt.max) ? CInt.max : CInt(limit.rlim_cur)
            }
            limitReadAt = now
        }
        return cachedDescriptorLimit
    }

    /// Whether listeners can be registered with `registerAcceptor` (io_uring).
    var acceptsInKernel: Bool { uring != nil }

    /// io_uring only: a listener whose connections the kernel accepts (accept requests
    /// kept waiting on it; each completion is a new descriptor, no `accept4` call).
    func registerAcceptor(_ fd: CInt, handler: AcceptCompletionHandler) throws {
        precondition(uring != nil, "registerAcceptor needs io_uring")
        let index = claimSlot(fd)
        descriptors[index].acceptHandler = handler
        descriptors[index].acceptPeers = .allocate(capacity: Self.acceptsPerListener)
        descriptors[index].isListener = true
        descriptors[index].armed = true
        armListener(index)
    }

    func checkedListener(_ fd: CInt) -> Int {
        assert(inEventLoop, "Reactor listener change outside its loop")
        let index = Int(fd)
        precondition(index < descriptors.count && descriptors[index].isListener,
                     "fd \(fd) is not a registered listener")
        return index
    }

    func armListener(_ index: Int) {
        guard let uring else { return }
        if descriptors[index].acceptHandler != nil {
            for request in 0..<Self.acceptsPerListener { armAccept(index, index: request, uring: uring) }
        } else {
            uring.poll(CInt(index), events: EPOLLIN.rawValue,
                       token: UringPoller.token(kind: .poll, generation: descriptors[index].generation, fd: CInt(index)),
                       oneShot: true)
        }
    }

    /// Cancels a listener's requests: its accepts, or its poll.
    func cancelListener(_ index: Int, uring: UringPoller) {
        if descriptors[index].acceptHandler != nil {
            uring.cancelAll(on: CInt(index))
        } else {
            uring.cancel(UringPoller.token(kind: .poll, generation: descriptors[index].generation, fd: CInt(index)))
        }
    }

}
