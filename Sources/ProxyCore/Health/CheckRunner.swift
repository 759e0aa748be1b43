#if canImport(Glibc)
import Glibc
#endif
import Atomics
import NIOCore
import NIOPosix

/// One health or agent check of one server, on one event loop: a timer, then a
/// connection that runs the check's script, then a result.
final class CheckRunner {
    enum Script {
        /// Connected is enough (`check` alone).
        case connect
        case http(request: [UInt8], expectations: [CheckExpectation], needsBody: Bool)
        /// `implicitConnect`: the rules did not start with `connect`; HAProxy then numbers
        /// steps from the first rule.
        case tcp(steps: [CheckEvaluation.TCPStep], hasExpect: Bool, implicitConnect: Bool)
        case agent(send: [UInt8]?)
    }

    let server: RuntimeServer
    let context: HealthMonitor.BackendContext
    unowned let monitor: HealthMonitor
    let script: Script
    let address: SocketAddress
    /// A server following DNS (issue 15) moves: its checks go where it is now (on the
    /// check `port` when one is set), not where it was at start-up.
    var followsServer: (port: Int?, enabled: Bool) = (nil, false)
    var currentAddress: SocketAddress {
        guard followsServer.enabled else { return address }
        let now = server.address
        guard let port = followsServer.port, let ip = now.ipAddress else { return now }
        return (try? SocketAddress(ipAddress: ip, port: port)) ?? now
    }
    let interval: Int
    let fastInterval: Int?
    let downInterval: Int?
    let connectTimeout: Int
    let readTimeout: Int?
    var health: CheckHealth
    var report: CheckReport
    /// `check-sni`: the name sent in checks over TLS.
    var checkSNI: String?
    /// With `option tcp-check`, HAProxy says where a connection failed: appended to the info.
    var connectStepInfo: String?
    /// `tcp-check connect linger`: the check's connection ends with a FIN, not a reset.
    var closesGracefully = false
    var isAgent: Bool { if case .agent = script { return true } else { return false } }

    /// Set once by the monitor before anything runs.
    var loop: EventLoop!
    /// Data path v2: set with `loop` when it is a reactor; checks then connect natively.
    var native: NativeLoopContext?
    /// The timers of `loop`'s checks, set with it.
    var timers: CheckTimers!
    /// `disable health` / `disable agent` (runtime API): no checks until enabled again.
    /// Atomic: set and read from any thread.
    private let pausedFlag = ManagedAtomic(false)
    var paused: Bool {
        get { pausedFlag.load(ordering: .relaxed) }
        set { pausedFlag.store(newValue, ordering: .relaxed) }
    }
    /// Identifies the pending timer: scheduling again makes the older one a no-op.
    private var timerGeneration: UInt64 = 0
    private var lastStatus: CheckStatus = .initializing
    // The check under way.
    private var started: NIODeadline = .now()
    var running = false
    var channel: Channel?
    /// The check's connection on the native data path (instead of `channel`): the
    /// connect under way, then the connection, or its TLS layer over it.
    var transport: SessionTransport?
    /// The socket under `transport` once connected: how it closes is decided on it.
    var socket: NativeConnection?
    var deadline: Scheduled<Void>?
    /// Made once and reused by every check of this runner (a loop that is not a reactor).
    var bootstrap: ClientBootstrap?
    /// The check's TLS handshake is under way (its timeout is then layer 6's).
    var handshaking = false
    private var received: [UInt8] = []
    private var step = 0
    /// A protocol check's last passed answer: its result, once every step is done.
    private var protocolResult: CheckResult?
    /// HAProxy logs the info of a MySQL or LDAP check that passed (the server's version,
    /// "Success") but its last check, as `show stat` reports it, has none: the check's
    /// end writes the result again without it.
    private var statsDropInfo = false

    init(server: RuntimeServer, context: HealthMonitor.BackendContext, monitor: HealthMonitor, script: Script,
         address: SocketAddress, interval: Int, fastInterval: Int?, downInterval: Int?,
         rise: Int, fall: Int) {
        self.server = server
        self.context = context
        self.monitor = monitor
        self.script = script
        self.address = address
        self.interval = max(1, interval)
        self.fastInterval = fastInterval
        self.downInterval = downInterval
        // HAProxy: with `timeout check`, connecting may take min(timeout connect, inter),
        // and `timeout check` bounds the rest; without it, `inter` bounds the whole check.
        if let check = context.plan.checkTimeout {
            connectTimeout = min(context.plan.connectTimeout ?? self.interval, self.interval)
            readTimeout = check
        } else {
            connectTimeout = self.interval
            readTimeout = nil
        }
        health = CheckHealth(rise: rise, fall: fall)
        report = CheckReport(result: CheckResult(status: .initializing), health: health.health,
                             rise: health.rise, fall: health.fall, failures: 0, downTransitions: 0)
    }

