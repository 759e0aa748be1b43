#if canImport(Glibc)
import Glibc
#endif

/// One `vrrp_script` while the daemon runs.
final class ScriptRuntime {
    let config: ScriptConfig
    var tracker: ScriptTracker
    var nextRun: Nanos = 0
    var pid: pid_t?
    var startedAt: Nanos = 0
    var deadline: Nanos?
    var timedOut = false
    var lastResult = "not run yet"
    var lastDuration: Nanos = 0
    var runs = 0
    var failures = 0
    var ids: (uid_t, gid_t)?
    var idsProblem: String?
    var lastLoggedProblem: String?
    /// The last result `--log-detail` reported; keepalived starts from "returning 0", so a
    /// first success is not reported and a first failure is.
    var lastReportedResult = "exited with status 0"

    init(config: ScriptConfig) {
        self.config = config
        tracker = ScriptTracker(rise: config.rise, fall: config.fall, initFail: config.initFail)
    }

    /// keepalived's words for a new result: "Script `chk_proxyd` now returning 1"; a script
    /// that did not exit by itself (killed, timed out, not started) says what happened.
    static func resultChangeLine(name: String, detail: String) -> String {
        let exited = "exited with status "
        if detail.hasPrefix(exited) {
            let code = detail.dropFirst(exited.count).prefix { $0.isNumber }
            return "Script `\(name)` now returning \(code)"
        }
        return "Script `\(name)` \(detail)"
    }
}

/// One `vrrp_instance` while the daemon runs: its state machine plus the wire facts.
final class InstanceRuntime {
    var config: InstanceConfig
    var machine: VRRPMachine
    let ifname: String
    var ifindex: Int32 = 0
    var mac: [UInt8] = []
    var primary: IPv4Address?
    var linkUp = false
    var version: UInt8
    var vrid: UInt8
    var intervalCs: Int
    var auth: VRRPAuth
    var group: IPv4Address
    var checkAddresses: Bool
    var garpLowerPrioRepeat: Int
    var syncGroup: String?
    var startAt: Nanos = 0
    var started = false
    var ipID: UInt16 = 0

    var drops: [DropReason: Int] = [:]
    var loggedDrops: Set<DropReason> = []
    var advertsReceived = 0
    var advertsSent = 0
    var priorityZeroReceived = 0
    var priorityZeroSent = 0
    var becameMaster = 0
    var releasedMaster = 0
    var garpsSent = 0
    var lastTransitionWall: Int = 0
    var vipsInstalled = false
    /// When a master that stepped down for another removes its addresses (PreemptHandover).
    var vipReleaseAt: Nanos?

    init(config: InstanceConfig, global g: GlobalDefs) {
        self.config = config
        ifname = config.interface ?? g.defaultInterface
        version = UInt8(config.effectiveVersion(g))
        vrid = UInt8(config.vrid ?? 0)
        intervalCs = config.advertCentiseconds(g)
        auth = config.authPass.map { .password($0) } ?? .none
        group = g.mcastGroup4
        checkAddresses = !(config.skipCheckAdvAddr ?? g.skipCheckAdvAddr)
        garpLowerPrioRepeat = config.garpLowerPrioRepeat ?? g.garpLowerPrioRepeat
        machine = VRRPMachine(config: InstanceRuntime.machineConfig(config, g, primary: IPv4Address(0)))
    }

    static func machineConfig(_ c: InstanceConfig, _ g: GlobalDefs, primary: IPv4Address) -> VRRPMachineConfig {
        func ns(_ d: Double) -> Nanos { Nanos((d * 1e9).rounded()) }
        return VRRPMachineConfig(
            version: UInt8(c.effectiveVersion(g)), advertInterval: c.advertCentiseconds(g),
            preempt: !c.nopreempt, preemptDelay: ns(c.preemptDelay), basePriority: c.priority,
            primaryAddress: primary,
            garpMasterDelay: ns(c.garpMasterDelay ?? g.garpMasterDelay),
            garpMasterRepeat: c.garpMasterRepeat ?? g.garpMasterRepeat,
            garpMasterRefresh: ns(c.garpMasterRefresh ?? g.garpMasterRefresh),
            garpMasterRefreshRepeat: c.garpMasterRefreshRepeat ?? g.garpMasterRefreshRepeat,
            preemptHandover: PreemptHandover.delay)
    }

    var name: String { config.name }
    var sourceAddress: IPv4Address? { config.unicastSource ?? config.mcastSource ?? primary }
    var destinations: [IPv4Address] { config.unicastPeers.isEmpty ? [group] : config.unicastPeers }

    var expectations: AdvertExpectations {
        AdvertExpectations(version: version, vrid: vrid, auth: auth, intervalSeconds: UInt16(intervalCs / 100),
                           addresses: config.virtualAddresses.map(\.address), checkAddresses: checkAddresses,
                           ownAddresses: Set([sourceAddress, primary].compactMap { $0 }),
                           unicastPeers: Set(config.unicastPeers))
    }

    func nextID() -> UInt16 {
        ipID &+= 1
        if ipID == 0 { ipID = 1 }
        return ipID
    }
}

/// A preemption without a lost request. The preempting master advertises at once but takes
/// the addresses, and sends the gratuitous ARPs that turn the clients, only this long after;
/// the master it preempts (a vrrpd, hearing that advert) keeps its addresses as long while
/// its proxyd drops new SYNs (the clients retry a second later, by then to the new master)
/// and finishes the connections it has. So when the clients' traffic moves, nothing is
/// half-way through the old master. Any master stepping down for another lingers this long,
/// which also covers a peer (keepalived) that takes the addresses at once: what arrives here
/// in that moment was sent before its ARPs, and answers on connections made just before still
/// go out. Short enough that two holders never matter: below the 0.1 s the HA tests allow,
/// and below one advert interval of VRRPv3 at 0.1 s; long enough for a request in flight on
/// a LAN.
enum PreemptHandover {
    static let delay: Nanos = 80_000_000
}
