#if canImport(Glibc)
import Glibc
#endif
import ProxyCore
import Shared

/// Serving until a signal, then stopping in the order that loses no request.
///
/// Without an HA subscriber holding the stop, as HAProxy 2.6: SIGTERM/SIGINT stop at
/// once; SIGUSR1 is a soft stop (listeners close, requests in flight finish), after
/// `grace` if configured (listeners stay open meanwhile), bounded by `hard-stop-after`.
///
/// With a `subscribe ha hold` client (vrrpd) connected, any of the three first announces
/// `state stopping grace=G` and keeps accepting and serving until every hold subscriber
/// has released or hung up, or G (plus a margin) has passed: vrrpd moves the virtual IP
/// meanwhile, so no client meets a closed port. Then SIGUSR1 soft-stops as above, and
/// SIGTERM/SIGINT soft-stop too, bounded by `hard-stop-after` or a few seconds. A second
/// SIGTERM/SIGINT at any point stops at once.
struct StopSequence {
    let runtime: ProxyRuntime
    let control: ControlPlane
    let signals: SignalWaiter
    /// `grace` as configured (HAProxy's delay before a soft stop closes the listeners).
    let configuredGrace: Int?
    /// `hard-stop-after`: the longest a stopping process lives, counted from the signal.
    let hardStopAfter: Int?
    /// A worker of `-W` (ms, else 0): a SIGTERM/SIGINT this soon after the first is the
    /// same stop, not a second one. Under systemd (KillMode=control-group) the worker gets
    /// the unit's SIGTERM and the master's relay of it; taken as "stop at once", the
    /// second would cut short the hold vrrpd is given.
    var duplicateWindow = 0

    /// Added to the grace offered to hold subscribers: they act at G, then release; the
    /// margin lets their release arrive before the listeners close anyway.
    static let holdMargin = 250
    /// How long a SIGTERM's soft stop may take without `hard-stop-after`.
    static let termDrainLimit = 5000

    /// What the signal asked for once the listeners close: SIGUSR1's unbounded soft
    /// stop, or SIGTERM's bounded one (it was only delayed for the hold subscribers).
    private enum Kind { case soft, term }

    private enum Phase {
        case serving
        /// Still accepting until `until` (ProcessClock ms), or earlier when no hold
        /// subscriber is left (if `endsWhenReleased`); then the listeners close.
        case holding(until: Int, endsWhenReleased: Bool, then: Kind)
        /// Listeners closed; exit when the last session ends, or at `deadline`.
        case draining(deadline: Int?)
    }

    /// Runs until the process should exit; returns its status.
    func run() -> Int32 {
        var phase = Phase.serving
        var signalledAt = 0
        var terminatedAt: Int?
        while true {
            let signal: Int32?
            switch phase {
            case .serving: signal = signals.next()
            // Short waits: a release arrives on an event loop, not as a signal.
            case .holding: signal = signals.next(timeoutMilliseconds: 10)
            case .draining: signal = signals.next(timeoutMilliseconds: 100)
            }
            let now = ProcessClock.milliseconds
            // `hard-stop-after` bounds the whole stop, holding included.
            let hardLimit = hardStopAfter.map { signalledAt + $0 } ?? Int.max
            switch (signal, phase) {
            case (SIGHUP, _), (SIGUSR2, _):
                continue  // the master's reload signal (-W); a lone process ignores both, as HAProxy's

            case (SIGTERM, .serving), (SIGINT, .serving):
                signalledAt = now
                terminatedAt = now
                announce()
                guard control.ha.pendingHolds > 0 else { return exitNow() }
                let limit = hardStopAfter.map { now + $0 } ?? Int.max
                phase = .holding(until: min(now + control.ha.graceMilliseconds + Self.holdMargin, limit),
                                 endsWhenReleased: true, then: .term)
            case (SIGTERM, _), (SIGINT, _):
                // The same SIGTERM twice (unit and master), not a SIGTERM after a SIGUSR1.
                if let terminatedAt, now - terminatedAt < duplicateWindow { continue }
                return exitNow()  // a second signal: no more waiting

            case (SIGUSR1, .serving):
                signalledAt = now
                announce()
                let limit = hardStopAfter.map { now + $0 } ?? Int.max
                if control.ha.pendingHolds > 0 {
                    let wait = max(configuredGrace ?? 0, control.ha.graceMilliseconds + Self.holdMargin)
                    phase = .holding(until: min(now + wait, limit), endsWhenReleased: true, then: .soft)
                } else if let grace = configuredGrace, grace > 0 {
                    // HAProxy's `grace`: the listeners stay open for that long, whatever happens.
                    phase = .holding(until: min(now + grace, limit), endsWhenReleased: false, then: .soft)
                } else {
                    phase = drain(.soft)
                }
            case (SIGUSR1, _):
                continue  // already stopping

            case (nil, .holding(let until, let endsWhenReleased, let kind)):
                if now >= until || (endsWhenReleased && control.ha.pendingHolds == 0) {
                    phase = drain(kind)
                }
            case (nil, .draining(let deadline)):
                if runtime.liveSessions == 0 || now >= (deadline ?? Int.max) || now >= hardLimit {
                    return exitNow()
                }
            default:
                continue
            }
        }
    }

    /// Tells systemd and the HA subscribers that a stop began.
    private func announce() {
        SystemdNotify.stopping()
        runtime.announceStop()
        control.ha.beginStopping()
    }

    /// Listeners close, idle connections close, requests in flight finish.
    private func drain(_ kind: Kind) -> Phase {
        runtime.beginSoftStop()
        switch kind {
        case .soft:
            return .draining(deadline: nil)  // only `hard-stop-after` bounds it, as in HAProxy
        case .term:
            return .draining(deadline: hardStopAfter == nil ? ProcessClock.milliseconds + Self.termDrainLimit : nil)
        }
    }

    private func exitNow() -> Int32 {
        control.close()
        runtime.haltForExit()
        return 0
    }
}
