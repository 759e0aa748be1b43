#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The daemon's processes: track scripts (started, timed out, reaped, their results folded
/// into the instances' priorities) and notify scripts, with keepalived's arguments.
extension VRRPDaemon {

    func startScript(_ s: ScriptRuntime, now: Nanos) {
        s.nextRun = now + Nanos((s.config.interval * 1e9).rounded())
        s.startedAt = now
        if let why = s.idsProblem {
            finishScript(s, success: false, detail: why, now: now)
            return
        }
        switch ScriptSpawner.resolve(s.config.argv) {
        case .failed(let why):
            finishScript(s, success: false, detail: why, now: now)
        case .ok(let path):
            switch ScriptSpawner.spawn(path: path, argv: s.config.argv, ids: s.ids) {
            case .success(let pid):
                s.pid = pid
                s.timedOut = false
                s.deadline = now + Nanos((s.config.effectiveTimeout * 1e9).rounded())
            case .failure(let e):
                finishScript(s, success: false, detail: e.description, now: now)
            }
        }
    }

    /// The script's next run: its period, phased to end just before a tracking master's
    /// next advert (ScriptSchedule).
    func scheduleNext(_ s: ScriptRuntime, now: Nanos) {
        let nominal = s.startedAt + Nanos((s.config.interval * 1e9).rounded())
        let master = instances.first { rt in
            rt.machine.state == .master && rt.config.trackScripts.contains { $0.name == s.config.name }
        }
        s.nextRun = ScriptSchedule.nextRun(
            nominal: max(nominal, now), now: now, advertDeadline: master?.machine.adverDeadline,
            advertInterval: Nanos(master?.intervalCs ?? 0) * .centisecond, expectedDuration: s.lastDuration)
    }

    func finishScript(_ s: ScriptRuntime, success: Bool, detail: String, now: Nanos) {
        s.lastDuration = now - s.startedAt
        scheduleNext(s, now: now)
        s.pid = nil
        s.deadline = nil
        s.runs += 1
        if !success { s.failures += 1 }
        s.lastResult = detail
        // As keepalived -D: a result is worth a line when it differs from the last one
        // (a script checked every second would otherwise fill the log with the same line).
        if detail != s.lastReportedResult {
            s.lastReportedResult = detail
            log.debug(ScriptRuntime.resultChangeLine(name: s.config.name, detail: detail))
        }
        if !success, s.lastLoggedProblem != detail, detail.hasPrefix("script ") || detail.hasPrefix("fork") {
            s.lastLoggedProblem = detail
            log.error("VRRP_Script(\(s.config.name)) cannot run: \(detail)")
        }
        if let flipped = s.tracker.record(success: success, detail: detail) {
            switch flipped {
            case .good: log.info("VRRP_Script(\(s.config.name)) succeeded")
            case .bad: log.info("VRRP_Script(\(s.config.name)) \(s.timedOut ? "timed out" : "failed (\(detail))")")
            case .initial: break
            }
            for rt in instances where rt.config.trackScripts.contains(where: { $0.name == s.config.name }) && rt.started {
                recompute(rt, now: now)
            }
        }
        s.timedOut = false
    }

    func handleSignals(now: Nanos) {
        for _ in 0..<64 {
            let sig = clinux_signalfd_read(signalFD)
            if sig == 0 { break }
            switch sig {
            case SIGTERM, SIGINT:
                log.info("Stopping")
                running = false
            case SIGHUP:
                reload(now: now)
            case SIGUSR1:
                writeFile(options.dataFile, dataDump())
                log.info("Printing VRRP data for process(\(getpid())) on signal to \(options.dataFile)")
            case SIGUSR2:
                writeFile(options.statsFile, statsDump())
                log.info("Printing VRRP stats for process(\(getpid())) on signal to \(options.statsFile)")
            case SIGCHLD:
                reapChildren(now: now)
            default: break
            }
        }
    }

    func reapChildren(now: Nanos) {
        for (pid, status) in ScriptSpawner.reap() {
            if notifyPids.remove(pid) != nil {
                let r = ScriptSpawner.describe(status)
                if !r.success { log.warning("notify script (pid \(pid)) \(r.text)") }
                continue
            }
            guard let s = scripts.values.first(where: { $0.pid == pid }) else { continue }
            if s.timedOut {
                finishScript(s, success: false, detail: "timed out after \(s.config.effectiveTimeout) s (killed)", now: now)
            } else {
                let r = ScriptSpawner.describe(status)
                finishScript(s, success: r.success, detail: r.text, now: now)
            }
        }
    }

    func runNotify(_ n: NotifyScripts, kind: String, name: String, state: VRRPState, priority: Int) {
        let specific: NotifyScript?
        switch state {
        case .master: specific = n.master
        case .backup: specific = n.backup
        case .fault: specific = n.fault
        case .stopped: specific = n.stop
        case .initialize: specific = nil
        }
        var jobs: [(NotifyScript, [String])] = []
        if let s = specific { jobs.append((s, s.argv)) }
        if let g = n.generic { jobs.append((g, g.argv + [kind, name, state.rawValue, String(priority)])) }
        for (script, argv) in jobs {
            switch ScriptSpawner.resolve(argv) {
            case .failed(let why):
                log.error("(\(name)) notify script cannot run: \(why)")
            case .ok(let path):
                var ids: (uid_t, gid_t)?
                if let u = script.user ?? config.global.scriptUser {
                    ids = ScriptSpawner.ids(user: u, group: script.user != nil ? script.group : config.global.scriptGroup)
                    if ids == nil { log.error("(\(name)) notify script user '\(u)' does not exist"); continue }
                }
                // Logged once at start (warnScriptUser); skipped each time, as keepalived.
                if config.global.enableScriptSecurity, ids?.0 ?? 0 == 0, ScriptSecurity.isUnsafe(path) { continue }
                switch ScriptSpawner.spawn(path: path, argv: argv, ids: ids) {
                case .success(let pid):
                    notifyPids.insert(pid)
                    log.debug("(\(name)) notify: \(argv.joined(separator: " ")) (pid \(pid))")
                case .failure(let e): log.error("(\(name)) notify script: \(e)")
                }
            }
        }
    }
}
