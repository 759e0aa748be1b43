#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// One `vrrp_track_proxyd` while the daemon runs: the connection to proxyd, the verdict the
/// instances count, and a planned handover under way.
final class ProxydTrackRuntime {
    let config: ProxydTrackConfig
    var link: ProxydLink?
    /// When proxyd says it is stopping, a second connection to the same path tells a reload
    /// (a new proxyd answers there) from a stop (nobody, or the same process, answers).
    var successor: ProxydLink?
    var successorDeadline: Nanos?
    var nextConnect: Nanos = 0
    /// nil: no verdict yet (counts neither way, as a script that has not run).
    var passing: Bool?
    var reason = "not connected yet"
    var lastLoggedFailure: String?
    /// A planned stop being handed over: the masters still resigning.
    var handover: (pending: [String], started: Nanos)?
    /// When to ask proxyd to drain during a handover (see beginHandover).
    var drainAt: Nanos?
    /// Instances that stepped down for a preempting master and still linger on their
    /// addresses: proxyd drains while any does (PreemptHandover).
    var steppingDown: Set<String> = []
    var connects = 0
    var handovers = 0
    var reloadsFollowed = 0

    init(config: ProxydTrackConfig) { self.config = config }

    /// While deciding between reload and stop, and while handing over, the verdict is held:
    /// the instances keep counting proxyd as up, so nothing leaves before its time.
    var held: Bool { successor != nil || handover != nil }
    var timeout: Nanos { Nanos((config.timeout * 1e9).rounded()) }
    var status: String { passing.map { $0 ? "UP" : "DOWN" } ?? "INIT" }
}

/// The daemon's side of proxyd tracking: connections in the poll loop, verdicts into the
/// instances' priorities, a crash turned into an immediate priority-0 handover, and a planned
/// stop handed over while proxyd still serves (docs/ha.md).
extension VRRPDaemon {
    static let reconnectDelay: Nanos = 100_000_000

