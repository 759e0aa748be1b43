#if canImport(Glibc)
import Glibc
#endif
import CLinux

public struct DaemonOptions: Sendable {
    public var configFile = "/etc/keepalived/keepalived.conf"
    public var querySocket: String? = "/run/vrrpd.sock"
    public var dataFile = "/tmp/vrrpd.data"
    public var statsFile = "/tmp/vrrpd.stats"
    public init() {}
}

/// The daemon: one thread, one poll loop. Raw sockets, netlink, signals (signalfd), the
/// query socket and child processes feed the pure state machines; their actions go back
/// out as packets, netlink requests, ARP frames, processes and log lines.
public final class VRRPDaemon {
    let options: DaemonOptions
    let log: VRRPLog
    var config: VRRPConfig
    var instances: [InstanceRuntime] = []
    var scripts: [String: ScriptRuntime] = [:]
    var proxydTrackers: [String: ProxydTrackRuntime] = [:]
    let ourNetns = VRRPDaemon.currentNetns()
    var sockets: [String: VRRPSocket] = [:]
    var links: [String: LinkInfo] = [:]
    var interfaceDrops: [String: [DropReason: Int]] = [:]
    var loggedInterfaceDrops: Set<String> = []
    var notifyPids: Set<pid_t> = []
    var groupStates: [String: VRRPState] = [:]
    let netlink: Netlink
    let monitor: Netlink
    let arp: ARPSocket
    var signalFD: Int32 = -1
    var query: QueryServer?
    var running = true
    /// A script that runs as root and that another user could change was found
    /// (enable_script_security; keepalived's "There are insecure scripts.").
    var insecureScripts = false
    var propagating = false
    let startedWall = time(nil)

    public init(config: VRRPConfig, options: DaemonOptions, log: VRRPLog) throws {
        self.config = config
        self.options = options
        self.log = log
        netlink = try Netlink()
        monitor = try Netlink(groups: UInt32(RTMGRP_LINK))
        arp = try ARPSocket()
    }

    // MARK: setup

