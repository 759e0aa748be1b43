#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// vrrpd's main process, as keepalived's parent: it forks the VRRP child (which runs the
/// instances, scripts and query socket), forwards signals to it, and when the child dies
/// without being asked to stop it releases what the child held (VIPRelease) and starts a
/// new child. It never touches a VIP while a child lives, so it cannot flap one.
///
/// The child asks the kernel for SIGTERM when the supervisor dies: a SIGKILLed supervisor
/// makes the child stop cleanly (priority-0 advert, VIPs removed) instead of holding the
/// VIP with nobody left to restart it.
///
/// The supervisor must stay single-threaded (start threads in the child only): fork copies
/// just the calling thread, and PR_SET_PDEATHSIG fires when the forking *thread* exits.
public final class VRRPSupervisor {
    let log: VRRPLog
    /// The configuration a new child runs and whose VIPs are released: the one loaded at
    /// start, replaced by each SIGHUP whose file has no errors (the child refuses the others).
    public private(set) var config: VRRPConfig
    let configFile: String
    let vrrpPidFile: String?
    let body: (VRRPConfig) -> Int32

    /// A child that lived this long is not crashing in a loop: the next one starts at once.
    public var stableAfter: Nanos = 30 * .second
    /// Between quick deaths: 0, then 1 s doubling to this.
    public var maxRespawnDelay: Nanos = 30 * .second
    /// A child that ignores SIGTERM this long is killed (its VIPs then released).
    public var stopTimeout: Nanos = 10 * .second

    var signalFD: Int32 = -1
    var child: pid_t?
    var childStartedAt: Nanos = 0
    var quickDeaths = 0
    var respawnAt: Nanos?
    var stopAsked: Nanos?
    var stopKilled = false

    /// `body` runs in the forked child with the configuration to run and returns the
    /// child's exit status; it must not return to the caller's code (the supervisor exits
    /// the child with that status).
    public init(config: VRRPConfig, configFile: String, vrrpPidFile: String?, log: VRRPLog,
                child body: @escaping (VRRPConfig) -> Int32) {
        self.config = config
        self.configFile = configFile
        self.vrrpPidFile = vrrpPidFile
        self.log = log
        self.body = body
    }

