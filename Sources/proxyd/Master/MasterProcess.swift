import Glibc
import ProxyCore
import Shared

/// `proxyd -W` / `-Ws` / `master-worker`: a small single-threaded master (no event loop:
/// it only spawns) that holds the listening sockets and the configuration path, runs one
/// worker (`proxyd` itself, spawned with the sockets) and, on SIGUSR2 or the master CLI's
/// `reload`, checks the new configuration first, starts a new worker on the same sockets,
/// and soft-stops the old one (SIGUSR1) only once the new one serves. A configuration that
/// does not load, or a worker that does not start, leaves the old worker serving; the
/// master says why on stderr, on the master CLI and in systemd's `STATUS=`.
final class MasterProcess {
    var options: CommandLineOptions
    private var configuration: ProxyConfiguration
    private let executable: String
    private let listeners = MasterListeners()
    let startedAt = ProcessClock.milliseconds
    private let signals = SignalWaiter([SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP, SIGQUIT, SIGCHLD])
    private(set) var workers: [WorkerProcess] = []
    private(set) var reloads = 0
    private(set) var failedReloads = 0
    private var cli: MasterCLI?

    /// A new worker starting, with the sockets it was given (committed once it serves).
    private var starting: (worker: WorkerProcess, sockets: [String: MasterListeners.Socket], deadline: Int)?
    private var reloadPending = false
    /// Set by SIGTERM/SIGINT/SIGUSR1: exit once the last worker has.
    private var stopping = false
    /// How a worker that does not say it serves within this long is given up (ms).
    static let startLimit = 30_000

    init(options: CommandLineOptions, configuration: ProxyConfiguration) {
        self.options = options
        self.configuration = configuration
        // The binary as it is now on disk: a reload after an upgrade runs the new one.
        self.executable = ConfigurationReport.executablePath()
    }

