#if canImport(Glibc)
import CLinux  // TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT
import Glibc
#endif
import NIOCore

/// Sets up every proxied connection, client or server side, before it is registered:
/// its channel options, then its handlers.
///
/// Bootstraps can set the options too, but apply each through its own future, which
/// costs more per connection than the rest of setting the channel up; here they cost a
/// call each. The result is the loop's shared succeeded future rather than a new one.
enum ConnectionSetup {
    static func initialize(_ channel: Channel, keepAliveProbes: KeepAliveTimings? = nil,
                           addHandlers: () throws -> Void) -> EventLoopFuture<Void> {
        do {
            if let options = channel.syncOptions {
                // `option tcpka` and friends (issue 15).
                if let timings = keepAliveProbes {
                    try options.setOption(.socketOption(.so_keepalive), value: 1)
                    func tcp(_ name: CInt) -> ChannelOptions.Types.SocketOption {
                        ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
                    }
                    if let idle = timings.idleSeconds, idle > 0 { try options.setOption(tcp(TCP_KEEPIDLE), value: idle) }
                    if let interval = timings.intervalSeconds, interval > 0 { try options.setOption(tcp(TCP_KEEPINTVL), value: interval) }
                    if let count = timings.count, count > 0 { try options.setOption(tcp(TCP_KEEPCNT), value: count) }
                }
                // Sessions read only when they are ready for more: backpressure between
                // the two sides.
                try options.setOption(.autoRead, value: false)
                // A client or server that half-closes still gets (or gives) the rest.
                try options.setOption(.allowRemoteHalfClosure, value: true)
            }
            try addHandlers()
            return channel.eventLoop.makeSucceededVoidFuture()
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }
}
