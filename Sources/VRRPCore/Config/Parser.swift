import Shared

/// keepalived's dialect, keyword by keyword. Each section has a table (keyword → handler),
/// as keepalived's keyword trees do, and a list of keywords keepalived has and vrrpd does
/// not: those get a warning naming them, never a silent skip.
public enum ConfigParser {

    /// Parse a file (and what it includes) into a model plus diagnostics.
    public static func parse(file: String, source: ConfigFileSource = DiskFileSource()) -> (VRRPConfig, Diagnostics) {
        var lexer = ConfigLexer(source: source)
        guard let tokens = lexer.lex(file: file) else {
            var d = lexer.diagnostics
            d.error(nil, "Configuration file '\(file)' cannot be opened")
            return (VRRPConfig(), d)
        }
        return build(tokens, diagnostics: lexer.diagnostics)
    }

    public static func parse(text: String, file: String = "keepalived.conf",
                             source: ConfigFileSource = DiskFileSource()) -> (VRRPConfig, Diagnostics) {
        var lexer = ConfigLexer(source: source)
        let tokens = lexer.lex(text: text, file: file)
        return build(tokens, diagnostics: lexer.diagnostics)
    }

    static func build(_ tokens: [Token], diagnostics: Diagnostics) -> (VRRPConfig, Diagnostics) {
        var d = diagnostics
        let statements = ConfigSyntax.parse(tokens, diagnostics: &d)
        var ctx = Context(diag: d)
        var config = VRRPConfig()
        // Trackers first, so instances may name trackers declared after them.
        let trackers: Set<String> = ["vrrp_script", "vrrp_track_proxyd"]
        for s in statements where trackers.contains(s.keyword) {
            topLevel.run(s, on: &config, ctx: &ctx)
        }
        for s in statements where !trackers.contains(s.keyword) {
            topLevel.run(s, on: &config, ctx: &ctx)
        }
        validate(&config, &ctx)
        return (config, ctx.diag)
    }

    // MARK: machinery

    struct Context {
        var diag: Diagnostics
    }

    typealias Handler<T> = (inout T, Statement, inout Context) -> Void

    struct Section<T> {
        let name: String
        let handlers: [String: Handler<T>]
        /// Valid keepalived keywords vrrpd does not implement, with why (nil: generic text).
        let unsupported: [String: String?]

        func run(_ s: Statement, on value: inout T, ctx: inout Context) {
            if let h = handlers[s.keyword] {
                h(&value, s, &ctx)
            } else if let why = unsupported[s.keyword] {
                ctx.diag.warning(s.location, "keyword '\(s.keyword)' is valid for keepalived but not supported by vrrpd"
                                 + (why.map { " (\($0))" } ?? "") + "; ignored")
            } else {
                var msg = "Unknown keyword '\(s.keyword)'"
                if let guess = didYouMean(s.keyword, Array(handlers.keys)) { msg += " - did you mean '\(guess)'?" }
                if name != "top level" { msg += " in \(name)" }
                ctx.diag.error(s.location, msg)
            }
        }

        func runBlock(_ s: Statement, on value: inout T, ctx: inout Context) {
            guard let block = s.block else {
                ctx.diag.error(s.location, "'\(s.keyword)' needs a block: \(s.keyword) { ... }")
                return
            }
            for inner in block { run(inner, on: &value, ctx: &ctx) }
        }
    }

    // MARK: argument helpers (keepalived's wording)

    static func arg(_ s: Statement, _ i: Int, _ ctx: inout Context, what: String = "value") -> String? {
        let a = "aeiou".contains(what.first ?? "x") ? "an" : "a"
        guard i < s.args.count else {
            ctx.diag.error(s.location, "'\(s.keyword)' requires \(a) \(what)")
            return nil
        }
        // A quoted "" is a word, but never a usable name, number or address.
        guard !s.args[i].isEmpty else {
            ctx.diag.error(s.location, "'\(s.keyword)' requires \(a) \(what), not an empty string")
            return nil
        }
        return s.args[i]
    }