    func run() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let daemon = (options.daemon || configuration.global.daemon) && !options.foreground
        var detached: ProcessLife.Detached?
        if daemon {
            do { detached = try ProcessLife.detach() } catch {
                alert("\(error)")
                return 1
            }
        }
        func fail(_ messages: [String]) -> Int32 {
            let report = messages.map { render(.alert, $0) }.joined()
            if let detached { detached.failed(report) } else { fputs(report, stderr) }
            listeners.closeAll()
            cli?.close()
            return 1
        }
        // Later loads must not change directory again: a relative -C is already applied.
        options.changeDirectory = nil
        do {
            if let socket = options.masterSocket { cli = try MasterCLI(spec: socket, master: self) }
            let sockets = try listeners.prepare(configuration)
            listeners.commit(sockets)
            if let path = options.pidFile ?? configuration.global.pidfile { try ProcessLife.writePidFile(path) }
            let worker = try spawnWorker(sockets)
            // The first worker must serve before the master reports success (its own
            // alerts are on stderr already).
            let deadline = ProcessClock.milliseconds + Self.startLimit
            var readiness = worker.readReadiness()
            while case .waiting = readiness, ProcessClock.milliseconds < deadline {
                var entry = pollfd(fd: worker.readyFD, events: Int16(POLLIN), revents: 0)
                _ = poll(&entry, 1, 1000)
                readiness = worker.readReadiness()
            }
            guard case .ready = readiness else {
                kill(worker.pid, SIGKILL)
                var status: Int32 = 0
                waitpid(worker.pid, &status, 0)
                worker.release()
                return fail(["Worker (\(worker.pid)) failed to start."])
            }
            workers = [worker]
        } catch let failure as MasterFailure {
            return fail(failure.messages)
        } catch {
            return fail(["\(error)"])
        }
        notice("New worker (\(workers[0].pid)) forked")
        notice("Loading success.")
        // -sf/-st: a process this master replaces (a single proxyd moving to -W) stops
        // once our worker serves.
        for old in options.finishPIDs { kill(old, SIGUSR1) }
        for old in options.terminatePIDs { kill(old, SIGTERM) }
        SystemdNotify.ready()
        SystemdNotify.status("Ready.")
        detached?.ready()
        return loop()
    }

    private func spawnWorker(_ sockets: [String: MasterListeners.Socket]) throws -> WorkerProcess {
        try WorkerProcess.spawn(executable: executable, arguments: Array(CommandLine.arguments.dropFirst()),
                                listeners: sockets.values.map(\.fd),
                                passThrough: MasterListeners.passedThrough(configuration))
    }

    /// Signals, the master CLI and a starting worker, until the last worker is gone.
    private func loop() -> Int32 {
        while true {
            var fds = cli?.pollDescriptors() ?? []
            if let starting, starting.worker.readyFD >= 0 {
                fds.append(pollfd(fd: starting.worker.readyFD, events: Int16(POLLIN), revents: 0))
            }
            // Signals are taken between polls (at most 100 ms late).
            _ = poll(&fds, nfds_t(fds.count), 100)
            cli?.serve(fds)
            while let signal = signals.next(timeoutMilliseconds: 0) {
                if let code = handle(signal) { return code }
            }
            checkStartingWorker()
            if reloadPending, starting == nil {
                reloadPending = false
                reload()
            }
        }
    }

    /// Returns the exit status once the master should exit.
    private func handle(_ signal: Int32) -> Int32? {
        switch signal {
        case SIGUSR2:
            reloadPending = true
        case SIGHUP:
            break  // HAProxy's workers ignore it too
        case SIGUSR1, SIGTERM, SIGINT, SIGQUIT:
            // Passed on to every worker (SIGUSR1: soft stop; others: stop now); the master
            // leaves after the last one.
            stopping = true
            SystemdNotify.notify("STOPPING=1")
            let forwarded = signal == SIGUSR1 ? SIGUSR1 : SIGTERM
            for worker in workers { kill(worker.pid, forwarded) }
            if let starting { kill(starting.worker.pid, SIGTERM) }
        case SIGCHLD:
            return reapWorkers()
        default:
            break
        }
        return nil
    }

    /// Collects exited workers. The current worker dying (not asked to) stops everything
    /// unless `master-worker no-exit-on-failure`, as HAProxy 2.6 does.
    private func reapWorkers() -> Int32? {
        var lastCode: Int32 = 0
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { break }
            let (code, how) = Self.describe(status)
            lastCode = code
            if let starting, starting.worker.pid == pid {
                // Whatever it wrote before dying is its reason (it is all in the pipe).
                if case .ready = starting.worker.readReadiness() {}
                finishStart(failed: Self.failureText(starting.worker, code: code, how: how))
                continue
            }
            guard let index = workers.firstIndex(where: { $0.pid == pid }) else { continue }
            let worker = workers.remove(at: index)
            worker.release()
            if worker.leaving || stopping {
                warning("Former worker (\(pid)) exited with code \(code) (\(how))")
            } else {
                (code == 0 ? warning : alert)("Current worker (\(pid)) exited with code \(code) (\(how))")
                if code != 0, configuration.global.masterWorkerExitOnFailure {
                    alert("exit-on-failure: killing every processes with SIGTERM")
                    stopping = true
                    for other in workers { kill(other.pid, SIGTERM) }
                    if let starting { kill(starting.worker.pid, SIGTERM) }
                }
            }
        }
        if workers.isEmpty, starting == nil {
            warning("All workers exited. Exiting... (\(lastCode))")
            listeners.closeAll()
            cli?.close()
            return lastCode
        }
        return nil
    }

    // MARK: Reload

    /// SIGUSR2 / `reload`: load, bind, spawn; the old workers stop once the new one serves.
    private func reload() {
        guard !stopping else { return }
        reloads += 1
        for worker in workers { worker.reloads += 1 }
        SystemdNotify.notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
        notice("Reloading proxyd")
        let result = ConfigurationReport.load(options)
        ConfigurationReport.print(result, quiet: options.quiet && result.configuration != nil)
        guard var config = result.configuration, result.exitCode != 1 else {
            let reasons = result.diagnostics.filter { $0.severity == .alert }.map(\.message)
            return reloadFailed(reasons.isEmpty ? ["the configuration does not load"] : reasons, printed: true)
        }
        // -n and -N, as at start-up.
        if let maxconn = options.maxconn { config.global.maxconn = maxconn }
        if let perProxy = options.defaultProxyMaxconn {
            for index in config.proxies.indices where config.proxies[index].maxconn == nil {
                config.proxies[index].maxconn = perProxy
            }
        }
        if config.listeners.isEmpty {
            return reloadFailed(["[proxyd.main()] No enabled listener found (check for 'bind' directives) ! Exiting."])
        }
        do {
            let sockets = try listeners.prepare(config)
            configuration = config
            let worker = try spawnWorker(sockets)
            starting = (worker, sockets, ProcessClock.milliseconds + Self.startLimit)
        } catch let failure as MasterFailure {
            reloadFailed(failure.messages)
        } catch {
            reloadFailed(["\(error)"])
        }
    }

    /// Whether the starting worker serves yet, failed, or is taking too long.
    private func checkStartingWorker() {
        guard let starting else { return }
        switch starting.worker.readReadiness() {
        case .waiting:
            if ProcessClock.milliseconds > starting.deadline {
                kill(starting.worker.pid, SIGKILL)
                finishStart(failed: "Worker (\(starting.worker.pid)) did not start within \(Self.startLimit / 1000) s.")
            }
        case .ready:
            finishStart(failed: nil)
        case .failed(let text):
            // Its exit is collected with SIGCHLD; the old workers keep serving.
            finishStart(failed: text.isEmpty ? "Worker (\(starting.worker.pid)) failed to start." : text)
        }
    }

    private func finishStart(failed reason: String?) {
        guard let (worker, sockets, _) = starting else { return }
        starting = nil
        worker.closeReadiness()
        if let reason {
            worker.release()
            listeners.discard(sockets)
            // The worker that did not start is not a worker anyone should count on.
            kill(worker.pid, SIGTERM)
            return reloadFailed(reason.split(separator: "\n").map { Self.stripPrefix(String($0)) })
        }
        listeners.commit(sockets)
        let previous = workers
        workers = [worker] + previous
        notice("New worker (\(worker.pid)) forked")
        notice("Loading success.")
        for old in previous where !old.leaving {
            old.leaving = true
            kill(old.pid, SIGUSR1)
        }
        // mworker-max-reloads: an old worker that outlived that many reloads is stopped now.
        if let limit = configuration.global.mworkerMaxReloads {
            for old in previous where old.reloads > limit {
                warning("Worker (\(old.pid)) reached the maximum number of reloads (\(limit)), sending SIGTERM")
                kill(old.pid, SIGTERM)
            }
        }
        SystemdNotify.notify("READY=1\nSTATUS=Ready.")
        cli?.reloadFinished(success: true, messages: [])
    }

    /// `printed`: the reasons are on stderr already (the configuration's own report).
    private func reloadFailed(_ reasons: [String], printed: Bool = false) {
        failedReloads += 1
        warning("Loading failure!")
        if !printed { for reason in reasons { alert(reason) } }
        SystemdNotify.notify("READY=1\nSTATUS=Reload failed: \(reasons.first ?? "")")
        cli?.reloadFinished(success: false, messages: reasons)
    }

    /// Asked by the master CLI.
    func requestReload() { reloadPending = true }

    // MARK: Reporting

    static func describe(_ status: Int32) -> (code: Int32, how: String) {
        let signal = status & 0x7f
        if signal == 0 { return ((status >> 8) & 0xff, "Exit") }
        return (128 + signal, String(cString: strsignal(signal)))
    }

    private static func failureText(_ worker: WorkerProcess, code: Int32, how: String) -> String {
        let said = String(decoding: worker.readyText, as: UTF8.self)
        return said.isEmpty ? "New worker (\(worker.pid)) exited with code \(code) (\(how)) before serving" : said
    }

    /// A worker's alert line without its `[ALERT]    (pid) : ` prefix.
    private static func stripPrefix(_ line: String) -> String {
        guard line.hasPrefix("["), let close = line.firstIndex(of: ")") else { return line }
        let rest = line[line.index(after: close)...]
        return rest.hasPrefix(" : ") ? String(rest.dropFirst(3)) : line
    }

    static func monotonicMicroseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1_000_000 + now.tv_nsec / 1000
    }

    private func render(_ severity: Diagnostic.Severity, _ message: String) -> String {
        DiagnosticRenderer.render(Diagnostic(severity, message, context: nil), pid: getpid()) + "\n"
    }
    private func notice(_ message: String) { if !options.quiet { fputs(render(.notice, message), stderr) } }
    private func warning(_ message: String) { if !options.quiet { fputs(render(.warning, message), stderr) } }
    private func alert(_ message: String) { fputs(render(.alert, message), stderr) }
}
