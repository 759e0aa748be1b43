extension LoopState {
    /// A connection or request to `server` started: the statistics, and a slot on the
    /// server unless `slotTaken` (the balancer counted it when it chose the server).
    /// `retry`: another attempt of a session already counted (HAProxy counts a session
    /// once in the backend, and each attempt in the server it goes to).
    func started(_ server: RuntimeServer, in backendIndex: Int, slotTaken: Bool, retry: Bool = false) {
        let backend = backends[backendIndex]
        if !slotTaken { backend.balancer.take(server) }
        server.totalConnections.wrappingIncrement(ordering: .relaxed)
        // Stats (issue 4): smax and lastsess of the server; scur/smax/stot of the backend.
        let now = ProcessClock.milliseconds
        server.counters.maxSessions.raise(to: server.currentConnections.load(ordering: .relaxed))
        server.counters.lastSession.store(now)
        server.counters.sessionRate.tick(at: now)
        let counters = backend.counters
        guard !retry else {
            counters.currentSessions.increment()  // `ended` takes it back when it fails
            return
        }
        counters.sessionOpened(at: now)
        counters.totalSessions.increment()
        counters.lastSession.store(now)
    }

    /// The connection or request `started` counted ended: its slot goes back (to the
    /// oldest waiter of any loop, if some wait).
    func ended(_ server: RuntimeServer, in backendIndex: Int) {
        let backend = backends[backendIndex]
        backend.balancer.release(server)
        backend.counters.currentSessions.decrement()  // stats (issue 4)
    }
}

extension Balancer {
    /// The balancer of a backend, from the model's `balance`/`hash-type`.
    init(servers: [RuntimeServer], balance: Balance, allBackups: Bool) {
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
        case .rdpCookie(let name): algorithm = .rdpCookie(name: Array(name.utf8))
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
        self.init(servers: servers.map {
                      BalancerServer(weight: $0.initialWeight, isBackup: $0.isBackup,
                                     isUsable: $0.isUsable.load(ordering: .relaxed),
                                     maxConnections: $0.maxConnections, id: $0.id)
                  },
                  algorithm: algorithm, hashType: hashType, allBackups: allBackups)
    }
}
