import NIOConcurrencyHelpers
import NIOCore

/// `rate-limit sessions N`: a frontend accepts at most N new sessions per second, as
/// HAProxy counts them (this second's sessions plus the last second's, weighted by what is
/// left of this one). When the rate is reached its listeners stop accepting (clients wait
/// in the kernel's backlog) and resume once it has fallen below N again.
final class SessionRateLimit: @unchecked Sendable {
    let limit: Int
    private let lock = NIOLock()
    private var periodStart: NIODeadline = .now()
    private var current = 0
    private var previous = 0
    private var waiting = false

    init(limit: Int) { self.limit = limit }

    /// HAProxy's freq_ctr over one-second periods.
    private func rate(at now: NIODeadline) -> Int {
        let elapsed = (now - periodStart).nanoseconds
        if elapsed >= 1_000_000_000 {
            previous = elapsed >= 2_000_000_000 ? 0 : current
            current = 0
            periodStart = periodStart + .nanoseconds(elapsed - elapsed % 1_000_000_000)
        }
        let left = 1_000_000_000 - (now - periodStart).nanoseconds
        return current + Int((Int64(previous) * left + 999_999_999) / 1_000_000_000)
    }

    /// Counts a new session of `gate`'s frontend; pauses its listeners when the rate is
    /// reached, with a check on `loop` that resumes them.
    func counted(_ gate: AdmissionGate, on loop: EventLoop) {
        let full: Bool = lock.withLock {
            let now = NIODeadline.now()
            _ = rate(at: now)
            current += 1
            guard rate(at: now) >= limit, !waiting else { return false }
            waiting = true
            return true
        }
        guard full else { return }
        gate.setRateLimited(true)
        scheduleCheck(gate, on: loop)
    }

    private func scheduleCheck(_ gate: AdmissionGate, on loop: EventLoop) {
        // One session's worth of time: the rate falls by about one in that time.
        loop.scheduleTask(in: .milliseconds(Int64(max(1, 1000 / limit)))) { [self] in
            let below: Bool = lock.withLock {
                guard rate(at: .now()) < limit else { return false }
                waiting = false
                return true
            }
            if below { gate.setRateLimited(false) } else { scheduleCheck(gate, on: loop) }
        }
    }
}
