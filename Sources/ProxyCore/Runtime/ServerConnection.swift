import NIOCore

/// A connection to a server in `mode http`. Between requests it waits in its loop's idle
/// pool, owned by nobody; while a request uses it, its events go to that session.
final class ServerConnection {
    let channel: Channel
    let server: RuntimeServer
    let backendIndex: Int
    /// The session using this connection, nil while idle in the pool.
    var owner: HTTPSession?
    var isPooled = false
    /// When it last went idle, for purging.
    var idleSince: NIODeadline = .now()
    /// Taken from the pool at least once: HAProxy calls such an idle connection "safe"
    /// (`show servers conn`'s safe_nb), one that served a single request "unsafe".
    var hasBeenReused = false
    /// The SNI it announced (TLS): a request whose `sni` gives another name may not use it.
    let serverName: String?

    init(channel: Channel, server: RuntimeServer, backendIndex: Int, serverName: String? = nil) {
        self.channel = channel
        self.server = server
        self.backendIndex = backendIndex
        self.serverName = serverName
    }
}

/// The handler on a server channel: hands its events to the owning session, or, while
/// the connection idles in the pool, closes it on any sign of life (a server must not
/// speak unasked) or death.
final class HTTPServerSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var connection: ServerConnection?
    let loop: LoopState

    init(loop: LoopState) { self.loop = loop }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection else { return }
        if let owner = connection.owner {
            owner.serverRead(unwrapInboundIn(data), from: connection)
        } else {
            loop.discardIdle(connection)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard let connection, let owner = connection.owner else { return }
        owner.serverReadComplete(connection)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard let connection, let owner = connection.owner else { return }
        owner.serverWritabilityChanged(connection)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            ended(context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) { ended(context) }

    func errorCaught(context: ChannelHandlerContext, error: Error) { ended(context) }

    private func ended(_ context: ChannelHandlerContext) {
        guard let connection else { context.close(promise: nil); return }
        self.connection = nil
        if let owner = connection.owner {
            connection.owner = nil
            owner.serverClosed(connection)
        } else {
            loop.discardIdle(connection)
        }
        context.close(promise: nil)
    }
}

extension LoopState {
    /// An idle connection to `server` that announced `serverName`, if the pool has one.
    func takeIdle(backend: Int, server: Int, serverName: String? = nil) -> ServerConnection? {
        // Most recent first; a connection made for another SNI stays for its own requests.
        // (In place: the usual case takes the last one.)
        while let index = idleConnections[backend][server].lastIndex(where: { $0.serverName == serverName }) {
            let connection = idleConnections[backend][server].remove(at: index)
            connection.isPooled = false
            poolLost(connection)
            connection.hasBeenReused = true
            if connection.channel.isActive { return connection }
        }
        return nil
    }

    /// Parks a connection whose last exchange left it reusable.
    /// At most this many idle connections per server and loop; beyond, the oldest goes.
    /// Only kept-alive clients leave connections here (HTTPSession closes the server
    /// connection of a client that leaves), so the pool follows their number; the bound
    /// only guards against the unforeseen. Too low a bound costs a connect per request
    /// once more clients than it are kept alive (64 did, at 500 clients).
    /// Once the clients are gone, the purge timer empties the pool (IdlePoolPurge.swift).
    static let maxIdlePerServer = 4096

    func park(_ connection: ServerConnection) {
        connection.owner = nil
        // `pool-purge-delay 0`: HAProxy keeps no idle connection.
        guard connection.server.poolPurgeDelayMs > 0 else {
            connection.channel.close(promise: nil)
            return
        }
        connection.isPooled = true
        connection.idleSince = .now()
        let backend = connection.backendIndex, server = connection.server.index
        while let oldest = idleConnections[backend][server].first,
              idleConnections[backend][server].count >= Self.maxIdlePerServer {
            idleConnections[backend][server].removeFirst()
            oldest.isPooled = false
            poolLost(oldest)
            oldest.channel.close(promise: nil)
        }
        idleConnections[backend][server].append(connection)
        poolGained(connection)
        // Read while idle so that the server closing it is noticed at once.
        connection.channel.read()
    }

    /// Closes an idle connection the server closed or spoke on.
    func discardIdle(_ connection: ServerConnection) {
        if connection.isPooled {
            connection.isPooled = false
            let list = idleConnections[connection.backendIndex][connection.server.index]
            if let index = list.firstIndex(where: { $0 === connection }) {
                idleConnections[connection.backendIndex][connection.server.index].remove(at: index)
                poolLost(connection)
            }
        }
        connection.channel.close(promise: nil)
    }
}
