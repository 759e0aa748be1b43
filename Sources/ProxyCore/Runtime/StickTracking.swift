#if canImport(Glibc)
import Glibc
#endif
import Shared

/// An entry a session or request tracks (`track-scN`), in its table.
struct StickTracked {
    let table: StickTable
    let entry: StickEntry
}

/// The stick counters sc0..sc2 of one client connection: those its connection rules
/// track (for the whole connection) and those the current request's rules track (until
/// its end, as HAProxy's per-stream counters). Belongs to the connection's event loop.
final class StickTrackers {
    private(set) var session: [StickTracked?] = [nil, nil, nil]
    private(set) var stream: [StickTracked?] = [nil, nil, nil]

    /// Counter N as fetches see it: the request's, else the connection's.
    func tracked(_ counter: Int) -> StickTracked? { stream[counter] ?? session[counter] }

    /// Calls `body` with each counter tracking now (no array made: it runs per read).
    private func forEachTracked(_ body: (StickTracked) -> Void) {
        for i in 0..<3 {
            if let tracked = stream[i] { body(tracked) }
            if let tracked = session[i] { body(tracked) }
        }
    }

    /// `track-scN`: starts tracking `key` unless counter N already tracks something.
    /// A request's tracking counts the request itself, as HAProxy's http-request does.
    func track(_ counter: Int, table: StickTable, key: [UInt8], forRequest: Bool) {
        guard tracked(counter) == nil else { return }
        let now = ProcessClock.milliseconds
        let entry: StickEntry? = table.withLock {
            guard let entry = table.entry(key, now: now) else { return nil }
            entry.useCount += 1
            table.add(.connCurrent, 1, to: entry, now: now)
            table.add(.connCount, 1, to: entry, now: now)
            table.add(.connRate, 1, to: entry, now: now)
            if forRequest {
                table.add(.httpRequestCount, 1, to: entry, now: now)
                table.add(.httpRequestRate, 1, to: entry, now: now)
            }
            table.touch(entry, now: now)
            return entry
        }
        guard let entry else { return }
        if forRequest { stream[counter] = StickTracked(table: table, entry: entry) }
        else { session[counter] = StickTracked(table: table, entry: entry) }
    }

    /// The connection rules accepted the connection: it is a session now (HAProxy
    /// counts no session for a rejected connection).
    func sessionAccepted() {
        for case let tracked? in session {
            update(tracked) { t, e, now in
                t.add(.sessionCount, 1, to: e, now: now)
                t.add(.sessionRate, 1, to: e, now: now)
            }
        }
    }

    /// A new request on the connection: the connection's counters count it.
    func requestStarted() {
        for case let tracked? in session {
            update(tracked) { t, e, now in
                t.add(.httpRequestCount, 1, to: e, now: now)
                t.add(.httpRequestRate, 1, to: e, now: now)
            }
        }
    }

    /// A response (from a server or proxyd itself): 4xx count as errors, as in HAProxy.
    func responded(status: Int) {
        guard (400..<500).contains(status) else { return }
        forEachTracked { tracked in
            guard tracked.table.storesAny(.httpErrorCount, .httpErrorRate) else { return }
            update(tracked) { t, e, now in
                t.add(.httpErrorCount, 1, to: e, now: now)
                t.add(.httpErrorRate, 1, to: e, now: now)
            }
        }
    }

    /// Client bytes not yet counted. As HAProxy counts a stream's bytes after its rules
    /// ran, a request's head counts for the counters its own rules start tracking.
    private var pendingBytesIn = 0

    func bytesIn(_ count: Int) {
        pendingBytesIn += count
    }

    /// Counts the client bytes received so far for every counter tracking now.
    func flushBytesIn() {
        guard pendingBytesIn > 0 else { return }
        let count = pendingBytesIn
        pendingBytesIn = 0
        forEachTracked { tracked in
            guard tracked.table.storesAny(.bytesInCount, .bytesInRate) else { return }
            update(tracked) { t, e, now in
                t.add(.bytesInCount, count, to: e, now: now)
                t.add(.bytesInRate, count, to: e, now: now)
            }
        }
    }

    func bytesOut(_ count: Int) {
        flushBytesIn()
        forEachTracked { tracked in
            guard tracked.table.storesAny(.bytesOutCount, .bytesOutRate) else { return }
            update(tracked) { t, e, now in
                t.add(.bytesOutCount, count, to: e, now: now)
                t.add(.bytesOutRate, count, to: e, now: now)
            }
        }
    }

