import Shared

/// `stick-table`, `track-scN` arguments and the `sc_*`/`src_*`/`table_*` fetches, with
/// HAProxy 2.6's words for what is wrong.
enum StickTableParser {
    struct Failure: Error { var message: String }

    /// `stick-table type T [len N] size N [expire T] [nopurge] [peers P] [store a,b(10s)]`.
    static func parseTable(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        if p.stickTable != nil {
            s.alert(l, "stick-table: only one stick-table per proxy is allowed.")
            return
        }
        if let table = parseDefinition(s, l, from: 1, name: p.name, prefix: "stick-table") { p.stickTable = table }
    }

    /// The words of a table from `from` on (`type … size … …`); `prefix` starts each
    /// message (`stick-table`, or `table` in a `peers` section, as HAProxy words them).
    static func parseDefinition(_ s: ParserState, _ l: ConfigLine, from: Int, name: String,
                                prefix: String) -> StickTableDefinition? {
        var keyType: StickKeyType? = nil
        var size: Int? = nil
        var table = StickTableDefinition(name: name, keyType: .ip, size: 0, location: l.location)
        var i = from
        func next() -> String { i + 1 < l.count ? l[i + 1] : "" }
        while i < l.count {
            switch l[i] {
            case "type":
                let type = next()
                var length: Int? = nil
                if l[i + 2] == "len" {
                    guard let n = ConfigUnits.integer(l[i + 3]), n > 0 else {
                        s.alert(l, "\(prefix): missing or invalid length for type '\(type)'.")
                        return nil
                    }
                    length = n
                }
                switch type {
                case "ip", "ipv4": keyType = .ip
                case "ipv6": keyType = .ipv6
                case "integer": keyType = .integer
                case "string": keyType = .string(length: length ?? 32)
                case "binary": keyType = .binary(length: length ?? 32)
                default:
                    s.alert(l, "\(prefix): unknown type '\(type)'.")
                    return nil
                }
                i += length == nil ? 2 : 4
            case "size":
                guard case .success(let n) = ConfigUnits.bytes(next()), n > 0 else {
                    s.alert(l, "\(prefix): invalid size '\(next())'.")
                    return nil
                }
                size = n
                i += 2
            case "expire":
                guard case .success(let ms) = ConfigUnits.milliseconds(next()) else {
                    s.alert(l, "\(prefix): invalid expire '\(next())'.")
                    return nil
                }
                table.expireMs = ms
                i += 2
            case "nopurge":
                table.noPurge = true
                i += 1
            case "peers":
                guard !next().isEmpty else {
                    s.alert(l, "\(prefix): missing argument after 'peers'.")
                    return nil
                }
                table.peers = next()
                i += 2
            case "store":
                for item in next().split(separator: ",").map(String.init) {
                    let (name, argument) = ACLParser.splitFetch(item)
                    guard let type = StickDataType.named(name) else {
                        s.alert(l, "\(prefix): unknown store option '\(name)'.")
                        return nil
                    }
                    if type.isRate {
                        guard let argument, !argument.isEmpty else {
                            s.alert(l, "\(prefix): missing argument to store option '\(name)'.")
                            return nil
                        }
                        guard case .success(let period) = ConfigUnits.milliseconds(argument), period > 0 else {
                            s.alert(l, "\(prefix): invalid period '\(argument)' for store option '\(name)'.")
                            return nil
                        }
                        table.stores[type] = period
                    } else {
                        table.stores[type] = 0
                    }
                }
                i += 2
            default:
                s.alert(l, "\(prefix): unknown argument '\(l[i])'.")
                return nil
            }
        }
        guard let keyType else {
            s.alert(l, "\(prefix): missing type.")
            return nil
        }
        guard let size else {
            s.alert(l, "\(prefix): missing size.")
            return nil
        }
        table.keyType = keyType
        table.size = size
        return table
    }

