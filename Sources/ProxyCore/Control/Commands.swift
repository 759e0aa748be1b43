#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// The commands proxyd's runtime API answers, with HAProxy 2.6's usage lines, levels and
/// messages.
enum ControlCommands {
    static let denied = "Permission denied\n"

    static func registry() -> CommandRegistry {
        var r = CommandRegistry()

        // MARK: reading (user level)
        r.add("show info", usage: "show info [desc|json|typed|float]*",
              help: "report information about the running process") { args, _, context in
            let options = Set(args.dropFirst(2))
            if options.contains("json") { return ShowInfo.json(context) }
            if options.contains("typed") { return ShowInfo.typed(context) }
            return ShowInfo.text(context)
        }
        r.add("show stat", usage: "show stat [desc|json|no-maint|typed|up]*",
              help: "report counters for each proxy and server", showStat)
        r.add("show servers state", usage: "show servers state [<backend>]",
              help: "dump volatile server information (all or for a single backend)", showServersState)
        r.add("show servers conn", usage: "show servers conn [<backend>]",
              help: "dump server connections status (all or for a single backend)") { args, _, context in
            ShowServersConn.text(args, context)
        }
        r.add("show backend", usage: "show backend",
              help: "list backends in the current running config") { _, _, context in
            "# name\n" + context.proxies.filter { $0.backend != nil }.map { $0.name + "\n" }.joined()
        }
        r.add("show errors", usage: "show errors [<px>] [request|response]",
              help: "report last request and/or response errors for each proxy") { _, session, _ in
            guard session.level >= .operator else { return denied }
            // proxyd keeps no captures of invalid messages yet: the count is always 0.
            return "Total events captured on [\(logDate())] : 0\n"
        }
        r.add("show sess", usage: "show sess [id]",
              help: "report the list of current sessions or dump this exact session") { _, session, _ in
            guard session.level >= .operator else { return denied }
            return session.sessions ?? ""
        }
        r.add("show version", usage: "show version", help: "show version of the current process") { _, _, _ in
            ProxyCoreVersion.string + "\n"
        }
        r.add("show cli level", usage: "show cli level",
              help: "display the level of the current CLI session") { _, session, _ in
            session.level.name + "\n"
        }
        r.add("operator", usage: "operator",
              help: "lower the level of the current CLI session to operator") { _, session, _ in
            if session.level > .operator { session.level = .operator }
            return ""
        }
        r.add("user", usage: "user", help: "lower the level of the current CLI session to user") { _, session, _ in
            session.level = .user
            return ""
        }
        r.add("get weight", usage: "get weight <bk>/<srv>", help: "report a server's current weight") { args, _, context in
            guard args.count > 2 else { return "Require 'backend/server'.\n" }
            switch lookup(args[2], context) {
            case .failure(let message): return message.text
            case .success(let (_, _, server)):
                // The weight set (HAProxy's uweight): a draining server keeps its own.
                let status = server.status.withLockedValue { $0 }
                return "\(status.weight) (initial \(server.initialWeight))\n"
            }
        }
        r.add("set timeout", usage: "set timeout [cli] <delay>", help: "change a timeout setting") { args, session, _ in
            guard args.count > 2, args[2] == "cli" else { return "'set timeout' only supports 'cli'.\n" }
            guard args.count > 3, let seconds = Int(args[3]), seconds >= 0 else { return "Expects an integer value.\n" }
            session.timeout = seconds * 1000
            return ""
        }

        // MARK: changing (operator and admin)
        r.add("clear counters", usage: "clear counters [all]",
              help: "clear max statistics counters (or all counters)") { args, session, context in
            let all = args.count > 2 && args[2] == "all"
            guard session.level >= (all ? .admin : .operator) else { return denied }
            context.clearCounters(all: all)
            return ""
        }
        r.add("set server", usage: "set server <bk>/<srv> [opts]",
              help: "change a server's state, weight, address or ssl", setServer)
        r.add("set weight", usage: "set weight <bk>/<srv>  (DEPRECATED)",
              help: "change a server's weight (use 'set server' instead)") { args, session, context in
            guard session.level >= .admin else { return denied }
            guard args.count > 2 else { return "Require 'backend/server'.\n" }
            switch lookup(args[2], context) {
            case .failure(let message): return message.text
            case .success(let (_, backend, server)):
                return setWeight(args.count > 3 ? args[3] : "", backend, server, context)
            }
        }
        for enable in [false, true] {
            let verb = enable ? "enable" : "disable"
            r.add("\(verb) server", usage: enable ? "enable server  (DEPRECATED)" : "disable server (DEPRECATED)",
                  help: enable ? "enable a disabled server (use 'set server' instead)"
                               : "disable a server for maintenance (use 'set server' instead)") { args, session, context in
                guard session.level >= .admin else { return denied }
                guard args.count > 2 else { return "Require 'backend/server'.\n" }
                switch lookup(args[2], context) {
                case .failure(let message): return message.text
                case .success(let (_, backend, server)):
                    context.runtime.setAdmin(enable ? .ready : .maintenance, of: server, in: backend)
                    return ""
                }
            }
            r.add("\(verb) health", usage: "\(verb) health", help: "\(verb) health checks") { args, session, context in
                guard session.level >= .admin else { return denied }
                guard args.count > 2 else { return "Require 'backend/server'.\n" }
                switch lookup(args[2], context) {
                case .failure(let message): return message.text
                case .success(let (_, backend, server)):
                    if enable, context.runtime.healthMonitor?.checksEnabled(server) == nil {
                        return "Health check was not configured on this server, cannot enable.\n"
                    }
                    context.runtime.updateServer(server, in: backend) { $0.checksEnabled = enable }
                    return ""
                }
            }
            r.add("\(verb) agent", usage: "\(verb) agent", help: "\(verb) agent checks") { args, session, context in
                guard session.level >= .admin else { return denied }
                guard args.count > 2 else { return "Require 'backend/server'.\n" }
                switch lookup(args[2], context) {
                case .failure(let message): return message.text
                case .success(let (_, _, server)):
                    guard let monitor = context.runtime.healthMonitor, monitor.checksEnabled(server, agent: true) != nil else {
                        return enable ? "Agent was not configured on this server, cannot enable.\n" : ""
                    }
                    monitor.setChecksEnabled(server, agent: true, enable)
                    return ""
                }
            }
            r.add("\(verb) frontend", usage: "\(verb) frontend <frontend>",
                  help: enable ? "re-enable specific frontend" : "temporarily disable specific frontend") { args, session, context in
                guard session.level >= .admin else { return denied }
                guard args.count > 2 else { return "A frontend name is expected.\n" }
                guard let frontend = context.frontendProxy(named: args[2])?.frontend else { return "No such frontend.\n" }
                if !frontend.gate.setDisabled(!enable) {
                    return enable ? "All sockets are already enabled.\n" : "All sockets are already disabled.\n"
                }
                return ""
            }
        }
        r.add("set maxconn frontend", usage: "set maxconn frontend <frontend> <value>",
              help: "change a frontend's maxconn setting") { args, session, context in
            guard session.level >= .admin else { return denied }
            guard args.count > 3 else { return "A frontend name is expected.\n" }
            guard let frontend = context.frontendProxy(named: args[3])?.frontend else { return "No such frontend.\n" }
            guard args.count > 4 else { return "Integer value expected.\n" }
            let value = atoi(args[4])
            guard value >= 0 else { return "Value out of range.\n" }
            frontend.gate.setLimit(value == 0 ? context.runtime.globalGate.limit : value)
            return ""
        }
        r.add("set maxconn server", usage: "set maxconn server <bk>/<srv>",
              help: "change a server's maxconn setting") { args, session, context in
            guard session.level >= .admin else { return denied }
            guard args.count > 3 else { return "Require 'backend/server'.\n" }
            switch lookup(args[3], context) {
            case .failure(let message): return message.text
            case .success(let (_, backend, server)):
                guard args.count > 4 else { return "Require <maxconn>.\n" }
                guard let value = Int(args[4]), value >= 0 else {
                    // HAProxy's own wording, without a newline.
                    return "maxconn string empty or preceded by garbage"
                }
                context.runtime.setMaxConnections(value, server: server, in: backend)
                return ""
            }
        }
        r.add("set maxconn global", usage: "set maxconn global <value>",
              help: "change the per-process maxconn setting") { args, session, context in
            guard session.level >= .admin else { return denied }
            guard args.count > 3 else { return "Expects an integer value.\n" }
            let value = atoi(args[3])
            guard value >= 0 else { return "Value out of range.\n" }
            guard value <= context.globalMaxconn else { return "Value out of range.\n" }
            context.runtime.globalGate.setLimit(value == 0 ? context.globalMaxconn : value)
            return ""
        }
        StickTableCommands.register(&r)  // stick tables (issue 15)
        PeersCommands.register(&r)  // peers sections (Control/ShowPeers.swift)
        ResolverCommands.register(&r)  // DNS service discovery (issue 15)
        MapCommands.register(&r)  // map files (Control/MapCommands.swift)
        ACLCommands.register(&r)  // ACL pattern files (Control/ACLCommands.swift)
        DynamicServerCommands.register(&r)  // add/del server (Control/DynamicServerCommands.swift)
        return r
    }

