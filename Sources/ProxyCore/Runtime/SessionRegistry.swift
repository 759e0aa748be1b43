import Atomics

/// Process-wide session state: whether a soft stop (SIGUSR1) is under way, so that
/// sessions close after their current response instead of waiting for another.
final class SessionRegistry: @unchecked Sendable {
    private let stopping = ManagedAtomic(false)

    var isStopping: Bool { stopping.load(ordering: .relaxed) }
    func beginStopping() { stopping.store(true, ordering: .relaxed) }
}