    func refreshLinks() {
        if let l = try? netlink.links() {
            links = Dictionary(l.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func buildScripts(_ cfg: VRRPConfig, keeping old: [String: ScriptRuntime]) -> [String: ScriptRuntime] {
        var out: [String: ScriptRuntime] = [:]
        let tracked = Set(cfg.instances.flatMap { $0.trackScripts.map(\.name) })
        for sc in cfg.scripts where tracked.contains(sc.name) {
            if let o = old[sc.name], VRRPDaemon.sameIgnoringLocation(o.config, sc) {
                out[sc.name] = o
                continue
            }
            let rt = ScriptRuntime(config: sc)
            if let u = sc.user ?? cfg.global.scriptUser {
                if let ids = ScriptSpawner.ids(user: u, group: sc.user != nil ? sc.group : cfg.global.scriptGroup) {
                    rt.ids = ids
                } else {
                    rt.idsProblem = "script user '\(u)' does not exist"
                }
            }
            // A script that would run as root and that another user could change is not
            // run at all with enable_script_security (the instance no longer tracks it),
            // as keepalived disables it; without it, the same line warns.
            if rt.idsProblem == nil, rt.ids?.0 ?? 0 == 0, case .ok(let path) = ScriptSpawner.resolve(sc.argv),
               ScriptSecurity.isUnsafe(path) {
                insecureScripts = true
                log.warning(ScriptSecurity.unsafeLine(path, disabling: cfg.global.enableScriptSecurity))
                if cfg.global.enableScriptSecurity {
                    log.warning(ScriptSecurity.disablingTrackLine(sc.name))
                    continue
                }
            }
            out[sc.name] = rt
        }
        return out
    }

    func makeInstance(_ ic: InstanceConfig, _ cfg: VRRPConfig, addrs: [AddressInfo], now: Nanos) -> InstanceRuntime {
        let rt = InstanceRuntime(config: ic, global: cfg.global)
        if let l = links[rt.ifname] {
            rt.ifindex = l.index
            rt.mac = l.mac
            rt.linkUp = l.isUp
            let vips = Set((ic.virtualAddresses + ic.excludedAddresses).map(\.address))
            let mine = addrs.filter { $0.index == l.index && !vips.contains($0.address) }
            rt.primary = (mine.first { !$0.secondary } ?? mine.first)?.address
            if rt.primary == nil { log.error("(\(ic.name)) interface \(rt.ifname) has no IPv4 address - entering FAULT") }
        } else {
            log.error("(\(ic.name)) interface \(rt.ifname) does not exist - entering FAULT")
        }
        rt.machine = VRRPMachine(config: InstanceRuntime.machineConfig(ic, cfg.global, primary: rt.sourceAddress ?? IPv4Address(0)))
        rt.syncGroup = cfg.syncGroups.first { $0.members.contains(ic.name) }?.name
        rt.startAt = now + Nanos((cfg.global.startupDelay * 1e9).rounded())
        return rt
    }

    func openSockets() throws {
        var wanted: [String: Bool] = [:]
        for i in instances where i.ifindex != 0 {
            wanted[i.ifname] = (wanted[i.ifname] ?? false) || i.config.unicastPeers.isEmpty
        }
        for name in sockets.keys where wanted[name] == nil { sockets[name] = nil }
        for (name, join) in wanted {
            if let s = sockets[name], s.joined == join || !join { continue }
            guard let l = links[name] else { continue }
            sockets[name] = try VRRPSocket(ifname: name, ifindex: l.index, group: config.global.mcastGroup4, joinGroup: join)
        }
    }

    /// A VIP left on the interface by a killed earlier run is removed before we start.
    func removeStaleVIPs(_ rt: InstanceRuntime, addrs: [AddressInfo]) {
        log.info("(\(rt.name)) removing VIPs.")
        for v in rt.config.virtualAddresses + rt.config.excludedAddresses {
            let dev = v.device ?? rt.ifname
            guard let l = links[dev] else { continue }
            if addrs.contains(where: { $0.index == l.index && $0.address == v.address }) {
                do {
                    try netlink.changeAddress(v, index: l.index, add: false)
                    log.info("(\(rt.name)) removed stale VIP \(v.address) from \(dev) (left by an earlier run)")
                } catch { log.error("(\(rt.name)) cannot remove stale VIP \(v.address): \(error)") }
            }
        }
    }

    // MARK: run

    public func run() -> Int32 {
        let sigs: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD]
        signalFD = sigs.withUnsafeBufferPointer { clinux_signalfd($0.baseAddress, Int32($0.count)) }
        guard signalFD >= 0 else { log.error("signalfd: \(String(cString: strerror(-signalFD)))"); return 1 }
        signal(SIGPIPE, SIG_IGN)
        refreshLinks()
        let addrs = (try? netlink.addresses()) ?? []
        let now = MonotonicClock.now()
        scripts = buildScripts(config, keeping: [:])
        proxydTrackers = buildProxydTrackers(config, keeping: [:])
        warnScriptUser()
        limitCapabilitiesIfScriptsRunAsOthers()
        for ic in config.instances {
            let rt = makeInstance(ic, config, addrs: addrs, now: now)
            removeStaleVIPs(rt, addrs: addrs)
            instances.append(rt)
        }
        do { try openSockets() } catch {
            log.error("\(error)")
            return 1
        }
        if let path = options.querySocket {
            do { query = try QueryServer(path: path) } catch { log.error("query socket \(path): \(error)") }
        }
        for s in scripts.values { s.nextRun = now }
        for rt in instances { recompute(rt, now: now) }
        log.info("Startup complete")
        while running {
            let now = MonotonicClock.now()
            fireTimers(now: now)
            if !running { break }
            pollOnce(now: now)
        }
        shutdownAll()
        return 0
    }

    func warnScriptUser() {
        let notifying = config.instances.contains(where: { $0.notify != NotifyScripts() })
        guard !scripts.isEmpty || insecureScripts || notifying else { return }
        if config.global.scriptUser == nil && getpwnam("keepalived_script") == nil {
            log.warning("WARNING - default user 'keepalived_script' for script execution does not exist - scripts run as root.")
        }
        // Notify scripts are checked once here, as keepalived checks them at start; with
        // security on, an unsafe one is then skipped each time (isUnsafeNotify).
        var checked: Set<String> = []
        for ic in config.instances {
            let n = ic.notify
            for script in [n.master, n.backup, n.fault, n.stop, n.generic].compactMap({ $0 }) {
                guard case .ok(let path) = ScriptSpawner.resolve(script.argv), checked.insert(path).inserted,
                      notifyIDs(script)?.0 ?? 0 == 0, ScriptSecurity.isUnsafe(path) else { continue }
                insecureScripts = true
                log.warning(ScriptSecurity.unsafeLine(path, disabling: config.global.enableScriptSecurity))
            }
        }
        if !config.global.enableScriptSecurity {
            log.warning(ScriptSecurity.violationLine(insecure: insecureScripts))
        }
    }

    /// A script's whole process group; CAP_KILL is needed when it runs as another user.
    func killScript(_ pid: pid_t) {
        CapabilityLimit.withKill {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
    }

    /// When scripts run and none of them as root, vrrpd keeps only CAP_NET_ADMIN and
    /// CAP_NET_RAW (CapabilityLimit). Decided at start: a reload that adds a root script
    /// finds the smaller set, and says so.
    func limitCapabilitiesIfScriptsRunAsOthers() {
        guard geteuid() == 0, !CapabilityLimit.applied else {
            if CapabilityLimit.applied, scriptsRunAsRoot() == true {
                log.warning("scripts now run as root with vrrpd's limited capabilities (CAP_NET_ADMIN, CAP_NET_RAW): restart vrrpd to give them all")
            }
            return
        }
        guard scriptsRunAsRoot() == false else { return }
        do {
            try CapabilityLimit.apply()
            log.info("Scripts run as another user: vrrpd keeps only CAP_NET_ADMIN and CAP_NET_RAW")
        } catch {
            log.warning("cannot limit capabilities: \(error)")
        }
    }

    /// nil without scripts; else whether any track or notify script runs as root.
    func scriptsRunAsRoot() -> Bool? {
        var any = false
        for s in scripts.values where s.idsProblem == nil {
            any = true
            if s.ids?.0 ?? 0 == 0 { return true }
        }
        for ic in config.instances {
            let n = ic.notify
            for script in [n.master, n.backup, n.fault, n.stop, n.generic].compactMap({ $0 }) {
                any = true
                if let u = script.user ?? config.global.scriptUser, ScriptSpawner.ids(user: u, group: nil) == nil { continue }
                if notifyIDs(script)?.0 ?? 0 == 0 { return true }
            }
        }
        return any ? false : nil
    }

    /// The ids a notify script runs as (nil: as vrrpd, root).
    func notifyIDs(_ script: NotifyScript) -> (uid_t, gid_t)? {
        guard let u = script.user ?? config.global.scriptUser else { return nil }
        return ScriptSpawner.ids(user: u, group: script.user != nil ? script.group : config.global.scriptGroup)
    }

    func fireTimers(now: Nanos) {
        for rt in instances {
            if !rt.started {
                if now >= rt.startAt {
                    rt.started = true
                    recompute(rt, now: now)   // script results that came in during the delay
                    apply(rt.machine.start(now: now), rt, now: now)
                }
                continue
            }
            if let d = rt.machine.nextDeadline, now >= d {
                apply(rt.machine.tick(now: now), rt, now: now)
            }
        }
        for s in scripts.values {
            if let pid = s.pid {
                if let d = s.deadline, now >= d, !s.timedOut {
                    s.timedOut = true
                    killScript(pid)
                }
            } else if now >= s.nextRun {
                startScript(s, now: now)
            }
        }
        for rt in instances {
            if let at = rt.vipReleaseAt, now >= at {
                rt.vipReleaseAt = nil
                if rt.machine.state != .master { setVIPs(rt, add: false) }
                undrainAfterStepDown(rt)
            }
        }
        proxydTimers(now: now)
    }

    func nextWake(now: Nanos) -> Nanos {
        var wake = now + 1 * .second
        for rt in instances {
            if !rt.started { wake = min(wake, rt.startAt); continue }
            if let d = rt.machine.nextDeadline { wake = min(wake, d) }
        }
        for s in scripts.values {
            if s.pid != nil { if let d = s.deadline, !s.timedOut { wake = min(wake, d) } } else { wake = min(wake, s.nextRun) }
        }
        for rt in instances { if let at = rt.vipReleaseAt { wake = min(wake, at) } }
        proxydWake(&wake)
        return wake
    }

    func pollOnce(now: Nanos) {
        var fds: [pollfd] = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                             pollfd(fd: monitor.fileDescriptor, events: Int16(POLLIN), revents: 0)]
        let socketList = Array(sockets.values)
        for s in socketList { fds.append(pollfd(fd: s.fd, events: Int16(POLLIN), revents: 0)) }
        let proxydFDs = proxydPollFDs()
        let proxydBase = fds.count
        fds += proxydFDs.map(\.0)
        let queryBase = fds.count
        if let q = query { fds += q.pollFDs() }
        let wait = nextWake(now: now) - now
        let ms = wait <= 0 ? 0 : Int32(min(1000, (wait + 999_999) / 1_000_000))
        let n = poll(&fds, nfds_t(fds.count), ms)
        guard n > 0 else { return }
        let t = MonotonicClock.now()
        if fds[0].revents != 0 { handleSignals(now: t) }
        if fds[1].revents != 0 { handleLinkChanges(now: t) }
        for (i, s) in socketList.enumerated() where fds[2 + i].revents != 0 {
            for _ in 0..<256 {
                guard let pkt = s.receive() else { break }
                handlePacket(pkt, on: s, now: MonotonicClock.now())
            }
        }
        for (i, p) in proxydFDs.enumerated() where fds[proxydBase + i].revents != 0 {
            proxydReadable(p.1, successor: p.isSuccessor, revents: fds[proxydBase + i].revents, now: MonotonicClock.now())
        }
        checkHandovers(now: MonotonicClock.now())
        if let q = query {
            q.handle(Array(fds[queryBase...])) { [unowned self] cmd in self.answer(cmd) }
        }
    }

    // MARK: packets

    func countDrop(_ r: DropReason, _ rt: InstanceRuntime, source: IPv4Address?) {
        rt.drops[r, default: 0] += 1
        if !rt.loggedDrops.contains(r) {
            rt.loggedDrops.insert(r)
            log.warning("(\(rt.name)) dropping advert\(source.map { " from \($0)" } ?? ""): \(r.rawValue) (counted; logged once per reason)")
        }
    }

    func countInterfaceDrop(_ r: DropReason, _ ifname: String, source: IPv4Address?) {
        interfaceDrops[ifname, default: [:]][r, default: 0] += 1
        let key = "\(ifname)/\(r.rawValue)"
        if !loggedInterfaceDrops.contains(key) {
            loggedInterfaceDrops.insert(key)
            log.warning("\(ifname): dropping VRRP packet\(source.map { " from \($0)" } ?? ""): \(r.rawValue) (counted; logged once per reason)")
        }
    }

    func handlePacket(_ bytes: [UInt8], on s: VRRPSocket, now: Nanos) {
        let here = instances.filter { $0.ifname == s.ifname && $0.started }
        switch PacketDecoder.decodeIPv4(bytes) {
        case .failure(let r):
            // Attribute to the instance whose VRID the bytes carry, when they carry one.
            var src: IPv4Address?
            if bytes.count >= 20 { src = IPv4Address(UInt32(bytes[12]) << 24 | UInt32(bytes[13]) << 16 | UInt32(bytes[14]) << 8 | UInt32(bytes[15])) }
            let ihl = bytes.isEmpty ? 20 : Int(bytes[0] & 0x0f) * 4
            if bytes.count > ihl + 1, let rt = here.first(where: { $0.vrid == bytes[ihl + 1] }) {
                countDrop(r, rt, source: src)
            } else {
                countInterfaceDrop(r, s.ifname, source: src)
            }
        case .success(let p):
            guard let rt = here.first(where: { $0.vrid == p.advert.vrid }) else {
                countInterfaceDrop(.unknownVRID, s.ifname, source: p.source)
                return
            }
            if let r = PacketValidator.validate(p, against: rt.expectations) {
                countDrop(r, rt, source: p.source)
                return
            }
            rt.advertsReceived += 1
            if p.advert.priority == 0 { rt.priorityZeroReceived += 1 }
            let wasMaster = rt.machine.state == .master
            var acts = rt.machine.receive(priority: p.advert.priority, from: p.source,
                                          intervalCentiseconds: p.advert.intervalCentiseconds, now: now)
            if wasMaster, rt.machine.state == .master, rt.garpLowerPrioRepeat > 0,
               p.advert.priority != 0, Int(p.advert.priority) < rt.machine.priority {
                acts.append(.sendGARP(count: rt.garpLowerPrioRepeat))
            }
            apply(acts, rt, now: now, heardAdvert: true)
        }
    }

    // MARK: actions

    func apply(_ acts: [VRRPAction], _ rt: InstanceRuntime, now: Nanos, heardAdvert: Bool = false) {
        var changes: [(VRRPState, VRRPState)] = []
        // A master stepping down for another (its advert heard) keeps the addresses a moment
        // while its proxyd drains (PreemptHandover). Not one letting go for a crash or a
        // timeout: nothing there is worth keeping.
        let steppingDown = heardAdvert && acts.contains(.stateChanged(from: .master, to: .backup))
        for a in acts {
            switch a {
            case .log(let s): log.info("(\(rt.name)) \(s)")
            case .addVIPs:
                if rt.vipReleaseAt != nil { rt.vipReleaseAt = nil; undrainAfterStepDown(rt) }
                setVIPs(rt, add: true)
            case .removeVIPs where steppingDown:
                rt.vipReleaseAt = now + PreemptHandover.delay
                drainForStepDown(rt)
            case .removeVIPs:
                if rt.vipReleaseAt != nil { rt.vipReleaseAt = nil; undrainAfterStepDown(rt) }
                setVIPs(rt, add: false)
            case .sendGARP(let n): sendGARPs(rt, rounds: n)
            case .sendAdvert(let p): sendAdvert(rt, priority: p)
            case .stateChanged(let from, let to): changes.append((from, to))
            }
        }
        for (from, to) in changes {
            rt.lastTransitionWall = Int(time(nil))
            if to == .master { rt.becameMaster += 1 }
            if from == .master { rt.releasedMaster += 1 }
            if to != .initialize { runNotify(rt.config.notify, kind: "INSTANCE", name: rt.name, state: to, priority: rt.machine.priority) }
            syncGroupFollow(rt, from: from, to: to, now: now)
        }
    }

    func vipDevice(_ v: VirtualAddress, _ rt: InstanceRuntime) -> (String, LinkInfo?) {
        let dev = v.device ?? rt.ifname
        return (dev, links[dev])
    }

    func setVIPs(_ rt: InstanceRuntime, add: Bool) {
        log.info("(\(rt.name)) \(add ? "setting" : "removing") VIPs.")
        for v in rt.config.virtualAddresses + rt.config.excludedAddresses {
            let (dev, link) = vipDevice(v, rt)
            guard let l = link else { log.error("(\(rt.name)) cannot \(add ? "add" : "remove") \(v.address): no interface \(dev)"); continue }
            do { try netlink.changeAddress(v, index: l.index, add: add) } catch {
                log.error("(\(rt.name)) cannot \(add ? "add" : "remove") VIP \(v.address) on \(dev): \(error)")
            }
        }
        rt.vipsInstalled = add
    }

    func sendGARPs(_ rt: InstanceRuntime, rounds: Int) {
        guard rounds > 0 else { return }
        let vips = rt.config.virtualAddresses + rt.config.excludedAddresses
        for v in vips { log.debug("(\(rt.name)) Sending/queueing gratuitous ARPs on \(v.device ?? rt.ifname) for \(v.address)") }
        for _ in 0..<rounds {
            for v in vips {
                let (_, link) = vipDevice(v, rt)
                guard let l = link, l.mac.count == 6 else { continue }
                if arp.send(frame: GratuitousARP.frame(mac: l.mac, address: v.address), ifindex: l.index) { rt.garpsSent += 1 }
            }
        }
    }

    func sendAdvert(_ rt: InstanceRuntime, priority: UInt8) {
        guard let s = sockets[rt.ifname], let src = rt.sourceAddress else { return }
        let interval = rt.version == 2 ? UInt16(rt.intervalCs / 100) : UInt16(rt.intervalCs)
        let ad = VRRPAdvert(version: rt.version, vrid: rt.vrid, priority: priority, interval: interval,
                            addresses: rt.config.virtualAddresses.map(\.address), auth: rt.auth)
        for dst in rt.destinations {
            let vrrp = ad.encode(source: src, destination: dst)
            let ip = IPv4Header.build(source: src, destination: dst, id: rt.nextID(), payloadLength: vrrp.count)
            if s.send(ip + vrrp, to: dst) {
                rt.advertsSent += 1
                if priority == 0 { rt.priorityZeroSent += 1 }
            } else {
                log.debug("(\(rt.name)) send to \(dst) failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    // MARK: sync groups

    func syncGroupFollow(_ rt: InstanceRuntime, from: VRRPState, to: VRRPState, now: Nanos) {
        guard let gname = rt.syncGroup, let g = config.syncGroups.first(where: { $0.name == gname }) else { return }
        if groupStates[gname] != to && to != .initialize {
            groupStates[gname] = to
            runNotify(g.notify, kind: "GROUP", name: gname, state: to, priority: 0)
        }
        guard !propagating else { return }
        propagating = true
        defer { propagating = false }
        for other in instances where other !== rt && other.syncGroup == gname && other.started {
            switch to {
            case .master: apply(other.machine.follow(.master, now: now), other, now: now)
            case .backup where from == .master: apply(other.machine.follow(.backup, now: now), other, now: now)
            case .fault: recompute(other, now: now)
            default:
                // A member out of FAULT lifts the group's fault from the others.
                if from == .fault { recompute(other, now: now) }
            }
        }
    }

    func groupFault(_ rt: InstanceRuntime) -> Bool {
        guard let g = rt.syncGroup else { return false }
        return instances.contains { $0 !== rt && $0.syncGroup == g && ownFault($0) }
    }

    // MARK: tracking

    func ownFault(_ rt: InstanceRuntime) -> Bool {
        computed(rt).fault || !rt.linkUp || rt.sourceAddress == nil || rt.ifindex == 0
    }

    func computed(_ rt: InstanceRuntime) -> (priority: Int, fault: Bool) {
        var tracked: [TrackedInput] = []
        for ref in rt.config.trackScripts {
            guard let s = scripts[ref.name] else { continue }
            tracked.append(TrackedInput(name: ref.name, weight: ref.weight ?? s.config.weight,
                                        reverse: ref.weight != nil ? ref.reverse : s.config.weightReverse,
                                        passing: s.tracker.passing))
        }
        for ref in rt.config.trackProxyd {
            guard let t = proxydTrackers[ref.name] else { continue }
            tracked.append(TrackedInput(name: ref.name, weight: ref.weight ?? t.config.weight,
                                        reverse: ref.weight != nil ? ref.reverse : t.config.weightReverse,
                                        passing: t.passing))
        }
        for ref in rt.config.trackInterfaces {
            tracked.append(TrackedInput(name: ref.name, weight: ref.weight ?? 0, reverse: ref.reverse,
                                        passing: links[ref.name]?.isUp ?? false))
        }
        return EffectivePriority.compute(base: rt.config.priority, tracked: tracked)
    }

    func recompute(_ rt: InstanceRuntime, now: Nanos) {
        let c = computed(rt)
        apply(rt.machine.setPriority(c.priority, now: now), rt, now: now)
        let fault = ownFault(rt) || groupFault(rt)
        apply(rt.machine.setFault(fault, now: now), rt, now: now)
    }

    func handleLinkChanges(now: Nanos) {
        let changed = monitor.pendingLinkChanges()
        guard !changed.isEmpty else { return }
        for l in changed {
            let before = links[l.name]?.isUp
            links[l.name] = l
            if before != l.isUp { log.info("Netlink reports \(l.name) \(l.isUp ? "up" : "down")") }
        }
        for rt in instances {
            if let l = links[rt.ifname], l.index == rt.ifindex { rt.linkUp = l.isUp; if !l.mac.isEmpty { rt.mac = l.mac } }
            if rt.started { recompute(rt, now: now) }
        }
    }

    // MARK: reload and stop

    func reload(now: Nanos) {
        log.info("Reloading")
        let (newConfig, diags) = ConfigParser.parse(file: options.configFile)
        for d in diags.items { (d.severity == .error ? log.error : log.warning)(d.description) }
        if diags.hasErrors {
            log.error("Reload failed: configuration has errors - keeping the running configuration")
            return
        }
        refreshLinks()
        let oldScripts = scripts
        scripts = buildScripts(newConfig, keeping: oldScripts)
        for (name, s) in oldScripts where scripts[name] !== s {
            if let pid = s.pid { killScript(pid) }
        }
        for s in scripts.values where s.runs == 0 && s.pid == nil { s.nextRun = now }
        let oldTrackers = proxydTrackers
        proxydTrackers = buildProxydTrackers(newConfig, keeping: oldTrackers)
        var kept: [InstanceRuntime] = []
        var started: [InstanceRuntime] = []
        let globalSame = newConfig.global == config.global
        for ic in newConfig.instances {
            if globalSame, let old = instances.first(where: { $0.name == ic.name && VRRPDaemon.sameIgnoringLocation($0.config, ic) }),
               scriptsUnchanged(ic, oldScripts),
               ic.trackProxyd.allSatisfy({ oldTrackers[$0.name] != nil && oldTrackers[$0.name] === proxydTrackers[$0.name] }) {
                kept.append(old)
            }
        }
        // A master whose configuration changed but that is still the same virtual router
        // (interface, VRID, version) hands over to its new self without a failover.
        var resumed: [String: InstanceRuntime] = [:]
        for old in instances where !kept.contains(where: { $0 === old }) {
            if old.machine.state == .master, old.started,
               let ic = newConfig.instances.first(where: { $0.name == old.name }),
               (ic.interface ?? newConfig.global.defaultInterface) == old.ifname, UInt8(ic.vrid ?? 0) == old.vrid,
               UInt8(ic.effectiveVersion(newConfig.global)) == old.version {
                log.info("(\(old.name)) configuration changed - staying master through the reload")
                let keep = Set((ic.virtualAddresses + ic.excludedAddresses).map { "\($0.address)/\($0.device ?? old.ifname)" })
                for v in old.config.virtualAddresses + old.config.excludedAddresses
                where !keep.contains("\(v.address)/\(v.device ?? old.ifname)") {
                    let (dev, link) = vipDevice(v, old)
                    if let l = link { try? netlink.changeAddress(v, index: l.index, add: false) }
                    log.info("(\(old.name)) removed VIP \(v.address) from \(dev): no longer configured")
                }
                resumed[old.name] = old
                continue
            }
            log.info("(\(old.name)) configuration changed or removed - stopping it")
            apply(old.machine.shutdown(now: now), old, now: now)
        }
        config = newConfig
        limitCapabilitiesIfScriptsRunAsOthers()
        // After the stops above, so their VIPs are not taken for leftovers of a killed run.
        let addrs = (try? netlink.addresses()) ?? []
        var handedOver: [InstanceRuntime] = []
        for ic in newConfig.instances where !kept.contains(where: { $0.name == ic.name }) {
            let rt = makeInstance(ic, newConfig, addrs: addrs, now: now)
            if let old = resumed[ic.name] {
                rt.ipID = old.ipID
                rt.becameMaster = old.becameMaster
                rt.started = true
                rt.vipsInstalled = true
                handedOver.append(rt)
            } else {
                removeStaleVIPs(rt, addrs: addrs)
            }
            started.append(rt)
        }
        instances = newConfig.instances.compactMap { ic in
            kept.first { $0.name == ic.name } ?? started.first { $0.name == ic.name }
        }
        for rt in kept { rt.syncGroup = newConfig.syncGroups.first { $0.members.contains(rt.name) }?.name }
        do { try openSockets() } catch { log.error("\(error)") }
        for rt in handedOver {
            let c = computed(rt)
            _ = rt.machine.setPriority(c.priority, now: now)
            _ = rt.machine.setFault(ownFault(rt) || groupFault(rt), now: now)
            apply(rt.machine.resumeAsMaster(now: now), rt, now: now)
        }
        for rt in instances where rt.started { recompute(rt, now: now) }
        for rt in started where !rt.started { recompute(rt, now: now) }
        log.info("Reload finished: \(kept.count) instance(s) kept their state, \(handedOver.count) stayed master with a new configuration, \(started.count - handedOver.count) (re)started")
    }

    /// Moving a block to other lines (a comment added above it) is not a change.
    static func sameIgnoringLocation(_ a: InstanceConfig, _ b: InstanceConfig) -> Bool {
        var x = a, y = b
        x.location = nil; y.location = nil
        x.interfaceLocation = nil; y.interfaceLocation = nil
        x.virtualAddressLocations = [:]; y.virtualAddressLocations = [:]
        return x == y
    }

    static func sameIgnoringLocation(_ a: ScriptConfig, _ b: ScriptConfig) -> Bool {
        var x = a, y = b
        x.location = nil; y.location = nil
        return x == y
    }

    func scriptsUnchanged(_ ic: InstanceConfig, _ old: [String: ScriptRuntime]) -> Bool {
        ic.trackScripts.allSatisfy { ref in old[ref.name] != nil && old[ref.name] === scripts[ref.name] }
    }

    func shutdownAll() {
        let now = MonotonicClock.now()
        for rt in instances where rt.started {
            apply(rt.machine.shutdown(now: now), rt, now: now)
        }
        for rt in instances where rt.vipsInstalled { setVIPs(rt, add: false) }
        for s in scripts.values { if let pid = s.pid { killScript(pid) } }
        closeProxydLinks()
        query?.close()
        log.info("Stopped")
    }

    func writeFile(_ path: String, _ lines: [String]) {
        let text = lines.joined(separator: "\n") + "\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { log.error("cannot write \(path): \(String(cString: strerror(errno)))"); return }
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        Glibc.close(fd)
    }
}