    // MARK: - show stat

    static func showStat(_ args: [String], _ session: ControlSessionState, _ context: StatsContext) -> String {
        var words = Array(args.dropFirst(2))
        var format = "csv"
        var upOnly = false, noMaint = false
        // Optional `{<iid>|<proxy>} <type> <sid>` first.
        var filter: (proxy: StatsContext.Proxy?, types: Int, sid: Int)?
        // As HAProxy, any three words are that triple (so `typed 3 1` looks for proxy "typed").
        if words.count >= 3 {
            let proxy: StatsContext.Proxy?
            if let id = Int(words[0]) {
                if id == -1 { proxy = nil } else {
                    guard let found = context.proxy(id: id) else { return "No such proxy.\n" }
                    proxy = found
                }
            } else {
                guard let found = context.proxy(named: words[0]) else { return "No such proxy.\n" }
                proxy = found
            }
            guard let types = Int(words[1]), let sid = Int(words[2]) else { return "No such proxy.\n" }
            filter = (proxy, types, sid)
            words.removeFirst(3)
        }
        for word in words {
            switch word {
            case "typed": format = "typed"
            case "json": format = "json"
            case "up": upOnly = true
            case "no-maint": noMaint = true
            default: break
            }
        }
        var rows: [StatRow] = []
        for proxy in context.proxies {
            if let filter, let wanted = filter.proxy, wanted.id != proxy.id { continue }
            for row in context.rows(of: proxy, userLevel: session.level == .user) {
                if let filter, filter.types != -1 {
                    // The type mask: 1 frontends, 2 backends, 4 servers.
                    guard filter.types & (1 << row.kind.rawValue) != 0 else { continue }
                }
                if let filter, filter.sid != -1, row.kind == .server, row.serverID != filter.sid { continue }
                if row.kind == .server, upOnly || noMaint, case .string(let status) = row["status"] {
                    if noMaint && status.hasPrefix("MAINT") { continue }
                    if upOnly && !(status.hasPrefix("UP") || status == "no check" || status == "DRAIN") { continue }
                }
                rows.append(row)
            }
        }
        switch format {
        case "typed": return StatsFormat.typed(rows)
        case "json": return StatsFormat.json(rows)
        default: return StatsFormat.csv(rows)
        }
    }

