/// The VRRP state machine of RFC 5798 section 6 (and RFC 3768 for version 2) as a pure value:
/// inputs (start, a validated advert, the clock, priority and fault changes, shutdown) in,
/// actions (send an advert, add or remove the VIPs, send gratuitous ARPs, log) out.
/// The clock is an argument: tests drive it with a fake clock, the daemon with CLOCK_MONOTONIC.

/// Monotonic time in nanoseconds.
public typealias Nanos = Int64

public extension Nanos {
    static let second: Nanos = 1_000_000_000
    static let centisecond: Nanos = 10_000_000
}

public enum VRRPState: String, Sendable, Codable, CaseIterable {
    case initialize = "INIT"
    case backup = "BACKUP"
    case master = "MASTER"
    case fault = "FAULT"
    case stopped = "STOP"
}

public enum VRRPAction: Equatable, Sendable {
    /// Send an advertisement with this priority.
    case sendAdvert(priority: UInt8)
    /// Add the virtual addresses (before the first advert of a new master).
    case addVIPs
    /// Remove the virtual addresses.
    case removeVIPs
    /// Send `count` rounds of gratuitous ARPs for every VIP.
    case sendGARP(count: Int)
    /// The instance changed state; the daemon runs notify scripts for `to`.
    case stateChanged(from: VRRPState, to: VRRPState)
    /// A log line in keepalived's words, without the instance prefix.
    case log(String)
}

public struct VRRPMachineConfig: Equatable, Sendable {
    public var version: UInt8
    /// Our advertisement interval in centiseconds (v2: a multiple of 100).
    public var advertInterval: Int
    public var preempt: Bool
    public var preemptDelay: Nanos
    /// The configured priority: 255 is the address owner and never changes.
    public var basePriority: Int
    public var primaryAddress: IPv4Address
    /// keepalived's garp_master_delay: a second burst of GARPs this long after the first (0: none).
    public var garpMasterDelay: Nanos
    public var garpMasterRepeat: Int
    /// garp_master_refresh: GARPs again every this long while master (0: never).
    public var garpMasterRefresh: Nanos
    public var garpMasterRefreshRepeat: Int
    /// Send an advert at once when a master hears a lower priority (keepalived's default).
    public var advertOnLowerPriority: Bool
    /// Preempting a live master: advertise first, take the addresses (and send the gratuitous
    /// ARPs that turn the clients) this long after, while the old master finishes what it
    /// accepted (0: at once, as RFC 5798 and keepalived). See PreemptHandover.
    public var preemptHandover: Nanos

    public init(version: UInt8 = 2, advertInterval: Int = 100, preempt: Bool = true,
                preemptDelay: Nanos = 0, basePriority: Int = 100,
                primaryAddress: IPv4Address = IPv4Address(0),
                garpMasterDelay: Nanos = 5 * .second, garpMasterRepeat: Int = 5,
                garpMasterRefresh: Nanos = 0, garpMasterRefreshRepeat: Int = 1,
                advertOnLowerPriority: Bool = true, preemptHandover: Nanos = 0) {
        self.version = version; self.advertInterval = advertInterval; self.preempt = preempt
        self.preemptDelay = preemptDelay; self.basePriority = basePriority
        self.primaryAddress = primaryAddress; self.garpMasterDelay = garpMasterDelay
        self.garpMasterRepeat = garpMasterRepeat; self.garpMasterRefresh = garpMasterRefresh
        self.garpMasterRefreshRepeat = garpMasterRefreshRepeat
        self.advertOnLowerPriority = advertOnLowerPriority
        self.preemptHandover = preemptHandover
    }
}

public struct VRRPMachine: Sendable {
    public let config: VRRPMachineConfig
    public private(set) var state: VRRPState = .initialize
    /// The priority we advertise: base plus tracking, 1...254 (255 for the owner).
    public private(set) var priority: Int
    /// Fault from tracking (weight-0 script or interface down, our interface down).
    public private(set) var faulted = false
    /// The master's advertisement interval in centiseconds (v3 learns it from adverts).
    public private(set) var masterAdverInterval: Int
    public private(set) var masterAddress: IPv4Address?
    public private(set) var masterPriority: Int?

