#if canImport(Glibc)
import Glibc
#endif
import ProxyCore
import Shared

/// `proxyd -f CFG`: load, bind, detach if asked, drop privileges, then serve until a
/// signal says stop — in HAProxy's order, so that a port in use or a bad file is reported
/// on the terminal and the exit status says so.
enum RunMode {
    static func run(_ commandLine: CommandLineOptions) -> Int32 {
        var options = commandLine
        // A worker spawned by the master (-W): the master daemonizes, writes the pid file,
        // talks to systemd, holds the listeners and stops the older processes; the worker
        // only serves. It is already in the -C directory.
        let link = MasterLink.fromEnvironment()
        if link != nil {
            options.daemon = false
            options.foreground = true
            options.pidFile = nil
            options.masterWorker = false
            options.systemdNotify = false
            options.changeDirectory = nil
            options.finishPIDs = []
            options.terminatePIDs = []
            options.takeListenersFrom = nil
        }
        let result = ConfigurationReport.load(options)
        ConfigurationReport.print(result, quiet: options.quiet && result.configuration != nil)
        guard var config = result.configuration, result.exitCode != 1 else { return 1 }
        // -n and -N override the config's global and per-proxy defaults, as in HAProxy.
        if let maxconn = options.maxconn { config.global.maxconn = maxconn }
        if let perProxy = options.defaultProxyMaxconn {
            for index in config.proxies.indices where config.proxies[index].maxconn == nil {
                config.proxies[index].maxconn = perProxy
            }
        }
        // Server state changes and log failures on stderr, as HAProxy prints them (-q: not).
        ConsoleEcho.setQuiet(options.quiet && !options.verbose)
        // As HAProxy, a control socket is a listener: a configuration with only `global`
        // and `defaults` (Debian's haproxy.cfg, our installed proxyd.cfg) runs and serves it.
        if config.listeners.isEmpty && config.global.statsSockets.isEmpty {
            alert("[proxyd.main()] No enabled listener found (check for 'bind' directives) ! Exiting.")
            return 1
        }
        if link == nil, options.masterWorker || config.global.masterWorker {
            return MasterProcess(options: options, configuration: config).run()
        }
        var inherited = InheritedListeners(descriptors: link?.listeners ?? [])

        // Signals are taken synchronously by the main thread: block them before any
        // event-loop thread starts so that every thread inherits the mask.
        let signals = SignalWaiter([SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP, SIGQUIT])
        signal(SIGPIPE, SIG_IGN)

        let daemon = (options.daemon || config.global.daemon) && !options.foreground
        var detached: ProcessLife.Detached?
        if daemon {
            do { detached = try ProcessLife.detach() } catch {
                alert("\(error)")
                return 1
            }
        }
        // Start-up alerts go to the terminal: directly, or through the waiting parent
        // when detached (it prints them and exits 1).
        func fail(_ messages: String...) -> Int32 {
            let report = messages.map {
                DiagnosticRenderer.render(Diagnostic(.alert, $0, context: nil), pid: getpid()) + "\n"
            }.joined()
            if let detached { detached.failed(report) } else { fputs(report, stderr) }
            link?.failed(report)
            return 1
        }

        // -x: the listeners of the process being replaced, taken before anything binds (and
        // after detaching, which closes every inherited descriptor).
        if let path = options.takeListenersFrom, path != "/dev/null" {
            do {
                inherited = InheritedListeners(descriptors: try ListenerHandover.fetch(from: path))
            } catch {
                return fail("\(error)", "Failed to get the sockets from the old process!")
            }
        }

        let runtime: ProxyRuntime
        var control: ControlPlane!
        do {
            runtime = try RuntimeBuilder.build(config)
            // A reload: -sf/-st, -x, or any worker of a master (the first one finds nobody
            // on the stats socket, and starts afresh).
            let reload = !(commandLine.finishPIDs + commandLine.terminatePIDs).isEmpty
                || commandLine.takeListenersFrom != nil || link != nil
            carryServerState(config, into: runtime, reload: reload, verbose: options.verbose, quiet: options.quiet)
            // The runtime API and stats pages (issue 4): pages installed before the
            // listeners accept, control sockets bound before chroot, as HAProxy does.
            control = ControlPlane(runtime: runtime, configuration: config)
            runtime.inherited = inherited
            try runtime.bind(deferAccepting: true)
            try control.bind()
            try runtime.startPeers(config)  // stick table replication (issue 15)
            // A worker whose master died finishes its sessions and exits.
            if let fd = link?.cliFD { control.serveMasterLink(fd) { kill(getpid(), SIGUSR1) } }
        } catch {
            return fail("\(error)", "[proxyd.main()] Some protocols failed to start their listeners! Exiting.")
        }
        if link == nil, let path = options.pidFile ?? config.global.pidfile {
            do { try ProcessLife.writePidFile(path) } catch { return fail("\(error)") }
        }
        do {
            // Names are resolved before chroot: the user database is outside it.
            let identity = try ProcessLife.resolveIdentity(user: config.global.user, group: config.global.group,
                                                           uid: config.global.uid, gid: config.global.gid)
            if let directory = config.global.chroot { try ProcessLife.chroot(to: directory) }
            try ProcessLife.drop(to: identity)
        } catch {
            return fail("[proxyd.main()] \(error)")
        }
        // Started, as the configured user: the listeners accept (those shared with the
        // process we replace too) and the health checks begin.
        runtime.startAccepting()
        // Only now are older processes told to stop (-sf/-st): our listeners accept and our
        // control socket is in place, so vrrpd already finds our pid at its path and can
        // release the old process at once.
        for old in options.finishPIDs { kill(old, SIGUSR1) }
        for old in options.terminatePIDs { kill(old, SIGTERM) }
        if link == nil { SystemdNotify.ready() }
        detached?.ready()
        link?.ready()

        var stop = StopSequence(runtime: runtime, control: control, signals: signals,
                                configuredGrace: config.global.grace, hardStopAfter: config.global.hardStopAfter)
        if link != nil { stop.duplicateWindow = 1000 }
        return stop.run()
    }

    /// The servers start as they were (Runtime/ServerStateCarry): from the files the
    /// configuration names (`load-server-state-from-file`), as HAProxy; else, on a reload,
    /// from the old process, asked on its stats socket before ours takes the path.
    static func carryServerState(_ config: ProxyConfiguration, into runtime: ProxyRuntime,
                                 reload: Bool, verbose: Bool, quiet: Bool) {
        if config.proxies.contains(where: { $0.loadServerState != .none }) {
            let (servers, warnings) = ServerStateCarry.carryFromFiles(config, into: runtime)
            if !quiet {
                for w in warnings {
                    fputs(DiagnosticRenderer.render(Diagnostic(.warning, w, context: nil), pid: getpid()) + "\n", stderr)
                }
            }
            if verbose { fputs("[NOTICE]   (\(getpid())) : server state of \(servers.count) server(s) loaded from files\n", stderr) }
        } else if reload, let carried = ServerStateCarry.carryFromRunningProcess(config, into: runtime), verbose {
            fputs("[NOTICE]   (\(getpid())) : server state of \(carried.servers.count) server(s) carried from \(carried.path)\n", stderr)
        }
    }

    static func alert(_ message: String) {
        fputs(DiagnosticRenderer.render(Diagnostic(.alert, message, context: nil), pid: getpid()) + "\n", stderr)
    }
}
