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
                // HAProxy: `sc_tracked` says false; any other fetch of a counter not
                // tracked has no sample, so neither `lt` nor `gt` matches it.
                if case .tracked = fetch.operation { return 0 }
                return nil
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

extension CompiledStickFetch {
    /// A fetch written in a header value (`sc_http_req_rate(0)`, `src_get_gpc0(t)`); nil
    /// when it is no stick fetch, or needs the proxy's own table, which a value does not
    /// know here.
    init?(expression: String) {
        let (name, argument) = ACLParser.splitFetch(expression)
        guard case .success(.stick(let fetch))? = StickTableParser.fetch(name, argument, proxyName: "") else { return nil }
        if fetch.table == "" { return nil }
        self.init(fetch)
    }
}
