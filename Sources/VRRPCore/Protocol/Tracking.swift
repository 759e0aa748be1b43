/// Tracked scripts and interfaces, and the effective priority keepalived derives from them.
/// Pure: results in, statuses and priorities out.

/// The rise/fall counter of one `vrrp_script`.
public struct ScriptTracker: Equatable, Sendable {
    public enum Status: String, Sendable, Codable { case initial = "INIT", good = "GOOD", bad = "BAD" }

    public let rise: Int
    public let fall: Int
    public private(set) var status: Status
    /// Consecutive results against the current status.
    public private(set) var streak = 0
    public private(set) var lastExit: String?

    public init(rise: Int = 1, fall: Int = 1, initFail: Bool = false) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        status = initFail ? .bad : .initial
    }

    /// Passing, failing, or not known yet (before the first result, unless init_fail):
    /// as keepalived, an unknown script neither adds nor subtracts its weight.
    public var passing: Bool? {
        switch status { case .initial: return nil; case .good: return true; case .bad: return false }
    }

    /// Record one run. Returns the new status when it flipped. The first result of a script
    /// without `init_fail` decides at once; after that `rise` successes or `fall` failures
    /// in a row are needed to flip.
    public mutating func record(success: Bool, detail: String? = nil) -> Status? {
        lastExit = detail
        switch status {
        case .initial:
            status = success ? .good : .bad
            streak = 0
            return status
        case .good:
            if success { streak = 0; return nil }
            streak += 1
            if streak >= fall { status = .bad; streak = 0; return .bad }
            return nil
        case .bad:
            if !success { streak = 0; return nil }
            streak += 1
            if streak >= rise { status = .good; streak = 0; return .good }
            return nil
        }
    }
}

/// One tracked object as an instance sees it: a weight (instance override or the script's),
/// whether it is reversed, and whether it currently passes.
public struct TrackedInput: Equatable, Sendable {
    public var name: String
    public var weight: Int
    public var reverse: Bool
    /// nil: no result yet; counts neither way.
    public var passing: Bool?

    public init(name: String, weight: Int, reverse: Bool = false, passing: Bool?) {
        self.name = name; self.weight = weight; self.reverse = reverse; self.passing = passing
    }
}

public enum EffectivePriority {
    /// keepalived's arithmetic: base plus positive weights of passing trackers plus negative
    /// weights of failing ones (`reverse` swaps the direction), clamped to 1...254; a failing
    /// tracker of weight 0 means FAULT; a tracker without a result yet counts
    /// neither way; base 255 (the owner) never changes.
    public static func compute(base: Int, tracked: [TrackedInput]) -> (priority: Int, fault: Bool) {
        var fault = false
        var p = base
        for t in tracked {
            guard let passing = t.passing else { continue }
            if t.weight == 0 {
                if !passing { fault = true }
                continue
            }
            let w = t.reverse ? -t.weight : t.weight
            if t.weight > 0 && passing { p += w }
            if t.weight < 0 && !passing { p += w }
        }
        if base == 255 { return (255, fault) }
        return (min(254, max(1, p)), fault)
    }
}

/// When a master runs its track scripts. A backup decides from the time of the master's last
/// advert at the *old* priority, so a failure found just before an advert is acted on up to
/// one advert interval sooner than one found just after. The RFC says nothing about when
/// scripts run: vrrpd keeps each script's period but moves its phase so a run ends just
/// before an advert goes out (by at most half an advert interval either way).
public enum ScriptSchedule {
    /// - nominal: the run's time by the script's own period.
    /// - advertDeadline: the master's next advert (nil: not master, keep `nominal`).
    /// - expectedDuration: how long runs take (the last one's time).
    public static func nextRun(nominal: Nanos, now: Nanos, advertDeadline: Nanos?, advertInterval: Nanos,
                               expectedDuration: Nanos) -> Nanos {
        guard let d = advertDeadline, advertInterval > 0 else { return nominal }
        let margin = min(max(expectedDuration, 0) * 2 + 5_000_000, advertInterval / 2)
        // Advert times are d + k * interval; the run ends `margin` before the one nearest nominal.
        let offset = nominal + margin - d
        let k = Nanos((Double(offset) / Double(advertInterval)).rounded())
        var t = d + k * advertInterval - margin
        while t < now { t += advertInterval }
        return t
    }
}