    /// `sc-inc-gpc0(N)`, `sc_inc_gpc0`: returns the new value (nil: not tracked or not stored).
    @discardableResult
    func incrementGPC(_ counter: Int, gpc: Int) -> Int? {
        guard let tracked = tracked(counter) else { return nil }
        return Self.incrementGPC(gpc, of: tracked.entry, in: tracked.table)
    }

    /// `sc-set-gpt0(N) VALUE`.
    func setGPT0(_ counter: Int, _ value: Int) {
        guard let tracked = tracked(counter), tracked.table.definition.stores[.gpt0] != nil else { return }
        update(tracked) { t, e, now in t.set(.gpt0, value, of: e, now: now) }
    }

    static func incrementGPC(_ gpc: Int, of entry: StickEntry, in table: StickTable) -> Int? {
        let now = ProcessClock.milliseconds
        return table.withLock {
            let type: StickDataType = gpc == 0 ? .gpc0 : .gpc1
            table.add(gpc == 0 ? .gpc0Rate : .gpc1Rate, 1, to: entry, now: now)
            table.add(type, 1, to: entry, now: now)
            table.touch(entry, now: now)
            return table.read(type, of: entry, now: now)
        }
    }

    /// The request ended: its own counters are released.
    func requestEnded() {
        flushBytesIn()
        for i in 0..<3 {
            if let tracked = stream[i] { release(tracked) }
            stream[i] = nil
        }
    }

    /// The connection ended: every counter is released.
    func connectionEnded() {
        requestEnded()
        for i in 0..<3 {
            if let tracked = session[i] { release(tracked) }
            session[i] = nil
        }
    }

    private func release(_ tracked: StickTracked) {
        update(tracked) { t, e, now in
            t.add(.connCurrent, -1, to: e, now: now)
            e.useCount -= 1
        }
    }

    private func update(_ tracked: StickTracked, _ body: (StickTable, StickEntry, Int) -> Void) {
        let now = ProcessClock.milliseconds
        tracked.table.withLock {
            body(tracked.table, tracked.entry, now)
            tracked.table.touch(tracked.entry, now: now)
        }
    }
}

// MARK: - Keys

enum StickKeys {
    /// The key of `sample` for `table`'s key type, or nil when the sample is missing or
    /// does not convert (an IPv6 client in a `type ip` table, as in HAProxy).
    static func key(_ sample: StickKeySample, facts: RequestFacts?, connection: ConnectionFacts, for table: StickTable) -> [UInt8]? {
        switch sample {
        case .source: return address(connection.clientAddress, for: table.definition.keyType)
        case .destination: return address(connection.localAddress, for: table.definition.keyType)
        case .header(let name):
            guard let facts else { return nil }
            var value: [UInt8]? = nil
            _ = RequestFacts.forEachValue(of: Array(name.lowercased().utf8), in: facts.bytes, headers: facts.headers,
                                          split: false) { value = Array($0); return true }
            return value.flatMap { text($0, for: table.definition.keyType) }
        case .urlParameter(let name):
            guard let facts, let value = facts.urlParameter(Array(name.utf8)) else { return nil }
            return text(Array(value), for: table.definition.keyType)
        case .path:
            guard let facts else { return nil }
            return text(Array(facts.path), for: table.definition.keyType)
        case .base:
            guard let facts else { return nil }
            var bytes: [UInt8] = []
            if let host = facts.head.host { bytes += facts.slice(host) }
            bytes += facts.path
            return text(bytes, for: table.definition.keyType)
        }
    }

