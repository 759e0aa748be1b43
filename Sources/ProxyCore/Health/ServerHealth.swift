import Atomics
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
    /// A check is under way: HAProxy's CHK_ST_INPROGRESS, which `show stat` shows as a
    /// `* ` before the last status, with the last code at 0 and its text blanked.
    public var inProgress = false

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

    // MARK: observe layer4|layer7 (traffic watched as a health check)

    /// `observe`: which traffic errors count; `.none` keeps the data path untouched.
    public let observe: ServerObserve
    let errorLimit: Int
    /// `on-marked-down shutdown-sessions`.
    public let shutdownSessionsOnMarkedDown: Bool
    private let consecutiveErrors = ManagedAtomic<Int>(0)
    /// Called (on any loop) when `errorLimit` consecutive errors were seen, with the last
    /// one's description; set by the health monitor, which hops to the check's loop.
    var errorsReached: ((Int, String) -> Void)?

    init(check: CheckReport?, agent: CheckReport?, observe: ServerObserve = .none, errorLimit: Int = 10,
         shutdownSessionsOnMarkedDown: Bool = false) {
        self.shutdownSessionsOnMarkedDown = shutdownSessionsOnMarkedDown
        box = NIOLockedValueBox(Snapshot(check: check, agent: agent, lastChange: .now()))
        self.observe = observe
        self.errorLimit = max(1, errorLimit)
    }

    /// What the data path saw of this server.
    enum Observation {
        case connected
        case connectFailed
        case httpStatus(Int)
        case invalidResponse
    }

    /// Counts traffic errors as HAProxy's `observe` does: connection failures (layer4 and
    /// layer7), 5xx answers except 501 and 505 and invalid responses (layer7). A good
    /// answer (or, at layer4, a connection) clears the count.
    func observed(_ what: Observation) {
        let error: String?
        switch (what, observe) {
        case (_, .none):
            return
        case (.connected, .layer4):
            error = nil
        case (.connected, _):
            return
        case (.connectFailed, _):
            error = "L4 unsuccessful connection"
        case (.httpStatus, .layer4), (.invalidResponse, .layer4):
            return
        case (.httpStatus(let status), _):
            error = (500...599).contains(status) && status != 501 && status != 505 ? "Wrong http response" : nil
        case (.invalidResponse, _):
            error = "Invalid http response"
        }
        guard let error else {
            if consecutiveErrors.load(ordering: .relaxed) != 0 { consecutiveErrors.store(0, ordering: .relaxed) }
            return
        }
        let count = consecutiveErrors.wrappingIncrementThenLoad(ordering: .relaxed)
        if count >= errorLimit, consecutiveErrors.compareExchange(expected: count, desired: 0, ordering: .relaxed).exchanged {
            errorsReached?(count, error)
        }
    }

    func clearObservedErrors() {
        consecutiveErrors.store(0, ordering: .relaxed)
    }

    public var snapshot: Snapshot { box.withLockedValue { $0 } }

    func update(_ change: (inout Snapshot) -> Void) {
        box.withLockedValue { change(&$0) }
    }
}
