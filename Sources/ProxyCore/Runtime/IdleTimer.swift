import NIOCore

/// An inactivity timeout that costs nothing per byte: activity only records a time, and a
/// single scheduled callback re-arms itself for the remainder when it fires early.
/// Changing the timeout (a new phase of a session) reschedules only when the new deadline
/// comes before the pending callback, so most re-arms cost no timer operation either.
/// It can also hold a fixed deadline (`armDeadline`) that activity does not move: what
/// `timeout http-request` needs, a bound on the whole request head however it trickles in.
/// Lives on one event loop; not thread-safe by design.
final class IdleTimer: NIOScheduledCallbackHandler, @unchecked Sendable {
    private let eventLoop: EventLoop
    private var timeout: TimeAmount?
    private var lastActivity: NIODeadline = .now()
    /// Set by `armDeadline`: `touch` leaves the start where it is.
    private var fixed = false
    private var scheduled: NIOScheduledCallback?
    /// When the pending callback fires.
    private var scheduledAt: NIODeadline = .distantFuture
    private let onExpiry: () -> Void

    init(eventLoop: EventLoop, onExpiry: @escaping () -> Void) {
        self.eventLoop = eventLoop
        self.onExpiry = onExpiry
    }

    /// Sets (or clears, with nil) the timeout and counts from now.
    func arm(_ timeout: TimeAmount?) {
        fixed = false
        start(timeout)
    }

    /// Sets a timeout counted from now that activity does not push back (a deadline).
    /// The next `arm` makes it an inactivity timeout again.
    func armDeadline(_ timeout: TimeAmount) {
        fixed = true
        start(timeout)
    }

    private func start(_ timeout: TimeAmount?) {
        self.timeout = timeout
        lastActivity = .now()
        guard let timeout else { return }  // a pending callback will find nothing to do
        let deadline = lastActivity + timeout
        if scheduled == nil || deadline < scheduledAt {
            scheduled?.cancel()
            schedule(at: deadline)
        }
    }

    /// Records activity: the timeout counts again from now (not under a deadline).
    @inline(__always)
    func touch() { if !fixed { lastActivity = .now() } }

    func cancel() {
        timeout = nil
        fixed = false
        scheduled?.cancel()
        scheduled = nil
    }

    private func schedule(at deadline: NIODeadline) {
        scheduledAt = deadline
        scheduled = try? eventLoop.scheduleCallback(at: deadline, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        scheduled = nil
        guard let timeout else { return }
        let deadline = lastActivity + timeout
        if deadline <= .now() {
            self.timeout = nil
            onExpiry()
        } else {
            schedule(at: deadline)
        }
    }
}
