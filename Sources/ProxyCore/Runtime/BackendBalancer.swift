import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// The outcome of asking a backend for a server.
enum ServerChoice {
    /// This server, with a slot taken on it (see `BackendBalancer.take`).
    case server(RuntimeServer)
    /// Usable servers exist but each is at its `maxconn`: the request waits in the queue.
    case allFull
    /// No server is usable (all DOWN, disabled or in maintenance): 503.
    case noneUsable
}

/// What hash-based algorithms read from a request; nil fields fall back to round robin.
struct BalanceInput {
    var clientAddress: UnsafeRawBufferPointer?
    var request: (target: HTTPSpan, headers: [HTTPHeaderField], bytes: UnsafeRawBufferPointer)?
    /// The bytes a `mode tcp` content inspection read first (`balance rdp-cookie`).
    var payload: UnsafeRawBufferPointer?
}

/// The balancing state of one backend, shared by every event loop: the balancer (the
/// round-robin position, weights, the connections of each server) and the queue of
/// requests waiting for a server below its `maxconn`.
///
/// HAProxy keeps this state per backend and takes the backend's lock to pick a server
/// and count the connection; so does this class. Then with N threads the sequence of
/// picks is the one a single thread gives, leastconn and `first` see every thread's
/// connections, and maxconn holds for all threads together. The lock covers only the
/// pick and the count: a request's key is hashed before taking it, and queued requests
/// are resumed on their own loop after it is released.
///
/// A slot is one counted connection (or request) on a server. Whoever takes one gives it
/// back with `release` exactly once; `LoopState.started`/`ended` wrap these with the
/// statistics.
final class BackendBalancer: @unchecked Sendable {
    private let lock = NIOLock()
    /// Guarded by `lock`.
    private var balancer: Balancer
    /// Connectors waiting for a slot, oldest first. Guarded by `lock`.
    private var waiters = CircularBuffer<ServerConnector>()

    /// Read outside the lock: immutable.
    private let key: BalanceKey
    /// By `RuntimeServer.index`; grows with `add server`. Guarded by `lock`.
    private var servers: [RuntimeServer]
    /// The queue's length for the statistics (`qcur`, `%bq`), kept under the lock.
    let waiting = ManagedAtomic<Int>(0)
    /// The backend's counters: `qmax`, and `lbtot` with each server's.
    private let backendCounters: SessionCounters
    private var maxQueue: CounterCell { backendCounters.maxQueue }

    init(balancer: Balancer, servers: [RuntimeServer], counters: SessionCounters) {
        self.balancer = balancer
        self.key = balancer.key
        self.servers = servers
        self.backendCounters = counters
    }

    // MARK: the data path

    /// Picks a server as `balance` says and takes a slot on it. `avoiding` is a server
    /// that just failed (`option redispatch`). When every server is full, `queueing` (if
    /// given) joins the queue in the same step, so that no slot can free in between
    /// unseen: it is resumed later through `ServerConnector.leftQueue`.
    func take(avoiding: RuntimeServer? = nil, input: BalanceInput = BalanceInput(),
              queueing waiter: ServerConnector? = nil) -> ServerChoice {
        let hash: UInt32?
        if let request = input.request {
            hash = key.hash(clientAddress: input.clientAddress, target: request.target,
                            headers: request.headers, in: request.bytes)
        } else if let payload = input.payload {
            hash = key.hash(payload: payload)
        } else {
            hash = key.hash(clientAddress: input.clientAddress)
        }
        let avoid = avoiding?.index
        var queueLength = 0
        let (decision, picked) = lock.withLock { () -> (BalancerDecision, RuntimeServer?) in
            let decision = balancer.pick(hash: hash, avoiding: avoid)
            switch decision {
            case .server(let index):
                balancer.connectionStarted(server: index)
                return (decision, servers[index])
            case .serverFull, .allFull:
                if let waiter {
                    waiters.append(waiter)
                    queueLength = waiters.count
                    waiting.store(queueLength, ordering: .relaxed)
                }
            case .noneUsable:
                break
            }
            return (decision, nil)
        }
        switch decision {
        case .server:
            let server = picked!
            server.currentConnections.wrappingIncrement(ordering: .relaxed)
            countPick(server)
            return .server(server)
        case .serverFull, .allFull:
            // A hash that chose a full server waits in the backend's queue too (HAProxy
            // queues on that server; the waiter then takes whichever frees first).
            if queueLength > 0 { maxQueue.raise(to: queueLength) }
            return .allFull
        case .noneUsable:
            return .noneUsable
        }
    }

