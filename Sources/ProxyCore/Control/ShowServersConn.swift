/// `show servers conn [<backend>]`: each server's connections in use and idle, with
/// HAProxy 2.6's header and column order (one `idle_per_thr` column per event loop, in
/// the group's order).
///
/// As in HAProxy, an idle connection is "safe" once it has been reused, "unsafe" after a
/// single request (haproxy 2.6.12: four clients with one request each left `unsafe_nb 2
/// safe_nb 0`). `idle_lim` is -1, HAProxy's value without `pool-max-conn`.
enum ShowServersConn {
    static func text(_ args: [String], _ context: StatsContext) -> String {
        var proxies = context.proxies.filter { $0.backend != nil }
        if args.count > 3 {
            guard let proxy = proxies.first(where: { $0.name == args[3] }) else { return "Can't find backend.\n" }
            proxies = [proxy]
        }
        let loops = context.runtime.loopStates.ordered
        var out = "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est"
            + " unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[\(loops.count)]\n"
        for proxy in proxies {
            guard let backend = proxy.backend else { continue }
            for server in backend.servers {
                let pool = Figures(loops, backend, server)
                let address = server.address
                var fields = [
                    "\(backend.name)/\(server.name)", "\(proxy.id)/\(server.id)",
                    StatsContext.ipText(address), String(address.port ?? 0), "-",
                    String(server.poolPurgeDelayMs), String(pool.used), String(pool.usedMax), String(pool.needed),
                    String(pool.idle - pool.safe), String(pool.safe), "-1", String(pool.idle),
                ]
                fields += pool.idlePerLoop.map(String.init)
                out += fields.joined(separator: " ") + "\n"
            }
        }
        return out
    }

    /// One server's pool over all event loops (also the stats' `srv_icur` and neighbours).
    struct Figures {
        var idlePerLoop: [Int]
        var idle: Int
        var safe: Int
        var used: Int
        var usedMax: Int
        var needed: Int

        init(_ loops: [LoopState], _ backend: RuntimeBackend, _ server: RuntimeServer) {
            let gauges = loops.map { $0.poolGauge(server) }
            idlePerLoop = gauges.map { max(0, $0.idle.load(ordering: .relaxed)) }
            idle = idlePerLoop.reduce(0, +)
            safe = min(idle, gauges.reduce(0) { $0 + max(0, $1.safe.load(ordering: .relaxed)) })
            used = max(0, server.currentConnections.load(ordering: .relaxed))
            usedMax = max(used, gauges.map { $0.usedMax.load(ordering: .relaxed) }.max() ?? 0)
            // The estimate never falls below what this period used (HAProxy shows the
            // same between two purges: used_max 50 gave need_est 50).
            needed = max(usedMax, gauges.map { $0.neededEstimate.load(ordering: .relaxed) }.max() ?? 0)
        }
    }
}
