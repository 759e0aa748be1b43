import Atomics

/// Process-wide session state: whether a soft stop (SIGUSR1) is under way, so that
/// sessions close after their current response instead of waiting for another; and
/// whether a stop was announced before that (HAProxy's `stopping`, for `show info`).
final class SessionRegistry: @unchecked Sendable {
    private let stopping = ManagedAtomic(false)

    var isStopping: Bool { stopping.load(ordering: .relaxed) }
    func beginStopping() {
        announced.store(true, ordering: .relaxed)
        stopping.store(true, ordering: .relaxed)
    }

    /// A stop was asked for; sessions go on as usual until `beginStopping`.
    private let announced = ManagedAtomic(false)
    var stopAnnounced: Bool { announced.load(ordering: .relaxed) }
    func announceStop() { announced.store(true, ordering: .relaxed) }
}
