#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// What proxyd says when it cannot get a socket for want of descriptors or memory, in
/// HAProxy 2.6's words, at `emerg`, to the proxy's own log targets (nothing when it has
/// none):
/// - a listener's `accept` fails: the frontend's line, at every retry, that is every
///   100 ms while the table stays full; nothing on stderr. HAProxy counts these nowhere
///   (no `show info` or `show stat` field moves), so neither does proxyd.
/// - a server connection's `socket()` fails: "Cannot get a server socket." on stderr and
///   the backend's line, at each attempt; the attempt fails as a refused connect would
///   (retries, `econ`, `wretr`, a 503 with `SC--`).
public enum ResourceShortageLog {
    /// How long accepting pauses after such a failure: HAProxy's listeners wait 100 ms
    /// before they try again.
    static let retryDelay = TimeAmount.milliseconds(100)

    /// HAProxy's words for `error`; nil for an error it does not report this way.
    public static func message(frontend: String, error: CInt, maxsock: Int) -> String? {
        switch error {
        case EMFILE:
            return "Proxy \(frontend) reached process FD limit (maxsock=\(maxsock)). Please check 'ulimit-n' and restart."
        case ENFILE:
            return "Proxy \(frontend) reached system FD limit (maxsock=\(maxsock)). Please check system tunables."
        case ENOBUFS, ENOMEM:
            return "Proxy \(frontend) reached system memory limit (maxsock=\(maxsock)). Please check system tunables."
        default:
            return nil
        }
    }

    /// The process's descriptor limit, as `show info` reports it in `Maxsock`.
    public static var maxsock: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        return Int(min(limit.rlim_cur, rlim_t(Int32.max)))
    }

    /// Logs the failure at `emerg` on `logger`, if the error is one HAProxy reports.
    public static func report(_ error: CInt, frontend: String, logger: ProxyLogger?) {
        guard let logger, let text = message(frontend: frontend, error: error, maxsock: maxsock) else { return }
        logger.log(.emerg, text)
    }

    /// Whether an attempt failed for want of descriptors or memory (not for the server).
    static func isShortage(_ error: Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return message(frontend: "", error: error.errnoCode, maxsock: 0) != nil
    }

    /// A server connection that could not get its socket (an attempt's `error`).
    static func reportServerSocket(_ error: Error, backend: RuntimeBackend) {
        guard let error = error as? IOError, isShortage(error) else { return }
        ConsoleEcho.plain("Cannot get a server socket.")
        report(error.errnoCode, frontend: backend.name, logger: backend.logger)
    }
}

/// The same for a listener of the NIO data path. NIO hands accept errors to the
/// listening channel's pipeline and, left alone, retries at once on the still-ready
/// socket (a busy loop); this reports each one and stops reading for 100 ms. It also
/// holds whether the listener should accept at all (maxconn, `disable frontend`:
/// ChannelListener.setAccepting), so that the end of a pause never undoes those.
final class AcceptFailurePause: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Channel
    private let frontend: RuntimeFrontend
    /// Both on the channel's event loop.
    private var paused = false
    private var wanted = true

    init(frontend: RuntimeFrontend) { self.frontend = frontend }

    /// Accepting on or off as the runtime wants it; takes effect now, or at the end of a
    /// pause. On the channel's event loop.
    func setAccepting(_ accepting: Bool, on channel: Channel) {
        wanted = accepting
        guard !paused else { return }
        Self.apply(accepting, to: channel)
    }

    private static func apply(_ accepting: Bool, to channel: Channel) {
        channel.setOption(.autoRead, value: accepting).whenSuccess {
            if accepting { channel.read() }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        ResourceShortageLog.report(error.errnoCode, frontend: frontend.name, logger: frontend.connectionErrors.logger)
        guard !paused else { return }
        paused = true
        let channel = context.channel
        _ = channel.setOption(.autoRead, value: false)
        channel.eventLoop.scheduleTask(in: ResourceShortageLog.retryDelay) { [self] in
            paused = false
            if channel.isActive, wanted { Self.apply(true, to: channel) }
        }
    }
}