    static func int(_ s: Statement, _ i: Int = 0, _ range: ClosedRange<Int>, _ ctx: inout Context) -> Int? {
        guard let t = arg(s, i, &ctx, what: "number") else { return nil }
        guard let v = Int(t) else {
            ctx.diag.error(s.location, "invalid number '\(t)' for '\(s.keyword)'")
            return nil
        }
        guard range.contains(v) else {
            ctx.diag.error(s.location, "number '\(t)' outside range [\(range.lowerBound), \(range.upperBound)]")
            return nil
        }
        return v
    }

    static func decimal(_ s: Statement, _ i: Int = 0, _ range: ClosedRange<Double>, _ ctx: inout Context) -> Double? {
        guard let t = arg(s, i, &ctx, what: "number") else { return nil }
        guard let v = Double(t), v.isFinite else {
            ctx.diag.error(s.location, "invalid number '\(t)' for '\(s.keyword)'")
            return nil
        }
        guard range.contains(v) else {
            ctx.diag.error(s.location, "number '\(t)' outside range [\(fmt(range.lowerBound)), \(fmt(range.upperBound))]")
            return nil
        }
        return v
    }

    static func address(_ s: Statement, _ t: String, _ ctx: inout Context) -> IPv4Address? {
        guard let a = IPv4Address(t) else {
            ctx.diag.error(s.location, "invalid IPv4 address '\(t)' for '\(s.keyword)'")
            return nil
        }
        return a
    }

    static func noArgs(_ s: Statement, _ ctx: inout Context) {
        if !s.args.isEmpty { ctx.diag.warning(s.location, "'\(s.keyword)' takes no argument; '\(s.args.joined(separator: " "))' ignored") }
    }

    static func fmt(_ d: Double) -> String {
        d == d.rounded() ? String(Int(d)) : String(d)
    }

    static func notifyScript(_ s: Statement, _ ctx: inout Context) -> NotifyScript? {
        guard let cmd = arg(s, 0, &ctx, what: "script") else { return nil }
        guard !ScriptCommand.split(cmd).isEmpty else {
            ctx.diag.error(s.location, "'\(s.keyword)' requires a script, not blanks")
            return nil
        }
        return NotifyScript(command: cmd, user: s.args.count > 1 ? s.args[1] : nil,
                            group: s.args.count > 2 ? s.args[2] : nil)
    }

    // MARK: top level

    static let topLevel = Section<VRRPConfig>(
        name: "top level",
        handlers: [
            "global_defs": { c, s, ctx in globalDefs.runBlock(s, on: &c.global, ctx: &ctx) },
            "vrrp_script": { c, s, ctx in
                guard let name = arg(s, 0, &ctx, what: "name") else { return }
                if c.scripts.contains(where: { $0.name == name }) {
                    ctx.diag.error(s.location, "vrrp_script \(name) defined twice")
                    return
                }
                var sc = ScriptConfig(name: name)
                sc.location = s.location
                vrrpScript.runBlock(s, on: &sc, ctx: &ctx)
                if sc.argv.isEmpty { ctx.diag.error(s.location, "VRRP_Script(\(name)) has no script") }
                if sc.timeout == nil { sc.timeout = nil }
                c.scripts.append(sc)
            },
            "vrrp_track_proxyd": { c, s, ctx in proxydTracker(s, into: &c, &ctx) },
            "vrrp_instance": { c, s, ctx in
                guard let name = arg(s, 0, &ctx, what: "name") else { return }
                if c.instances.contains(where: { $0.name == name }) {
                    ctx.diag.error(s.location, "vrrp_instance \(name) defined twice")
                    return
                }
                var inst = InstanceConfig(name: name)
                inst.location = s.location
                instance.runBlock(s, on: &inst, ctx: &ctx)
                c.instances.append(inst)
            },
            "vrrp_sync_group": { c, s, ctx in
                guard let name = arg(s, 0, &ctx, what: "name") else { return }
                var g = SyncGroupConfig(name: name)
                g.location = s.location
                syncGroup.runBlock(s, on: &g, ctx: &ctx)
                c.syncGroups.append(g)
            },
        ],
        unsupported: [
            "virtual_server": "LVS checker configuration", "virtual_server_group": "LVS checker configuration",
            "real_server": "LVS checker configuration", "static_ipaddress": nil, "static_routes": nil,
            "static_rules": nil, "vrrp_track_file": nil, "track_file": nil, "vrrp_track_process": nil,
            "track_process": nil, "bfd_instance": "BFD", "linkbeat_interfaces": nil, "garp_group": nil,
            "net_namespace": nil, "net_namespace_ipvs": nil, "instance": nil, "use_pid_dir": nil,
            "child_wait_time": nil, "static_track_group": nil, "vrrp_sync_group_track": nil,
            "ssl": "checker TLS", "virtualhost": nil,
        ])

