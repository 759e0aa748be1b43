/// `track [B/]S` (issue 15): a server that follows another's health and maintenance, as
/// HAProxy's does: DOWN when the tracked server goes DOWN, `MAINT (via B/S)` while it is
/// in maintenance, back with it. A tracked server's changes reach its trackers through
/// `ProxyRuntime.updateServer`, and from them their own trackers (a chain).
extension ProxyRuntime {
    /// Links each tracking server to the one it tracks, once every backend is built (the
    /// config's validation made sure the tracked server exists and is checked).
    static func linkTrackedServers(_ config: ProxyConfiguration, backends: [String: RuntimeBackend]) {
        for proxy in config.proxies where proxy.isBackend && !proxy.disabled {
            guard let backend = backends[proxy.name] else { continue }
            for (settings, server) in zip(proxy.servers, backend.servers) {
                guard let (backendName, serverName) = settings.trackedServer(ownBackend: proxy.name),
                      let trackedBackend = backends[backendName],
                      let tracked = trackedBackend.servers.first(where: { $0.name == serverName }) else { continue }
                server.tracked = (tracked, "\(backendName)/\(serverName)")
                tracked.trackers.append((server, backend))
            }
        }
    }

    /// The tracked server's state changed from `before` to `now`: its trackers take it,
    /// each with HAProxy's sentence.
    func propagate(_ now: (up: Bool, maintenance: Bool), from tracked: RuntimeServer,
                   after before: (up: Bool, maintenance: Bool)) {
        for (tracker, backend) in tracked.trackers {
            let via = tracker.tracked?.path ?? ""
            let wasUsable = tracker.status.withLockedValue { $0.isUsable }
            updateServer(tracker, in: backend) {
                $0.operationalUp = now.up
                $0.inheritedMaintenance = now.maintenance
            }
            let status = tracker.status.withLockedValue { $0 }
            let name = "\(backend.name)/\(tracker.name)"
            let kind = tracker.isBackup ? "Backup Server" : "Server"  // HAProxy's words for a backup
            let (active, backup) = backend.onlineCounts
            let sessions = tracker.currentConnections.load(ordering: .relaxed)
            if now.maintenance != before.maintenance {
                if now.maintenance, status.admin != .maintenance {
                    announce(.alert, "\(kind) \(name) is going DOWN for maintenance via \(via). \(active) active and "
                             + "\(backup) backup servers left. \(sessions) sessions active, 0 requeued, 0 remaining in queue.",
                             on: backend)
                } else if !now.maintenance, status.admin != .maintenance {
                    announce(.notice, "\(kind) \(name) is \(status.isUsable ? "UP" : "DOWN")/READY (leaving maintenance).", on: backend)
                }
            } else if wasUsable != status.isUsable {
                if status.isUsable {
                    announce(.notice, "\(kind) \(name) is UP via \(via). \(active) active and \(backup) backup servers "
                             + "online. 0 sessions requeued, 0 total in queue.", on: backend)
                } else {
                    announce(.alert, "\(kind) \(name) is DOWN via \(via). \(active) active and \(backup) backup servers "
                             + "left. \(sessions) sessions active, 0 requeued, 0 remaining in queue.", on: backend)
                }
            }
        }
    }
}