    /// The runner for a server's `check`, or nil when it cannot be checked (no address or port).
    static func health(_ settings: ServerSettings, server: RuntimeServer, context: HealthMonitor.BackendContext,
                       monitor: HealthMonitor) -> CheckRunner? {
        guard let address = checkAddress(settings, server: server, address: settings.check.address,
                                         port: settings.check.port) else { return nil }
        func runner(_ script: Script) -> CheckRunner {
            CheckRunner(server: server, context: context, monitor: monitor, script: script, address: address,
                        interval: settings.check.interval, fastInterval: settings.check.fastInterval,
                        downInterval: settings.check.downInterval, rise: settings.check.rise, fall: settings.check.fall)
        }
        let made: CheckRunner
        switch context.plan.kind {
        case .tcpConnect:
            made = runner(.connect)
        case .tcpCheck(let rules):
            let steps = CheckEvaluation.tcpSteps(rules)
            let hasExpect = steps.contains { if case .expect = $0 { return true } else { return false } }
            var implicit = true
            var linger = false
            if case .connect(_, _, _, _, _, let lingers)? = rules.first { implicit = false; linger = lingers }
            let tcp = runner(steps.count == 1 ? .connect : .tcp(steps: steps, hasExpect: hasExpect, implicitConnect: implicit))
            tcp.connectStepInfo = implicit ? " at initial connection step of tcp-check" : " at step 1 of tcp-check (connect)"
            tcp.closesGracefully = linger
            return tcp
        case .protocolCheck(let check):
            // Built on the tcp-check steps; HAProxy names no step when such a check cannot connect.
            made = runner(.tcp(steps: CheckEvaluation.protocolSteps(check), hasExpect: true, implicitConnect: false))
            made.closesGracefully = CheckEvaluation.protocolClosesGracefully(check)
        case .http(let request, let expectations):
            made = runner(.http(request: CheckEvaluation.httpRequest(request), expectations: expectations,
                                needsBody: CheckEvaluation.needsBody(expectations)))
        }
        made.checkSNI = settings.check.sni
        // A server found by DNS (`resolvers`): its checks follow its address.
        made.followsServer = (settings.check.port, settings.resolution.resolvers != nil && settings.check.address == nil)
        return made
    }

    /// The runner for a server's `agent-check`.
    static func agent(_ settings: ServerSettings, server: RuntimeServer, context: HealthMonitor.BackendContext,
                      monitor: HealthMonitor) -> CheckRunner? {
        guard let port = settings.agent.port,
              let address = checkAddress(settings, server: server, address: settings.agent.address, port: port)
        else { return nil }
        // Agents count with rise 1 and fall 1: one "down" marks the server down.
        let runner = CheckRunner(server: server, context: context, monitor: monitor,
                                 script: .agent(send: settings.agent.send.map { Array($0.utf8) }),
                                 address: address, interval: settings.agent.interval, fastInterval: nil,
                                 downInterval: nil, rise: 1, fall: 1)
        runner.followsServer = (port, settings.resolution.resolvers != nil && settings.agent.address == nil)
        return runner
    }

    private static func checkAddress(_ settings: ServerSettings, server: RuntimeServer, address: String?,
                                     port: Int?) -> SocketAddress? {
        // A server waiting for DNS has a placeholder address until its first answer.
        if address == nil, settings.resolution.resolvers != nil, let port = port ?? settings.port, port > 0 {
            return try? SocketAddress(ipAddress: server.address.ipAddress ?? "0.0.0.0", port: port)
        }
        if address == nil, port == nil, server.address.port != 0 || settings.unixPath != nil {
            return server.address
        }
        let host = address ?? settings.addresses.first?.description
        guard let host, let port = port ?? settings.port, port > 0 else { return nil }
        return try? SocketAddress(ipAddress: host, port: port)
    }

    // MARK: scheduling

    func start(after delay: Int) {
        schedule(after: delay)
    }

    private func schedule(after milliseconds: Int) {
        guard let timers else { return }
        timerGeneration &+= 1
        let generation = timerGeneration
        timers.schedule(in: milliseconds) { [self] in
            guard generation == timerGeneration else { return }
            run()
        }
    }

