#if canImport(Glibc)
import Glibc
#endif

/// File-descriptor limits and the `maxconn` they allow, computed as HAProxy 2.6 does.
public enum ResourceLimits {
    /// Descriptors kept for listeners, logs, the stats socket and the like.
    static let reserved = 28

    /// HAProxy's default global maxconn: raise the soft descriptor limit to the hard one,
    /// then allow two descriptors per connection (client and server) after the reserve.
    public static func defaultMaxConnections() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 2000 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let usable = Int(min(limit.rlim_cur, rlim_t(Int32.max))) - reserved
        return max(1, usable / 2)
    }

    /// Raises the descriptor limit so that `maxconn` connections fit, when allowed.
    public static func ensureDescriptors(forConnections maxconn: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(maxconn * 2 + reserved)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted
            if limit.rlim_max < wanted { limit.rlim_max = wanted }
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}
