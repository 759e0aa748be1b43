/// HAProxy's check status codes, as the stats page and the CSV show them, with the
/// sentence each one stands for in logs ("reason: …").
public enum CheckStatus: String, Sendable, Equatable, CaseIterable {
    case unknown = "UNK"
    case initializing = "INI"
    case socketError = "SOCKERR"
    case l4ok = "L4OK"
    case l4timeout = "L4TOUT"
    case l4connection = "L4CON"
    case l6ok = "L6OK"
    case l6timeout = "L6TOUT"
    case l6response = "L6RSP"
    case l7timeout = "L7TOUT"
    case l7response = "L7RSP"
    case l7ok = "L7OK"
    case l7okConditional = "L7OKC"
    case l7status = "L7STS"
    /// The check ran but changed nothing (agents that answer no state word).
    case checked = "CHECKED"
    /// Traffic errors seen by `observe` counted as a failed check.
    case healthAnalyze = "HANA"

    public var code: String { rawValue }

    public var description: String {
        switch self {
        case .unknown: return "Unknown"
        case .initializing: return "Initializing"
        case .socketError: return "Socket error"
        case .l4ok: return "Layer4 check passed"
        case .l4timeout: return "Layer4 timeout"
        case .l4connection: return "Layer4 connection problem"
        case .l6ok: return "Layer6 check passed"
        case .l6timeout: return "Layer6 timeout"
        case .l6response: return "Layer6 invalid response"
        case .l7timeout: return "Layer7 timeout"
        case .l7response: return "Layer7 invalid response"
        case .l7ok: return "Layer7 check passed"
        case .l7okConditional: return "Layer7 check conditionally passed"
        case .l7status: return "Layer7 wrong status"
        case .checked: return "No status change"
        case .healthAnalyze: return "Health analyze"
        }
    }

    /// Whether the check counts as passed.
    public var passed: Bool {
        switch self {
        case .l4ok, .l6ok, .l7ok, .l7okConditional: return true
        default: return false
        }
    }

    /// Statuses that say something about the service itself (HAProxy's "L57DATA" and
    /// above): only these count against an agent.
    public var isLayer7Data: Bool {
        switch self {
        case .l7ok, .l7okConditional, .l7status: return true
        default: return false
        }
    }

    /// Whether logs print the HTTP status (`, code: N`).
    var showsCode: Bool {
        switch self {
        case .l7ok, .l7okConditional, .l7status: return true
        default: return false
        }
    }
}

/// What one check found.
public struct CheckResult: Sendable, Equatable {
    public var status: CheckStatus
    /// The HTTP status (or 0 for tcp-check and agents) when `status.showsCode`.
    public var code: Int?
    /// Details: `Connection refused`, the HTTP reason phrase, `(tcp-check)`, …
    public var info: String?
    /// Milliseconds from the start of the check to its result.
    public var durationMilliseconds: Int

    public init(status: CheckStatus, code: Int? = nil, info: String? = nil, durationMilliseconds: Int = 0) {
        self.status = status
        self.code = code
        self.info = info
        self.durationMilliseconds = durationMilliseconds
    }

    /// `, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms`
    public var logDetails: String {
        var text = ", reason: \(status.description)"
        if status.showsCode { text += ", code: \(code ?? 0)" }
        if let info, !info.isEmpty { text += ", info: \"\(info)\"" }
        // An analysis of traffic has no duration.
        if status != .healthAnalyze { text += ", check duration: \(durationMilliseconds)ms" }
        return text
    }
}

/// HAProxy's health arithmetic: one counter from 0 to rise+fall-1. The server is UP while
/// the counter is at least `rise`. A success adds one, and reaching `rise` jumps to the
/// top; a failure takes one, and falling under `rise` drops to 0. Servers start at `rise`:
/// UP, and DOWN at the first failure.
public struct CheckHealth: Sendable, Equatable {
    public let rise: Int
    public let fall: Int
    public private(set) var health: Int

    public init(rise: Int, fall: Int) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.health = self.rise
    }

    public var top: Int { rise + fall - 1 }
    public var isUp: Bool { health >= rise }

    /// What a check result did to the counter.
    public struct Change: Sendable, Equatable {
        /// The counter moved (HAProxy logs the check with `option log-health-checks`).
        public var moved: Bool
        /// UP → DOWN or DOWN → UP.
        public var transition: Transition?
    }
    public enum Transition: Sendable, Equatable { case wentUp, wentDown }

    /// Counts one check. `counts` false: a failure that must not lower the counter (an
    /// agent that cannot be reached).
    public mutating func record(passed: Bool, counts: Bool = true) -> Change {
        let wasUp = isUp
        var moved = false
        if passed {
            if health < top {
                moved = true
                health += 1
                if health >= rise { health = top }
            }
        } else if counts, health > 0 {
            moved = true
            health -= 1
            if health < rise { health = 0 }
        }
        let transition: Transition? = wasUp == isUp ? nil : (isUp ? .wentUp : .wentDown)
        return Change(moved: moved, transition: transition)
    }

    /// `on-error sudden-death`: one more failure will mark the server down.
    public mutating func preFatal() {
        if health > rise { health = rise + 1 }
    }

    /// A reload: the counter the old process had (ServerStateCarry), within 0...top; a
    /// value that disagrees with `up` is taken as the edge of that side.
    public mutating func restore(_ value: Int, up: Bool) {
        let clamped = min(max(0, value), top)
        health = up ? max(clamped, rise) : min(clamped, rise - 1)
    }

    /// `on-error mark-down`: the next failure marks the server down.
    public mutating func lastChance() {
        health = min(health, rise)
    }

    /// Forces the state (runtime API `set server … health up|down`).
    public mutating func force(up: Bool) {
        health = up ? top : 0
    }

    /// `3/3 UP`, `1/2 DOWN`, `2/3 DRAIN` as HAProxy's check logs write it.
    public func statusText(draining: Bool = false) -> String {
        if isUp {
            return "\(health - rise + 1)/\(fall) \(draining ? "DRAIN" : "UP")"
        }
        return "\(health)/\(rise) DOWN"
    }

    /// The interval to the next check: `downinter` while fully down, `fastinter` while
    /// moving between states, `inter` otherwise (each falls back to `inter`).
    public func nextInterval(inter: Int, fastInter: Int?, downInter: Int?) -> Int {
        if health == 0 { return downInter ?? inter }
        if health != top { return fastInter ?? inter }
        return inter
    }
}
