import Atomics

/// Traffic counters of one proxy (HAProxy's `bin`, `bout`, `stot`, `scur`…). Relaxed
/// atomics: they are statistics, read by the stats page and the runtime API.
public final class SessionCounters: @unchecked Sendable {
    public let bytesIn = CounterCell()
    public let bytesOut = CounterCell()
    public let totalSessions = CounterCell()
    public let currentSessions = CounterCell()
    public let requests = CounterCell()
    /// Requests refused as malformed (HAProxy's `ereq`).
    public let requestErrors = CounterCell()
    public init() {}
}

/// One statistics counter.
public final class CounterCell: @unchecked Sendable {
    private let value = ManagedAtomic<Int>(0)
    @inline(__always) public func add(_ amount: Int) { value.wrappingIncrement(by: amount, ordering: .relaxed) }
    @inline(__always) public func increment() { value.wrappingIncrement(ordering: .relaxed) }
    @inline(__always) public func decrement() { value.wrappingDecrement(ordering: .relaxed) }
    public var current: Int { value.load(ordering: .relaxed) }
}