    static func address(_ bytes: [UInt8], for type: StickKeyType) -> [UInt8]? {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        switch type {
        case .ip: return bytes.count == 4 ? bytes : nil
        case .ipv6: return bytes.count == 16 ? bytes : [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + bytes
        case .integer:
            guard bytes.count == 4 else { return nil }
            return integerKey(bytes.reduce(0) { $0 << 8 | Int($1) })
        case .string(let length):
            let ip: IPAddress = bytes.count == 4 ? .v4(bytes[0], bytes[1], bytes[2], bytes[3]) : .v6(bytes)
            return Array(Array(ip.description.utf8).prefix(length))
        case .binary(let length): return padded(bytes, length)
        }
    }

    static func text(_ bytes: [UInt8], for type: StickKeyType) -> [UInt8]? {
        switch type {
        case .ip, .ipv6:
            guard let ip = AddressParser.numericIP(String(decoding: bytes, as: UTF8.self)) else { return nil }
            return address(ip.bytes, for: type)
        case .integer:
            guard let n = Int(String(decoding: bytes, as: UTF8.self)) else { return nil }
            return integerKey(n)
        case .string(let length): return Array(bytes.prefix(length))
        case .binary(let length): return padded(bytes, length)
        }
    }

    static func integerKey(_ n: Int) -> [UInt8] {
        let v = UInt32(truncatingIfNeeded: n)
        return [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    static func padded(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        Array(bytes.prefix(length)) + [UInt8](repeating: 0, count: max(0, length - bytes.count))
    }

    /// The key as `show table` prints it.
    static func display(_ key: [UInt8], type: StickKeyType) -> String {
        switch type {
        case .ip, .ipv6:
            // inet_ntop, as HAProxy prints them: `::ffff:127.0.0.1` for a mapped IPv4.
            var text = [CChar](repeating: 0, count: 64)
            let family = key.count == 4 ? AF_INET : AF_INET6
            let ok = key.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) } != nil
            return ok ? String(cString: text) : ""
        case .integer: return String(key.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        case .string: return String(decoding: key, as: UTF8.self)
        case .binary:
            let digits = Array("0123456789abcdef")
            return String(key.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
        }
    }
}

// MARK: - Fetches

/// A `sc_*`/`src_*`/`table_*` fetch with its table resolved.
struct CompiledStickFetch {
    let fetch: StickFetch
    let table: StickTable?

    init(_ fetch: StickFetch) {
        self.fetch = fetch
        table = fetch.table.flatMap { StickTableDirectory.current.withLockedValue { $0 }[$0] }
    }

    /// The integer sample, or nil when there is none (the value is not stored).
    func value(_ connection: ConnectionFacts) -> Int? {
        let now = ProcessClock.milliseconds
        switch fetch.subject {
        case .table:
            guard let table else { return nil }
            let count = table.withLock { table.count }
            return fetch.operation == .tableCount ? count : table.definition.size - count
        case .counter(let n):
            guard let tracked = connection.stickTrackers?.tracked(n) else {
                if case .tracked = fetch.operation { return 0 }
                return 0
            }
            // Another table named in the fetch: the same key there.
            if let other = table, other !== tracked.table {
                return read(key: tracked.entry.key, in: other, now: now, creates: false)
            }
            return operate(on: tracked.entry, in: tracked.table, now: now)
        case .source:
            guard let table, let key = StickKeys.address(connection.clientAddress, for: table.definition.keyType) else {
                return 0
            }
            return read(key: key, in: table, now: now, creates: true)
        }
    }

    private func read(key: [UInt8], in table: StickTable, now: Int, creates: Bool) -> Int? {
        let mutates: Bool
        switch fetch.operation {
        case .incrementGPC, .clearGPC: mutates = true
        default: mutates = false
        }
        let entry: StickEntry? = table.withLock {
            mutates && creates ? table.entry(key, now: now) : table.existing(key, now: now)
        }
        guard let entry else { return 0 }
        return operate(on: entry, in: table, now: now)
    }

    private func operate(on entry: StickEntry, in table: StickTable, now: Int) -> Int? {
        switch fetch.operation {
        case .read(let type): return table.withLock { table.read(type, of: entry, now: now) }
        case .incrementGPC(let gpc): return StickTrackers.incrementGPC(gpc, of: entry, in: table)
        case .clearGPC(let gpc):
            return table.withLock {
                let type: StickDataType = gpc == 0 ? .gpc0 : .gpc1
                let before = table.read(type, of: entry, now: now)
                if before != nil { table.set(type, 0, of: entry, now: now) }
                return before
            }
        case .tracked: return 1
        case .trackers: return table.withLock { entry.useCount }
        case .tableCount, .tableAvailable: return nil
        }
    }
}

// MARK: - Track rules

/// A `track-scN` action compiled: its table resolved.
struct CompiledTrack {
    let action: TrackAction
    let table: StickTable

    init?(_ action: TrackAction, tables: StickTableDirectory) {
        guard let table = tables[action.table] else { return nil }
        self.action = action
        self.table = table
    }

    func run(_ trackers: StickTrackers, facts: RequestFacts?, connection: ConnectionFacts, forRequest: Bool) {
        guard trackers.tracked(action.counter) == nil,
              let key = StickKeys.key(action.key, facts: facts, connection: connection, for: table) else { return }
        trackers.track(action.counter, table: table, key: key, forRequest: forRequest)
    }
}

/// `tcp-request content track-scN` rules. In `mode http` HAProxy runs them for each
/// request, before its `http-request` rules, and what they track lasts that request; in
/// `mode tcp` once, after the connection rules.
struct ContentTracks {
    let tracks: [(CompiledTrack, CompiledCondition?)]

    init?(_ proxy: ProxySettings, tables: StickTableDirectory, backends: [String: RuntimeBackend], own: RuntimeBackend?) {
        var tracks: [(CompiledTrack, CompiledCondition?)] = []
        for rule in proxy.tcpRequestRules where rule.phase == .content {
            guard case .track(let track) = rule.action, let compiled = CompiledTrack(track, tables: tables) else { continue }
            tracks.append((compiled, rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: own) }))
        }
        guard !tracks.isEmpty else { return nil }
        self.tracks = tracks
    }

    func run(_ trackers: StickTrackers, facts: RequestFacts, forRequest: Bool) {
        for (track, condition) in tracks {
            if let condition, !condition.evaluate(facts) { continue }
            track.run(trackers, facts: forRequest ? facts : nil, connection: facts.connection, forRequest: forRequest)
        }
    }
}

/// A frontend's `tcp-request connection` rules (accept, reject, track, in order), run
/// at accept; in `mode tcp` its content tracking follows.
struct ConnectionRules {
    enum Step {
        case accept, reject
        case track(CompiledTrack)
    }
    let steps: [(Step, CompiledCondition?)]
    let contentTracks: ContentTracks?

