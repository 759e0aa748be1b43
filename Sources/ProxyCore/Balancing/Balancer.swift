// Load-balancing algorithms of HAProxy 2.6 (`balance …`, `hash-type …`), as a pure
// value type. The engine keeps one `Balancer` per backend, shared by its threads
// behind a lock (Runtime/BackendBalancer): it tells the balancer about weight/usability
// changes and about connections starting and ending, and asks it for a server per
// request or connection. What the hash-based algorithms hash is `BalanceKey`'s part.
//
// Servers are identified by their index in the backend's server list.
//
//     var lb = Balancer(servers: backend.servers.map { BalancerServer(weight: $0.weight,
//                          isBackup: $0.backup, isUsable: !$0.disabled,
//                          maxConnections: $0.maxconn, id: $0.id) },
//                       algorithm: .roundRobin, hashType: BalanceHashType(), allBackups: false)
//     switch lb.pick(clientAddress: addrBytes, target: head.targetSpan,
//                    headers: parser.headers, in: bytes) {
//     case .server(let i): lb.connectionStarted(server: i)   // … connectionEnded when done
//     case .serverFull, .allFull: queue (timeout queue)
//     case .noneUsable: 503
//     }
//     lb.setUsable(false, server: i)      // health check / maintenance
//     lb.setWeight(50, server: i)          // runtime API `set weight`

/// `balance <algorithm> [arguments]`.
public enum BalanceAlgorithm: Hashable, Sendable {
    /// Smooth weighted round robin; weights may change at run time.
    case roundRobin
    /// Weighted round robin over the weights the servers started with; run-time
    /// weight changes are ignored except that weight 0 drains a server (HAProxy).
    case staticRoundRobin
    /// Fewest current connections relative to weight; round robin among equals.
    case leastConnections
    /// The first server, by id, with a free connection slot; weights ignored.
    case first
    /// `random(<draws>)`: draw this many servers at random (weighted) and keep the
    /// least loaded. HAProxy's default is 2 (power of two choices). Draws are made
    /// among the servers below maxconn (HAProxy draws among all and queues when the
    /// winner is full), so a request only waits when every server is full.
    case random(draws: Int)
    /// Hash of the client address.
    case source
    /// Hash of the request target (see `URIHashOptions`).
    case uri(URIHashOptions)
    /// Hash of a query parameter's value; round robin when the parameter is absent.
    /// The name is matched case-sensitively.
    case urlParameter(name: [UInt8])
    /// `hdr(<name>)`: hash of a header's value (name matched ignoring case, give it
    /// in any case) up to its first comma, as HAProxy's header lookup splits values
    /// on commas; round robin when the header is absent or empty.
    /// `useDomainOnly` hashes only the domain label before the TLD (`use_domain_only`).
    case header(name: [UInt8], useDomainOnly: Bool)
    /// `rdp-cookie(<name>)`: hash of the value of the RDP cookie NAME of a connection's
    /// first packet (RDPCookie.swift); round robin without one (issue 15).
    case rdpCookie(name: [UInt8])

    public static let random = BalanceAlgorithm.random(draws: 2)

    public var isHashBased: Bool {
        switch self {
        case .source, .uri, .urlParameter, .header, .rdpCookie: return true
        default: return false
        }
    }
}

/// `balance uri [len N] [depth N] [whole] [path-only]`.
public struct URIHashOptions: Hashable, Sendable {
    /// Hash the whole target, query included (default: only the part before `?`).
    public var whole: Bool
    /// Hash at most this many bytes (0: no limit).
    public var length: Int
    /// Hash at most this many directory levels: stop at the (depth+1)-th `/` (0: no
    /// limit).
    public var depth: Int
    /// For an absolute-form target (`http://host/p`), start at the path.
    public var pathOnly: Bool

    public init(whole: Bool = false, length: Int = 0, depth: Int = 0, pathOnly: Bool = false) {
        self.whole = whole
        self.length = length
        self.depth = depth
        self.pathOnly = pathOnly
    }
}

/// `hash-type <method> <function> [avalanche]`. Default: `map-based sdbm`.
public struct BalanceHashType: Hashable, Sendable {
    public enum Method: Hashable, Sendable {
        /// Hash modulo the total weight of the usable servers; static weights.
        case mapBased
        /// A ring with 16 points per unit of weight: removing a server only moves its
        /// own keys; weights may change at run time.
        case consistent
    }
    public var method: Method
    public var function: BalanceHashFunction
    public var avalanche: Bool