    public private(set) var adverDeadline: Nanos?
    public private(set) var masterDownDeadline: Nanos?
    public private(set) var garpDeadline: Nanos?
    /// A master handing over (`resign`): priority 0 was sent, the addresses stay until a new
    /// master advertises or this deadline passes.
    public private(set) var resignDeadline: Nanos?
    private var garpSecondBurstDone = false
    /// Until when lower-priority adverts still hold off preemption (preempt_delay).
    private var preemptHoldUntil: Nanos?
    /// A backup discarding a live master's lower-priority adverts: when it last heard one.
    private var lowerAdvertHeardAt: Nanos?
    /// A master that preempted a live one and has not taken the addresses yet: when it will.
    public private(set) var takeAddressesAt: Nanos?

    public init(config: VRRPMachineConfig) {
        self.config = config
        self.priority = config.basePriority
        self.masterAdverInterval = config.advertInterval
    }

    public var isOwner: Bool { config.basePriority == 255 }

    /// Skew_Time in nanoseconds: ((256 - Priority) * Master_Adver_Interval) / 256.
    public var skewTime: Nanos {
        let interval = config.version == 2 ? config.advertInterval : masterAdverInterval
        return Nanos(256 - priority) * Nanos(interval) * .centisecond / 256
    }

    /// Master_Down_Interval: 3 * Master_Adver_Interval + Skew_Time.
    public var masterDownInterval: Nanos {
        let interval = config.version == 2 ? config.advertInterval : masterAdverInterval
        return 3 * Nanos(interval) * .centisecond + skewTime
    }

    /// The earliest moment `tick` has something to do.
    public var nextDeadline: Nanos? {
        [adverDeadline, masterDownDeadline, garpDeadline, resignDeadline, takeAddressesAt].compactMap { $0 }.min()
    }

    public var isResigning: Bool { resignDeadline != nil }

    // MARK: inputs

    /// Leave Initialize (RFC 5798 6.4.1): the owner becomes master at once, others back up.
    public mutating func start(now: Nanos) -> [VRRPAction] {
        guard state == .initialize || state == .stopped else { return [] }
        if config.preemptDelay > 0 { preemptHoldUntil = now + config.preemptDelay }
        if faulted { return enter(.fault, now: now) }
        if isOwner { return enter(.master, now: now) }
        return enter(.backup, now: now)
    }

    /// The clock moved: fire whatever timers expired.
    public mutating func tick(now: Nanos) -> [VRRPAction] {
        var out: [VRRPAction] = []
        switch state {
        case .backup:
            if let d = masterDownDeadline, now >= d {
                if config.preemptHandover > 0, let heard = lowerAdvertHeardAt, now - heard < masterDownInterval {
                    // The master we preempt is alive: let it finish what it accepted first.
                    out.append(.log("Preempting the master: advertising now, taking the VIPs in \(config.preemptHandover / 1_000_000) ms"))
                    out += enter(.master, now: now, addressesAfter: config.preemptHandover)
                } else {
                    out.append(.log("Receive advertisement timeout"))
                    out += enter(.master, now: now)
                }
            }
        case .master:
            if let t = takeAddressesAt, now >= t {
                takeAddressesAt = nil
                out += takeAddresses(now: now)
            }
            if let r = resignDeadline, now >= r {
                out.append(.log("no new master advertised within the handover time - releasing the VIPs"))
                out += enter(.backup, now: now)
                return out
            }
            if let g = garpDeadline, now >= g {
                if !garpSecondBurstDone {
                    garpSecondBurstDone = true
                    out.append(.sendGARP(count: config.garpMasterRepeat))
                    garpDeadline = config.garpMasterRefresh > 0 ? g + config.garpMasterRefresh : nil
                } else {
                    out.append(.sendGARP(count: config.garpMasterRefreshRepeat))
                    garpDeadline = config.garpMasterRefresh > 0 ? now + config.garpMasterRefresh : nil
                }
            }
            if let d = adverDeadline, now >= d {
                out.append(.sendAdvert(priority: UInt8(priority)))
                // Keep the cadence; if we fell far behind (a stalled process), restart it.
                let next = d + Nanos(config.advertInterval) * .centisecond
                adverDeadline = next > now ? next : now + Nanos(config.advertInterval) * .centisecond
            }
        default:
            break
        }
        return out
    }