    // MARK: global_defs

    static let globalDefs = Section<GlobalDefs>(
        name: "global_defs",
        handlers: [
            "router_id": { g, s, ctx in g.routerID = arg(s, 0, &ctx, what: "name") },
            "vrrp_version": { g, s, ctx in if let v = int(s, 0, 2...3, &ctx) { g.vrrpVersion = v } },
            "vrrp_mcast_group4": { g, s, ctx in
                guard let t = arg(s, 0, &ctx, what: "address"), let a = address(s, t, &ctx) else { return }
                if !a.isMulticast { ctx.diag.error(s.location, "vrrp_mcast_group4 \(a) is not a multicast address"); return }
                g.mcastGroup4 = a
            },
            "vrrp_garp_master_delay": { g, s, ctx in if let v = decimal(s, 0, 0...3600, &ctx) { g.garpMasterDelay = v } },
            "vrrp_garp_master_repeat": { g, s, ctx in if let v = int(s, 0, 0...1000, &ctx) { g.garpMasterRepeat = v } },
            "vrrp_garp_master_refresh": { g, s, ctx in if let v = decimal(s, 0, 0...86400, &ctx) { g.garpMasterRefresh = v } },
            "vrrp_garp_master_refresh_repeat": { g, s, ctx in if let v = int(s, 0, 1...1000, &ctx) { g.garpMasterRefreshRepeat = v } },
            "vrrp_garp_lower_prio_repeat": { g, s, ctx in if let v = int(s, 0, 0...1000, &ctx) { g.garpLowerPrioRepeat = v } },
            "vrrp_skip_check_adv_addr": { g, s, ctx in noArgs(s, &ctx); g.skipCheckAdvAddr = true },
            "vrrp_strict": { g, s, ctx in noArgs(s, &ctx); g.strict = true },
            "script_user": { g, s, ctx in
                g.scriptUser = arg(s, 0, &ctx, what: "user name")
                g.scriptGroup = s.args.count > 1 ? s.args[1] : nil
            },
            "enable_script_security": { g, s, ctx in noArgs(s, &ctx); g.enableScriptSecurity = true },
            "vrrp_startup_delay": { g, s, ctx in if let v = decimal(s, 0, 0...3600, &ctx) { g.startupDelay = v } },
            "default_interface": { g, s, ctx in if let v = arg(s, 0, &ctx, what: "interface") { g.defaultInterface = v } },
        ],
        unsupported: Dictionary(uniqueKeysWithValues: [
            "notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout",
            "smtp_helo_name", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker", "lvs_id",
            "checker_log_all_failures", "dynamic_interfaces", "vrrp_mcast_group6", "vrrp_garp_interval",
            "vrrp_gna_interval", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert",
            "vrrp_iptables", "vrrp_ipsets", "vrrp_check_unicast_src", "vrrp_priority", "checker_priority",
            "bfd_priority", "vrrp_no_swap", "checker_no_swap", "bfd_no_swap", "vrrp_rt_priority",
            "checker_rt_priority", "bfd_rt_priority", "vrrp_cpu_affinity", "checker_cpu_affinity",
            "max_auto_priority", "min_auto_priority_delay", "notify_fifo", "notify_fifo_script",
            "vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script",
            "lvs_sync_daemon", "lvs_flush", "lvs_flush_onstop", "lvs_timeouts", "enable_snmp_vrrp",
            "enable_snmp_keepalived", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3",
            "enable_snmp_checker", "enable_traps", "snmp_socket", "enable_dbus", "dbus_service_name",
            "linkbeat_use_polling", "vrrp_garp_lower_prio_delay", "vrrp_netlink_cmd_rcv_bufs",
            "vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs",
            "vrrp_netlink_monitor_rcv_bufs_force", "process_names", "process_name", "vrrp_process_name",
            "checker_process_name", "bfd_process_name", "net_namespace", "namespace_with_ipsets",
            "instance", "vrrp_min_garp", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier", "umask",
            "random_seed", "reload_time_file", "reload_repeat", "reload_file", "data_use_instance",
            "state_dir", "no_email_faults", "nftables", "nftables_priority", "nftables_ifindex",
            "nftables_counters", "vrrp_startup_delay_disabled", "script_user_disabled",
            "vrrp_version_disabled", "disable_local_igmp", "use_symlink_paths", "tmp_config_directory",
            "config_test", "vrrp_notify_priority_changes", "fifo_write_vrrp_states_on_reload",
            "rs_init_notifies", "no_checker_emails", "vrrp_track_process", "process_monitor_rcv_bufs",
            "process_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_monitor_rcv_bufs",
            "vrrp_owner_ignore_adverts", "vrrp_down_timer_adverts", "vrrp_garp_extra_if",
        ].map { ($0, Optional<String>.none) }))

