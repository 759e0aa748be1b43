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
        "clitcpka-idle": timing(.frontend, "clitcpka-idle") { $0.smallOptions.clientKeepAliveTimings.idleSeconds = $1 },
        "clitcpka-intvl": timing(.frontend, "clitcpka-intvl") { $0.smallOptions.clientKeepAliveTimings.intervalSeconds = $1 },
        "clitcpka-cnt": count(.frontend, "clitcpka-cnt") { $0.smallOptions.clientKeepAliveTimings.count = $1 },
        "srvtcpka-idle": timing(.backend, "srvtcpka-idle") { $0.smallOptions.serverKeepAliveTimings.idleSeconds = $1 },
        "srvtcpka-intvl": timing(.backend, "srvtcpka-intvl") { $0.smallOptions.serverKeepAliveTimings.intervalSeconds = $1 },
        "srvtcpka-cnt": count(.backend, "srvtcpka-cnt") { $0.smallOptions.serverKeepAliveTimings.count = $1 },
        "backlog": ProxyKeyword(side: .frontend, inDefaults: true, handler: { s, p, l, _ in
            guard let n = ConfigUnits.integer(l[1]) else {
                s.alert(l, "'backlog' expects an integer argument.")
                return
            }
            p.smallOptions.backlog = n
        }),
    ]

    /// `clitcpka-idle 30s`: a delay in seconds unless a unit says otherwise.
    static func timing(_ side: ProxyKeyword.Side, _ name: String,
                       _ set: @escaping (inout ProxySettings, Int) -> Void) -> ProxyKeyword {
        ProxyKeyword(side: side, inDefaults: true, handler: { s, p, l, _ in
            guard l.count > 1, !l[1].isEmpty else {
                s.alert(l, "'\(name)' expects an integer value")
                return
            }
            let text = l[1].allSatisfy { $0.isASCII && $0.isNumber } ? l[1] + "s" : l[1]
            switch ConfigUnits.milliseconds(text) {
            case let .success(ms): set(&p, ms / 1000)
            case let .failure(.unexpectedCharacter(c)): s.alert(l, "unexpected character '\(c)' in argument to <\(name)>.\n")
            case .failure: s.alert(l, "timer overflow in argument '\(l[1])' to <\(name)> (maximum value is 2147483647 s or ~68 years).")
            }
        })
    }

    /// `clitcpka-cnt 4`.
    static func count(_ side: ProxyKeyword.Side, _ name: String,
                      _ set: @escaping (inout ProxySettings, Int) -> Void) -> ProxyKeyword {
        ProxyKeyword(side: side, inDefaults: true, handler: { s, p, l, _ in
            guard l.count > 1, !l[1].isEmpty else {
                s.alert(l, "'\(name)' expects an integer value")
                return
            }
            guard let n = ConfigUnits.integer(l[1]) else {
                let bad = l[1].first { !($0.isASCII && $0.isNumber) } ?? " "
                s.alert(l, "'\(name)' : unexpected character '\(bad)' in integer value '\(l[1])'")
                return
            }
            set(&p, n)
        })
    }

    /// After parsing: a bind without its own `backlog` takes the proxy's, wherever the
    /// listener is opened (worker or master).
    static func applyBacklog(_ p: inout ProxySettings) {
        guard let backlog = p.smallOptions.backlog else { return }
        for i in p.binds.indices where p.binds[i].backlog == nil { p.binds[i].backlog = backlog }
    }
}
