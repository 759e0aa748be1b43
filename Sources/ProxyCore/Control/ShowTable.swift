/// `show table`, `clear table`, `set table`: the stick tables on the runtime API, with
/// HAProxy 2.6's lines (`# table: NAME, type: ip, size:N, used:N`, then one
/// `0x…: key=… use=… exp=… DATA=…` line per entry) and messages.
enum StickTableCommands {
    static func register(_ r: inout CommandRegistry) {
        r.add("show table", usage: "show table <table> [<filter>]*",
              help: "report table usage stats or dump this table's contents (filter: data/key)") { args, session, context in
            show(Array(args.dropFirst(2)), context.runtime.stickTables, contents: session.level >= .operator)
        }
        // Levels as HAProxy 2.6: contents from operator up, `set` from operator up.
        r.add("clear table", usage: "clear table <table> [<filter>]*",
              help: "remove an entry from a table (filter: data/key)") { args, session, context in
            // HAProxy ignores it below operator level, without a word.
            guard session.level >= .operator else { return "" }
            return clear(Array(args.dropFirst(2)), context.runtime.stickTables)
        }
        r.add("set table", usage: "set table <table> key <k> [data.* <v>]*",
              help: "update or create a table entry's data") { args, session, context in
            guard session.level >= .operator else { return ControlCommands.denied }
            return set(Array(args.dropFirst(2)), context.runtime.stickTables)
        }
    }

    /// HAProxy lists the tables last declared first.
    static func header(_ table: StickTable, used: Int) -> String {
        "# table: \(table.name), type: \(table.definition.keyType.name), size:\(table.definition.size), used:\(used)\n"
    }

    /// One entry's line; call under the table's lock.
    static func line(_ entry: StickEntry, in table: StickTable, now: Int) -> String {
        let pointer = "0x" + String(UInt(bitPattern: ObjectIdentifier(entry)), radix: 16)
        let expires = entry.expiresAt == 0 ? 0 : max(0, entry.expiresAt - now)
        var text = "\(pointer): key=\(StickKeys.display(entry.key, type: table.definition.keyType)) use=\(entry.useCount) exp=\(expires)"
        for type in table.definition.stores.keys.sorted() {
            if type == .serverKey {
                text += " server_key=\(entry.serverKey ?? "")"
                continue
            }
            let value = table.read(type, of: entry, now: now) ?? 0
            text += type.isRate ? " \(type.name)(\(table.definition.stores[type]!))=\(value)" : " \(type.name)=\(value)"
        }
        return text + "\n"
    }

    struct Filter {
        let type: StickDataType
        let compare: (Int, Int) -> Bool
        let value: Int
    }

    /// `data.TYPE OP VALUE` and `key K` words, or HAProxy's message.
    static func filters(_ words: [String], _ table: StickTable) -> Result<(key: [UInt8]?, filters: [Filter]), Message> {
        var key: [UInt8]? = nil
        var filters: [Filter] = []
        var i = 0
        while i < words.count {
            if words[i] == "key" {
                guard i + 1 < words.count else { return .failure(Message("Key value expected\n")) }
                key = cliKey(words[i + 1], table.definition.keyType)
                i += 2
            } else if words[i].hasPrefix("data.") {
                let number = filters.count + 1
                guard let type = StickDataType.named(String(words[i].dropFirst(5))),
                      table.definition.stores[type] != nil else {
                    return .failure(Message("Filter entry #\(number): Unknown data type\n"))
                }
                let operators: [String: (Int, Int) -> Bool] = ["eq": (==), "ne": (!=), "le": (<=), "ge": (>=), "lt": (<), "gt": (>)]
                guard i + 1 < words.count, let compare = operators[words[i + 1]] else {
                    return .failure(Message("Filter entry #\(number): Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n"))
                }
                guard i + 2 < words.count, let value = Int(words[i + 2]) else {
                    return .failure(Message("Filter entry #\(number): Require a valid integer value to compare against\n"))
                }
                filters.append(Filter(type: type, compare: compare, value: value))
                i += 3
            } else {
                return .failure(Message("Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n"))
            }
        }
        return .success((key, filters))
    }