    public init(method: Method = .mapBased, function: BalanceHashFunction = .sdbm, avalanche: Bool = false) {
        self.method = method
        self.function = function
        self.avalanche = avalanche
    }
}

/// One server as the balancer sees it.
public struct BalancerServer: Hashable, Sendable {
    /// 0...256; 0 means not selectable.
    public var weight: Int
    public var isBackup: Bool
    /// Up, not in maintenance, not disabled.
    public var isUsable: Bool
    /// nil: unlimited.
    public var maxConnections: Int?
    /// HAProxy's server id (`id` keyword; default: position + 1). Orders `first` and
    /// places the consistent-hash points.
    public var id: Int?

    public init(weight: Int = 1, isBackup: Bool = false, isUsable: Bool = true,
                maxConnections: Int? = nil, id: Int? = nil) {
        self.weight = weight
        self.isBackup = isBackup
        self.isUsable = isUsable
        self.maxConnections = maxConnections
        self.id = id
    }
}

public enum BalancerDecision: Hashable, Sendable {
    /// Use this server.
    case server(Int)
    /// A hash chose this server but it is at maxconn: queue for it (HAProxy queues
    /// on the server, so the same key keeps the same server).
    case serverFull(Int)
    /// There are usable servers but every one is at maxconn: queue in the backend.
    case allFull
    /// No server is usable (no weight, down, disabled): 503.
    case noneUsable
}

public struct Balancer: Sendable {
    @usableFromInline
    struct Slot: Sendable {
        var weight: Int32          // run-time weight
        var initialWeight: Int32   // weight at start (static algorithms)
        var current: Int64 = 0     // smooth round robin state
        var connections: Int32 = 0
        var maxConnections: Int32  // 0: unlimited
        var id: Int32
        var isBackup: Bool
        var isUsable: Bool
    }

    /// The algorithm, the hash type, and how a request's key is hashed.
    public let key: BalanceKey
    public var algorithm: BalanceAlgorithm { key.algorithm }
    public var hashType: BalanceHashType { key.hashType }
    public let allBackups: Bool

    @usableFromInline var slots: [Slot]
    @usableFromInline var dirty = true
    /// The group in use: active servers, or backups.
    @usableFromInline var usingBackups = false
    /// Without `allbackups`: the one backup in use (index), or -1.
    @usableFromInline var soleBackup = -1
    @usableFromInline var groupIsEmpty = true
    /// `first`: server indices ordered by id.
    @usableFromInline var byId: [Int32] = []
    /// map-based: each server of the group appears weight times, interleaved.
    @usableFromInline var map: [Int32] = []
    /// consistent: ring points sorted by key.
    @usableFromInline var ringKeys: [UInt32] = []
    @usableFromInline var ringServers: [Int32] = []
    @usableFromInline var cursor = 0
    /// During a pick with `avoiding:`: the server to try not to use, else -1.
    @usableFromInline var avoid = -1
    @usableFromInline var rng: SplitMix64

    /// - Parameters:
    ///   - seed: seeds `random`; pass a fixed value in tests.
    public init(servers: [BalancerServer], algorithm: BalanceAlgorithm,
                hashType: BalanceHashType = BalanceHashType(), allBackups: Bool = false,
                seed: UInt64 = UInt64.random(in: 0...UInt64.max)) {
        self.key = BalanceKey(algorithm: algorithm, hashType: hashType)
        self.allBackups = allBackups
        self.rng = SplitMix64(seed: seed)
        slots = []
        slots.reserveCapacity(servers.count)
        for (k, s) in servers.enumerated() {
            let w = Int32(clamping: max(0, min(256, s.weight)))
            slots.append(Slot(weight: w, initialWeight: w,
                              maxConnections: Int32(clamping: max(0, s.maxConnections ?? 0)),
                              id: Int32(clamping: s.id ?? (k + 1)),
                              isBackup: s.isBackup, isUsable: s.isUsable))
        }
        byId = (0..<Int32(slots.count)).sorted { slots[Int($0)].id < slots[Int($1)].id }
    }

    public var serverCount: Int { slots.count }

    /// Whether servers may join at run time (`add server`): HAProxy allows it only with
    /// the algorithms whose weights are dynamic, not with `static-rr` or map-based hashing.
    public var acceptsNewServers: Bool { !isStatic }