    // MARK: vrrp_script

    static let vrrpScript = Section<ScriptConfig>(
        name: "vrrp_script",
        handlers: [
            "script": { sc, s, ctx in
                guard !s.args.isEmpty else { ctx.diag.error(s.location, "'script' requires a command"); return }
                sc.command = s.args.joined(separator: " ")
            },
            "interval": { sc, s, ctx in if let v = decimal(s, 0, 0.001...86400, &ctx) { sc.interval = v } },
            "timeout": { sc, s, ctx in if let v = decimal(s, 0, 0.001...86400, &ctx) { sc.timeout = v } },
            "weight": { sc, s, ctx in
                if let v = int(s, 0, -253...253, &ctx) { sc.weight = v }
                if s.args.count > 1 {
                    if s.args[1] == "reverse" { sc.weightReverse = true }
                    else { ctx.diag.error(s.location, "unknown weight option '\(s.args[1])' - expected 'reverse'") }
                }
            },
            "rise": { sc, s, ctx in if let v = int(s, 0, 1...1_000_000, &ctx) { sc.rise = v } },
            "fall": { sc, s, ctx in if let v = int(s, 0, 1...1_000_000, &ctx) { sc.fall = v } },
            "user": { sc, s, ctx in
                sc.user = arg(s, 0, &ctx, what: "user name")
                sc.group = s.args.count > 1 ? s.args[1] : nil
            },
            "init_fail": { sc, s, ctx in noArgs(s, &ctx); sc.initFail = true },
        ],
        unsupported: [:])

    // MARK: vrrp_instance

    static func trackList(_ s: Statement, _ ctx: inout Context, what: String) -> [TrackRef] {
        guard let block = s.block else {
            ctx.diag.error(s.location, "'\(s.keyword)' needs a block: \(s.keyword) { ... }")
            return []
        }
        var out: [TrackRef] = []
        for line in block {
            let w = line.words
            guard !w[0].isEmpty else {
                ctx.diag.error(line.location, "\(what): an empty name is not an interface or a script")
                continue
            }
            var ref = TrackRef(name: w[0])
            var i = 1
            while i < w.count {
                if w[i] == "weight", i + 1 < w.count {
                    if let v = Int(w[i + 1]), (-254...254).contains(v) { ref.weight = v } else {
                        ctx.diag.error(line.location, "\(what) \(w[0]): weight '\(w[i + 1])' must be between -254 and 254")
                    }
                    i += 2
                } else if w[i] == "reverse" {
                    ref.reverse = true; i += 1
                } else {
                    ctx.diag.error(line.location, "\(what) \(w[0]): unknown option '\(w[i])' - expected 'weight N [reverse]'")
                    i += 1
                }
            }
            out.append(ref)
        }
        return out
    }

    static let scopes: Set<String> = ["global", "site", "link", "host", "nowhere"]

