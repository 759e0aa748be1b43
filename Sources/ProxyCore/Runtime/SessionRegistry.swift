import Atomics
import NIOConcurrencyHelpers

/// Counts live sessions so a soft stop (SIGUSR1) can wait for the last one to end.
final class SessionRegistry: @unchecked Sendable {
    private let live = ConditionLock(value: 0)
    private let stopping = ManagedAtomic(false)

    /// Set by a soft stop: sessions close after their current response.
    var isStopping: Bool { stopping.load(ordering: .relaxed) }
    func beginStopping() { stopping.store(true, ordering: .relaxed) }

    func opened() {
        live.lock()
        live.unlock(withValue: live.value + 1)
    }

    func closed() {
        live.lock()
        live.unlock(withValue: live.value - 1)
    }

    var count: Int {
        live.lock()
        defer { live.unlock() }
        return live.value
    }

    /// Blocks the calling (non-event-loop) thread until no session is left.
    func waitUntilEmpty() {
        live.lock(whenValue: 0)
        live.unlock()
    }
}
