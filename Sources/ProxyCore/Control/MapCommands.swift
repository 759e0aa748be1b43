/// `show map`, `add map`, `set map`, `del map`, `clear map`: the map files the `map*`
/// converters read (Runtime/MapFiles.swift), with HAProxy 2.6's lines and messages. Edits
/// take effect at once on every thread; like HAProxy's, they do not change the file.
enum MapCommands {
    static let unknown = "Unknown map identifier. Please use #<id> or <file>.\n"

    static func register(_ r: inout CommandRegistry) {
        r.add("show map", usage: "show map [@ver] [map]",
              help: "report available maps or dump a map's contents") { args, _, _ in
            guard args.count > 2 else { return list() }
            guard let map = MapFiles.named(args[2]) else { return unknown }
            return map.snapshot.map { "\(pointer($0)) \($0.key) \($0.value)\n" }.joined()
        }
        r.add("add map", usage: "add map [@<ver>] <map> <key> <val>",
              help: "add a map entry (payload supported instead of key/val)") { args, session, _ in
            guard session.level >= .operator else { return ControlCommands.denied }
            guard args.count >= 5 else {
                return "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n"
            }
            guard let map = MapFiles.named(args[2]) else { return unknown }
            map.add(args[3], args[4...].joined(separator: " "))
            return ""
        }
        r.add("set map", usage: "set map <map> [<key>|#<ref>] <value>", help: "modify a map entry") { args, session, _ in
            guard session.level >= .operator else { return ControlCommands.denied }
            guard args.count >= 5 else { return "'set map' expects three parameters: map identifier, key and value.\n" }
            guard let map = MapFiles.named(args[2]) else { return unknown }
            return map.set(args[3], args[4...].joined(separator: " ")) ? "" : "entry not found.\n"
        }
        r.add("del map", usage: "del map <map> [<key>|#<ref>]", help: "delete map entries matching <key>") { args, session, _ in
            guard session.level >= .operator else { return ControlCommands.denied }
            guard args.count >= 4 else { return "This command expects two parameters: map identifier and key.\n" }
            guard let map = MapFiles.named(args[2]) else { return unknown }
            return map.delete(args[3]) ? "" : "Key not found.\n"
        }
        r.add("clear map", usage: "clear map [@<ver>] <map>", help: "clear the contents of this map") { args, session, _ in
            guard session.level >= .operator else { return ControlCommands.denied }
            guard args.count >= 3 else { return "Missing map identifier.\n" }
            guard let map = MapFiles.named(args[2]) else { return unknown }
            map.clear()
            return ""
        }
    }

    /// HAProxy's list: `# id (file) description`, then one line per map.
    static func list() -> String {
        let maps = MapFiles.current.withLockedValue { $0.values.sorted { $0.number < $1.number } }
        var text = "# id (file) description\n"
        for map in maps {
            let use = map.usedAt.map { " used by map at file '\($0.file)' line \($0.line)" } ?? ""
            text += "\(map.number) (\(map.path)) pattern loaded from file '\(map.path)'\(use). curr_ver=0 next_ver=0 entry_cnt=\(map.snapshot.count)\n"
        }
        return text
    }

    /// An entry's reference as HAProxy prints it (an address there; a stable number here).
    static func pointer(_ entry: MapFile.Entry) -> String {
        "0x" + String(0x1000 + entry.id * 0x90, radix: 16)
    }
}
