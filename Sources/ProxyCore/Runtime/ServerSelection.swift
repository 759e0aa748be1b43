/// The outcome of asking a backend for a server.
enum ServerChoice {
    case server(RuntimeServer)
    /// Usable servers exist but each is at its `maxconn`: the request waits in the queue.
    case allFull
    /// No server is usable (all DOWN, disabled or in maintenance): 503.
    case noneUsable
}

extension LoopState {
    /// Picks a server of `backend` for a new connection, as `balance` says.
    /// `avoiding` is the server that just failed, for `option redispatch`.
    func chooseServer(in backend: RuntimeBackend, avoiding: RuntimeServer? = nil) -> ServerChoice {
        let servers = backend.servers
        var sawFull = false
        // Active servers first; backups only when no active server is usable.
        for wantBackup in [false, true] {
            let count = servers.count
            guard count > 0 else { break }
            let start = cursors[backend.index]
            var usableSeen = false
            for step in 0..<count {
                let index = (start + step) % count
                let server = servers[index]
                guard server.isBackup == wantBackup, server.isUsable.load(ordering: .relaxed) else { continue }
                if server === avoiding, count > 1 { continue }
                usableSeen = true
                if server.isFull { sawFull = true; continue }
                cursors[backend.index] = index + 1
                return .server(server)
            }
            if usableSeen { break }
        }
        return sawFull ? .allFull : .noneUsable
    }
}