    /// The arguments of `track-scN`: `KEY [table T]`, returning the action and how many
    /// words it used (a condition may follow).
    static func parseTrack(counter: Int, _ words: [String], proxy: ProxySettings) -> Result<(TrackAction, Int), Failure> {
        guard let expression = words.first, !expression.isEmpty, expression != "if", expression != "unless" else {
            return .failure(Failure(message: "'track-sc\(counter)' expects <key> [table <table>] [if|unless <condition>]"))
        }
        guard let key = keySample(expression) else {
            return .failure(Failure(message: "'track-sc\(counter)' : key sample '\(expression)' is not supported yet (proxyd tracks src, dst, hdr(), req.hdr(), url_param(), path and base)"))
        }
        var used = 1
        var table = proxy.name
        if words.count > 1, words[1] == "table" {
            guard words.count > 2, !words[2].isEmpty else {
                return .failure(Failure(message: "missing table name after 'table' for 'track-sc\(counter)'"))
            }
            table = words[2]
            used = 3
        }
        return .success((TrackAction(counter: counter, key: key, table: table), used))
    }

    static func keySample(_ expression: String) -> StickKeySample? {
        let (name, argument) = ACLParser.splitFetch(expression)
        switch name {
        case "src": return argument == nil ? .source : nil
        case "dst": return argument == nil ? .destination : nil
        case "path": return argument == nil ? .path : nil
        case "base": return argument == nil ? .base : nil
        case "hdr", "req.hdr", "req.fhdr":
            guard let argument, !argument.isEmpty else { return nil }
            return .header(name: argument)
        case "url_param", "urlp":
            guard let argument, !argument.isEmpty else { return nil }
            return .urlParameter(name: argument)
        default: return nil
        }
    }

    /// `sc_http_req_rate(0[,TABLE])`, `sc1_conn_cur([TABLE])`, `src_get_gpc0([TABLE])`,
    /// `table_cnt([TABLE])`…: the fetch, nil when the name is not one of these.
    static func fetch(_ name: String, _ argument: String?, proxyName: String) -> Result<SampleFetch, Failure>? {
        var arguments = (argument ?? "").split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if argument == nil { arguments = [] }
        let subject: StickFetch.Subject
        let field: String
        if name == "table_cnt" || name == "table_avl" {
            let operation: StickFetch.Operation = name == "table_cnt" ? .tableCount : .tableAvailable
            return .success(.stick(StickFetch(subject: .table, operation: operation,
                                              table: arguments.first.flatMap { $0.isEmpty ? nil : $0 } ?? proxyName)))
        } else if name.hasPrefix("sc_") {
            guard let first = arguments.first, let n = Int(first), (0...2).contains(n) else {
                return .failure(Failure(message: "fetch method '\(name)' : expects a counter number 0, 1 or 2 as first argument"))
            }
            subject = .counter(n)
            arguments.removeFirst()
            field = String(name.dropFirst(3))
        } else if name.count > 4, name.hasPrefix("sc"), let n = Int(String(name.dropFirst(2).prefix(1))),
                  (0...2).contains(n), name.dropFirst(3).first == "_" {
            subject = .counter(n)
            field = String(name.dropFirst(4))
        } else if name.hasPrefix("src_") {
            subject = .source
            field = String(name.dropFirst(4))
        } else {
            return nil
        }
        // `src_*` read the proxy's own table unless told; `sc*` the tracked entry's.
        let table = arguments.first.flatMap { $0.isEmpty ? nil : $0 } ?? (subject == .source ? proxyName : nil)
        let operation: StickFetch.Operation
        switch field {
        case "get_gpc0": operation = .read(.gpc0)
        case "get_gpc1": operation = .read(.gpc1)
        case "get_gpt0": operation = .read(.gpt0)
        case "inc_gpc0": operation = .incrementGPC(0)
        case "inc_gpc1": operation = .incrementGPC(1)
        case "clr_gpc0": operation = .clearGPC(0)
        case "clr_gpc1": operation = .clearGPC(1)
        case "tracked" where subject != .source: operation = .tracked
        case "trackers" where subject != .source: operation = .trackers
        case "updt_conn_cnt", "kbytes_in", "kbytes_out", "http_fail_cnt", "http_fail_rate", "get_gpc", "get_gpt",
             "inc_gpc", "clr_gpc", "gpc_rate", "is_local":
            return .failure(Failure(message: "fetch method '\(name)' is valid in HAProxy but not supported by proxyd yet"))
        default:
            guard let type = StickDataType.named(field), type != .serverID, type != .serverKey else { return nil }
            operation = .read(type)
        }
        return .success(.stick(StickFetch(subject: subject, operation: operation, table: table)))
    }