    /// A server added at run time (`add server`); its index is the next one. A deleted
    /// server keeps its slot, unusable, so that no index ever moves.
    public mutating func addServer(_ s: BalancerServer) -> Int {
        let w = Int32(clamping: max(0, min(256, s.weight)))
        let index = slots.count
        slots.append(Slot(weight: w, initialWeight: w,
                          maxConnections: Int32(clamping: max(0, s.maxConnections ?? 0)),
                          id: Int32(clamping: s.id ?? (index + 1)),
                          isBackup: s.isBackup, isUsable: s.isUsable))
        byId = (0..<Int32(slots.count)).sorted { slots[Int($0)].id < slots[Int($1)].id }
        dirty = true
        return index
    }

    // MARK: Run-time changes

    /// Sets a server's weight (0...256). Ignored by static algorithms
    /// (`static-rr`, map-based hashing) except that 0 drains the server and a
    /// non-zero weight brings it back with its initial weight, as HAProxy does.
    public mutating func setWeight(_ weight: Int, server: Int) {
        let w = Int32(clamping: max(0, min(256, weight)))
        if slots[server].weight == w { return }
        if slots[server].weight == 0 { slots[server].current = 0 }
        slots[server].weight = w
        dirty = true
    }

    /// Health, maintenance or `disabled` changed.
    public mutating func setUsable(_ usable: Bool, server: Int) {
        if slots[server].isUsable == usable { return }
        slots[server].isUsable = usable
        if usable { slots[server].current = 0 }
        dirty = true
    }

    public mutating func setMaxConnections(_ maxConnections: Int?, server: Int) {
        slots[server].maxConnections = Int32(clamping: max(0, maxConnections ?? 0))
    }

    /// The engine opened a connection to (or assigned a request to) `server`.
    @inline(__always)
    public mutating func connectionStarted(server: Int) {
        slots[server].connections &+= 1
    }

    /// A connection (or request) on `server` ended.
    @inline(__always)
    public mutating func connectionEnded(server: Int) {
        if slots[server].connections > 0 { slots[server].connections &-= 1 }
    }

    /// Sets the current connection count directly (when the engine keeps it).
    public mutating func setConnections(_ count: Int, server: Int) {
        slots[server].connections = Int32(clamping: max(0, count))
    }

    public func connections(server: Int) -> Int { Int(slots[server].connections) }
    public func weight(server: Int) -> Int { Int(slots[server].weight) }
    public func isUsable(server: Int) -> Bool { slots[server].isUsable }

    // MARK: Picking

    /// Chooses a server without request data: every non-hash algorithm, and the
    /// round-robin fallback of the hash algorithms.
    ///
    /// `avoiding`: a server that just failed (retry with `option redispatch`): any
    /// other available server is preferred; it is chosen only when it is the last
    /// one left. Consistent hashing moves to the next server on the ring; map-based
    /// hashing ignores it, as HAProxy's does.
    public mutating func pick(avoiding: Int? = nil) -> BalancerDecision {
        guard let a = avoiding else { return pickUnhashed() }
        avoid = a
        let d = pickUnhashed()
        avoid = -1
        if d == .allFull || d == .noneUsable { return pickUnhashed() }
        return d
    }

    @inline(__always)
    mutating func pickUnhashed() -> BalancerDecision {
        refreshIfNeeded()
        if groupIsEmpty { return .noneUsable }
        switch algorithm {
        case .roundRobin, .staticRoundRobin: return pickRoundRobin()
        case .leastConnections: return pickLeastConnections()
        case .first: return pickFirst()
        case .random(let draws): return pickRandom(draws: draws)
        case .source, .uri, .urlParameter, .header, .rdpCookie: return pickRoundRobin()
        }
    }

    /// For `mode tcp`, or any algorithm: `source` hashes `clientAddress` (4 bytes
    /// for IPv4, 16 for IPv6, network order); without an address it falls back to
    /// round robin, as HAProxy does for non-IP clients.
    public mutating func pick(clientAddress: UnsafeRawBufferPointer?, avoiding: Int? = nil) -> BalancerDecision {
        pick(hash: key.hash(clientAddress: clientAddress), avoiding: avoiding)
    }

    /// For `mode http`: every algorithm, with the request's target and headers
    /// (spans into `bytes`, as the request parser produced them).
    public mutating func pick(clientAddress: UnsafeRawBufferPointer?, target: HTTPSpan,
                              headers: [HTTPHeaderField], in bytes: UnsafeRawBufferPointer,
                              avoiding: Int? = nil) -> BalancerDecision {
        pick(hash: key.hash(clientAddress: clientAddress, target: target, headers: headers, in: bytes),
             avoiding: avoiding)
    }

