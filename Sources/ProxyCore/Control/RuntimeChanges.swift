/// Runtime changes the runtime API makes besides server status (ProxyRuntime.updateServer).
extension ProxyRuntime {
    /// `set maxconn server`: the limit every loop's balancer and the queue use (0 = none).
    func setMaxConnections(_ limit: Int, server: RuntimeServer, in backend: RuntimeBackend) {
        server.maxConnectionsValue.store(max(0, limit), ordering: .relaxed)
        for state in loopStates.all {
            state.eventLoop.execute {
                state.balancers[backend.index].setMaxConnections(limit > 0 ? limit : nil, server: server.index)
                // A higher limit frees slots for requests waiting in the queue.
                state.serveQueue(backend.index)
            }
        }
    }
}
