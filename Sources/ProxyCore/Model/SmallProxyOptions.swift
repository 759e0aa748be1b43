/// The small per-proxy options operators write (issue 15), kept together so that the
/// proxy's model grows by one field for all of them.
public struct SmallProxyOptions: Sendable, Equatable {
    /// `option clitcpka` (or `tcpka` in a frontend): SO_KEEPALIVE on client sockets.
    public var clientKeepAliveProbes = false
    /// `option srvtcpka` (or `tcpka` in a backend): SO_KEEPALIVE on server sockets.
    public var serverKeepAliveProbes = false
    /// `clitcpka-idle|intvl|cnt` and `srvtcpka-…`: the probes' timings on each side
    /// (unset: the system's).
    public var clientKeepAliveTimings = KeepAliveTimings()
    public var serverKeepAliveTimings = KeepAliveTimings()
    /// `option dontlog-normal`: only sessions that ended in an error are logged.
    public var dontLogNormal = false
    /// `option contstats`: accepted; proxyd's byte counters already grow while a
    /// transfer goes on.
    public var continuousStats = false
    /// `option http-pretend-keepalive`: accepted; proxyd never sends `Connection: close`
    /// to a server with `option http-server-close` unless it closes itself.
    public var pretendKeepAlive = false
    /// `option logasap`: the log line goes out when the response head does (http) or the
    /// server connection is made (tcp), with `+` before the durations and bytes not final.
    public var logAsap = false
    /// `backlog N`: the listen queue of the proxy's binds (nil: the default).
    public var backlog: Int?

    public init() {}
}

/// TCP keep-alive probe timings (`clitcpka-idle 30s`, `…-intvl 5s`, `…-cnt 4`): seconds
/// idle before the first probe, seconds between probes, probes unanswered before the
/// connection is dropped; nil leaves the system's value.
public struct KeepAliveTimings: Sendable, Equatable {
    public var idleSeconds: Int?
    public var intervalSeconds: Int?
    public var count: Int?
    public init() {}
}