    private func nextInterval() -> Int {
        monitor.spread(health.nextInterval(inter: interval, fastInter: fastInterval, downInter: downInterval))
    }

    // MARK: one check

    private func run() {
        // A server `del server` took out is checked no more.
        guard let loop, !running, !monitor.isStopped, !server.isDeleted.load(ordering: .relaxed) else { return }
        if paused { schedule(after: interval); return }
        // A server in maintenance is not checked (HAProxy pauses its checks), nor one whose
        // checks `disable health` (or the stats page's admin form) turned off.
        if !isAgent, server.status.withLockedValue({ $0.admin == .maintenance || $0.resolutionMaintenance || !$0.checksEnabled }) {
            schedule(after: interval)
            return
        }
        running = true
        started = .now()
        report.inProgress = true
        let isAgent = isAgent
        server.health?.update { snapshot in
            if isAgent { snapshot.agent?.inProgress = true } else { snapshot.check?.inProgress = true }
        }
        received.removeAll(keepingCapacity: true)
        step = 1
        protocolResult = nil
        statsDropInfo = false
        if let native {
            connectNatively(on: native, loop: loop)
            return
        }
        connectThroughNIO(loop)
    }

    func elapsed() -> Int {
        Int((NIODeadline.now() - started).nanoseconds / 1_000_000)
    }


    func connected(afterTLS: Bool = false, write: ([UInt8]) -> Void) {
        switch script {
        case .connect:
            finish(CheckResult(status: afterTLS ? .l6ok : .l4ok))
        case .http(let request, _, _):
            write(request)
        case .tcp:
            advanceTCP(final: false)
        case .agent(let send):
            if let send { write(send) }
        }
    }

    /// Bytes from the server.
    func read(_ buffer: ByteBuffer) {
        guard running else { return }
        if received.count < 16_384 { received.append(contentsOf: buffer.readableBytesView.prefix(16_384 - received.count)) }
        evaluate(final: false)
    }

    /// The native connection read a burst: the next one, while the check runs.
    func readMore() {
        if running { transport?.read() }
    }

    /// The server closed (or reset) the connection.
    func closed() {
        guard running else { return }
        evaluate(final: true)
        if running {
            // Nothing more will come and no verdict yet.
            switch script {
            case .agent: finish(CheckResult(status: .checked))
            default: finish(CheckResult(status: .l7response))
            }
        }
    }

    private func evaluate(final: Bool) {
        switch script {
        case .connect:
            break
        case .http(_, let expectations, let needsBody):
            switch CheckEvaluation.parseHead(received) {
            case .incomplete:
                if final { finish(CheckResult(status: .l7response)) }
            case .invalid:
                finish(CheckResult(status: .l7response))
            case .complete(let head):
                let bodyBytes = received.count - head.bodyStart
                let complete = final || !needsBody || (head.contentLength.map { bodyBytes >= $0 } ?? false)
                    || received.count >= 16_384
                if complete {
                    finish(CheckEvaluation.judgeHTTP(received, expectations: expectations))
                }
            }
        case .tcp:
            advanceTCP(final: final)
        case .agent:
            guard final || received.contains(UInt8(ascii: "\n")) else { return }
            let reply = CheckEvaluation.parseAgent(String(decoding: received, as: UTF8.self))
            var result: CheckResult
            switch reply.operational {
            case .down(let word, let reason)?:
                result = CheckResult(status: .l7status, code: 0,
                                     info: "via agent : \(word)" + (reason.map { ": \($0)" } ?? ""))
            case .up?:
                result = CheckResult(status: .l7ok, code: 0, info: "via agent : up")
            case nil:
                result = CheckResult(status: .checked)
            }
            finish(result, agentReply: reply)
        }
    }