    static func virtualAddresses(_ s: Statement, _ ctx: inout Context) -> [VirtualAddress] {
        virtualAddressLines(s, &ctx).map(\.address)
    }

    /// The addresses of a `virtual_ipaddress` block, each with its line.
    static func virtualAddressLines(_ s: Statement, _ ctx: inout Context) -> [(address: VirtualAddress, location: SourceLocation)] {
        guard let block = s.block else {
            ctx.diag.error(s.location, "'\(s.keyword)' needs a block: \(s.keyword) { ... }")
            return []
        }
        var out: [(address: VirtualAddress, location: SourceLocation)] = []
        for line in block {
            let w = line.words
            // Empty pieces kept: "", "/" and "10.0.0.1/" must reach the checks below, not vanish.
            let parts = w[0].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !w[0].isEmpty else {
                ctx.diag.error(line.location, "VRRP parsed invalid IP \"\" (an empty string). skipping IP...")
                continue
            }
            // The samples' <your_virtual_ip> (the tutorial's placeholder): keepalived would skip
            // it and run without a VIP; an operator who forgot the one edit needs to be told.
            if w[0].hasPrefix("<") && w[0].hasSuffix(">") {
                ctx.diag.error(line.location, "replace \(w[0]) with your virtual IP address (an unused address of the interface's subnet)")
                continue
            }
            guard let a = IPv4Address(parts[0]) else {
                if parts[0].contains(":") {
                    ctx.diag.warning(line.location, "IPv6 address \(w[0]) is not supported by vrrpd (IPv4 only); skipping")
                } else {
                    ctx.diag.error(line.location, "VRRP parsed invalid IP \(w[0]). skipping IP...")
                }
                continue
            }
            var v = VirtualAddress(address: a)
            if parts.count == 2 {
                if let n = Int(parts[1]), (0...32).contains(n) { v.prefixLength = n } else {
                    ctx.diag.error(line.location, "Invalid address prefix len \(parts[1]) for address \(w[0]) - using 32")
                }
            }
            var i = 1
            func next() -> String? {
                guard i + 1 < w.count, !w[i + 1].isEmpty else {
                    ctx.diag.error(line.location, "'\(w[i])' needs a value in virtual address \(w[0])")
                    i += 1
                    return nil
                }
                i += 1
                return w[i]
            }
            while i < w.count {
                switch w[i] {
                case "brd":
                    if let t = next() {
                        if let b = IPv4Address(t) { v.broadcast = b } else { ctx.diag.error(line.location, "invalid broadcast address '\(t)'") }
                    }
                case "dev": v.device = next()
                case "scope":
                    if let t = next() {
                        if scopes.contains(t) || UInt8(t) != nil { v.scope = t } else {
                            ctx.diag.error(line.location, "invalid scope '\(t)' - expected one of \(scopes.sorted().joined(separator: ", "))")
                        }
                    }
                case "label": v.label = next()
                case "no_track", "preferred_lft", "home", "nodad", "noprefixroute", "autojoin", "peer",
                     "mngtmpaddr", "valid_lft", "track_group":
                    ctx.diag.warning(line.location, "virtual address option '\(w[i])' is valid for keepalived but not supported by vrrpd; ignored")
                    if ["preferred_lft", "peer", "valid_lft", "track_group"].contains(w[i]) { i += 1 }
                default:
                    ctx.diag.error(line.location, "unknown virtual address option '\(w[i])' for \(w[0]) - expected brd, dev, scope or label")
                }
                i += 1
            }
            if let l = v.label, l.utf8.count > 15 {
                ctx.diag.error(line.location, "label '\(l)' is longer than 15 characters")
                v.label = nil
            }
            out.append((v, line.location))
        }
        return out
    }

