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
    /// Idle keep-alive connections per backend, then per server, oldest first.
    var idleConnections: [[[ServerConnection]]]
    /// What `show servers conn` reads of this loop's pool, per backend then server:
    /// atomics, because the control socket reads them from its own thread.
    let poolGauges: [[IdlePoolGauge]]
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

    init(eventLoop: EventLoop, backends: [RuntimeBackend]) {
        self.eventLoop = eventLoop
        self.backends = backends
        self.idleConnections = backends.map { backend in
            Array(repeating: [], count: backend.servers.count)
        }
        self.poolGauges = backends.map { backend in backend.servers.map { _ in IdlePoolGauge() } }
        let now = NIODeadline.now()
        self.lastPurge = backends.map { backend in Array(repeating: now, count: backend.servers.count) }
    }
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
            let state = LoopState(eventLoop: loop, backends: backends)
            states[ObjectIdentifier(loop)] = state
            ordered.append(state)
        }
        self.states = states
        self.ordered = ordered
    }

    func state(for loop: EventLoop) -> LoopState {
        loop.assertInEventLoop()
        return states[ObjectIdentifier(loop)]!
    }

    var all: [LoopState] { Array(states.values) }
}