    /// With a key from `BalanceKey.hash` (computed beforehand, outside any lock); nil:
    /// the algorithm's unhashed choice (round robin for the hash-based ones).
    @inline(__always)
    public mutating func pick(hash: UInt32?, avoiding: Int? = nil) -> BalancerDecision {
        guard let h = hash else { return pick(avoiding: avoiding) }
        return pick(hash: h, avoiding: avoiding)
    }

    /// Chooses by a precomputed 32-bit hash (map-based or consistent, as configured).
    public mutating func pick(hash: UInt32, avoiding: Int? = nil) -> BalancerDecision {
        refreshIfNeeded()
        if groupIsEmpty { return .noneUsable }
        return pickHashed(hash, avoiding: avoiding)
    }

    /// The key hash of a request target (tests and `BalanceKey`'s callers).
    func uriHash(_ target: HTTPSpan, _ o: URIHashOptions, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        key.uriHash(target, o, bytes)
    }

    // MARK: Groups

    @inline(__always)
    func effectiveWeight(_ i: Int) -> Int32 {
        let s = slots[i]
        if s.weight == 0 { return 0 }
        return isStatic ? s.initialWeight : s.weight
    }

    @inline(__always)
    var isStatic: Bool {
        switch algorithm {
        case .staticRoundRobin: return true
        case .source, .uri, .urlParameter, .header, .rdpCookie: return hashType.method == .mapBased
        default: return false
        }
    }

    @inline(__always)
    func inGroup(_ i: Int) -> Bool {
        let s = slots[i]
        guard s.isUsable, s.weight > 0 else { return false }
        if !usingBackups { return !s.isBackup }
        return allBackups ? s.isBackup : i == soleBackup
    }

    /// In the group, below maxconn, and not the server to avoid.
    @inline(__always)
    func isAvailable(_ i: Int) -> Bool {
        inGroup(i) && !isFull(i) && i != avoid
    }

    @inline(__always)
    func isFull(_ i: Int) -> Bool {
        let s = slots[i]
        return s.maxConnections > 0 && s.connections >= s.maxConnections
    }

    @inline(__always)
    mutating func refreshIfNeeded() {
        if dirty { refresh() }
    }

    mutating func refresh() {
        dirty = false
        var anyActive = false
        soleBackup = -1
        for i in 0..<slots.count {
            let s = slots[i]
            guard s.isUsable, s.weight > 0 else { continue }
            if !s.isBackup { anyActive = true } else if soleBackup < 0 { soleBackup = i }
        }
        usingBackups = !anyActive
        groupIsEmpty = !anyActive && soleBackup < 0
        guard algorithm.isHashBased else { return }
        if hashType.method == .mapBased { buildMap() } else { buildRing() }
    }

    /// The map: the group's servers in smooth weighted round-robin order, each
    /// appearing weight times.
    mutating func buildMap() {
        map.removeAll(keepingCapacity: true)
        var total = 0
        var members: [(index: Int, weight: Int, current: Int)] = []
        for i in 0..<slots.count where inGroup(i) {
            let w = Int(effectiveWeight(i))
            members.append((i, w, 0))
            total += w
        }
        map.reserveCapacity(total)
        for _ in 0..<total {
            var best = 0
            for m in 0..<members.count {
                members[m].current += members[m].weight
                if members[m].current > members[best].current { best = m }
            }
            members[best].current -= total
            map.append(Int32(members[best].index))
        }
    }

    /// The ring: 16 points per unit of weight, keyed avalanche(id * 4096 + n) as in
    /// HAProxy, sorted.
    mutating func buildRing() {
        var points: [(UInt32, Int32)] = []
        for i in 0..<slots.count where inGroup(i) {
            let w = Int(effectiveWeight(i))
            let base = UInt32(truncatingIfNeeded: Int(slots[i].id)) &* 4096
            for n in 0..<(w * 16) {
                points.append((avalancheHash(base &+ UInt32(n)), Int32(i)))
            }
        }
        points.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        ringKeys = points.map { $0.0 }
        ringServers = points.map { $0.1 }
    }

    // MARK: Algorithms

