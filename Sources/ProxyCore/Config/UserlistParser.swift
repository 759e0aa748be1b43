/// `userlist` sections.
enum UserlistParser {
    /// The userlist section's messages have no space before the colon, as HAProxy's.
    static func usersAlert(_ s: ParserState, _ l: ConfigLine, _ message: String) {
        s.alertRaw("parsing [\(l.location)]: \(message)", at: l.location)
    }

    static func parse(_ s: ParserState, _ list: inout Userlist, _ l: ConfigLine) {
        switch l.keyword {
        case "group":
            guard !l[1].isEmpty else { usersAlert(s, l, "'group' expects <name> as arguments."); return }
            if list.groups.contains(where: { $0.name == l[1] }) {
                s.warningRaw("parsing [\(l.location)]: ignoring duplicated group '\(l[1])' in userlist '\(list.name)'.", at: l.location)
                return
            }
            var g = Userlist.Group(name: l[1], location: l.location)
            var i = 2
            while i < l.count {
                if l[i] == "users" {
                    guard !l[i + 1].isEmpty else {
                        usersAlert(s, l, "'users' expects <user>[,<user>...] as arguments.")
                        return
                    }
                    g.users += l[i + 1].split(separator: ",").map(String.init)
                    i += 2
                } else {
                    usersAlert(s, l, "'\(l.keyword)' only supports 'users' option.")
                    return
                }
            }
            list.groups.append(g)
        case "user":
            guard !l[1].isEmpty else { usersAlert(s, l, "'user' expects <name> as arguments."); return }
            if list.users.contains(where: { $0.name == l[1] }) {
                s.warningRaw("parsing [\(l.location)]: ignoring duplicated user '\(l[1])' in userlist '\(list.name)'.", at: l.location)
                return
            }
            var u = Userlist.User(name: l[1], password: .none, location: l.location)
            var i = 2
            while i < l.count {
                switch l[i] {
                case "password":
                    // HAProxy accepts a missing value: the user then cannot log in.
                    u.password = l[i + 1].isEmpty ? .none : .hashed(l[i + 1])
                case "insecure-password":
                    // HAProxy accepts a missing value: the user then cannot log in.
                    u.password = l[i + 1].isEmpty ? .none : .plain(l[i + 1])
                case "groups":
                    u.groups += l[i + 1].split(separator: ",").map(String.init)
                default:
                    s.alertRaw("parsing [\(l.location)]: 'user' only supports 'password', 'insecure-password' and 'groups' options.", at: l.location)
                    return
                }
                i += 2
            }
            list.users.append(u)
        default:
            s.alertRaw("parsing [\(l.location)]: unknown keyword '\(l.keyword)' in 'users' section", at: l.location)
        }
    }
}
