/// The operator's state of a server (ready, drain, maintenance) changed by the runtime API,
/// the stats page's admin form or an agent's word, with the sentence HAProxy 2.6 logs on
/// the backend and prints on standard error for each change.
extension ProxyRuntime {
    func setAdmin(_ wanted: ServerStatus.Admin, of server: RuntimeServer, in backend: RuntimeBackend) {
        // An agent repeats its word every check: no change, no update and no sentence.
        let current = server.status.withLockedValue { $0.admin }
        guard current != wanted else { return }
        updateServer(server, in: backend) { $0.admin = wanted }
        let name = "\(backend.name)/\(server.name)"
        let kind = server.isBackup ? "Backup Server" : "Server"  // HAProxy's words for a backup
        let (active, backup) = backend.onlineCounts
        let onBackup = active == 0 && backup > 0 ? " Running on backup." : ""
        switch wanted {
        case .drain:
            announce(.notice, "\(kind) \(name) enters drain state. \(active) active and \(backup) backup servers online."
                     + "\(onBackup) 0 sessions requeued, 0 total in queue.", on: backend)
            announceNoServerLeft(backend)
        case .maintenance:
            announce(.alert, "\(kind) \(name) is going DOWN for maintenance. \(active) active and \(backup) backup servers "
                     + "left.\(onBackup) \(server.currentConnections.load(ordering: .relaxed)) sessions active, 0 requeued, "
                     + "0 remaining in queue.", on: backend)
            announceNoServerLeft(backend)
        case .ready where current == .drain:
            announce(.notice, "\(kind) \(name) is \(server.isUsable.load(ordering: .relaxed) ? "UP" : "DOWN") (leaving forced drain).",
                     on: backend)
        case .ready:
            announce(.notice, "\(kind) \(name) is \(server.isUsable.load(ordering: .relaxed) ? "UP" : "DOWN")/READY "
                     + "(leaving forced maintenance).", on: backend)
        }
    }

    /// Logged at `level` on the backend's logs and, as HAProxy's `ha_warning`, printed on
    /// standard error whatever the level.
    func announce(_ level: LogTarget.Level, _ message: String, on backend: RuntimeBackend) {
        backend.logger?.log(level, message)
        ConsoleEcho.warning(message)
    }

    /// The log says `backend app has no server available!`, stderr (ha_alert) quotes the name.
    func announceNoServerLeft(_ backend: RuntimeBackend) {
        let (active, backup) = backend.onlineCounts
        guard active == 0 && backup == 0 else { return }
        backend.logger?.log(.emerg, "backend \(backend.name) has no server available!")
        ConsoleEcho.alert("backend '\(backend.name)' has no server available!")
    }
}

extension RuntimeBackend {
    /// Usable active and backup servers (as HAProxy counts them: a draining server, with
    /// no weight, is not counted).
    var onlineCounts: (active: Int, backup: Int) {
        var active = 0, backup = 0
        for server in servers where server.isOnline.load(ordering: .relaxed) {
            if server.isBackup { backup += 1 } else { active += 1 }
        }
        return (active, backup)
    }
}
