import Shared

/// The small options operators write (issue 15): TCP keep-alive probes, `dontlog-normal`,
/// `contstats`, `http-pretend-keepalive`, and the proxy's `backlog`.
enum SmallOptionsParser {
    /// Hooked into OptionParser's table.
    static let options: [String: OptionParser.Entry] = [
        // In a listen section `tcpka` is both sides, as in HAProxy.
        "tcpka": OptionParser.flag(.both) { p, on in
            // A defaults section (no capability yet) passes both sides on.
            if p.isFrontend || p.capabilities.isEmpty { p.smallOptions.clientKeepAliveProbes = on }
            if p.isBackend || p.capabilities.isEmpty { p.smallOptions.serverKeepAliveProbes = on }
        },
        "clitcpka": OptionParser.flag(.frontend) { $0.smallOptions.clientKeepAliveProbes = $1 },
        "srvtcpka": OptionParser.flag(.backend) { $0.smallOptions.serverKeepAliveProbes = $1 },
        "dontlog-normal": OptionParser.flag(.frontend) { $0.smallOptions.dontLogNormal = $1 },
        "logasap": OptionParser.flag(.frontend) { $0.smallOptions.logAsap = $1 },
        "contstats": OptionParser.flag(.frontend) { $0.smallOptions.continuousStats = $1 },
        "http-pretend-keepalive": OptionParser.flag(.both) { $0.smallOptions.pretendKeepAlive = $1 },
    ]

    /// Hooked into ProxyParser's table.
    static let keywords: [String: ProxyKeyword] = [
        "backlog": ProxyKeyword(side: .frontend, inDefaults: true, handler: { s, p, l, _ in
            guard let n = ConfigUnits.integer(l[1]) else {
                s.alert(l, "'backlog' expects an integer argument.")
                return
            }
            p.smallOptions.backlog = n
        }),
    ]

    /// After parsing: a bind without its own `backlog` takes the proxy's, wherever the
    /// listener is opened (worker or master).
    static func applyBacklog(_ p: inout ProxySettings) {
        guard let backlog = p.smallOptions.backlog else { return }
        for i in p.binds.indices where p.binds[i].backlog == nil { p.binds[i].backlog = backlog }
    }
}
