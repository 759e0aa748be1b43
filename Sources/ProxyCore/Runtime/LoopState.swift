import NIOCore

/// What one event loop owns and no other loop touches: its balancer positions and its
/// pool of idle server connections. Sessions reach it through their loop, so the data
/// path needs no lock.
final class LoopState {
    let eventLoop: EventLoop
    /// Every live TCP session of this loop, for `show sess` (issue 4).
    var liveTCPSessions: [ObjectIdentifier: TCPSession] = [:]
    /// This loop's balancer of each backend (index = backend index).
    var balancers: [Balancer]
    /// Idle keep-alive connections per backend, then per server.
    var idleConnections: [[[ServerConnection]]]

    /// Connectors waiting for a server slot (maxconn), per backend, oldest first.
    var queues: [CircularBuffer<ServerConnector>]
    let backends: [RuntimeBackend]
    /// Every loop's state, this one included, to pass on freed slots.
    var siblings: [LoopState] = []

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
        self.balancers = backends.map { Balancer(backend: $0) }
        self.queues = backends.map { _ in CircularBuffer() }
        self.backends = backends
        self.idleConnections = backends.map { backend in
            Array(repeating: [], count: backend.servers.count)
        }
    }
}

/// Finds the LoopState of the loop a channel runs on. Built once at start, read-only after.
struct LoopStates: @unchecked Sendable {
    private let states: [ObjectIdentifier: LoopState]

    init(group: EventLoopGroup, backends: [RuntimeBackend]) {
        var states: [ObjectIdentifier: LoopState] = [:]
        for loop in group.makeIterator() {
            states[ObjectIdentifier(loop)] = LoopState(eventLoop: loop, backends: backends)
        }
        self.states = states
        let all = Array(states.values)
        for (position, state) in all.enumerated() {
            state.siblings = all
            // Each loop balances on its own; starting them at different points of the
            // rotation keeps consecutive connections (spread over loops) on different servers.
            for index in state.balancers.indices where backends[index].balance.algorithm == .roundRobin {
                for _ in 0..<position { _ = state.balancers[index].pick() }
            }
        }
    }

    func state(for loop: EventLoop) -> LoopState {
        loop.assertInEventLoop()
        return states[ObjectIdentifier(loop)]!
    }

    var all: [LoopState] { Array(states.values) }
}
