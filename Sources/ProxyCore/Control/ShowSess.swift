import NIOCore

/// `show sess`: one line per client session, in the first fields of HAProxy's format
/// (`0x…: proto=tcpv4 src=IP:PORT fe=… be=… srv=… ts=00 epoch=0 age=Ns calls=0 …`).
enum SessionLine {
    static func make(id: ObjectIdentifier, channel: Channel?, frontend: String, backend: String?,
                     server: String?, since: Int) -> String {
        make(id: id, remote: channel?.remoteAddress, frontend: frontend, backend: backend, server: server, since: since)
    }

    static func make(id: ObjectIdentifier, remote: SocketAddress?, frontend: String, backend: String?,
                     server: String?, since: Int) -> String {
        var proto = "tcpv4", source = "-"
        if let remote {
            switch remote {
            case .v4: proto = "tcpv4"
            case .v6: proto = "tcpv6"
            case .unixDomainSocket: proto = "unix_stream"
            }
            source = remote.pathname.map { "unix:" + $0 }
                ?? (remote.protocol == .inet6 ? "[\(remote.ipAddress ?? "")]" : remote.ipAddress ?? "") + ":\(remote.port ?? 0)"
        }
        let pointer = "0x" + String(UInt(bitPattern: id), radix: 16)
        let age = (ProcessClock.milliseconds - since) / 1000
        return "\(pointer): proto=\(proto) src=\(source) fe=\(frontend) be=\(backend ?? "<NONE>") srv=\(server ?? "<none>")"
            + " ts=00 epoch=0 age=\(ageText(age)) calls=0 rate=0 cpu=0 lat=0\n"
    }

    /// HAProxy's human delay: `45s`, `3m12s`, `2h05m`, `3d04h`.
    static func ageText(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(ShowInfo.pad2(seconds % 60))s" }
        if seconds < 86400 { return "\(seconds / 3600)h\(ShowInfo.pad2(seconds / 60 % 60))m" }
        return "\(seconds / 86400)d\(ShowInfo.pad2(seconds / 3600 % 24))h"
    }
}

extension ProxyRuntime {
    /// Every live session's line, gathered on each event loop (their state is the loop's).
    func showSessLines(on eventLoop: EventLoop) -> EventLoopFuture<String> {
        let futures = loopStates.all.map { state in
            state.eventLoop.submit { () -> String in
                state.httpSessions.values.map { $0.showSessLine() }.joined()
                    + state.liveTCPSessions.values.map { $0.showSessLine() }.joined()
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: eventLoop).map { $0.joined() }
    }
}
