#if canImport(Glibc)
import Glibc
#endif
import Atomics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Runs every server's health and agent checks on the event loops and turns their results
/// into server state (through `ProxyRuntime.updateServer`) and HAProxy's log sentences.
///
/// Each check is one runner pinned to one event loop, with one timer (in the loop's
/// `CheckTimers`): no lock and no thread of its own. First checks are spread over the shortest interval, as HAProxy does.
public final class HealthMonitor: @unchecked Sendable {
    /// What the runtime builder hands over per backend.
    public struct BackendPlan {
        public var backend: RuntimeBackend
        public var kind: HealthCheckSettings.Kind
        public var servers: [ServerSettings]
        public var logHealthChecks: Bool
        public var logger: ProxyLogger?
        public var connectTimeout: Int?
        public var checkTimeout: Int?
        public init(backend: RuntimeBackend, kind: HealthCheckSettings.Kind, servers: [ServerSettings],
                    logHealthChecks: Bool, logger: ProxyLogger?, connectTimeout: Int?, checkTimeout: Int?) {
            self.backend = backend
            self.kind = kind
            self.servers = servers
            self.logHealthChecks = logHealthChecks
            self.logger = logger
            self.connectTimeout = connectTimeout
            self.checkTimeout = checkTimeout
        }
    }

    weak var runtime: ProxyRuntime?
    private let stopped = ManagedAtomic(false)
    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// No more checks, and no verdict from checks cut short by the shutdown.
    public func stop() { stopped.store(true, ordering: .relaxed) }
    /// Every runner; grows when `add server` adds a checked server (`addChecks`), so
    /// these three are guarded by `registry`.
    private var allRunners: [CheckRunner] = []
    /// Each server's runners (its health check and agent): a state change looks its
    /// server's up in O(1), where a scan of every runner cost 10,000 servers O(n) per
    /// change (a wave of changes, O(n²)).
    private var runnersByServer: [ObjectIdentifier: [CheckRunner]] = [:]
    /// `on-error` of each observed server.
    private var onError: [ObjectIdentifier: ServerOnError] = [:]
    private let registry = NIOLock()
    var runners: [CheckRunner] { registry.withLock { allRunners } }
    let spreadChecks: Int
    /// Where checks run: NIO's loops, or the reactors (data path v2), each loop with its
    /// timers; `nextNative` spreads servers over the reactors. Guarded by `registry`.
    private let group: EventLoopGroup
    private let native: [NativeLoopContext]
    private var nextNative = 0
    private var timersByLoop: [ObjectIdentifier: CheckTimers] = [:]

    /// Checks run on `group`'s loops, each pinned to one loop from the start (before any
    /// traffic, so that the data path reads settled state). With data path v2, `native`
    /// holds the reactors' contexts: every check runs there, on native connections (TLS
    /// ones through TLSTransport).
    init(plans: [BackendPlan], spreadChecks: Int, group: EventLoopGroup, native: [NativeLoopContext] = []) {
        self.spreadChecks = spreadChecks
        self.group = group
        self.native = native
        for plan in plans {
            let context = BackendContext(plan: plan)
            for (index, settings) in plan.servers.enumerated() where index < plan.backend.servers.count {
                register(makeRunners(settings, server: plan.backend.servers[index], context: context))
            }
        }
    }

    /// `add server … check|agent-check`: the server's checks join, on a loop of their own
    /// choosing. They wait for `enable health` (the caller starts the server with its
    /// checks disabled) and `enable agent`, as HAProxy's dynamic servers' do.
    func addChecks(_ settings: ServerSettings, server: RuntimeServer, plan: BackendPlan) {
        let made = makeRunners(settings, server: server, context: BackendContext(plan: plan))
        for runner in made where runner.isAgent { runner.paused = true }
        register(made)
        // Before `start` (no traffic yet), `start` starts them with the others.
        guard runtime != nil else { return }
        for runner in made { runner.loop.execute { runner.start(after: 0) } }
    }

    /// A server's health check and agent, with the state they report into.
    private func makeRunners(_ settings: ServerSettings, server: RuntimeServer, context: BackendContext) -> [CheckRunner] {
        var made: [CheckRunner] = []
        if settings.check.enabled, let runner = CheckRunner.health(settings, server: server, context: context, monitor: self) {
            made.append(runner)
        }
        if settings.agent.enabled, let runner = CheckRunner.agent(settings, server: server, context: context, monitor: self) {
            made.append(runner)
        }
        guard !made.isEmpty else { return [] }
        server.health = ServerHealth(check: made.first { !$0.isAgent }?.report, agent: made.first { $0.isAgent }?.report,
                                     observe: settings.check.enabled ? settings.observe : .none,
                                     errorLimit: settings.errorLimit,
                                     shutdownSessionsOnMarkedDown: settings.shutdownSessionsOnMarkedDown)
        registry.withLock { onError[ObjectIdentifier(server)] = settings.onError }
        return made
    }

