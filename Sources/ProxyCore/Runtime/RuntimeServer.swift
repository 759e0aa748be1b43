import Atomics
import NIOCore

/// A server as the running proxy sees it: its identity from the config plus the state
/// that changes at run time. Shared by all event loops, so mutable state is atomic.
public final class RuntimeServer: @unchecked Sendable {
    public let name: String
    /// Position in the backend's server list: balancers and per-loop pools index by it.
    public let index: Int
    public let address: SocketAddress
    public let initialWeight: Int
    public let isBackup: Bool
    /// `maxconn` on the server line; nil means unlimited.
    public let maxConnections: Int?
    /// HAProxy's server id (`id`, default position + 1).
    public let id: Int

    /// Connections currently open to this server (all loops).
    public let currentConnections = ManagedAtomic<Int>(0)
    /// Connections ever opened to this server (HAProxy's `stot`).
    public let totalConnections = ManagedAtomic<Int>(0)
    /// Administrative and health state: false while disabled, in maintenance or DOWN.
    public let isUsable: ManagedAtomic<Bool>

    public init(name: String, index: Int, address: SocketAddress, weight: Int,
                isBackup: Bool, maxConnections: Int?, disabled: Bool, id: Int? = nil) {
        self.id = id ?? index + 1
        self.name = name
        self.index = index
        self.address = address
        self.initialWeight = weight
        self.isBackup = isBackup
        self.maxConnections = maxConnections
        self.isUsable = ManagedAtomic(!disabled)
    }

    /// True when a new connection would exceed `maxconn`.
    var isFull: Bool {
        guard let limit = maxConnections, limit > 0 else { return false }
        return currentConnections.load(ordering: .relaxed) >= limit
    }
}
