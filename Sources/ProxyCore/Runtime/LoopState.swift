import NIOCore

/// What one event loop owns and no other loop touches: its pool of idle server
/// connections and its sessions. Sessions reach it through their loop, so it needs no
/// lock. (Balancing is not here: a backend's balancer and queue are shared by all loops,
/// see BackendBalancer.)
final class LoopState {
    let eventLoop: EventLoop
    /// Data path v2: what this reactor's connections share; nil on a NIO event loop.
    var native: NativeLoopContext?
    /// Every live TCP session of this loop, for `show sess` (issue 4).
    var liveTCPSessions: [ObjectIdentifier: TCPSession] = [:]
    /// This loop's position in the group: its gauge in `RuntimeServer.idlePoolGauges`.
    let ordinal: Int
    /// Idle keep-alive connections per backend, then per server index, oldest first. A
    /// server `add server` added gets its list when this loop first parks a connection
    /// to it (`ensurePool`).
    var idleConnections: [[[ServerConnection]]]
    /// The one purge timer of this loop (IdlePoolPurge.swift), armed while the pool holds
    /// a connection.
    var purgeTimer: Scheduled<Void>?
    /// When each server's pool was last purged, per backend then server.
    var lastPurge: [[NIODeadline]]

    let backends: [RuntimeBackend]

    /// Live HTTP sessions of this loop, so a soft stop can close the idle ones.
    var httpSessions: [ObjectIdentifier: HTTPSession] = [:]
    /// TCP sessions on servers with `on-marked-down shutdown-sessions` (Health/), so that
    /// they can be cut when their server goes DOWN. Others are not listed.
    var tcpSessions: [ObjectIdentifier: TCPSession] = [:]

    func closeIdleSessions() {
        for session in httpSessions.values { session.closeIfIdle() }
    }

    init(eventLoop: EventLoop, ordinal: Int, backends: [RuntimeBackend]) {
        self.eventLoop = eventLoop
        self.ordinal = ordinal
        self.backends = backends
        self.idleConnections = backends.map { backend in
            Array(repeating: [], count: backend.serversByIndex.count)
        }
        let now = NIODeadline.now()
        self.lastPurge = backends.map { backend in Array(repeating: now, count: backend.serversByIndex.count) }
    }

    /// Makes room in the pool for a server added at run time (`add server`).
    func ensurePool(backend: Int, server: Int) {
        guard server >= idleConnections[backend].count else { return }
        let missing = server + 1 - idleConnections[backend].count
        idleConnections[backend] += Array(repeating: [], count: missing)
        lastPurge[backend] += Array(repeating: .now(), count: missing)
    }

    /// This loop's gauge of a server's idle pool.
    func poolGauge(_ server: RuntimeServer) -> IdlePoolGauge { server.idlePoolGauges[ordinal] }
}

/// Finds the LoopState of the loop a channel runs on. Built once at start, read-only after.
struct LoopStates: @unchecked Sendable {
    private let states: [ObjectIdentifier: LoopState]
    /// In the group's order, so that `show servers conn`'s per-thread columns keep theirs.
    let ordered: [LoopState]

    init(group: EventLoopGroup, backends: [RuntimeBackend]) {
        var states: [ObjectIdentifier: LoopState] = [:]
        var ordered: [LoopState] = []
        for loop in group.makeIterator() {
            let state = LoopState(eventLoop: loop, ordinal: ordered.count, backends: backends)
            states[ObjectIdentifier(loop)] = state
            ordered.append(state)
        }
        self.states = states
        self.ordered = ordered
        for backend in backends {
            for server in backend.serversByIndex { giveGauges(to: server) }
        }
    }

    /// A server's idle-pool gauges, one per loop: before it carries traffic.
    func giveGauges(to server: RuntimeServer) {
        server.idlePoolGauges = ordered.map { _ in IdlePoolGauge() }
    }

    func state(for loop: EventLoop) -> LoopState {
        loop.assertInEventLoop()
        return states[ObjectIdentifier(loop)]!
    }

    var all: [LoopState] { Array(states.values) }
}