    /// Lists a server's runners and pins them to a loop (a server's health check and agent
    /// share one: each reads the other's state), wiring `observe` to the health check's.
    private func register(_ made: [CheckRunner]) {
        guard let server = made.first?.server else { return }
        let key = ObjectIdentifier(server)
        registry.withLock {
            let loop: EventLoop, context: NativeLoopContext?
            if !native.isEmpty {
                let chosen = native[nextNative % native.count]
                nextNative += 1
                (loop, context) = (chosen.reactor, chosen)
            } else {
                (loop, context) = (group.next(), nil)
            }
            let timers = timersByLoop[ObjectIdentifier(loop)] ?? CheckTimers(loop: loop)
            timersByLoop[ObjectIdentifier(loop)] = timers
            let action = onError[key] ?? .failCheck
            // Placed before they are listed: whoever finds a runner finds it on its loop.
            for runner in made {
                runner.loop = loop
                runner.native = context
                runner.timers = timers
                if !runner.isAgent, let health = server.health, health.observe != .none {
                    health.errorsReached = { count, last in
                        loop.execute { runner.observedErrors(count: count, last: last, onError: action) }
                    }
                }
            }
            allRunners += made
            runnersByServer[key, default: []] += made
        }
    }

    /// Number of checks (health and agent) this monitor runs.
    public var checkCount: Int { runners.count }

    /// Starts every check on `group`'s loops, the first ones spread over the shortest interval.
    /// Starts every check, the first ones spread over the shortest interval.
    func start() {
        let runners = self.runners
        guard !runners.isEmpty else { return }
        let shortest = runners.map(\.interval).min() ?? 2000
        for (i, runner) in runners.enumerated() {
            let delay = shortest * i / runners.count
            runner.loop.execute { runner.start(after: delay) }
        }
    }

    /// `spread-checks`: each interval moves randomly by up to ±spread/2 percent.
    func spread(_ interval: Int) -> Int {
        guard spreadChecks > 0, interval > 0 else { return interval }
        let span = interval * spreadChecks / 100
        guard span > 0 else { return interval }
        return interval - span / 2 + Int.random(in: 0...span)
    }

    // MARK: applying results

    /// Per backend: the logger, whether check results are logged, and the agents' and
    /// checks' view of each server (a server is UP only when both say so).
    final class BackendContext {
        let plan: BackendPlan
        init(plan: BackendPlan) { self.plan = plan }
        var backend: RuntimeBackend { plan.backend }
    }

    /// Called on the runner's loop after each check.
    func apply(_ runner: CheckRunner, result: CheckResult, change: CheckHealth.Change, statusChanged: Bool,
               agentReply: CheckEvaluation.AgentReply?) {
        let context = runner.context
        let server = runner.server
        let backend = context.backend
        let logger = context.plan.logger
        let wasOperational = server.status.withLockedValue { $0.operationalUp }
        let report = runner.report
        server.health?.update { snapshot in
            if runner.isAgent { snapshot.agent = report } else { snapshot.check = report }
        }
        let draining = server.status.withLockedValue { $0.effectiveWeight == 0 }
        // An agent that answered no state word ("No status change") is not worth a line.
        if context.plan.logHealthChecks, statusChanged || change.moved, result.status != .checked, let logger {
            let verb = result.status.passed || (runner.isAgent && result.status == .checked)
                ? (result.status == .l7okConditional ? "conditionally succeeded" : "succeeded") : "failed"
            let message = "\(runner.isAgent ? "Agent" : "Health") check for \(server.isBackup ? "backup " : "")server "
                + "\(backend.name)/\(server.name) \(verb)\(result.logDetails), status: "
                + "\(runner.health.statusText(draining: draining))."
            logger.log(.notice, message)
        }

        // Agent words that change the administrative state or the weight.
        if let reply = agentReply, let runtime {
            if let pct = reply.weightPercent {
                let weight = server.initialWeight * pct / 100
                if server.status.withLockedValue({ $0.weight }) != weight {
                    runtime.updateServer(server, in: backend) { $0.weight = weight }
                }
            }
            if let admin = reply.admin {
                // Runtime/AdminChanges.swift logs each change as HAProxy does.
                runtime.setAdmin(admin == .ready ? .ready : admin == .drain ? .drain : .maintenance, of: server, in: backend)
            }
        }

        guard change.transition != nil, let runtime else { return }
        let operational = runners(of: server).allSatisfy { $0.health.isUp }
        guard operational != wasOperational else { return }
        runtime.updateServer(server, in: backend) { $0.operationalUp = operational }
        if !operational, server.health?.shutdownSessionsOnMarkedDown == true {
            runtime.shutdownSessions(of: server)
        }
        server.health?.update { snapshot in
            snapshot.lastChange = .now()
            if !operational {
                if runner.isAgent { snapshot.agent?.downTransitions += 1 } else { snapshot.check?.downTransitions += 1 }
            }
        }
        runner.report.downTransitions += operational ? 0 : 1
        let details = context.plan.logHealthChecks ? "" : (runner.isAgent ? "" : result.logDetails)
        let prefix = server.isBackup ? "Backup Server" : "Server"
        let (active, backup) = counts(backend)
        if operational {
            announce(.notice, "\(prefix) \(backend.name)/\(server.name) is UP\(details). \(active) active and "
                     + "\(backup) backup servers online.\(runningOnBackup(active, backup)) 0 sessions requeued, 0 total in queue.",
                     logger)
        } else {
            announce(.alert, "\(prefix) \(backend.name)/\(server.name) is DOWN\(details). \(active) active and "
                     + "\(backup) backup servers left.\(runningOnBackup(active, backup)) "
                     + "\(server.currentConnections.load(ordering: .relaxed)) sessions active, 0 requeued, 0 remaining in queue.",
                     logger)
            noServerAlert(backend, logger)
        }
    }