    static let instance = Section<InstanceConfig>(
        name: "vrrp_instance",
        handlers: [
            "state": { i, s, ctx in
                guard let t = arg(s, 0, &ctx, what: "state") else { return }
                switch t {
                case "MASTER": i.initialState = .master
                case "BACKUP": i.initialState = .backup
                default: ctx.diag.error(s.location, "(\(i.name)) unknown state '\(t)', defaulting to BACKUP - expected MASTER or BACKUP")
                }
            },
            "interface": { i, s, ctx in
                i.interface = arg(s, 0, &ctx, what: "interface name")
                i.interfaceLocation = s.location
            },
            "virtual_router_id": { i, s, ctx in
                guard let t = arg(s, 0, &ctx, what: "number") else { return }
                guard let v = Int(t), (1...255).contains(v) else {
                    ctx.diag.error(s.location, "(\(i.name)): VRID '\(t)' not valid - must be between 1 & 255")
                    return
                }
                i.vrid = v
            },
            "priority": { i, s, ctx in if let v = int(s, 0, 1...255, &ctx) { i.priority = v } },
            "advert_int": { i, s, ctx in if let v = decimal(s, 0, 0.01...255, &ctx) { i.advertInterval = v } },
            "nopreempt": { i, s, ctx in noArgs(s, &ctx); i.nopreempt = true },
            "preempt": { i, s, ctx in noArgs(s, &ctx); i.nopreempt = false },
            "preempt_delay": { i, s, ctx in if let v = decimal(s, 0, 0...1000, &ctx) { i.preemptDelay = v } },
            "authentication": { i, s, ctx in
                guard let block = s.block else { ctx.diag.error(s.location, "'authentication' needs a block"); return }
                var type: String?
                for l in block {
                    switch l.keyword {
                    case "auth_type": type = l.args.first
                    case "auth_pass":
                        guard let p = l.args.first else { ctx.diag.error(l.location, "'auth_pass' requires a password"); continue }
                        if p.utf8.count > 8 { ctx.diag.warning(l.location, "(\(i.name)) Truncating auth_pass to 8 characters") }
                        i.authPass = String(decoding: Array(p.utf8.prefix(8)), as: UTF8.self)
                    default:
                        var msg = "Unknown keyword '\(l.keyword)' in authentication"
                        if let g = didYouMean(l.keyword, ["auth_type", "auth_pass"]) { msg += " - did you mean '\(g)'?" }
                        ctx.diag.error(l.location, msg)
                    }
                }
                switch type {
                case "PASS": break
                case "AH": ctx.diag.error(s.location, "(\(i.name)) auth_type AH is not supported by vrrpd (keepalived deprecated it) - use PASS or none")
                case nil: ctx.diag.error(s.location, "(\(i.name)) authentication without auth_type")
                case let t?: ctx.diag.error(s.location, "(\(i.name)) unknown authentication type '\(t)' - expected PASS")
                }
                if i.authPass == nil && type == "PASS" { ctx.diag.error(s.location, "(\(i.name)) auth_type PASS without auth_pass") }
            },
            "unicast_src_ip": { i, s, ctx in
                if let t = arg(s, 0, &ctx, what: "address"), let a = address(s, t, &ctx) { i.unicastSource = a }
            },
            "mcast_src_ip": { i, s, ctx in
                if let t = arg(s, 0, &ctx, what: "address"), let a = address(s, t, &ctx) { i.mcastSource = a }
            },
            "unicast_peer": { i, s, ctx in
                guard let block = s.block else { ctx.diag.error(s.location, "'unicast_peer' needs a block"); return }
                for l in block {
                    guard let a = IPv4Address(l.keyword) else {
                        ctx.diag.error(l.location, "(\(i.name)) invalid unicast peer address '\(l.keyword)'")
                        continue
                    }
                    if !l.args.isEmpty {
                        ctx.diag.warning(l.location, "unicast_peer option(s) '\(l.args.joined(separator: " "))' are valid for keepalived but not supported by vrrpd; ignored")
                    }
                    i.unicastPeers.append(a)
                }
            },
            "virtual_ipaddress": { i, s, ctx in
                for (address, location) in virtualAddressLines(s, &ctx) {
                    i.virtualAddresses.append(address)
                    i.virtualAddressLocations[address] = location
                }
            },
            "virtual_ipaddress_excluded": { i, s, ctx in i.excludedAddresses += virtualAddresses(s, &ctx) },
            "track_interface": { i, s, ctx in i.trackInterfaces += trackList(s, &ctx, what: "track_interface") },
            "track_script": { i, s, ctx in i.trackScripts += trackList(s, &ctx, what: "track_script") },
            "track_proxyd": { i, s, ctx in i.trackProxyd += trackList(s, &ctx, what: "track_proxyd") },
            "notify_master": { i, s, ctx in i.notify.master = notifyScript(s, &ctx) },
            "notify_backup": { i, s, ctx in i.notify.backup = notifyScript(s, &ctx) },
            "notify_fault": { i, s, ctx in i.notify.fault = notifyScript(s, &ctx) },
            "notify_stop": { i, s, ctx in i.notify.stop = notifyScript(s, &ctx) },
            "notify": { i, s, ctx in i.notify.generic = notifyScript(s, &ctx) },
            "garp_master_delay": { i, s, ctx in if let v = decimal(s, 0, 0...3600, &ctx) { i.garpMasterDelay = v } },
            "garp_master_repeat": { i, s, ctx in if let v = int(s, 0, 0...1000, &ctx) { i.garpMasterRepeat = v } },
            "garp_master_refresh": { i, s, ctx in if let v = decimal(s, 0, 0...86400, &ctx) { i.garpMasterRefresh = v } },
            "garp_master_refresh_repeat": { i, s, ctx in if let v = int(s, 0, 1...1000, &ctx) { i.garpMasterRefreshRepeat = v } },
            "garp_lower_prio_repeat": { i, s, ctx in if let v = int(s, 0, 0...1000, &ctx) { i.garpLowerPrioRepeat = v } },
            "version": { i, s, ctx in if let v = int(s, 0, 2...3, &ctx) { i.version = v } },
            "skip_check_adv_addr": { i, s, ctx in i.skipCheckAdvAddr = s.args.first.map { $0 != "off" && $0 != "false" } ?? true },
            "dont_track_primary": { i, s, ctx in noArgs(s, &ctx); i.dontTrackPrimary = true },
            "accept": { _, s, ctx in noArgs(s, &ctx) /* vrrpd never filters traffic to VIPs: accept is its only mode */ },
        ],
        unsupported: Dictionary(uniqueKeysWithValues: [
            "use_vmac", "vmac_xmit_base", "native_ipv6", "track_file", "track_process", "track_bfd",
            "unicast_ttl", "garp_lower_prio_delay", "lower_prio_no_advert", "higher_prio_send_advert",
            "virtual_routes", "virtual_rules", "no_accept", "strict_mode", "smtp_alert",
            "notify_master_rx_lower_pri", "notify_deleted", "debug", "linkbeat_use_polling",
            "kernel_rx_buf_size", "check_unicast_src", "old_unicast_checksum", "promote_secondaries",
            "unicast_fault_no_peer", "track_src_ip", "mcast_dst_ip",
        ].map { ($0, Optional<String>.none) }))

