import Shared

/// `option mysql-check`, `pgsql-check`, `redis-check`, `smtpchk`, `ldap-check` and
/// `ssl-hello-chk`: each replaces the backend's check with HAProxy's sequence for that
/// protocol (Health/ProtocolChecks.swift). Arguments and messages as HAProxy 2.6's.
enum ProtocolCheckParser {
    /// Hooked into OptionParser's table.
    static let options: [String: OptionParser.Entry] = [
        "mysql-check": entry { s, l in
            guard l.count > 2 else { return .mysql(user: nil, preFourOne: false) }
            guard l[2] == "user" else {
                s.alert(l, "'option mysql-check' only supports optional values: 'user' (got '\(l[2])').")
                return nil
            }
            guard !l[3].isEmpty else {
                s.alert(l, "'option mysql-check user' expects <username> as argument.")
                return nil
            }
            var preFourOne = false
            if l.count > 4 {
                switch l[4] {
                case "post-41": preFourOne = false
                case "pre-41": preFourOne = true
                default:
                    s.alert(l, "keyword 'user' only supports 'post-41' and 'pre-41' (got '\(l[4])').")
                    return nil
                }
            }
            if l.count > 5 { return unexpected(s, l, 5) }
            return .mysql(user: l[3], preFourOne: preFourOne)
        },
        "pgsql-check": entry { s, l in
            guard l[2] == "user", !l[3].isEmpty else {
                s.alert(l, "'option pgsql-check' expects 'user <username>' as argument.")
                return nil
            }
            if l.count > 4 { return unexpected(s, l, 4) }
            return .pgsql(user: l[3])
        },
        "redis-check": entry { s, l in l.count > 2 ? unexpected(s, l, 2) : .redis },
        "ldap-check": entry { s, l in l.count > 2 ? unexpected(s, l, 2) : .ldap },
        "ssl-hello-chk": entry { s, l in l.count > 2 ? unexpected(s, l, 2) : .sslHello },
        // Anything but `EHLO|HELO <domain>` quietly means `HELO localhost`, as in HAProxy.
        "smtpchk": entry { s, l in
            if l.count > 4 { return unexpected(s, l, 4) }
            if l[2] == "EHLO" || l[2] == "HELO", !l[3].isEmpty {
                return .smtp(greeting: "\(l[2]) \(l[3])")
            }
            return .smtp(greeting: "HELO localhost")
        },
    ]

    private static func entry(_ parse: @escaping (ParserState, ConfigLine) -> ProtocolCheck?) -> OptionParser.Entry {
        OptionParser.Entry(side: .backend, negatable: false) { s, p, l, _ in
            guard let check = parse(s, l) else { return }
            p.healthCheck.option = .protocolCheck(check)
        }
    }

    private static func unexpected(_ s: ParserState, _ l: ConfigLine, _ index: Int) -> ProtocolCheck? {
        s.alert(l, "'option \(l[1])' cannot handle unexpected argument '\(l[index])'.")
        return nil
    }
}