    /// After all sections are read: every table a rule or fetch names exists and stores
    /// what is read from it. Returns true when a fatal error was found.
    static func checkReferences(_ s: ParserState) -> Bool {
        var tables: [String: StickTableDefinition] = [:]
        for p in s.proxies { if let t = p.stickTable { tables[p.name] = t } }
        for t in s.peersSections.flatMap(\.tables) { tables[t.name] = t }
        var errors = false
        for p in s.proxies where !p.disabled {
            for (track, location) in trackActions(of: p) where tables[track.table] == nil {
                s.alertRaw("parsing [\(location.map { "\($0)" } ?? "?")] : Proxy '\(p.name)': unable to find table '\(track.table)' referenced by track-sc\(track.counter).",
                           at: location)
                errors = true
            }
            for (criterion, location) in stickFetches(of: p) {
                guard case .stick(let fetch) = criterion.fetch, let name = fetch.table, tables[name] == nil else { continue }
                // HAProxy's words: the table is the fetch's second argument after a counter number.
                let keyword = ACLParser.keyword(criterion)
                let argument = keyword.hasPrefix("sc_") ? 2 : 1
                s.alertRaw("parsing [\(location.map { "\($0)" } ?? "?")]: unable to find table '\(name)' referenced in arg \(argument) of ACL keyword '\(keyword)' in proxy '\(p.name)'.",
                           at: location)
                errors = true
            }
        }
        return errors
    }

    static func trackActions(of p: ProxySettings) -> [(TrackAction, SourceLocation?)] {
        var out: [(TrackAction, SourceLocation?)] = []
        for rule in p.tcpRequestRules { if case .track(let t) = rule.action { out.append((t, rule.location)) } }
        for rule in p.httpRequestRules { if case .track(let t) = rule.action { out.append((t, rule.location)) } }
        return out
    }

    static func stickFetches(of p: ProxySettings) -> [(ACLCriterion, SourceLocation?)] {
        var out: [(ACLCriterion, SourceLocation?)] = []
        func scan(_ c: ACLCriterion, _ location: SourceLocation?) {
            if case .stick = c.fetch { out.append((c, location)) }
        }
        for acl in p.acls { scan(acl.criterion, acl.location) }
        let conditions = p.tcpRequestRules.compactMap { $0.condition } + p.httpRequestRules.compactMap { $0.condition }
            + p.httpResponseRules.compactMap { $0.condition }
        for condition in conditions {
            for term in condition.alternatives.joined() where term.name == nil {
                for c in term.criteria { scan(c, condition.location) }
            }
        }
        return out
    }
}

extension StickTableParser {
    /// `sc-set-gpt0(N)` → N, `sc-set-gpt0` → 0; nil for other actions.
    static func gptSet(_ action: String) -> Int? {
        if action == "sc-set-gpt0" { return 0 }
        guard action.hasPrefix("sc-set-gpt0("), action.hasSuffix(")"),
              let n = Int(action.dropFirst(12).dropLast()), (0...2).contains(n) else { return nil }
        return n
    }

    /// `sc-inc-gpc0(N)` → (N, 0), `sc-inc-gpc1(N)` → (N, 1), without `(N)` counter 0;
    /// nil for other actions.
    static func gpcIncrement(_ action: String) -> (Int, Int)? {
        for gpc in 0...1 {
            if action == "sc-inc-gpc\(gpc)" { return (0, gpc) }
            let prefix = "sc-inc-gpc\(gpc)("
            guard action.hasPrefix(prefix), action.hasSuffix(")"),
                  let n = Int(action.dropFirst(prefix.count).dropLast()), (0...2).contains(n) else { continue }
            return (n, gpc)
        }
        return nil
    }
}