    // MARK: vrrp_sync_group

    static let syncGroup = Section<SyncGroupConfig>(
        name: "vrrp_sync_group",
        handlers: [
            "group": { g, s, ctx in
                guard let block = s.block else { ctx.diag.error(s.location, "'group' needs a block"); return }
                for l in block { g.members += l.words }
            },
            "notify_master": { g, s, ctx in g.notify.master = notifyScript(s, &ctx) },
            "notify_backup": { g, s, ctx in g.notify.backup = notifyScript(s, &ctx) },
            "notify_fault": { g, s, ctx in g.notify.fault = notifyScript(s, &ctx) },
            "notify_stop": { g, s, ctx in g.notify.stop = notifyScript(s, &ctx) },
            "notify": { g, s, ctx in g.notify.generic = notifyScript(s, &ctx) },
        ],
        unsupported: ["smtp_alert": nil, "global_tracking": nil, "sync_group_tracking_weight": nil,
                      "track_interface": "track in the member instances", "track_script": "track in the member instances",
                      "track_file": nil, "track_process": nil, "track_bfd": nil, "notify_priority_changes": nil])

    // MARK: whole-config checks

    static func validate(_ config: inout VRRPConfig, _ ctx: inout Context) {
        let g = config.global
        var seen: [String: String] = [:]
        for idx in config.instances.indices {
            var i = config.instances[idx]
            let loc = i.location
            i.trackScripts = i.trackScripts.filter { ref in
                if config.script(named: ref.name) == nil {
                    ctx.diag.warning(loc, "(\(i.name)) track script \(ref.name) not found, ignoring...")
                    return false
                }
                return true
            }
            config.instances[idx].trackScripts = i.trackScripts
            validateProxydRefs(&i, config, &ctx)
            config.instances[idx].trackProxyd = i.trackProxyd
            guard let vrid = i.vrid else {
                ctx.diag.error(loc, "(\(i.name)) the virtual router id must be set")
                continue
            }
            if i.interface == nil {
                ctx.diag.warning(loc, "(\(i.name)) no interface given - using default interface \(g.defaultInterface)")
                i.interface = g.defaultInterface
            }
            let key = "\(i.interface!)/\(vrid)"
            if let other = seen[key] {
                ctx.diag.error(loc, "(\(i.name)) VRID \(vrid) is already used by \(other) on \(i.interface!)")
            }
            seen[key] = i.name
            let version = i.effectiveVersion(g)
            if version == 2 && i.advertInterval != i.advertInterval.rounded() {
                ctx.diag.warning(loc, "(\(i.name)) VRRPv2 advert_int must be whole seconds - using \(max(1, Int(i.advertInterval)))")
                i.advertInterval = Double(max(1, Int(i.advertInterval)))
            }
            if version == 3 && i.advertInterval > 40.95 {
                ctx.diag.error(loc, "(\(i.name)) VRRPv3 advert_int \(fmt(i.advertInterval)) is above 40.95 seconds")
            }
            if version == 3 && i.authPass != nil {
                ctx.diag.warning(loc, "(\(i.name)) VRRP version 3 does not support authentication. Ignoring.")
                i.authPass = nil
            }
            if g.strict {
                if i.authPass != nil {
                    ctx.diag.warning(loc, "(\(i.name)) Strict mode does not support authentication. Ignoring.")
                    i.authPass = nil
                }
                if !i.unicastPeers.isEmpty {
                    ctx.diag.error(loc, "(\(i.name)) Strict mode does not support unicast peers")
                }
                if i.virtualAddresses.count > 20 {
                    ctx.diag.error(loc, "(\(i.name)) Strict mode: more than 20 virtual addresses")
                }
            }
            // The advert's address count is one byte: more would go out with a wrong count.
            if i.virtualAddresses.count > 255 {
                ctx.diag.error(loc, "(\(i.name)) \(i.virtualAddresses.count) virtual addresses: an advert carries at most 255 (move the rest to virtual_ipaddress_excluded)")
            }
            if i.nopreempt && i.initialState == .master {
                ctx.diag.warning(loc, "(\(i.name)) Warning - nopreempt will not work with initial state MASTER - clearing")
                i.initialState = .backup
            }
            if i.virtualAddresses.isEmpty {
                ctx.diag.warning(loc, "(\(i.name)) No VIP specified; VRRP still runs, nothing moves")
            }
            if i.priority == 255 && (i.trackScripts.contains { ($0.weight ?? config.script(named: $0.name)?.weight ?? 0) != 0 }
                                     || i.trackInterfaces.contains { ($0.weight ?? 0) != 0 }) {
                ctx.diag.warning(loc, "(\(i.name)) priority 255 (address owner) never changes: tracking weights only matter below 255")
            }
            config.instances[idx] = i
        }
        var grouped: [String: String] = [:]
        for g in config.syncGroups {
            if g.members.isEmpty { ctx.diag.error(g.location, "vrrp_sync_group \(g.name) has no group { } members") }
            for m in g.members {
                if !config.instances.contains(where: { $0.name == m }) {
                    ctx.diag.error(g.location, "vrrp_sync_group \(g.name): unknown vrrp_instance '\(m)'")
                }
                if let other = grouped[m] {
                    ctx.diag.error(g.location, "vrrp_instance \(m) is already in sync group \(other)")
                }
                grouped[m] = g.name
            }
        }
        if config.instances.isEmpty {
            ctx.diag.warning(nil, "No VRRP instances defined")
        }
    }
}
