import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// Enforces `maxconn` on accepting, as HAProxy does: when a frontend (or the whole
/// process) has as many client connections as allowed, its listeners stop accepting and
/// new clients wait in the kernel's backlog; they resume when a connection ends.
final class AdmissionGate: @unchecked Sendable {
    // The limit is atomic so that the runtime API can change it (issue 4).
    private let limitValue: ManagedAtomic<Int>
    var limit: Int { limitValue.load(ordering: .relaxed) }
    private let current = ManagedAtomic<Int>(0)
    private let listeners = NIOLockedValueBox<[Listener]>([])
    private let paused = ManagedAtomic<Bool>(false)
    /// The process-wide gate a frontend's gate also answers to.
    private let parent: AdmissionGate?

    init(limit: Int, parent: AdmissionGate? = nil) {
        self.limitValue = ManagedAtomic(max(1, limit))
        self.parent = parent
    }

    func add(listener: Listener) {
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

    // MARK: runtime API (issue 4)

    /// `disable frontend`: its listeners stop accepting until `enable frontend`.
    private let disabled = ManagedAtomic<Bool>(false)
    var isDisabled: Bool { disabled.load(ordering: .relaxed) }

    /// False when the gate already was in that state.
    func setDisabled(_ disable: Bool) -> Bool {
        guard disabled.compareExchange(expected: !disable, desired: disable, ordering: .relaxed).exchanged else {
            return false
        }
        if disable {
            setAccepting(false)
        } else if !paused.load(ordering: .relaxed) {
            setAccepting(true)
        }
        return true
    }

    /// `set maxconn frontend|global`: the new limit applies to the next accept.
    func setLimit(_ newLimit: Int) {
        limitValue.store(max(1, newLimit), ordering: .relaxed)
        let now = current.load(ordering: .relaxed)
        if now >= limit, paused.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            setAccepting(false)
        } else if now < limit, paused.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged {
            setAccepting(true)
        }
    }

    /// `rate-limit sessions` (Runtime/SessionRateLimit.swift): paused until the rate falls.
    private let rateLimited = ManagedAtomic<Bool>(false)

    func setRateLimited(_ limited: Bool) {
        guard rateLimited.compareExchange(expected: !limited, desired: limited, ordering: .relaxed).exchanged else { return }
        if limited {
            setAccepting(false)
        } else if !paused.load(ordering: .relaxed) {
            setAccepting(true)
        }
    }

    private func setAccepting(_ accepting: Bool) {
        if accepting && isDisabled { return }  // a disabled frontend stays closed (issue 4)
        if accepting && rateLimited.load(ordering: .relaxed) { return }  // until the rate falls
        for listener in listeners.withLockedValue({ $0 }) { listener.setAccepting(accepting) }
    }
}