    /// Until asked to stop; returns the exit status (the child's, when it was asked to stop).
    public func run() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // Blocked before the first fork: the child inherits the mask, so a signal sent to it
        // before its own signalfd exists stays pending instead of killing it.
        let sigs: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD]
        signalFD = sigs.withUnsafeBufferPointer { clinux_signalfd($0.baseAddress, Int32($0.count)) }
        guard signalFD >= 0 else { log.error("signalfd: \(String(cString: strerror(-signalFD)))"); return 1 }
        defer { Glibc.close(signalFD) }
        spawn(now: MonotonicClock.now())
        while true {
            if let status = step() { return status }
        }
    }

    func step() -> Int32? {
        let now = MonotonicClock.now()
        var deadline = respawnAt
        if let asked = stopAsked, child != nil, !stopKilled { deadline = min(deadline ?? .max, asked + stopTimeout) }
        var pfd = pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)
        let ms = deadline.map { Int32(clamping: max(0, ($0 - now + 999_999) / 1_000_000)) } ?? -1
        _ = poll(&pfd, 1, ms)
        for _ in 0..<64 {
            let sig = clinux_signalfd_read(signalFD)
            if sig == 0 { break }
            if let status = handle(sig) { return status }
        }
        let t = MonotonicClock.now()
        if let asked = stopAsked, let pid = child, !stopKilled, t >= asked + stopTimeout {
            log.error("VRRP child process(\(pid)) did not stop within \(stopTimeout / .second) s - killing it")
            stopKilled = true
            kill(pid, SIGKILL)
        }
        if let at = respawnAt, t >= at, stopAsked == nil {
            respawnAt = nil
            spawn(now: t)
        }
        return nil
    }

    func handle(_ sig: Int32) -> Int32? {
        switch sig {
        case SIGTERM, SIGINT:
            if stopAsked == nil { log.info("Stopping"); stopAsked = MonotonicClock.now() }
            guard let pid = child else { log.info("Stopped vrrpd v\(VRRPCoreVersion.string)"); return 0 }
            kill(pid, sig)
        case SIGHUP:
            // The child first: its reload must not wait for this parse. Both read the same
            // file and so reach the same verdict; the child logs the errors and keeps its
            // configuration, and the supervisor keeps the matching one for a respawn.
            if let pid = child { kill(pid, SIGHUP) }
            let (fresh, diags) = ConfigParser.parse(file: configFile)
            if !diags.hasErrors { config = fresh }
        case SIGUSR1, SIGUSR2:
            if let pid = child { kill(pid, sig) } else { log.warning("no VRRP child running: signal \(sig) not forwarded") }
        case SIGCHLD:
            return reap()
        default: break
        }
        return nil
    }

    func reap() -> Int32? {
        for _ in 0..<64 {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { break }
            guard pid == child else { continue }
            child = nil
            if let r = vrrpPidFile, PidFile.read(r) == pid { unlink(r) }   // it could not remove it
            if let s = childExited(pid, status) { return s }
        }
        return nil
    }

    /// The exit status to stop with, or nil when a new child is on its way.
    func childExited(_ pid: pid_t, _ status: Int32) -> Int32? {
        let now = MonotonicClock.now()
        let exited = clinux_wifexited(status) != 0
        let code = exited ? clinux_wexitstatus(status) : 128 + clinux_wtermsig(status)
        let how = exited ? "exited with status \(code)" : "was killed by signal \(clinux_wtermsig(status))"
        if stopAsked != nil {
            if !exited { VIPRelease.run(config, log: log) }
            log.info("VRRP child process(\(pid)) \(how)")
            log.info("Stopped vrrpd v\(VRRPCoreVersion.string)")
            return code
        }
        // Unasked: release first, the backup's takeover waits on the priority-0 advert.
        log.error("VRRP child process(\(pid)) \(how) without being asked to stop")
        VIPRelease.run(config, log: log)
        if exited && code != 0 {
            // It gave up on its own (it could not start): a new one would fail the same way.
            log.error("VRRP child could not run - not respawning; stopping")
            return code
        }
        let delay = respawnDelay(lived: now - childStartedAt)
        if delay == 0 {
            log.info("Respawning VRRP child")
            spawn(now: now)
        } else {
            log.warning("VRRP child died \(quickDeaths) times in a row within \(stableAfter / .second) s of its start - respawning in \(delay / .second) s")
            respawnAt = now + delay
        }
        return nil
    }

    /// No wait after a child that ran `stableAfter`; for one that died sooner, 0 the first
    /// time, then 1 s, 2 s, 4 s... up to `maxRespawnDelay`.
    func respawnDelay(lived: Nanos) -> Nanos {
        if lived >= stableAfter { quickDeaths = 0 }
        quickDeaths += 1
        guard quickDeaths > 1 else { return 0 }
        let shift = min(quickDeaths - 2, 30)
        return min(maxRespawnDelay, Nanos(1) << Nanos(shift) * .second)
    }

    func spawn(now: Nanos) {
        let supervisor = getpid()
        fflush(stdout)   // or the child would write the same buffered bytes again
        let pid = fork()
        if pid < 0 {
            log.error("cannot start the VRRP child: fork: \(String(cString: strerror(errno))) - retrying in 1 s")
            respawnAt = now + .second
            return
        }
        if pid == 0 { runChild(supervisor: supervisor) }
        child = pid
        childStartedAt = now
        log.info("Starting VRRP child process, pid=\(pid)")
    }

    func runChild(supervisor: pid_t) -> Never {
        _ = clinux_set_parent_death_signal(SIGTERM)
        // The supervisor died before the request took effect: nothing started, nothing to undo.
        if getppid() != supervisor { _exit(0) }
        Glibc.close(signalFD)
        if let r = vrrpPidFile, !PidFile.write(r) {
            log.warning("cannot write pid file \(r): \(String(cString: strerror(errno)))")
        }
        let status = body(config)
        if let r = vrrpPidFile, PidFile.read(r) == getpid() { unlink(r) }
        exit(status)
    }
}

/// Pid files: one decimal pid and a newline.
public enum PidFile {
    public static func read(_ path: String) -> pid_t? {
        guard let fp = fopen(path, "r") else { return nil }
        defer { fclose(fp) }
        var buf = [CChar](repeating: 0, count: 32)
        guard fgets(&buf, 32, fp) != nil else { return nil }
        return pid_t(String(cString: buf).filter { $0.isNumber })
    }

    public static func write(_ path: String, pid: pid_t = getpid()) -> Bool {
        guard let fp = fopen(path, "w") else { return false }
        fputs("\(pid)\n", fp)
        return fclose(fp) == 0
    }

    /// keepalived's VRRP child pid file beside the main one: /run/vrrpd.pid ->
    /// /run/vrrpd-vrrp.pid (as the query socket default is derived).
    public static func vrrpDefault(for main: String) -> String {
        main.hasSuffix(".pid") ? String(main.dropLast(4)) + "-vrrp.pid" : main + "-vrrp"
    }
}
