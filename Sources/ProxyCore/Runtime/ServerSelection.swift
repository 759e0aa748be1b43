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
        // Two tries at most: the second only when the first gave the server to avoid.
        for _ in 0..<2 {
            let decision: BalancerDecision
            if let request = input.request {
                decision = balancers[backend.index].pick(clientAddress: input.clientAddress, target: request.target,
                                                         headers: request.headers, in: request.bytes)
            } else {
                decision = balancers[backend.index].pick(clientAddress: input.clientAddress)
            }
            switch decision {
            case .server(let index):
                let server = backend.servers[index]
                if server === avoiding, backend.servers.count > 1 { continue }
                // The balancer counts this loop's connections; maxconn is global.
                if server.isFull { return .allFull }
                return .server(server)
            case .serverFull, .allFull:
                return .allFull
            case .noneUsable:
                return .noneUsable
            }
        }
        if let avoiding { return .server(avoiding) }
        return .noneUsable
    }

    /// A connection or request to `server` started / ended (for leastconn, first, maxconn).
    func started(_ server: RuntimeServer, in backendIndex: Int) {
        server.currentConnections.wrappingIncrement(ordering: .relaxed)
        server.totalConnections.wrappingIncrement(ordering: .relaxed)
        balancers[backendIndex].connectionStarted(server: server.index)
    }

    func ended(_ server: RuntimeServer, in backendIndex: Int) {
        server.currentConnections.wrappingDecrement(ordering: .relaxed)
        balancers[backendIndex].connectionEnded(server: server.index)
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
