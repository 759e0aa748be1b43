import Atomics
import NIOConcurrencyHelpers
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
    /// Read on the data path; written only through `ProxyRuntime.updateServer`.
    public let isUsable: ManagedAtomic<Bool>
    /// The full state behind `isUsable`, for the stats page, the runtime API and checks.
    public let status: NIOLockedValueBox<ServerStatus>
    /// TLS (issue 5): `ssl` on the server line; set by RuntimeBuilder through TLSSetup.
    public internal(set) var tls: TLSClientContext?
    /// TLS (issue 5): the context health checks use (`check-ssl`, or a `server … ssl`
    /// without `no-check-ssl`); nil = plain checks. See `makeCheckTLSHandler`.
    public internal(set) var checkTLS: TLSClientContext?

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
        self.status = NIOLockedValueBox(ServerStatus(
            admin: disabled ? .maintenance : .ready, weight: weight))
    }

    /// True when a new connection would exceed `maxconn`.
    var isFull: Bool {
        guard let limit = maxConnections, limit > 0 else { return false }
        return currentConnections.load(ordering: .relaxed) >= limit
    }
}

/// A server's state as HAProxy reports it: the operator's choice (ready, drain,
/// maintenance), what health checks found (up or down), and the weight in force.
public struct ServerStatus: Sendable, Equatable {
    public enum Admin: Sendable, Equatable {
        case ready
        /// No new traffic (weight 0 for balancing), existing sessions go on.
        case drain
        /// Out of service: not used at all (`disabled`, `set server … state maint`).
        case maintenance
    }

    public var admin: Admin
    /// What health checks say; true without checks.
    public var operationalUp: Bool = true
    /// The weight set by the config or at run time (`set server … weight`).
    public var weight: Int
    /// Incremented on every change, for observers.
    public var generation: Int = 0

    public init(admin: Admin, weight: Int) {
        self.admin = admin
        self.weight = weight
    }

    public var isUsable: Bool { admin != .maintenance && operationalUp }
    /// The weight balancers use: 0 while draining.
    public var effectiveWeight: Int { admin == .drain ? 0 : weight }
}
