#if canImport(Glibc)
import Glibc
#endif

/// What a listener says when `accept` fails for want of descriptors or memory: HAProxy
/// 2.6's emergency line, sent to the frontend's own log targets (nothing when it has
/// none, nothing on stderr) at every retry, that is every 100 ms while the table stays
/// full. HAProxy counts these nowhere (no `show info` or `show stat` field moves), so
/// neither does proxyd: the line is the whole report.
public enum AcceptFailureLog {
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
}
