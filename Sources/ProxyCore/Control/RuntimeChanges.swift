/// Runtime changes the runtime API makes besides server status (ProxyRuntime.updateServer).
extension ProxyRuntime {
    /// `set maxconn server`: the limit the backend's balancer and queue use (0 = none).
    /// A higher limit lets requests waiting in the queue through.
    func setMaxConnections(_ limit: Int, server: RuntimeServer, in backend: RuntimeBackend) {
        server.maxConnectionsValue.store(max(0, limit), ordering: .relaxed)
        backend.balancer.setMaxConnections(limit > 0 ? limit : nil, server: server)
    }
}