    // MARK: - show servers state

    static let serversStateHeader = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"

    static func showServersState(_ args: [String], _ session: ControlSessionState, _ context: StatsContext) -> String {
        var proxies = context.proxies.filter { $0.backend != nil }
        if args.count > 3 {
            guard let proxy = proxies.first(where: { $0.name == args[3] }) else { return "Can't find backend.\n" }
            proxies = [proxy]
        }
        var out = serversStateHeader
        let now = ProcessClock.milliseconds
        for proxy in proxies {
            guard let backend = proxy.backend else { continue }
            for server in backend.servers {
                let settings = context.serverSettings(proxy, server)
                let status = server.status.withLockedValue { $0 }
                let checked = settings?.check.enabled ?? false
                let configDisabled = settings?.disabled ?? false
                var admin = 0
                if status.admin == .maintenance { admin |= 0x1 }  // SRV_ADMF_FMAINT
                if status.inheritedMaintenance { admin |= 0x2 }  // SRV_ADMF_IMAINT (`track`)
                if status.admin == .maintenance && configDisabled { admin |= 0x4 }  // SRV_ADMF_CMAINT
                if status.admin == .drain { admin |= 0x8 }  // SRV_ADMF_FDRAIN
                let dns = server.dns?.snapshot
                if status.resolutionMaintenance { admin |= 0x20 }  // SRV_ADMF_RMAINT
                if dns?.hostnameFromRuntime == true { admin |= 0x40 }  // SRV_ADMF_HMAINT
                let operational = status.isUsable ? 2 : 0  // SRV_ST_RUNNING / SRV_ST_STOPPED
                let rise = settings?.check.rise ?? 2
                // HAProxy's health counter: rise+fall-1 for a checked server fully UP,
                // rise for an unchecked one, 0 when DOWN.
                var health = !status.isUsable ? 0 : checked ? rise + (settings?.check.fall ?? 3) - 1 : rise
                if !checked, dns?.wasStopped == true { health = 0 }
                // HAProxy 2.6 sets an unchecked dynamic server's counter only when `add
                // server … enabled` made it ready, not when `enable server` did later.
                if !checked, server.dynamicSettings != nil, !server.readyWhenAdded { health = 0 }
                var checkState = checked ? (status.checksEnabled ? 6 : 2) : (configDisabled ? 8 : 0)
                // Checks pause while the server is in maintenance (HAProxy's CHK_ST_PAUSED).
                if checked, status.checksEnabled, status.admin == .maintenance || status.resolutionMaintenance {
                    checkState |= 0x8
                }
                let check = server.health?.snapshot.check
                var (checkStatus, checkResult) = checkColumns(check?.result.status)
                // A check under way: CHK_ST_INPROGRESS, and no result yet (CHK_RES_UNKNOWN).
                if check?.inProgress == true {
                    checkState |= 0x1
                    checkResult = 0
                }
                let address = server.address
                // Servers following DNS (issue 15): `-` until they have an address, the
                // name followed, and the SRV record that filled them.
                let addressText = dns?.hasAddress == false ? "-" : StatsContext.ipText(address)
                let fqdn = dns.map { $0.fqdn ?? "-" } ?? "-"
                let port = dns.map { $0.hasAddress ? address.port ?? 0 : $0.srvRecord == nil ? $0.configuredPort : 0 }
                    ?? address.port ?? 0
                let fields: [String] = [
                    String(proxy.id), proxy.name, String(server.id), server.name,
                    addressText, String(operational), String(admin),
                    String(status.weight), String(server.initialWeight),
                    String((now - status.lastChange) / 1000),
                    String(checkStatus), String(checkResult), String(health), String(checkState), "0",
                    proxy.settings.id != nil ? "1" : "0", settings?.id != nil ? "1" : "0",
                    fqdn, String(port), dns?.srvRecord ?? "-", "0",
                    String(settings?.check.port ?? 0), settings?.check.address ?? "-", "-", "0",
                ]
                out += fields.joined(separator: " ") + "\n"
            }
        }
        return out
    }