    /// A validated advert for our VRID (RFC 5798 6.4.2 and 6.4.3).
    public mutating func receive(priority p: UInt8, from source: IPv4Address, intervalCentiseconds: Int,
                                 now: Nanos) -> [VRRPAction] {
        let theirs = Int(p)
        switch state {
        case .backup:
            if theirs == 0 {
                masterDownDeadline = now + skewTime
                return [.log("Backup received priority 0 advertisement")]
            }
            let holdOff = preemptHolding(now: now)
            if !config.preempt || theirs >= priority || holdOff {
                if config.version == 3 { masterAdverInterval = max(1, intervalCentiseconds) }
                masterAddress = source
                masterPriority = theirs
                masterDownDeadline = now + masterDownInterval
                if theirs >= priority { preemptHoldUntil = preemptHoldUntil.map { $0 > now ? $0 : nil } ?? nil }
                return []
            }
            lowerAdvertHeardAt = now
            return [.log("received lower priority (\(theirs)) advert from \(source) - discarding")]
        case .master where resignDeadline != nil:
            // Handing over: the first advert of whoever took over ends it. Its priority may be
            // below ours (ours still counts the proxy we are handing over for).
            guard theirs != 0 else { return [] }
            if config.version == 3 { masterAdverInterval = max(1, intervalCentiseconds) }
            masterAddress = source
            masterPriority = theirs
            return [.log("\(source) took over as master (priority \(theirs)) - releasing the VIPs")]
                + enter(.backup, now: now)
        case .master:
            if theirs == 0 {
                adverDeadline = now + Nanos(config.advertInterval) * .centisecond
                return [.sendAdvert(priority: UInt8(priority))]
            }
            if theirs > priority || (theirs == priority && source > config.primaryAddress) {
                if config.version == 3 { masterAdverInterval = max(1, intervalCentiseconds) }
                masterAddress = source
                masterPriority = theirs
                return [.log("Master received advert from \(source) with higher priority \(theirs), ours \(priority)")]
                    + enter(.backup, now: now)
            }
            if config.advertOnLowerPriority {
                adverDeadline = now + Nanos(config.advertInterval) * .centisecond
                return [.log("Received advert from \(source) with lower priority \(theirs), ours \(priority), forcing new election"),
                        .sendAdvert(priority: UInt8(priority))]
            }
            return []
        default:
            return []
        }
    }

    /// The effective priority from tracking changed. The owner's 255 never changes.
    public mutating func setPriority(_ p: Int, now: Nanos) -> [VRRPAction] {
        let clamped = isOwner ? 255 : min(254, max(1, p))
        guard clamped != priority else { return [] }
        let old = priority
        priority = clamped
        return [.log("Changing effective priority from \(old) to \(clamped)")]
    }

    /// Tracking says the instance cannot work (or can again).
    public mutating func setFault(_ f: Bool, now: Nanos) -> [VRRPAction] {
        guard f != faulted else { return [] }
        faulted = f
        switch state {
        case .initialize, .stopped:
            return []
        case .fault:
            return f ? [] : enter(.backup, now: now)
        case .backup, .master:
            return f ? enter(.fault, now: now) : []
        }
    }

    /// Stop (SIGTERM, reload removing the instance): a master says priority 0 so a backup
    /// takes over after its skew time alone, and gives up its addresses.
    public mutating func shutdown(now: Nanos) -> [VRRPAction] {
        var out: [VRRPAction] = []
        let from = state
        if state == .master {
            out += [.sendAdvert(priority: 0), .log("sent 0 priority")]
            if takeAddressesAt == nil { out.append(.removeVIPs) }
        }
        state = .stopped
        adverDeadline = nil; masterDownDeadline = nil; garpDeadline = nil; resignDeadline = nil
        takeAddressesAt = nil
        if from != .stopped { out.append(.stateChanged(from: from, to: .stopped)) }
        return out
    }

    /// A planned handover (the tracked proxy is stopping, or died): say priority 0 at once so a
    /// backup takes over after its skew time alone, but keep the addresses, and so keep
    /// serving, until the new master's first advert or `until`, whichever comes first; then
    /// back up. `until <= now` releases the addresses at once.
    public mutating func resign(now: Nanos, until: Nanos) -> [VRRPAction] {
        guard state == .master, resignDeadline == nil else { return [] }
        if until <= now || takeAddressesAt != nil {
            return [.sendAdvert(priority: 0), .log("sent 0 priority - releasing the VIPs at once")] + enter(.backup, now: now)
        }
        resignDeadline = until
        // No more adverts at our priority: each would reset the backup's timer to the full
        // Master_Down_Interval instead of its skew time.
        adverDeadline = nil
        // Nor gratuitous ARPs: the next ones a client hears should be the new master's.
        garpDeadline = nil
        let ms = (until - now) / 1_000_000
        return [.sendAdvert(priority: 0),
                .log("handing over: sent 0 priority, keeping the VIPs until a new master advertises (at most \(ms) ms)")]
    }

