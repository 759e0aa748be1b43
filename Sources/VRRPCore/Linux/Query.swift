#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Shared

/// The query socket (keepalived has none): a Unix stream socket, one command line per
/// connection, the answer, then close — the way HAProxy's runtime API is used with socat.
final class QueryServer {
    let path: String
    let fd: Int32
    var clients: [Int32: [UInt8]] = [:]
    var opened: [Int32: Nanos] = [:]
    /// The socket file we bound: on exit the path is removed only while it is still this
    /// one, so a daemon that replaced it (a restart, a respawned VRRP child) keeps its own.
    var bound: (dev: UInt64, ino: UInt64)?

    /// Binds a temporary name beside `path` and renames it onto `path`: the path always
    /// names a socket (the old one until the rename, then ours), never nothing.
    init(path: String) throws {
        self.path = path
        if QueryServer.answers(path) {
            throw SystemError("\(path) is in use by another running vrrpd (give each daemon its own --query-socket or --pid)", EADDRINUSE)
        }
        guard let tmp = QueryServer.temporaryName(for: path) else {
            throw SystemError("query socket path too long", ENAMETOOLONG)
        }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("query socket") }
        unlink(tmp)   // left by a run killed between its bind and its rename
        var sa = QueryServer.address(tmp)!
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0, listen(fd, 16) == 0 else { let e = SystemError("bind \(tmp)"); Glibc.close(fd); unlink(tmp); throw e }
        chmod(tmp, 0o600)
        var st = stat()
        guard stat(tmp, &st) == 0, rename(tmp, path) == 0 else {
            let e = SystemError("rename \(tmp) to \(path)"); Glibc.close(fd); unlink(tmp); throw e
        }
        bound = (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// A name in the same directory (rename is atomic only within one file system) that
    /// fits sun_path; nil when even the short form does not.
    static func temporaryName(for path: String) -> String? {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        for name in ["\(dir).\(base).\(getpid())", "\(dir).vq\(getpid())"] where address(name) != nil {
            return name
        }
        return nil
    }

    static func address(_ path: String) -> sockaddr_un? {
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &sa.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        return sa
    }

    /// A live server listens at `path` (a stale socket file refuses the connection).
    static func answers(_ path: String) -> Bool {
        let c = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard c >= 0 else { return false }
        defer { Glibc.close(c) }
        guard var sa = address(path) else { return false }
        return withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(c, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    func pollFDs() -> [pollfd] {
        var out = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        for c in clients.keys.sorted() { out.append(pollfd(fd: c, events: Int16(POLLIN), revents: 0)) }
        return out
    }

    func handle(_ fds: [pollfd], answer: (String) -> String) {
        let now = MonotonicClock.now()
        // Clients that never finish their line are dropped after 5 s.
        for (c, t) in opened where now - t > 5 * .second { drop(c) }
        for p in fds.dropFirst() where p.revents != 0 {
            guard clients[p.fd] != nil else { continue }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = buf.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 {
                if let pending = clients[p.fd], !pending.isEmpty { reply(p.fd, answer(String(decoding: pending, as: UTF8.self))) }
                drop(p.fd); continue
            }
            clients[p.fd]! += buf[0..<n]
            if let nl = clients[p.fd]!.firstIndex(of: 10) {
                let line = String(decoding: clients[p.fd]![..<nl], as: UTF8.self)
                reply(p.fd, answer(line))
                drop(p.fd)
            } else if clients[p.fd]!.count > 4096 {
                reply(p.fd, "error: command too long\n"); drop(p.fd)
            }
        }
        if let l = fds.first, l.revents != 0 {
            for _ in 0..<16 {
                let c = accept(fd, nil, nil)
                if c < 0 { break }
                _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
                _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                if clients.count >= 32 { Glibc.close(c); continue }
                clients[c] = []
                opened[c] = now
            }
        }
    }

    func reply(_ c: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var sent = 0
        // Answers are small; a client that does not read within a few tries loses the rest.
        for _ in 0..<100 where sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { send(c, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n } else if errno == EAGAIN { usleep(1000) } else { break }
        }
        bytes.removeAll()
    }

    func drop(_ c: Int32) {
        clients[c] = nil
        opened[c] = nil
        Glibc.close(c)
    }

    func close() {
        for c in clients.keys { Glibc.close(c) }
        clients = [:]
        Glibc.close(fd)
        var st = stat()
        if let b = bound, stat(path, &st) == 0, UInt64(st.st_dev) == b.dev, UInt64(st.st_ino) == b.ino {
            unlink(path)
        }
        bound = nil
    }
}

/// A tiny JSON writer (VRRPCore stays Foundation-free).
indirect enum JSON {
    case string(String), int(Int), bool(Bool), null
    case array([JSON]), object([(String, JSON)])

    var text: String {
        switch self {
        case .string(let s): return JSON.quote(s)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.map { JSON.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String { JSONText.quoted(s) }
}

extension VRRPDaemon {
    static let help = """
        Commands (one per connection):
          show [state]      every instance: state, priorities, master, scripts, drops
          show json         the same as JSON
          show stats        counters per instance (as SIGUSR2 writes them)
          show data         the configuration and state (as SIGUSR1 writes it)
          help              this text

        """

    func answer(_ raw: String) -> String {
        let cmd = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
        switch cmd {
        case [], ["help"]: return VRRPDaemon.help
        case ["show"], ["show", "state"], ["show", "info"]: return stateText().joined(separator: "\n") + "\n"
        case ["show", "json"], ["show", "state", "json"]: return stateJSON().text + "\n"
        case ["show", "stats"]: return statsDump().joined(separator: "\n") + "\n"
        case ["show", "data"]: return dataDump().joined(separator: "\n") + "\n"
        default: return "Unknown command '\(raw)'. Try 'help'.\n"
        }
    }

    func scriptRows(_ rt: InstanceRuntime) -> [(name: String, status: String, weight: Int, last: String)] {
        rt.config.trackScripts.compactMap { ref in
            guard let s = scripts[ref.name] else { return nil }
            return (ref.name, s.tracker.status.rawValue, ref.weight ?? s.config.weight, s.lastResult)
        }
    }

    func proxydRows(_ rt: InstanceRuntime) -> [(name: String, status: String, weight: Int, socket: String, pid: Int32?, reason: String, handingOver: Bool)] {
        rt.config.trackProxyd.compactMap { ref in
            guard let t = proxydTrackers[ref.name] else { return nil }
            return (ref.name, t.status, ref.weight ?? t.config.weight, t.config.socket, t.link?.view.pid, t.reason, t.handover != nil)
        }
    }

    func stateText() -> [String] {
        var o: [String] = ["vrrpd pid \(getpid()), up \(Int(time(nil)) - startedWall) s"]
        for rt in instances {
            let m = rt.machine
            o.append("\(rt.name): state \(m.state.rawValue), priority \(m.priority) (base \(rt.config.priority)), "
                     + "master \(m.masterAddress.map(\.description) ?? "unknown"), vrid \(rt.vrid), "
                     + "interface \(rt.ifname), version \(rt.version), advert \(rt.intervalCs * 10) ms")
            for s in scriptRows(rt) {
                o.append("  script \(s.name): \(s.status), weight \(s.weight), last \(s.last)")
            }
            for p in proxydRows(rt) {
                o.append("  proxyd \(p.name): \(p.status), weight \(p.weight), socket \(p.socket), \(p.reason)")
            }
            for t in rt.config.trackInterfaces {
                o.append("  interface \(t.name): \(links[t.name]?.isUp == true ? "UP" : "DOWN"), weight \(t.weight ?? 0)")
            }
            let drops = DropReason.allCases.map { "\($0.rawValue)=\(rt.drops[$0] ?? 0)" }.joined(separator: " ")
            o.append("  adverts received \(rt.advertsReceived), sent \(rt.advertsSent); drops: \(drops)")
        }
        for (ifn, d) in interfaceDrops.sorted(by: { $0.key < $1.key }) {
            o.append("interface \(ifn) drops: " + DropReason.allCases.compactMap { r in d[r].map { "\(r.rawValue)=\($0)" } }.joined(separator: " "))
        }
        return o
    }

    func stateJSON() -> JSON {
        .object([
            ("pid", .int(Int(getpid()))),
            ("instances", .array(instances.map { rt in
                let m = rt.machine
                return .object([
                    ("name", .string(rt.name)),
                    ("state", .string(m.state.rawValue)),
                    ("priority", .int(m.priority)),
                    ("base_priority", .int(rt.config.priority)),
                    ("master", m.masterAddress.map { .string($0.description) } ?? .null),
                    ("vrid", .int(Int(rt.vrid))),
                    ("interface", .string(rt.ifname)),
                    ("version", .int(Int(rt.version))),
                    ("advert_int_ms", .int(rt.intervalCs * 10)),
                    ("vips_installed", .bool(rt.vipsInstalled)),
                    ("adverts_received", .int(rt.advertsReceived)),
                    ("adverts_sent", .int(rt.advertsSent)),
                    ("became_master", .int(rt.becameMaster)),
                    ("scripts", .array(scriptRows(rt).map {
                        .object([("name", .string($0.name)), ("status", .string($0.status)),
                                 ("weight", .int($0.weight)), ("last", .string($0.last))])
                    })),
                    ("proxyd", .array(proxydRows(rt).map {
                        .object([("name", .string($0.name)), ("status", .string($0.status)),
                                 ("weight", .int($0.weight)), ("socket", .string($0.socket)),
                                 ("pid", $0.pid.map { .int(Int($0)) } ?? .null), ("reason", .string($0.reason)),
                                 ("handing_over", .bool($0.handingOver))])
                    })),
                    ("drops", .object(DropReason.allCases.map { ($0.rawValue, .int(rt.drops[$0] ?? 0)) })),
                ])
            })),
            ("interface_drops", .object(interfaceDrops.sorted { $0.key < $1.key }.map { (k, d) in
                (k, .object(DropReason.allCases.map { ($0.rawValue, .int(d[$0] ?? 0)) }))
            })),
        ])
    }

    /// SIGUSR2: counters in the layout of keepalived's /tmp/keepalived.stats.
    func statsDump() -> [String] {
        var o: [String] = []
        for rt in instances {
            let d = rt.drops
            o += ["VRRP Instance: \(rt.name)",
                  "  Advertisements:",
                  "    Received: \(rt.advertsReceived)",
                  "    Sent: \(rt.advertsSent)",
                  "  Became master: \(rt.becameMaster)",
                  "  Released master: \(rt.releasedMaster)",
                  "  Packet Errors:",
                  "    Length: \((d[.short] ?? 0) + (d[.addressCount] ?? 0))",
                  "    TTL: \(d[.ttl] ?? 0)",
                  "    Invalid Type: \(d[.type] ?? 0)",
                  "    Advertisement Interval: \(d[.interval] ?? 0)",
                  "    Address List: \(d[.addressList] ?? 0)",
                  "    Checksum: \(d[.checksum] ?? 0)",
                  "    Version: \(d[.version] ?? 0)",
                  "  Authentication Errors:",
                  "    Type Mismatch: \(d[.authType] ?? 0)",
                  "    Failure: \(d[.authFailure] ?? 0)",
                  "  Priority Zero:",
                  "    Received: \(rt.priorityZeroReceived)",
                  "    Sent: \(rt.priorityZeroSent)",
                  "  Gratuitous ARPs sent: \(rt.garpsSent)"]
        }
        return o
    }

    /// SIGUSR1: the configuration dump followed by the live state.
    func dataDump() -> [String] {
        ConfigDump.render(config) + ["------< VRRP State >------"] + stateText()
    }
}
