import Shared

/// `vrrp_track_proxyd NAME { … }` and its references, vrrpd's own block beside keepalived's
/// `vrrp_script` and `vrrp_track_process`: instead of forking a script per probe, vrrpd keeps a
/// connection to proxyd's control socket and learns at once that proxyd died, is stopping,
/// or has no usable server behind a frontend.
///
///     vrrp_track_proxyd proxyd {
///         socket /run/proxyd/admin.sock
///         frontend http-in
///     }
///     vrrp_instance VI_1 { … track_proxyd { proxyd } }
extension ConfigParser {

    static func proxydTracker(_ s: Statement, into c: inout VRRPConfig, _ ctx: inout Context) {
        guard let name = arg(s, 0, &ctx, what: "name") else { return }
        if c.proxydTrackers.contains(where: { $0.name == name }) {
            ctx.diag.error(s.location, "vrrp_track_proxyd \(name) defined twice")
            return
        }
        var t = ProxydTrackConfig(name: name)
        t.location = s.location
        proxydTrack.runBlock(s, on: &t, ctx: &ctx)
        c.proxydTrackers.append(t)
    }

    static let proxydTrack = Section<ProxydTrackConfig>(
        name: "vrrp_track_proxyd",
        handlers: [
            "socket": { t, s, ctx in
                guard let path = arg(s, 0, &ctx, what: "socket path") else { return }
                guard path.hasPrefix("/") else {
                    ctx.diag.error(s.location, "vrrp_track_proxyd \(t.name): socket '\(path)' must be an absolute path (proxyd's 'stats socket')")
                    return
                }
                guard path.utf8.count < 108 else {
                    ctx.diag.error(s.location, "vrrp_track_proxyd \(t.name): socket path is longer than a Unix socket address allows (107 bytes)")
                    return
                }
                t.socket = path
            },
            "frontend": { t, s, ctx in
                guard !s.args.isEmpty else { ctx.diag.error(s.location, "'frontend' requires a frontend name"); return }
                t.frontends += s.args.filter { !t.frontends.contains($0) }
            },
            "weight": { t, s, ctx in
                if let v = int(s, 0, -253...253, &ctx) { t.weight = v }
                if s.args.count > 1 {
                    if s.args[1] == "reverse" { t.weightReverse = true }
                    else { ctx.diag.error(s.location, "unknown weight option '\(s.args[1])' - expected 'reverse'") }
                }
            },
            "timeout": { t, s, ctx in if let v = decimal(s, 0, 0.01...3600, &ctx) { t.timeout = v } },
            "ping_interval": { t, s, ctx in if let v = decimal(s, 0, 0.01...3600, &ctx) { t.pingInterval = v } },
            "handover": { t, s, ctx in if let v = decimal(s, 0, 0...3600, &ctx) { t.handover = v } },
        ],
        unsupported: [:])

    /// An instance naming a tracker that does not exist: warned and dropped, as keepalived
    /// does for an unknown track_script.
    static func validateProxydRefs(_ i: inout InstanceConfig, _ config: VRRPConfig, _ ctx: inout Context) {
        let name = i.name, loc = i.location
        i.trackProxyd = i.trackProxyd.filter { ref in
            if config.proxydTracker(named: ref.name) == nil {
                var msg = "(\(name)) track_proxyd \(ref.name) not found, ignoring..."
                if let guess = didYouMean(ref.name, config.proxydTrackers.map(\.name)) { msg += " - did you mean '\(guess)'?" }
                ctx.diag.warning(loc, msg)
                return false
            }
            return true
        }
    }
}
