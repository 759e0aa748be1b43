import Atomics
import NIOConcurrencyHelpers

/// Counts live sessions so a soft stop (SIGUSR1) can tell when the last one ended.
final class SessionRegistry: @unchecked Sendable {
    private let live = NIOLockedValueBox(0)
    private let stopping = ManagedAtomic(false)

    /// Set by a soft stop: sessions close after their current response.
    var isStopping: Bool { stopping.load(ordering: .relaxed) }
    func beginStopping() { stopping.store(true, ordering: .relaxed) }

    func opened() { live.withLockedValue { $0 += 1 } }
    func closed() { live.withLockedValue { $0 -= 1 } }
    var count: Int { live.withLockedValue { $0 } }
}
