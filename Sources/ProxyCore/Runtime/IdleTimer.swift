import NIOCore

/// An inactivity timeout that costs nothing per byte: activity only records a time, and a
/// single scheduled callback re-arms itself for the remainder when it fires early.
/// Lives on one event loop; not thread-safe by design.
final class IdleTimer: NIOScheduledCallbackHandler, @unchecked Sendable {
    private let eventLoop: EventLoop
    private var timeout: TimeAmount?
    private var lastActivity: NIODeadline = .now()
    private var scheduled: NIOScheduledCallback?
    private let onExpiry: () -> Void

    init(eventLoop: EventLoop, onExpiry: @escaping () -> Void) {
        self.eventLoop = eventLoop
        self.onExpiry = onExpiry
    }

    /// Sets (or clears, with nil) the timeout and counts from now.
    func arm(_ timeout: TimeAmount?) {
        self.timeout = timeout
        lastActivity = .now()
        scheduled?.cancel()
        scheduled = nil
        if let timeout { schedule(at: lastActivity + timeout) }
    }

    /// Records activity: the timeout counts again from now.
    @inline(__always)
    func touch() { lastActivity = .now() }

    func cancel() {
        timeout = nil
        scheduled?.cancel()
        scheduled = nil
    }

    private func schedule(at deadline: NIODeadline) {
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