    /// Takes a slot on `server` without asking the balancer: a retry stays on the
    /// server it tried, without looking at its maxconn.
    func take(_ server: RuntimeServer) {
        lock.withLock { balancer.connectionStarted(server: server.index) }
        server.currentConnections.wrappingIncrement(ordering: .relaxed)
    }

    /// Gives a slot back. The oldest waiters get the slots now free.
    func release(_ server: RuntimeServer) {
        server.currentConnections.wrappingDecrement(ordering: .relaxed)
        let handed = lock.withLock { () -> [(ServerConnector, ServerChoice)] in
            balancer.connectionEnded(server: server.index)
            return waiters.isEmpty ? [] : serveWaiters(failingIfNoneUsable: true)
        }
        if !handed.isEmpty { resume(handed) }
    }

    /// Takes a waiter out of the queue (it timed out, or its client left). False when it
    /// was no longer there: a server was given to it and its `leftQueue` is on the way.
    func removeWaiter(_ waiter: ServerConnector) -> Bool {
        lock.withLock {
            guard let index = waiters.firstIndex(where: { $0 === waiter }) else { return false }
            waiters.remove(at: index)
            waiting.store(waiters.count, ordering: .relaxed)
            return true
        }
    }

    // MARK: run-time changes (health, runtime API)

    /// A server's state changed (ProxyRuntime.updateServer): usable or not, and the
    /// weight to balance with. The caller serves the queue afterwards (`serveQueue`).
    func update(_ server: RuntimeServer, usable: Bool, weight: Int) {
        lock.withLock {
            balancer.setUsable(usable, server: server.index)
            balancer.setWeight(weight, server: server.index)
        }
    }

    /// `add server`: the balancer learns the new server (unusable until `updateServer`
    /// says otherwise) at the index `server.index`, the next one. False when the
    /// algorithm takes no new server (see `Balancer.acceptsNewServers`) or another server
    /// took that index first.
    func add(_ server: RuntimeServer, _ settings: BalancerServer) -> Bool {
        lock.withLock {
            guard balancer.acceptsNewServers, server.index == servers.count else { return false }
            _ = balancer.addServer(settings)
            servers.append(server)
            return true
        }
    }

    /// Whether `add server` may add to this backend at all.
    var acceptsNewServers: Bool { lock.withLock { balancer.acceptsNewServers } }

    /// `set maxconn server`: the new limit; a higher one lets waiters through.
    func setMaxConnections(_ limit: Int?, server: RuntimeServer) {
        lock.withLock { balancer.setMaxConnections(limit, server: server.index) }
        serveQueue()
    }

    /// Gives free slots to the waiters, oldest first (after a change that may have freed
    /// some: a server up again, a weight or a maxconn raised). A change that leaves no
    /// server usable fails nobody: waiters keep their `timeout queue`, as in HAProxy.
    func serveQueue() {
        let handed = lock.withLock { waiters.isEmpty ? [] : serveWaiters(failingIfNoneUsable: false) }
        if !handed.isEmpty { resume(handed) }
    }

    /// `lbtot` of the server and of the backend.
    private func countPick(_ server: RuntimeServer) {
        server.counters.balancedPicks.increment()
        backendCounters.balancedPicks.increment()
    }

    // MARK: the queue

    /// Under the lock: picks a server for each waiter in turn until every server is
    /// full again. With no usable server left, waiters are failed if
    /// `failingIfNoneUsable` (a slot freed on a backend that went down meanwhile).
    private func serveWaiters(failingIfNoneUsable: Bool) -> [(ServerConnector, ServerChoice)] {
        var handed: [(ServerConnector, ServerChoice)] = []
        serving: while let first = waiters.first {
            switch balancer.pick() {
            case .server(let index):
                balancer.connectionStarted(server: index)
                countPick(servers[index])
                handed.append((first, .server(servers[index])))
            case .noneUsable where failingIfNoneUsable:
                handed.append((first, .noneUsable))
            case .noneUsable, .serverFull, .allFull:
                break serving
            }
            waiters.removeFirst()
        }
        waiting.store(waiters.count, ordering: .relaxed)
        return handed
    }

    /// Outside the lock: each waiter goes on with its server on its own loop (at once
    /// when that is the current one).
    private func resume(_ handed: [(ServerConnector, ServerChoice)]) {
        for (waiter, choice) in handed {
            if case .server(let server) = choice {
                server.currentConnections.wrappingIncrement(ordering: .relaxed)
            }
            let loop = waiter.eventLoop
            if loop.inEventLoop {
                waiter.leftQueue(choice)
            } else {
                loop.execute { waiter.leftQueue(choice) }
            }
        }
    }
}
