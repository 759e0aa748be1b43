/// `log` lines, shared by `global` and proxies.
enum LogParser {
    static let facilities = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2", "ftp",
        "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4", "local5",
        "local6", "local7",
    ]

    static func parse(_ s: ParserState, _ l: ConfigLine) -> LogTarget? {
        var words = Array(l.words.dropFirst())
        let usage = s.section.isProxy ? "log : expects <address> and <facility> or global as arguments"
            : "log : expects <address> and <facility>  as arguments"
        guard words.count >= 2 else {
            s.alert(l, usage)
            return nil
        }
        let target = words.removeFirst()
        var length = 1024
        var format = LogTarget.Format.rfc3164
        while let w = words.first, w == "len" || w == "format" || w == "sample" {
            guard words.count >= 2 else {
                s.alert(l, usage)
                return nil
            }
            if w == "len" {
                guard let n = ConfigUnits.integer(words[1]), n >= 80, n <= 65535 else {
                    s.alert(l, "log : invalid log length '\(words[1])', must be between 80 and 65535")
                    return nil
                }
                length = n
            } else if w == "format" {
                guard let f = LogTarget.Format(rawValue: words[1]) else {
                    s.alert(l, "log : unknown log format '\(words[1])'")
                    return nil
                }
                format = f
            } else {
                s.alert(l, "log : 'sample' is valid in HAProxy but not supported by proxyd yet.")
                return nil
            }
            words.removeFirst(2)
        }
        guard let facility = words.first else {
            s.alert(l, usage)
            return nil
        }
        guard let code = facilities.firstIndex(of: facility) else {
            s.alert(l, "log : unknown log facility '\(facility)'")
            return nil
        }
        var maxLevel = LogTarget.Level.debug
        var minLevel = LogTarget.Level.emerg
        if words.count > 1 {
            guard let lv = LogTarget.Level.allCases.first(where: { $0.name == words[1] }) else {
                s.alert(l, "log : unknown optional log level '\(words[1])'")
                return nil
            }
            maxLevel = lv
        }
        if words.count > 2 {
            guard let lv = LogTarget.Level.allCases.first(where: { $0.name == words[2] }) else {
                s.alert(l, "log : unknown optional minimum log level '\(words[2])'")
                return nil
            }
            minLevel = lv
        }
        if words.count > 3 {
            s.alert(l, "log : cannot handle unexpected argument '\(words[3])'")
            return nil
        }
        let destination: LogTarget.Destination
        if target == "stdout" {
            destination = .stdout
        } else if target == "stderr" {
            destination = .stderr
        } else if target.hasPrefix("fd@"), let fd = Int32(target.dropFirst(3)) {
            destination = .fileDescriptor(fd)
        } else if target.hasPrefix("/") || target.hasPrefix("unix@") {
            destination = .unixSocket(path: target.hasPrefix("unix@") ? String(target.dropFirst(5)) : target)
        } else {
            var t = target
            var tcp = false
            if t.hasPrefix("udp@") || t.hasPrefix("udp4@") || t.hasPrefix("udp6@") || t.hasPrefix("ipv4@") || t.hasPrefix("ipv6@") {
                t = String(t[t.index(after: t.firstIndex(of: "@")!)...])
            } else if t.hasPrefix("tcp@") || t.hasPrefix("tcp4@") || t.hasPrefix("tcp6@") {
                t = String(t[t.index(after: t.firstIndex(of: "@")!)...])
                tcp = true
            }
            guard let (host, portText) = AddressParser.splitHostPortText(t),
                  host.isEmpty || !AddressParser.resolve(host).isEmpty else {
                s.alert(l, "log : invalid address: '\(target)' in '\(target)'\n")
                return nil
            }
            var port: Int? = nil
            if let portText, !portText.isEmpty {
                guard let p = ConfigUnits.integer(portText), (1...65535).contains(p) else {
                    s.alert(l, "log : invalid port '\(portText)'")
                    return nil
                }
                port = p
            }
            destination = tcp ? .tcp(host: host, port: port ?? 514) : .udp(host: host, port: port ?? 514)
        }
        return LogTarget(destination: destination, facility: facility, facilityCode: code, maxLevel: maxLevel,
                         minLevel: minLevel, length: length, format: format, location: l.location)
    }
}
