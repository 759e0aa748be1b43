/// The outcome of asking a backend for a server.
enum ServerChoice {
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
}

extension LoopState {
    /// Picks a server of `backend` for a new connection or request, as `balance` says.
    /// `avoiding` is a server that just failed, for `option redispatch`.
    func chooseServer(in backend: RuntimeBackend, avoiding: RuntimeServer? = nil,
                      input: BalanceInput = BalanceInput()) -> ServerChoice {
        let avoid = avoiding?.index
        let decision: BalancerDecision
        if let request = input.request {
            decision = balancers[backend.index].pick(clientAddress: input.clientAddress, target: request.target,
                                                     headers: request.headers, in: request.bytes, avoiding: avoid)
        } else {
            decision = balancers[backend.index].pick(clientAddress: input.clientAddress, avoiding: avoid)
        }
        switch decision {
        case .server(let index):
            let server = backend.servers[index]
            // The balancer counts this loop's connections; maxconn is for all loops.
            return server.isFull ? .allFull : .server(server)
        case .serverFull, .allFull:
            return .allFull
        case .noneUsable:
            return .noneUsable
        }
    }

    /// A connection or request to `server` started / ended (for leastconn, first, maxconn).
    func started(_ server: RuntimeServer, in backendIndex: Int) {
        server.currentConnections.wrappingIncrement(ordering: .relaxed)
        server.totalConnections.wrappingIncrement(ordering: .relaxed)
        balancers[backendIndex].connectionStarted(server: server.index)
        // Stats (issue 4): smax and lastsess of the server; scur/smax/stot of the backend.
        let now = ProcessClock.milliseconds
        server.counters.maxSessions.raise(to: server.currentConnections.load(ordering: .relaxed))
        server.counters.lastSession.store(now)
        server.counters.sessionRate.tick(at: now)
        let counters = backends[backendIndex].counters
        counters.sessionOpened(at: now)
        counters.totalSessions.increment()
        counters.lastSession.store(now)
    }

    func ended(_ server: RuntimeServer, in backendIndex: Int) {
        server.currentConnections.wrappingDecrement(ordering: .relaxed)
        balancers[backendIndex].connectionEnded(server: server.index)
        backends[backendIndex].counters.currentSessions.decrement()  // stats (issue 4)
        // A slot is free: the oldest waiter of this loop gets it; waiters of other loops
        // are told too, since maxconn is shared by all loops.
        if !queues[backendIndex].isEmpty { serveQueue(backendIndex) }
        if backends[backendIndex].waiting.load(ordering: .relaxed) > 0 {
            for sibling in siblings where sibling !== self {
                sibling.eventLoop.execute { sibling.serveQueue(backendIndex) }
            }
        }
    }

    /// Puts a connector that found every server full at the end of the backend's queue.
    func enqueue(_ connector: ServerConnector, backendIndex: Int) {
        queues[backendIndex].append(connector)
        let waiting = backends[backendIndex].waiting.wrappingIncrementThenLoad(ordering: .relaxed)
        backends[backendIndex].counters.maxQueue.raise(to: waiting)  // qmax (issue 4)
    }

    /// Takes a connector out of the queue (it timed out or its client left).
    func dequeue(_ connector: ServerConnector, backendIndex: Int) {
        if let index = queues[backendIndex].firstIndex(where: { $0 === connector }) {
            queues[backendIndex].remove(at: index)
            backends[backendIndex].waiting.wrappingDecrement(ordering: .relaxed)
        }
    }

    /// Gives free slots to the waiters in order, until one finds every server full again.
    func serveQueue(_ backendIndex: Int) {
        while let first = queues[backendIndex].first {
            queues[backendIndex].removeFirst()
            backends[backendIndex].waiting.wrappingDecrement(ordering: .relaxed)
            if !first.leaveQueue() {
                queues[backendIndex].prepend(first)
                backends[backendIndex].waiting.wrappingIncrement(ordering: .relaxed)
                return
            }
        }
    }
}

extension Balancer {
    /// The balancer of one backend on one loop, from the model's `balance`/`hash-type`.
    init(backend: RuntimeBackend) {
        let balance = backend.balance
        let algorithm: BalanceAlgorithm
        switch balance.algorithm {
        case .roundRobin: algorithm = .roundRobin
        case .staticRoundRobin: algorithm = .staticRoundRobin
        case .leastConn: algorithm = .leastConnections
        case .first: algorithm = .first
        case .source: algorithm = .source
        case .uri(let whole, let length, let depth, let pathOnly):
            algorithm = .uri(URIHashOptions(whole: whole, length: length ?? 0, depth: depth ?? 0, pathOnly: pathOnly))
        case .urlParam(let name, _): algorithm = .urlParameter(name: Array(name.utf8))
        case .header(let name, let domainOnly): algorithm = .header(name: Array(name.utf8), useDomainOnly: domainOnly)
        case .random(let draws): algorithm = .random(draws: draws)
        case .rdpCookie: algorithm = .roundRobin  // refused by the builder before we get here
        }
        let function: BalanceHashFunction
        switch balance.hashFunction {
        case .sdbm, .none: function = .sdbm
        case .djb2: function = .djb2
        case .wt6: function = .wt6
        case .crc32: function = .crc32
        }
        let hashType = BalanceHashType(method: balance.hashMethod == .consistent ? .consistent : .mapBased,
                                       function: function, avalanche: balance.avalanche)
        self.init(servers: backend.servers.map {
                      BalancerServer(weight: $0.initialWeight, isBackup: $0.isBackup,
                                     isUsable: $0.isUsable.load(ordering: .relaxed),
                                     maxConnections: $0.maxConnections, id: $0.id)
                  },
                  algorithm: algorithm, hashType: hashType, allBackups: backend.allBackups)
    }
}
