import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// Enforces `maxconn` on accepting, as HAProxy does: when a frontend (or the whole
/// process) has as many client connections as allowed, its listeners stop accepting and
/// new clients wait in the kernel's backlog; they resume when a connection ends.
final class AdmissionGate: @unchecked Sendable {
    private let limit: Int
    private let current = ManagedAtomic<Int>(0)
    private let listeners = NIOLockedValueBox<[Channel]>([])
    private let paused = ManagedAtomic<Bool>(false)
    /// The process-wide gate a frontend's gate also answers to.
    private let parent: AdmissionGate?

    init(limit: Int, parent: AdmissionGate? = nil) {
        self.limit = max(1, limit)
        self.parent = parent
    }

    func add(listener: Channel) {
        listeners.withLockedValue { $0.append(listener) }
        parent?.add(listener: listener)
    }

    func removeAllListeners() {
        listeners.withLockedValue { $0.removeAll() }
    }

    var count: Int { current.load(ordering: .relaxed) }

    func opened() {
        let now = current.wrappingIncrementThenLoad(ordering: .relaxed)
        if now >= limit, paused.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            setAccepting(false)
        }
        parent?.opened()
    }

    func closed() {
        let now = current.wrappingDecrementThenLoad(ordering: .relaxed)
        if now < limit, paused.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged {
            setAccepting(true)
        }
        parent?.closed()
    }

    private func setAccepting(_ accepting: Bool) {
        for channel in listeners.withLockedValue({ $0 }) {
            channel.setOption(.autoRead, value: accepting).whenSuccess {
                if accepting { channel.read() }
            }
        }
    }
}