    /// Smooth weighted round robin: every eligible server gains its weight, the
    /// highest is chosen and loses the total. Weights 3:1 give a a b a.
    @inline(__always)
    mutating func pickRoundRobin() -> BalancerDecision {
        var best = -1
        var bestCurrent = Int64.min
        var total: Int64 = 0
        for i in 0..<slots.count where isAvailable(i) {
            let w = Int64(effectiveWeight(i))
            slots[i].current += w
            total += w
            if slots[i].current > bestCurrent {
                bestCurrent = slots[i].current
                best = i
            }
        }
        if best < 0 { return .allFull }
        slots[best].current -= total
        return .server(best)
    }

    /// Lowest (connections + 1) / weight; scanning from a rotating start makes
    /// servers of equal load take turns.
    @inline(__always)
    mutating func pickLeastConnections() -> BalancerDecision {
        let n = slots.count
        var best = -1
        var bestLoad: Int64 = 0, bestWeight: Int64 = 1
        var i = cursor < n ? cursor : 0
        for _ in 0..<n {
            if isAvailable(i) {
                let load = Int64(slots[i].connections) + 1
                let w = Int64(effectiveWeight(i))
                if best < 0 || load * bestWeight < bestLoad * w {
                    best = i
                    bestLoad = load
                    bestWeight = w
                }
            }
            i += 1
            if i == n { i = 0 }
        }
        if best < 0 { return .allFull }
        cursor = best + 1
        return .server(best)
    }

    @inline(__always)
    func pickFirst() -> BalancerDecision {
        for k in byId where isAvailable(Int(k)) {
            return .server(Int(k))
        }
        return .allFull
    }

    /// `draws` weighted random draws among the servers with a free slot; the least
    /// loaded relative to its weight wins.
    mutating func pickRandom(draws: Int) -> BalancerDecision {
        var total: UInt64 = 0
        for i in 0..<slots.count where isAvailable(i) {
            total += UInt64(effectiveWeight(i))
        }
        if total == 0 { return .allFull }
        var best = -1
        for _ in 0..<max(1, draws) {
            var r = rng.next(below: total)
            var chosen = -1
            for i in 0..<slots.count where isAvailable(i) {
                let w = UInt64(effectiveWeight(i))
                if r < w { chosen = i; break }
                r -= w
            }
            if best < 0 {
                best = chosen
            } else if chosen != best {
                let lc = Int64(slots[chosen].connections) * Int64(effectiveWeight(best))
                let lb = Int64(slots[best].connections) * Int64(effectiveWeight(chosen))
                if lc < lb { best = chosen }
            }
        }
        return .server(best)
    }

    @inline(__always)
    mutating func pickHashed(_ h: UInt32, avoiding: Int? = nil) -> BalancerDecision {
        var chosen: Int
        if hashType.method == .mapBased {
            if map.isEmpty { return .noneUsable }
            chosen = Int(map[Int(h % UInt32(map.count))])
        } else {
            if ringKeys.isEmpty { return .noneUsable }
            chosen = ringLookup(h)
            if let a = avoiding, a == chosen { chosen = ringNextServer(after: h, avoiding: a) ?? chosen }
        }
        return isFull(chosen) ? .serverFull(chosen) : .server(chosen)
    }

    /// The server of the first ring point after `h` that is not `avoiding`.
    func ringNextServer(after h: UInt32, avoiding a: Int) -> Int? {
        let n = ringKeys.count
        var lo = 0, hi = n
        while lo < hi {
            let mid = (lo + hi) >> 1
            if ringKeys[mid] < h { lo = mid + 1 } else { hi = mid }
        }
        for k in 0..<n {
            let s = Int(ringServers[(lo + k) % n])
            if s != a { return s }
        }
        return nil
    }

    /// The server of the ring point closest to `h` (the next point at or after it,
    /// or the previous one when that is nearer), wrapping around.
    @inline(__always)
    func ringLookup(_ h: UInt32) -> Int {
        let n = ringKeys.count
        var lo = 0, hi = n
        while lo < hi {
            let mid = (lo + hi) >> 1
            if ringKeys[mid] < h { lo = mid + 1 } else { hi = mid }
        }
        let next = lo == n ? 0 : lo
        let prev = next == 0 ? n - 1 : next - 1
        let ns = ringServers[next], ps = ringServers[prev]
        if ns == ps { return Int(ns) }
        let dp = h &- ringKeys[prev]
        let dn = ringKeys[next] &- h
        return Int(dp <= dn ? ps : ns)
    }
}