    /// Reload of a changed instance that was master: carry on as master at once, without
    /// the Initialize/Backup round and without a stop's priority-0 goodbye, so a reload is not
    /// a failover. The peers then judge the new priority as usual.
    public mutating func resumeAsMaster(now: Nanos) -> [VRRPAction] {
        guard state == .initialize else { return [] }
        if config.preemptDelay > 0 { preemptHoldUntil = now + config.preemptDelay }
        if faulted { return enter(.fault, now: now) }
        return [.log("Resuming MASTER STATE after reload")] + enter(.master, now: now).filter {
            if case .stateChanged = $0 { return false }
            if case .log("Entering MASTER STATE") = $0 { return false }
            return true
        }
    }

    /// Sync groups: follow a member that became master (from backup), or that left
    /// master for backup (from master). Other states are left alone.
    public mutating func follow(_ target: VRRPState, now: Nanos) -> [VRRPAction] {
        switch (state, target) {
        case (.backup, .master): return [.log("Sync group member became master")] + enter(.master, now: now)
        case (.master, .backup): return [.log("Sync group member left master")] + enter(.backup, now: now)
        default: return []
        }
    }

    // MARK: transitions

    /// Add the addresses and turn the clients with gratuitous ARPs (the second burst after
    /// garp_master_delay, then the refreshes).
    private mutating func takeAddresses(now: Nanos) -> [VRRPAction] {
        if config.garpMasterDelay > 0 {
            garpDeadline = now + config.garpMasterDelay
        } else {
            garpSecondBurstDone = true
            garpDeadline = config.garpMasterRefresh > 0 ? now + config.garpMasterRefresh : nil
        }
        return [.addVIPs, .sendGARP(count: config.garpMasterRepeat)]
    }

    private func preemptHolding(now: Nanos) -> Bool {
        guard config.preemptDelay > 0 else { return false }
        if let until = preemptHoldUntil { return now < until }
        return false
    }

    /// Enter `new`. A master preempting a live one passes `addressesAfter`: it advertises at
    /// once but takes the addresses, with the gratuitous ARPs, only that long after.
    private mutating func enter(_ new: VRRPState, now: Nanos, addressesAfter: Nanos = 0) -> [VRRPAction] {
        let from = state
        var out: [VRRPAction] = []
        if from == .master && new != .master {
            // Leaving master for fault: tell the others at once, as keepalived does.
            if new == .fault { out += [.sendAdvert(priority: 0), .log("sent 0 priority")] }
            // Addresses not taken yet (a preemption still waiting) are not ours to remove.
            if takeAddressesAt == nil { out.append(.removeVIPs) }
        }
        state = new
        adverDeadline = nil; masterDownDeadline = nil; garpDeadline = nil; resignDeadline = nil
        takeAddressesAt = nil; lowerAdvertHeardAt = nil
        switch new {
        case .master:
            masterAddress = config.primaryAddress
            masterPriority = priority
            masterAdverInterval = config.advertInterval
            garpSecondBurstDone = false
            out.append(.log("Entering MASTER STATE"))
            out.append(.stateChanged(from: from, to: .master))
            if addressesAfter > 0 {
                out.append(.sendAdvert(priority: UInt8(priority)))
                takeAddressesAt = now + addressesAfter
            } else {
                // VIPs first, then the GARPs and the advert in the same breath: no gap in
                // which a client's SYN reaches an address nobody answers for (FACTS.md).
                out += takeAddresses(now: now)
                out.append(.sendAdvert(priority: UInt8(priority)))
            }
            adverDeadline = now + Nanos(config.advertInterval) * .centisecond
        case .backup:
            masterDownDeadline = now + masterDownInterval
            out.append(.log(from == .initialize ? "Entering BACKUP STATE (init)" : "Entering BACKUP STATE"))
            out.append(.stateChanged(from: from, to: .backup))
        case .fault:
            masterAddress = nil
            out.append(.log("Entering FAULT STATE"))
            out.append(.stateChanged(from: from, to: .fault))
        case .initialize, .stopped:
            out.append(.stateChanged(from: from, to: new))
        }
        return out
    }
}