    /// Runs tcp-check steps as far as the data received allows.
    private func advanceTCP(final: Bool) {
        guard case .tcp(let steps, let hasExpect, let implicit) = script, channel != nil || transport != nil else { return }
        while running {
            guard step < steps.count else {
                finish(protocolResult
                    ?? (hasExpect ? CheckResult(status: .l7ok, code: 0, info: "(tcp-check)") : CheckResult(status: .l4ok)))
                return
            }
            switch steps[step] {
            case .connect:
                // Only the first connect is supported: later ones keep the same connection.
                step += 1
            case .send(let bytes):
                send(bytes)
                step += 1
            case .sendClientHello:
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                send(CheckEvaluation.sslClientHello(unixTime: UInt32(truncatingIfNeeded: now.tv_sec)))
                step += 1
            case .judge(let reply, let number):
                switch CheckEvaluation.judgeProtocol(received, reply, step: number, final: final) {
                case .passed(let result):
                    protocolResult = result
                    statsDropInfo = CheckEvaluation.protocolStatsDropInfo(reply)
                    received.removeAll(keepingCapacity: true)
                    step += 1
                case .needMore:
                    return
                case .failed(let result):
                    finish(result)
                    return
                }
            case .expect(let expectation):
                switch CheckEvaluation.judgeTCP(received, expectation, step: implicit ? step : step + 1, final: final) {
                case .matched:
                    received.removeAll(keepingCapacity: true)
                    step += 1
                case .needMore:
                    return
                case .failed(let info):
                    finish(CheckResult(status: .l7response, info: info))
                    return
                }
            }
        }
    }

    private func send(_ bytes: [UInt8]) {
        if let transport {
            transport.writeAndFlush(ByteBuffer(bytes: bytes))
        } else {
            channel?.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
        }
    }

    func timedOut() {
        guard running else { return }
        // Still in the TLS handshake: HAProxy calls it a layer 6 timeout (a plain server
        // sent a ClientHello waits for a request and answers nothing).
        if handshaking {
            finish(CheckResult(status: .l6timeout))
            return
        }
        var info: String?
        var status = CheckStatus.l7timeout
        if case .tcp(let steps, _, let implicit) = script, step < steps.count {
            switch steps[step] {
            case .expect(let e): info = CheckEvaluation.timeoutInfo(e, step: implicit ? step : step + 1)
            // A protocol check's timeout says no more than its status.
            case .judge(let reply, _): status = CheckEvaluation.protocolTimeout(reply)
            default: break
            }
        }
        finish(CheckResult(status: status, info: info))
    }

    func finish(_ outcome: CheckResult, agentReply: CheckEvaluation.AgentReply? = nil) {
        guard running else { return }
        running = false
        handshaking = false
        // Shutting down: connections closing now say nothing about the server.
        guard !monitor.isStopped else { return }
        deadline?.cancel()
        deadline = nil
        channel?.close(promise: nil)
        channel = nil
        if let transport {
            // HAProxy resets its checks' connections (no FIN exchange, no TIME_WAIT left
            // here per check) unless the server closed first, or `tcp-check connect linger`.
            if let socket, socket.isActive, !socket.peerClosed, !closesGracefully {
                NativeSyscalls.setLinger0(socket.descriptor)
            }
            transport.events = nil
            transport.close()
            self.transport = nil
        }
        socket = nil
        var result = outcome
        result.durationMilliseconds = elapsed()
        conclude(result, agentReply: agentReply)
        schedule(after: nextInterval())
    }

    /// Counts a result, publishes it and lets the monitor act on it.
    private func conclude(_ result: CheckResult, agentReply: CheckEvaluation.AgentReply? = nil) {
        let statusChanged = result.status != lastStatus
        lastStatus = result.status
        let passed: Bool
        let counts: Bool
        if isAgent {
            // An agent that cannot be reached does not take the server down; one that
            // answers without a state word changes nothing.
            passed = result.status == .l7ok || result.status == .checked
            counts = result.status.isLayer7Data
        } else {
            passed = result.status.passed
            counts = true
        }
        let wasUp = health.isUp
        let change = health.record(passed: passed, counts: counts)
        report.result = result
        report.inProgress = running
        if statsDropInfo, passed { report.result.info = nil }
        report.health = health.health
        // HAProxy's chkfail counts only the checks that failed while the server was up.
        if !passed && counts && wasUp { report.failures += 1 }
        if passed, !isAgent { server.health?.clearObservedErrors() }
        monitor.apply(self, result: result, change: change, statusChanged: statusChanged, agentReply: agentReply)
    }

    /// `observe`: `error-limit` consecutive traffic errors were seen; `on-error` says what
    /// they do, and each choice brings the next check forward to `fastinter`.
    func observedErrors(count: Int, last: String, onError: ServerOnError) {
        guard !monitor.isStopped else { return }
        switch onError {
        case .fastinter: break
        case .failCheck: break
        case .suddenDeath: health.preFatal()
        case .markDown: health.lastChance()
        }
        if onError != .fastinter {
            conclude(CheckResult(status: .healthAnalyze, info: "Detected \(count) consecutive errors, last one was: \(last)"))
        }
        if !running {
            schedule(after: fastInterval ?? interval)  // replaces the pending timer
        }
    }
}