    static func currentNetns() -> UInt64? {
        var st = stat()
        guard stat("/proc/self/ns/net", &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    func buildProxydTrackers(_ cfg: VRRPConfig, keeping old: [String: ProxydTrackRuntime]) -> [String: ProxydTrackRuntime] {
        var out: [String: ProxydTrackRuntime] = [:]
        let used = Set(cfg.instances.flatMap { $0.trackProxyd.map(\.name) })
        for t in cfg.proxydTrackers where used.contains(t.name) {
            if let o = old[t.name], VRRPDaemon.sameIgnoringLocation(o.config, t) { out[t.name] = o; continue }
            out[t.name] = ProxydTrackRuntime(config: t)
        }
        for (name, o) in old where out[name] !== o {
            o.link?.close(); o.successor?.close()
        }
        return out
    }

    static func sameIgnoringLocation(_ a: ProxydTrackConfig, _ b: ProxydTrackConfig) -> Bool {
        var x = a, y = b
        x.location = nil; y.location = nil
        return x == y
    }

    func trackingInstances(_ t: ProxydTrackRuntime) -> [InstanceRuntime] {
        instances.filter { rt in rt.config.trackProxyd.contains { $0.name == t.config.name } }
    }

    // MARK: timers

    func proxydTimers(now: Nanos) {
        for t in proxydTrackers.values {
            if t.link == nil, now >= t.nextConnect { proxydConnect(t, now: now) }
            if let l = t.link {
                if !l.view.ready, now - l.openedAt > t.timeout {
                    proxydFailed(t, "\(t.config.socket) accepted but did not answer within \(ConfigDump.n(t.config.timeout)) s: is it proxyd's control socket?", now: now)
                } else if l.view.ready, let sent = l.pingSentAt, now - sent > t.timeout {
                    proxydFailed(t, "proxyd pid \(l.view.pid ?? 0) stopped answering (no pong within \(ConfigDump.n(t.config.timeout)) s)", now: now)
                } else if l.view.ready, l.pingSentAt == nil, now >= l.nextPing {
                    l.pingSentAt = now
                    l.send("ping")
                }
            }
            if let d = t.drainAt, now >= d {
                t.drainAt = nil
                if t.handover != nil { t.link?.send("drain") }
            }
            // A step-down drain whose instance no longer lingers (a reload replaced it
            // mid-linger): never leave proxyd deaf.
            if !t.steppingDown.isEmpty {
                let lingering = Set(instances.filter { $0.vipReleaseAt != nil }.map(\.name))
                let stale = t.steppingDown.subtracting(lingering)
                if !stale.isEmpty {
                    t.steppingDown.subtract(stale)
                    if t.steppingDown.isEmpty, t.handover == nil, t.drainAt == nil { t.link?.send("undrain") }
                }
            }
            if let d = t.successorDeadline, now >= d {
                t.successor?.close()
                t.successor = nil; t.successorDeadline = nil
                beginHandover(t, now: now)
            }
        }
        checkHandovers(now: now)
    }

    func proxydWake(_ wake: inout Nanos) {
        for t in proxydTrackers.values {
            if let l = t.link {
                if !l.view.ready { wake = min(wake, l.openedAt + t.timeout) }
                else if let sent = l.pingSentAt { wake = min(wake, sent + t.timeout) }
                else { wake = min(wake, l.nextPing) }
            } else {
                wake = min(wake, t.nextConnect)
            }
            if let d = t.successorDeadline { wake = min(wake, d) }
            if let d = t.drainAt { wake = min(wake, d) }
        }
    }

    // MARK: poll

    /// The descriptors to poll, with what each belongs to.
    func proxydPollFDs() -> [(pollfd, ProxydTrackRuntime, isSuccessor: Bool)] {
        var out: [(pollfd, ProxydTrackRuntime, isSuccessor: Bool)] = []
        for t in proxydTrackers.values {
            for (l, succ) in [(t.link, false), (t.successor, true)] {
                guard let l, l.isOpen else { continue }
                let events = Int16(POLLIN) | (l.wantsWrite ? Int16(POLLOUT) : 0)
                out.append((pollfd(fd: l.fd, events: events, revents: 0), t, succ))
            }
        }
        return out
    }

    func proxydReadable(_ t: ProxydTrackRuntime, successor: Bool, revents: Int16, now: Nanos) {
        guard let l = successor ? t.successor : t.link else { return }
        if revents & Int16(POLLOUT) != 0 { l.flush() }
        do {
            let events = try l.readEvents()
            for e in events {
                // Pongs come every ping_interval: only what changes something is worth a line.
                if e != .pong { log.debug("VRRP_Proxyd(\(t.config.name)) \(successor ? "successor " : "")\(e)") }
                if successor { successorEvent(t, e, now: now) } else { linkEvent(t, e, now: now) }
            }
        } catch {
            if successor {
                // Nobody new there: this is a stop, not a reload.
                t.successor?.close()
                t.successor = nil; t.successorDeadline = nil
                beginHandover(t, now: now)
            } else {
                proxydFailed(t, "\(error)", now: now)
            }
        }
    }

    // MARK: events

    func proxydConnect(_ t: ProxydTrackRuntime, now: Nanos) {
        do {
            let l = try ProxydLink(path: t.config.socket, now: now)
            l.nextPing = now + Nanos((t.config.pingInterval * 1e9).rounded())
            t.link = l
            t.connects += 1
        } catch {
            t.nextConnect = now + VRRPDaemon.reconnectDelay
            setProxydVerdict(t, passing: false, reason: "\(error)", now: now)
        }
    }

    func linkEvent(_ t: ProxydTrackRuntime, _ e: ProxydEvent, now: Nanos) {
        guard let l = t.link else { return }
        switch e {
        case .pong:
            l.pingSentAt = nil
            l.nextPing = now + Nanos((t.config.pingInterval * 1e9).rounded())
        case .stopping:
            if !t.held && l.view.ready { probeSuccessor(t, now: now) } else { evaluate(t, now: now) }
        case .error(let text):
            log.warning("VRRP_Proxyd(\(t.config.name)) proxyd at \(t.config.socket) says: \(text)")
        case .hello, .ready, .frontend, .serving, .released:
            evaluate(t, now: now)
        }
    }

    func successorEvent(_ t: ProxydTrackRuntime, _ e: ProxydEvent, now: Nanos) {
        guard let s = t.successor, case .ready = e else { return }
        let oldPid = t.link?.view.pid
        t.successor = nil; t.successorDeadline = nil
        if s.view.pid != oldPid, !s.view.stopping {
            // A reload: the new process already serves at the path. Let the old one go.
            log.info("VRRP_Proxyd(\(t.config.name)) proxyd reloaded: pid \(oldPid ?? 0) -> pid \(s.view.pid ?? 0) at \(t.config.socket); following the new process")
            t.link?.send("release")
            t.link?.close()
            s.nextPing = now + Nanos((t.config.pingInterval * 1e9).rounded())
            t.link = s
            t.reloadsFollowed += 1
            evaluate(t, now: now)
        } else {
            s.close()
            beginHandover(t, now: now)
        }
    }

    func probeSuccessor(_ t: ProxydTrackRuntime, now: Nanos) {
        do {
            t.successor = try ProxydLink(path: t.config.socket, now: now)
            t.successorDeadline = now + min(t.timeout, Nanos.second)
        } catch {
            beginHandover(t, now: now)
        }
    }

    /// proxyd is stopping and no new process took its place: every master tracking it says
    /// priority 0 and keeps its addresses until the backup's first advert as master (or the
    /// grace ends); then proxyd is released and closes its listeners.
    func beginHandover(_ t: ProxydTrackRuntime, now: Nanos) {
        guard t.handover == nil else { return }
        let graceMs = t.config.handover.map { Int(($0 * 1000).rounded()) } ?? t.link?.view.graceMs ?? 3000
        let until = now + Nanos(graceMs) * 1_000_000
        var pending: [String] = []
        for rt in trackingInstances(t) where rt.started && rt.machine.state == .master {
            apply(rt.machine.resign(now: now, until: until), rt, now: now)
            if rt.machine.isResigning { pending.append(rt.name) }
        }
        t.handovers += 1
        // Just before the backup takes over, proxyd stops answering new SYNs (the clients
        // retry a second later, by then to the new master) and finishes what it has: when
        // the clients' traffic moves, nothing is half-way through this node. The backup's
        // priority is below ours, so its skew time is longer than ours: draining from our
        // skew time less 100 ms leaves what is in flight 100 ms, and delays only the
        // clients that connect in those last 100 ms.
        let skew = trackingInstances(t).filter { pending.contains($0.name) }.map(\.machine.skewTime).min()
        if let skew { t.drainAt = now + max(0, skew - 100_000_000) }
        log.info("VRRP_Proxyd(\(t.config.name)) proxyd pid \(t.link?.view.pid ?? 0) is stopping"
                 + (pending.isEmpty ? ": no master to hand over" : ": handing over \(pending.joined(separator: ", ")) (at most \(graceMs) ms)"))
        t.handover = (pending, now)
        checkHandovers(now: now)
    }

    /// A handover ends when none of its masters is still resigning.
    func checkHandovers(now: Nanos) {
        for t in proxydTrackers.values {
            guard let h = t.handover else { continue }
            let still = h.pending.filter { name in instances.contains { $0.name == name && $0.machine.isResigning } }
            if still.isEmpty {
                t.handover = nil
                t.drainAt = nil
                let ms = (now - h.started) / 1_000_000
                if let l = t.link {
                    l.send("release")
                    log.info("VRRP_Proxyd(\(t.config.name)) handover done after \(ms) ms: proxyd pid \(l.view.pid ?? 0) released")
                }
                evaluate(t, now: now)
            } else if still.count != h.pending.count {
                t.handover = (still, h.started)
            }
        }
    }

    func proxydFailed(_ t: ProxydTrackRuntime, _ why: String, now: Nanos) {
        t.link?.close()
        t.link = nil
        t.successor?.close()
        t.successor = nil; t.successorDeadline = nil
        // proxyd gone mid-handover (its grace ended, or it died): nothing left to hold.
        t.handover = nil
        t.drainAt = nil
        t.nextConnect = now + VRRPDaemon.reconnectDelay
        setProxydVerdict(t, passing: false, reason: why, now: now)
    }

    func evaluate(_ t: ProxydTrackRuntime, now: Nanos) {
        guard !t.held, let l = t.link else { return }
        switch l.view.verdict(frontends: t.config.frontends, ourNetns: ourNetns) {
        case .up: setProxydVerdict(t, passing: true, reason: "proxyd pid \(l.view.pid ?? 0) serving", now: now)
        case .down(let why):
            // Still connecting: no verdict until the snapshot is in (or the timeout says hung).
            if l.view.ready { setProxydVerdict(t, passing: false, reason: why, now: now) }
        }
    }

    func setProxydVerdict(_ t: ProxydTrackRuntime, passing: Bool, reason: String, now: Nanos) {
        guard !t.held else { return }
        let changed = t.passing != passing
        t.reason = reason
        if passing {
            t.lastLoggedFailure = nil
            if changed { log.info("VRRP_Proxyd(\(t.config.name)) up: \(reason) at \(t.config.socket)") }
        } else if changed || t.lastLoggedFailure != reason {
            // Reconnects retry every 100 ms: say each distinct reason once.
            t.lastLoggedFailure = reason
            log.info("VRRP_Proxyd(\(t.config.name)) down: \(reason)")
        }
        guard changed else { return }
        t.passing = passing
        for rt in trackingInstances(t) where rt.started {
            recompute(rt, now: now)
            // A crash is not planned: the master lets go at once, with priority 0, so the
            // backup serves after its skew time instead of Master_Down_Interval.
            if !passing, rt.machine.state == .master, !rt.machine.isResigning {
                apply(rt.machine.resign(now: now, until: now), rt, now: now)
            }
        }
    }

    // MARK: preempted

    /// A master stepping down for another keeps its addresses for PreemptHandover.delay:
    /// meanwhile each proxyd it tracks drops new SYNs and finishes what it has.
    func drainForStepDown(_ rt: InstanceRuntime) {
        for t in proxydTrackers.values where rt.config.trackProxyd.contains(where: { $0.name == t.config.name }) {
            let first = t.steppingDown.isEmpty
            t.steppingDown.insert(rt.name)
            if first, t.handover == nil, let l = t.link, l.view.ready {
                l.send("drain")
                log.info("VRRP_Proxyd(\(t.config.name)) \(rt.name) preempted: proxyd pid \(l.view.pid ?? 0) drains while the VIPs linger")
            }
        }
    }

    /// The lingering addresses are gone (or taken again): proxyd answers new SYNs again,
    /// unless a planned stop is draining it.
    func undrainAfterStepDown(_ rt: InstanceRuntime) {
        for t in proxydTrackers.values where t.steppingDown.contains(rt.name) {
            t.steppingDown.remove(rt.name)
            if t.steppingDown.isEmpty, t.handover == nil, t.drainAt == nil { t.link?.send("undrain") }
        }
    }

    func closeProxydLinks() {
        for t in proxydTrackers.values {
            t.link?.close(); t.successor?.close()
        }
    }
}
