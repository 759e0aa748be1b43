/// A backend's `stick match|on|store-request` rules compiled: a client whose key a table
/// knows goes back to the server stored for it while that server is usable, and the
/// server a request went to is stored for its key (`server_id`, `server_key`).
struct StickRules {
    struct Rule {
        let kind: StickRule.Kind
        let key: StickKeySample
        let table: StickTable
        let condition: CompiledCondition?
    }
    let rules: [Rule]
    let servers: [RuntimeServer]

    init?(_ proxy: ProxySettings, tables: StickTableDirectory, servers: [RuntimeServer],
          backends: [String: RuntimeBackend], own: RuntimeBackend?) {
        rules = proxy.stickRules.compactMap { rule in
            guard let table = tables[rule.table] else { return nil }
            return Rule(kind: rule.kind, key: rule.key, table: table,
                        condition: rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: own) })
        }
        guard !rules.isEmpty else { return nil }
        self.servers = servers
    }

    /// The server a matching rule stuck this client to, when it is usable (the first
    /// rule that finds one wins, as in HAProxy).
    func match(_ facts: RequestFacts, http: Bool) -> RuntimeServer? {
        let now = ProcessClock.milliseconds
        for rule in rules where rule.kind.matches {
            if let condition = rule.condition, !condition.evaluate(facts) { continue }
            guard let key = StickKeys.key(rule.key, facts: http ? facts : nil, connection: facts.connection, for: rule.table)
            else { continue }
            let id: Int? = rule.table.withLock {
                guard let entry = rule.table.existing(key, now: now) else { return nil }
                rule.table.touch(entry, now: now)
                return rule.table.read(.serverID, of: entry, now: now)
            }
            guard let id, let server = servers.first(where: { $0.id == id }) else { continue }
            if server.isUsable.load(ordering: .relaxed) { return server }
        }
        return nil
    }

    /// Stores `server` for the keys of the storing rules (one per table, the first).
    func store(_ server: RuntimeServer, facts: RequestFacts, http: Bool) {
        let now = ProcessClock.milliseconds
        var stored: [ObjectIdentifier] = []
        for rule in rules where rule.kind.stores && !stored.contains(ObjectIdentifier(rule.table)) {
            if let condition = rule.condition, !condition.evaluate(facts) { continue }
            guard let key = StickKeys.key(rule.key, facts: http ? facts : nil, connection: facts.connection, for: rule.table)
            else { continue }
            stored.append(ObjectIdentifier(rule.table))
            rule.table.withLock {
                guard let entry = rule.table.entry(key, now: now) else { return }
                rule.table.set(.serverID, server.id, of: entry, now: now)
                entry.serverKey = server.name
                rule.table.touch(entry, now: now)
            }
        }
    }

    /// A connection's facts alone, for `mode tcp`.
    static func connectionOnly(_ connection: ConnectionFacts, _ body: (RequestFacts) -> Void) {
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        body(RequestFacts(bytes: empty, head: HTTPRequestHead(), headers: [], connection: connection))
    }
}
