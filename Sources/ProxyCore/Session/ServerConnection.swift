import NIOCore

/// A connection to a server in `mode http`. Between requests it waits in its loop's idle
/// pool, owned by nobody; while a request uses it, its events go to that session. While
/// idle, any sign of life (a server must not speak unasked) or death closes it.
final class ServerConnection: TransportEvents {
    let transport: SessionTransport
    let server: RuntimeServer
    let backendIndex: Int
    let loop: LoopState
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
    private var ended = false

    init(transport: SessionTransport, server: RuntimeServer, backendIndex: Int, loop: LoopState,
         serverName: String? = nil) {
        self.transport = transport
        self.server = server
        self.backendIndex = backendIndex
        self.loop = loop
        self.serverName = serverName
        transport.events = self
    }

    func transportActive() {}

    func transportRead(_ buffer: ByteBuffer) {
        if let owner {
            owner.serverRead(buffer, from: self)
        } else {
            loop.discardIdle(self)
        }
    }

    func transportReadComplete() { owner?.serverReadComplete(self) }

    func transportWritabilityChanged() { owner?.serverWritabilityChanged(self) }

    func transportInputClosed() { end() }

    func transportClosed() { end() }

    private func end() {
        guard !ended else { return }
        ended = true
        if let owner {
            self.owner = nil
            owner.serverClosed(self)
        } else {
            loop.discardIdle(self)
        }
        transport.close()
    }
}

extension LoopState {
    /// An idle connection to `server` that announced `serverName`, if the pool has one.
    func takeIdle(backend: Int, server: Int, serverName: String? = nil) -> ServerConnection? {
        // Most recent first; a connection made for another SNI stays for its own requests.
        // (In place: the usual case takes the last one.)
        // A server `add server` added has no list here until this loop parks on it.
        guard server < idleConnections[backend].count else { return nil }
        while let index = idleConnections[backend][server].lastIndex(where: { $0.serverName == serverName }) {
            let connection = idleConnections[backend][server].remove(at: index)
            connection.isPooled = false
            poolLost(connection)
            connection.hasBeenReused = true
            if connection.transport.isActive { return connection }
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
        // Nor for a server `del server` took out.
        guard connection.server.poolPurgeDelayMs > 0, !connection.server.isDeleted.load(ordering: .relaxed) else {
            connection.transport.close()
            return
        }
        connection.isPooled = true
        connection.idleSince = .now()
        let backend = connection.backendIndex, server = connection.server.index
        ensurePool(backend: backend, server: server)
        while let oldest = idleConnections[backend][server].first,
              idleConnections[backend][server].count >= Self.maxIdlePerServer {
            idleConnections[backend][server].removeFirst()
            oldest.isPooled = false
            poolLost(oldest)
            oldest.transport.close()
        }
        idleConnections[backend][server].append(connection)
        poolGained(connection)
        // Read while idle so that the server closing it is noticed at once.
        connection.transport.read()
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
        connection.transport.close()
    }
}