    /// `srv_check_status` (HAProxy's HCHK_STATUS_* number) and `srv_check_result`
    /// (CHK_RES_*: 0 unknown, 1 neutral, 2 failed, 3 passed, 4 conditionally passed) of
    /// the last health check; an unchecked server is "1 0", as in HAProxy.
    static func checkColumns(_ status: CheckStatus?) -> (Int, Int) {
        guard let status else { return (1, 0) }
        switch status {
        case .unknown: return (0, 0)
        case .initializing: return (1, 0)
        case .checked: return (3, 1)
        case .healthAnalyze: return (4, 2)
        case .socketError: return (5, 2)
        case .l4ok: return (6, 3)
        case .l4timeout: return (7, 2)
        case .l4connection: return (8, 2)
        case .l6ok: return (9, 3)
        case .l6timeout: return (10, 2)
        case .l6response: return (11, 2)
        case .l7timeout: return (12, 2)
        case .l7response: return (13, 2)
        // 14 is HCHK_STATUS_L57DATA, a status no finished check keeps.
        case .l7ok: return (15, 3)
        case .l7okConditional: return (16, 4)
        case .l7status: return (17, 2)
        }
    }

    // MARK: - set server

    static func setServer(_ args: [String], _ session: ControlSessionState, _ context: StatsContext) -> String {
        guard session.level >= .admin else { return denied }
        guard args.count > 2 else { return "Require 'backend/server'.\n" }
        let (_, backend, server): (StatsContext.Proxy, RuntimeBackend, RuntimeServer)
        switch lookup(args[2], context) {
        case .failure(let message): return message.text
        case .success(let found): (_, backend, server) = found
        }
        guard args.count > 3 else {
            return "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n"
        }
        let value = args.count > 4 ? args[4] : ""
        switch args[3] {
        case "state":
            let admin: ServerStatus.Admin
            switch value {
            case "ready": admin = .ready
            case "drain": admin = .drain
            case "maint": admin = .maintenance
            default: return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
            }
            context.runtime.setAdmin(admin, of: server, in: backend)
            return ""
        case "health":
            let up: Bool
            switch value {
            case "up": up = true
            case "stopping", "down": up = false
            default: return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n"
            }
            context.runtime.updateServer(server, in: backend) { $0.operationalUp = up }
            return ""
        case "weight":
            return setWeight(value, backend, server, context)
        case "addr":
            return setAddress(Array(args.dropFirst(4)), backend, server, context)
        case "fqdn":
            return ResolverCommands.setFQDN(value, path: args[2], server, context)
        default:
            return "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n"
        }
    }