    struct Message: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    static func show(_ words: [String], _ tables: StickTableDirectory, contents: Bool = true) -> String {
        guard let name = words.first else {
            let now = ProcessClock.milliseconds
            return tables.tables.reversed().map { table in
                header(table, used: table.withLock { table.liveCount(now: now) })
            }.joined()
        }
        guard let table = tables[name] else { return "No such table\n" }
        let parsed: (key: [UInt8]?, filters: [Filter])
        switch filters(Array(words.dropFirst()), table) {
        case .success(let p): parsed = p
        case .failure(let m): return m.text
        }
        let now = ProcessClock.milliseconds
        // The lock is held for the list, then for a slice of entries at a time: a big
        // table's dump must not stop the traffic that counts in it (HAProxy dumps by
        // parts too). Keys never change, so the sort needs no lock.
        var entries = table.withLock { table.liveEntries(now: now) }
        // In key order, as HAProxy walks its tree of keys.
        entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
        // A key that is not there: HAProxy answers nothing, not even the header.
        if let key = parsed.key, !entries.contains(where: { $0.key == key }) { return "" }
        var out = header(table, used: entries.count)
        guard contents else { return out + "# contents not dumped due to insufficient privileges\n" }
        var start = 0
        while start < entries.count {
            let slice = entries[start..<min(entries.count, start + 1000)]
            start += slice.count
            table.withLock {
                for entry in slice {
                    if let key = parsed.key, entry.key != key { continue }
                    let kept = parsed.filters.allSatisfy { f in
                        f.compare(table.read(f.type, of: entry, now: now) ?? 0, f.value)
                    }
                    if kept { out += line(entry, in: table, now: now) }
                }
            }
        }
        return out
    }

    static func clear(_ words: [String], _ tables: StickTableDirectory) -> String {
        guard let name = words.first else {
            return "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n"
        }
        guard let table = tables[name] else { return "No such table\n" }
        let parsed: (key: [UInt8]?, filters: [Filter])
        switch filters(Array(words.dropFirst()), table) {
        case .success(let p): parsed = p
        case .failure(let m): return m.text
        }
        let now = ProcessClock.milliseconds
        table.withLock {
            for entry in table.liveEntries(now: now) {
                if let key = parsed.key, entry.key != key { continue }
                let matches = parsed.filters.allSatisfy { f in
                    f.compare(table.read(f.type, of: entry, now: now) ?? 0, f.value)
                }
                if matches { table.removeUnused(entry) }
            }
        }
        return ""
    }

    static func set(_ words: [String], _ tables: StickTableDirectory) -> String {
        let usage = "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n"
        guard let name = words.first else { return usage }
        guard let table = tables[name] else { return "No such table\n" }
        guard words.count > 1 else { return "" }
        guard words[1] == "key" else { return usage }
        guard words.count > 2 else { return "Key value expected\n" }
        let key = cliKey(words[2], table.definition.keyType)
        var updates: [(StickDataType, Int)] = []
        var i = 3
        while i < words.count {
            guard words[i].hasPrefix("data."), let type = StickDataType.named(String(words[i].dropFirst(5))) else {
                return "Unknown data type\n"
            }
            guard table.definition.stores[type] != nil else { return "Data type not stored in this table\n" }
            guard i + 1 < words.count, let value = Int(words[i + 1]) else { return "Require a valid integer value to store\n" }
            updates.append((type, value))
            i += 2
        }
        let now = ProcessClock.milliseconds
        let done: Bool = table.withLock {
            guard let entry = table.entry(key, now: now) else { return false }
            for (type, value) in updates { table.set(type, value, of: entry, now: now) }
            table.touch(entry, now: now)
            return true
        }
        return done ? "" : "Unable to allocate a new entry\n"
    }

    /// A key typed on the command line, read as HAProxy reads it there: an address that
    /// does not parse is all zeros, an integer its leading digits.
    static func cliKey(_ text: String, _ type: StickKeyType) -> [UInt8] {
        switch type {
        case .ip, .ipv6:
            return StickKeys.text(Array(text.utf8), for: type) ?? [UInt8](repeating: 0, count: type == .ip ? 4 : 16)
        case .integer:
            return StickKeys.integerKey(Int(String(text.prefix { $0.isASCII && $0.isNumber }.prefix(18))) ?? 0)
        case .string, .binary:
            return StickKeys.text(Array(text.utf8), for: type) ?? []
        }
    }
}