    init?(_ proxy: ProxySettings, tables: StickTableDirectory, backends: [String: RuntimeBackend], own: RuntimeBackend?) {
        var steps: [(Step, CompiledCondition?)] = []
        for rule in proxy.tcpRequestRules where rule.phase == .connection {
            let condition = rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: own) }
            switch rule.action {
            case .accept: steps.append((.accept, condition))
            case .reject: steps.append((.reject, condition))
            case .track(let track):
                if let compiled = CompiledTrack(track, tables: tables) { steps.append((.track(compiled), condition)) }
            default: break
            }
        }
        contentTracks = proxy.mode == .tcp ? ContentTracks(proxy, tables: tables, backends: backends, own: own) : nil
        guard !steps.isEmpty || contentTracks != nil else { return nil }
        self.steps = steps
    }

    /// False when the connection is to be rejected.
    func admit(_ connection: ConnectionFacts) -> Bool {
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let facts = RequestFacts(bytes: empty, head: HTTPRequestHead(), headers: [], connection: connection)
        rules: for (step, condition) in steps {
            if let condition, !condition.evaluate(facts) { continue }
            switch step {
            case .accept: break rules
            case .reject: return false
            case .track(let track):
                if let trackers = connection.stickTrackers {
                    track.run(trackers, facts: nil, connection: connection, forRequest: false)
                }
            }
        }
        // A session now: what the connection rules track counts it (not content tracking).
        guard let trackers = connection.stickTrackers else { return true }
        trackers.sessionAccepted()
        contentTracks?.run(trackers, facts: facts, forRequest: false)
        return true
    }
}

extension RuntimeFrontend {
    enum Admission {
        case rejected
        /// With the connection's stick counters, when the configuration has tables.
        case accepted(StickTrackers?)
    }

    /// Whether anything is to run at accept (stick counters or connection rules).
    var admitsConnections: Bool { tracksStickCounters || connectionRules != nil }

    /// The `tcp-request connection` rules (and their tracking) for a new connection.
    func admit(_ transport: SessionTransport) -> Admission {
        guard admitsConnections else { return .accepted(nil) }
        var facts = ConnectionFacts(transport: transport)
        let trackers = StickTrackers()
        facts.stickTrackers = trackers
        if let rules = connectionRules, !rules.admit(facts) {
            trackers.connectionEnded()
            return .rejected
        }
        return .accepted(trackers)
    }
}
