import NIOCore

extension SourceBinding {
    /// The address a connection to a server binds before its connect, and whether it must
    /// be transparent (not an address of this host); nil when nothing needs binding
    /// (`source 0.0.0.0` without a port or `usesrc`), or when `usesrc client` has no client
    /// address to take (a health check).
    func localAddress(client: SocketAddress?) -> (address: SocketAddress, transparent: Bool)? {
        switch transparent {
        case nil:
            if port == 0, address.bytes.allSatisfy({ $0 == 0 }) { return nil }
            return (try? SocketAddress(ipAddress: address.description, port: port)).map { ($0, false) }
        case .client?, .clientIP?:
            guard let client, let ip = client.ipAddress else { return nil }
            let port = transparent == .client ? (client.port ?? 0) : 0
            return (try? SocketAddress(ipAddress: ip, port: port)).map { ($0, true) }
        case .address(let ip, let port)?:
            return (try? SocketAddress(ipAddress: ip.description, port: port)).map { ($0, true) }
        }
    }
}
