/// `show acl`, `add acl`, `del acl`, `clear acl`: the ACL pattern files (`acl … -f FILE`,
/// Runtime/ACLFiles.swift) with HAProxy 2.6's lines and messages. Edits take effect at
/// once on every thread; like HAProxy's, they do not change the file.
enum ACLCommands {
    static let unknown = "Unknown ACL identifier. Please use #<id> or <file>.\n"

    static func register(_ r: inout CommandRegistry) {
        r.add("show acl", usage: "show acl [@<ver>] <acl>]",
              help: "report available acls or dump an acl's contents") { args, _, _ in
            guard args.count > 2 else { return list() }
            guard let file = ACLFiles.named(args[2]) else { return unknown }
            return file.snapshot.entries.map { "\(pointer($0.id)) \($0.text)\n" }.joined()
        }
        r.add("add acl", usage: "add acl [@<ver>] <acl> <pattern>", help: "add an acl entry") { args, session, _ in
            guard session.level >= .operator else { return ControlCommands.denied }
            guard args.count >= 4 else { return "'add acl' expects two parameters: ACL identifier and pattern.\n" }
            guard let file = ACLFiles.named(args[2]) else { return unknown }
            file.add(args[3...].joined(separator: " "))
            return ""
        }
        r.add("del acl", usage: "del acl <acl> [<key>|#<ref>]", help: "delete acl entries matching <key>") { args, session, _ in
            guard session.level >= .operator else { return ControlCommands.denied }
            guard args.count >= 4 else { return "This command expects two parameters: ACL identifier and key.\n" }
            guard let file = ACLFiles.named(args[2]) else { return unknown }
            return file.delete(args[3...].joined(separator: " ")) ? "" : "Key not found.\n"
        }
        r.add("clear acl", usage: "clear acl [@<ver>] <acl>", help: "clear the contents of this acl") { args, session, _ in
            guard session.level >= .operator else { return ControlCommands.denied }
            guard args.count >= 3 else { return "Missing ACL identifier.\n" }
            guard let file = ACLFiles.named(args[2]) else { return unknown }
            file.clear()
            return ""
        }
    }

    /// HAProxy's list (it also lists each ACL's inline patterns, without a file; proxyd
    /// lists the files).
    static func list() -> String {
        let files = ACLFiles.current.withLockedValue { $0.values.sorted { $0.number < $1.number } }
        var text = "# id (file) description\n"
        for file in files {
            text += "\(file.number) (\(file.path)) pattern loaded from file '\(file.path)'. curr_ver=0 next_ver=0 entry_cnt=\(file.snapshot.entries.count)\n"
        }
        return text
    }

    static func pointer(_ id: Int) -> String { "0x" + String(0x1000 + id * 0x50, radix: 16) }
}