extension StickTableParser {
    /// `stick match|on|store-request KEY [table T] [if|unless COND]`.
    static func parseStickRule(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let kind: StickRule.Kind
        switch l[1] {
        case "match": kind = .match
        case "on": kind = .on
        case "store-request": kind = .storeRequest
        case "store-response":
            s.alert(l, "'stick store-response' is valid in HAProxy but not supported by proxyd yet.")
            return
        default:
            s.alert(l, "'stick' expects 'on', 'match', or 'store'.")
            return
        }
        let expression = l[2]
        guard !expression.isEmpty, expression != "if", expression != "unless" else {
            s.alert(l, "'stick' expects a fetch method.")
            return
        }
        guard let key = keySample(expression) else {
            s.alert(l, "'stick \(l[1])' : key sample '\(expression)' is not supported yet (proxyd sticks on src, dst, hdr(), req.hdr(), url_param(), path and base).")
            return
        }
        var next = 3
        var table = p.name
        if l[3] == "table" {
            guard !l[4].isEmpty else {
                s.alert(l, "'stick \(l[1])' : missing table name after 'table'.")
                return
            }
            table = l[4]
            next = 5
        }
        var condition: Condition? = nil
        if l.count > next {
            guard l[next] == "if" || l[next] == "unless" else {
                s.alert(l, "'stick \(l[1])' : expects 'table', 'if' or 'unless' but found '\(l[next])'.")
                return
            }
            switch ACLParser.parseCondition(s, p, Array(l.words[next...]), l.location, context: .httpRequest) {
            case let .success(c): condition = c
            case let .failure(e):
                s.alert(l, "'stick \(l[1])' : error detected while parsing sticking condition : \(e.message).")
                return
            }
        }
        p.stickRules.append(StickRule(kind: kind, key: key, table: table, condition: condition, location: l.location))
    }

    /// Tables a `stick` rule names store the server (`server_id`, `server_key`), as
    /// HAProxy adds them; a missing table is an error naming the rule's line.
    static func checkStickRules(_ s: ParserState) -> Bool {
        var errors = false
        for index in s.proxies.indices where !s.proxies[index].disabled {
            for rule in s.proxies[index].stickRules {
                let name = s.proxies[index].name
                // A table of a `peers` section (`SECTION/NAME`).
                if let (section, table) = peersTableIndex(s, rule.table) {
                    s.peersSections[section].tables[table].stores[.serverID] = 0
                    s.peersSections[section].tables[table].stores[.serverKey] = 0
                    continue
                }
                guard let tableIndex = s.proxies.firstIndex(where: { $0.name == rule.table && $0.stickTable != nil }) else {
                    s.alertRaw("parsing [\(rule.location.map { "\($0)" } ?? "?")] : Proxy '\(name)': unable to find stick-table '\(rule.table)'.",
                               at: rule.location)
                    errors = true
                    continue
                }
                s.proxies[tableIndex].stickTable?.stores[.serverID] = 0
                s.proxies[tableIndex].stickTable?.stores[.serverKey] = 0
            }
        }
        return errors
    }
}

extension StickTableParser {
    static func peersTableIndex(_ s: ParserState, _ name: String) -> (Int, Int)? {
        for (i, section) in s.peersSections.enumerated() {
            if let j = section.tables.firstIndex(where: { $0.name == name }) { return (i, j) }
        }
        return nil
    }
}

extension StickTableParser {
    /// The stick table fetches for the keyword catalog: `sc_*` (also spelt `sc0_*`,
    /// `sc1_*`, `sc2_*`), `src_*` and `table_*`.
    static var fetchNames: [String] {
        let data = StickDataType.allCases.filter { $0 != .serverID && $0 != .serverKey }.map(\.name)
            .filter { !$0.hasPrefix("gpc") && $0 != "gpt0" }
        let gpc = ["get_gpc0", "get_gpc1", "get_gpt0", "inc_gpc0", "inc_gpc1", "clr_gpc0", "clr_gpc1", "gpc0_rate", "gpc1_rate"]
        return (data + gpc).flatMap { ["sc_\($0)", "src_\($0)"] } + ["sc_tracked", "sc_trackers", "table_cnt", "table_avl"]
    }
}

extension StickTableParser {
    /// The key as written when it reads the HTTP request (nil for addresses): such a key
    /// cannot be had at `tcp-request connection` time.
    static func httpOnlyKey(_ key: StickKeySample, written: String) -> String? {
        switch key {
        case .source, .destination: return nil
        case .header, .urlParameter, .path, .base: return written
        }
    }
}