    /// `W` (0…256) or `W%` of the initial weight.
    static func setWeight(_ text: String, _ backend: RuntimeBackend, _ server: RuntimeServer,
                          _ context: StatsContext) -> String {
        guard !text.isEmpty else { return "Require <weight> or <weight%>.\n" }
        var weight: Int
        if text.hasSuffix("%") {
            guard let percent = Int(text.dropLast()) else { return "Require <weight> or <weight%>.\n" }
            guard percent >= 0 else { return "Relative weight must be positive.\n" }
            weight = (server.initialWeight * percent + 50) / 100
            if weight > 256 { weight = 256 }
        } else {
            guard let absolute = Int(text) else { return "Require <weight> or <weight%>.\n" }
            guard absolute >= 0, absolute <= 256 else {
                return "Absolute weight can only be between 0 and 256 inclusive.\n"
            }
            weight = absolute
        }
        context.runtime.updateServer(server, in: backend) { $0.weight = weight }
        return ""
    }

    /// `set server B/S addr IP [port P]`, answered as HAProxy's srv_update_addr_port.
    static func setAddress(_ words: [String], _ backend: RuntimeBackend, _ server: RuntimeServer,
                           _ context: StatsContext) -> String {
        guard let ip = words.first else {
            return "set server <b>/<s> addr requires an address and optionally a port.\n"
        }
        let old = server.address
        var port = old.port ?? 0
        var portGiven = false
        if words.count > 2, words[1] == "port" {
            guard let p = Int(words[2]), p >= 0, p <= 65535 else { return "Invalid port.\n" }
            port = p
            portGiven = true
        }
        guard let address = try? SocketAddress(ipAddress: ip, port: port) else {
            return "Invalid addr '\(ip)' by 'stats socket command'\n"
        }
        let oldIP = StatsContext.ipText(old)
        var message = oldIP == ip ? "no need to change the addr"
            : "IP changed from '\(oldIP)' to '\(StatsContext.ipText(address))'"
        if portGiven {
            message += old.port == port ? ", no need to change the port"
                : ", port changed from '\(old.port ?? 0)' to '\(port)'"
        }
        server.changeAddress(to: address)
        // A server waiting for an address (issue 15) has one now.
        if let dns = server.dns {
            let ip = AddressParser.numericIP(StatsContext.ipText(address))
            dns.update {
                $0.hasAddress = true
                $0.target = ip.map { DNSTarget(key: $0.description, address: $0) }
            }
            if server.status.withLockedValue({ $0.resolutionMaintenance }) {
                context.runtime.updateServer(server, in: backend) { $0.resolutionMaintenance = false }
            }
        }
        return message + " by 'stats socket command'\n"
    }

    // MARK: - helpers

    /// C's atoi, as HAProxy reads these numbers: leading digits, else 0.
    static func atoi(_ text: String) -> Int {
        var digits = text.drop { $0 == " " }
        var sign = 1
        if digits.first == "-" || digits.first == "+" {
            if digits.first == "-" { sign = -1 }
            digits = digits.dropFirst()
        }
        return sign * (Int(digits.prefix { $0.isASCII && $0.isNumber }) ?? 0)
    }

    static func lookup(_ path: String, _ context: StatsContext)
        -> Result<(StatsContext.Proxy, RuntimeBackend, RuntimeServer), LookupMessage> {
        switch context.server(path) {
        case .success(let found): return .success(found)
        case .failure(.syntax): return .failure(LookupMessage("Require 'backend/server'.\n"))
        case .failure(.noBackend): return .failure(LookupMessage("No such backend.\n"))
        case .failure(.noServer): return .failure(LookupMessage("No such server.\n"))
        }
    }

    struct LookupMessage: Error, ExpressibleByStringLiteral, CustomStringConvertible {
        let text: String
        init(_ text: String) { self.text = text }
        init(stringLiteral text: String) { self.text = text }
        var description: String { text }
    }

    /// `25/Nov/2026:09:27:35.078`, local time, as HAProxy dates its captures.
    static func logDate() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let millis = spec.tv_nsec / 1_000_000
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(ShowInfo.pad2(Int(parts.tm_mday)))/\(months[Int(parts.tm_mon)])/\(1900 + parts.tm_year):"
            + "\(ShowInfo.pad2(Int(parts.tm_hour))):\(ShowInfo.pad2(Int(parts.tm_min))):\(ShowInfo.pad2(Int(parts.tm_sec))).\(ms)"
    }
}