    /// A server state change: logged at `level` to the backend's logs (if any) and, as
    /// HAProxy's `ha_warning`, printed on standard error whatever the level.
    private func announce(_ level: LogTarget.Level, _ message: String, _ logger: ProxyLogger?) {
        logger?.log(level, message)
        ConsoleEcho.warning(message)
    }

    /// HAProxy adds this when only backup servers are left to serve.
    private func runningOnBackup(_ active: Int, _ backup: Int) -> String {
        active == 0 && backup > 0 ? " Running on backup." : ""
    }

    /// The log says `backend app has no server available!`, stderr (ha_alert) quotes the name.
    private func noServerAlert(_ backend: RuntimeBackend, _ logger: ProxyLogger?) {
        let (active, backup) = counts(backend)
        if active == 0 && backup == 0 {
            logger?.log(.emerg, "backend \(backend.name) has no server available!")
            ConsoleEcho.alert("backend '\(backend.name)' has no server available!")
        }
    }

    /// A reload (ServerStateCarry): `server`'s health check starts from the counter the old
    /// process had. Only before `start`: the runners are not on their loops yet.
    func restore(_ server: RuntimeServer, health: Int, up: Bool) {
        for runner in runners(of: server) where !runner.isAgent {
            runner.health.restore(health, up: up)
            runner.report.health = runner.health.health
            server.health?.update { $0.check?.health = runner.health.health }
        }
    }

    private func runners(of server: RuntimeServer) -> [CheckRunner] {
        registry.withLock { runnersByServer[ObjectIdentifier(server)] ?? [] }
    }

    /// Usable active and backup servers of a backend (as HAProxy counts them: a draining
    /// server, with no weight, is not counted).
    func counts(_ backend: RuntimeBackend) -> (active: Int, backup: Int) { backend.onlineCounts }
}

extension ProxyRuntime {
    /// Cuts every session using `server`, on every loop (`on-marked-down shutdown-sessions`).
    func shutdownSessions(of server: RuntimeServer) {
        for state in loopStates.all {
            state.eventLoop.execute {
                for session in Array(state.tcpSessions.values) { session.shutdown(ifUsing: server) }
                for session in Array(state.httpSessions.values) { session.shutdown(ifUsing: server) }
            }
        }
    }
}

// MARK: - For the runtime API (`set server … health`, `enable|disable health|agent`)

extension HealthMonitor {
    /// `set server B/S health up|down`: puts the check's counter at its top or at 0, as
    /// HAProxy does, and the server's state with it. Later checks go on from there.
    public func force(_ server: RuntimeServer, in backend: RuntimeBackend, up: Bool) {
        for runner in runners where runner.server === server && !runner.isAgent {
            guard let loop = runner.loop else { continue }
            loop.execute { [self] in
                runner.health.force(up: up)
                runner.report.health = runner.health.health
                let report = runner.report
                server.health?.update { $0.check = report; $0.lastChange = .now() }
                let operational = runners(of: server).allSatisfy { $0.health.isUp }
                runtime?.updateServer(server, in: backend) { $0.operationalUp = operational }
            }
        }
    }

    /// `disable health` / `enable health` (agent: `disable agent` / `enable agent`):
    /// pauses or resumes a server's checks; the state stays as it is meanwhile.
    public func setChecksEnabled(_ server: RuntimeServer, agent: Bool = false, _ enabled: Bool) {
        for runner in runners(of: server) where runner.isAgent == agent {
            runner.paused = !enabled
        }
    }

    /// Whether a server's checks (or agent) run; nil when it has none.
    public func checksEnabled(_ server: RuntimeServer, agent: Bool = false) -> Bool? {
        guard let runner = runners(of: server).first(where: { $0.isAgent == agent }) else { return nil }
        return !runner.paused
    }
}
