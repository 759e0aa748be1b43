import NIOConcurrencyHelpers

/// One check's latest state, as the stats page and the runtime API show it.
public struct CheckReport: Sendable, Equatable {
    /// The last result (`INI` before the first check ends).
    public var result: CheckResult
    public var health: Int
    public var rise: Int
    public var fall: Int
    /// Checks that failed (HAProxy's `chkfail`).
    public var failures: Int
    /// UP → DOWN transitions this check caused (HAProxy's `chkdown`).
    public var downTransitions: Int

    public var isUp: Bool { health >= rise }
}

/// The health-check side of a server, shared with readers on other threads: the last
/// results of its health check and agent check, and when its state last changed.
public final class ServerHealth: @unchecked Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// nil when the server has no `check`.
        public var check: CheckReport?
        /// nil when the server has no `agent-check`.
        public var agent: CheckReport?
        /// Wall-clock second of the last UP/DOWN change (start-up counts as one).
        public var lastChange: WallTime
    }

    private let box: NIOLockedValueBox<Snapshot>

    init(check: CheckReport?, agent: CheckReport?) {
        box = NIOLockedValueBox(Snapshot(check: check, agent: agent, lastChange: .now()))
    }

    public var snapshot: Snapshot { box.withLockedValue { $0 } }

    func update(_ change: (inout Snapshot) -> Void) {
        box.withLockedValue { change(&$0) }
    }
}
