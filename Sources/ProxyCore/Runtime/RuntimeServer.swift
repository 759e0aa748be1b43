import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// A server as the running proxy sees it: its identity from the config plus the state
/// that changes at run time. Shared by all event loops, so mutable state is atomic.
public final class RuntimeServer: @unchecked Sendable {
    public let name: String
    /// Position in the backend's server list: the balancer and per-loop pools index by it.
    public let index: Int
    /// Added by the runtime API's `add server` (issue 15), with the settings it was given
    /// (config servers' settings are the backend's `ProxySettings.servers[index]`).
    public internal(set) var dynamicSettings: ServerSettings?
    /// `track [B/]S` (issue 15): the server whose state this one follows, as `B/S` for
    /// the messages, and the servers that follow this one. Set once at build time.
    var tracked: (server: RuntimeServer, path: String)?
    var trackers: [(server: RuntimeServer, backend: RuntimeBackend)] = []
    /// `add server … enabled`: ready from the start (`show servers state` shows it).
    var readyWhenAdded = false
    /// Taken out by `del server`: no longer listed, never picked again. Sessions that
    /// still hold it finish as they would with a server in maintenance.
    public let isDeleted = ManagedAtomic(false)
    /// This server's idle pool figures on each event loop (by `LoopState.ordinal`), read
    /// by `show servers conn` from the control thread. Set before the server is
    /// published to the data path (LoopStates, DynamicServers), read-only after.
    var idlePoolGauges: [IdlePoolGauge] = []
    /// Where connections go; `set server B/S addr` may change it (issue 4), so it is
    /// read through an atomic reference: one load per connection, no lock.
    public var address: SocketAddress { currentAddress.load(ordering: .acquiring).value }
    private let currentAddress: ManagedAtomic<ServerAddressBox>
    /// The address from the config (`show servers state`, stats `addr` before a change).
    public let initialAddress: SocketAddress
    public let initialWeight: Int
    public let isBackup: Bool
    /// `maxconn` on the server line; nil means unlimited. Atomic (0 = unlimited) so that
    /// `set maxconn server` can change it (issue 4).
    public var maxConnections: Int? {
        let limit = maxConnectionsValue.load(ordering: .relaxed)
        return limit > 0 ? limit : nil
    }
    let maxConnectionsValue: ManagedAtomic<Int>
    /// HAProxy's server id (`id`, default position + 1).
    public let id: Int

    /// Connections currently open to this server (all loops): the slots the backend's
    /// balancer counts, mirrored for the statistics.
    public let currentConnections = ManagedAtomic<Int>(0)
    /// Connections ever opened to this server (HAProxy's `stot`).
    public let totalConnections = ManagedAtomic<Int>(0)
    /// Administrative and health state: false while disabled, in maintenance or DOWN.
    /// Read on the data path; written only through `ProxyRuntime.updateServer`.
    public let isUsable: ManagedAtomic<Bool>
    /// Usable with a weight above 0: what HAProxy counts as "active/backup servers online".
    /// Written with `isUsable`; a state change counts its backend's servers with one
    /// load each, without taking 10,000 status locks (HealthMonitor.counts).
    public let isOnline: ManagedAtomic<Bool>
    /// The full state behind `isUsable`, for the stats page, the runtime API and checks.
    public let status: NIOLockedValueBox<ServerStatus>
    /// TLS (issue 5): `ssl` on the server line; set by RuntimeBuilder through TLSSetup.
    public internal(set) var tls: TLSClientContext?
    /// Health-check results (last check and agent status, codes, durations, last change);
    /// nil without `check`/`agent-check`. Set once at build time (Health/HealthMonitor).
    public internal(set) var health: ServerHealth?
    /// Traffic of this server for the stats page and the runtime API (issue 4).
    public let counters = SessionCounters()
    /// DNS service discovery (issue 15): nil unless the server says `resolvers`. Set once
    /// at build time.
    public internal(set) var dns: ServerDNSState?
    /// `pool-purge-delay`: every this many milliseconds, half of the connections idle
    /// that long are closed (IdlePoolPurge); 0 keeps none idle.
    public let poolPurgeDelayMs: Int
    /// TLS (issue 5): the context health checks use (`check-ssl`, or a `server … ssl`
    /// without `no-check-ssl`); nil = plain checks. See `makeCheckTLSHandler`.
    public internal(set) var checkTLS: TLSClientContext?
    /// `source`: the server's own, else its backend's (Model/SourceBinding.swift).
    public internal(set) var source: SourceBinding? {
        didSet {
            switch source?.transparent {
            case nil, .address?: fixedSource = source?.localAddress(client: nil)
            case .client?, .clientIP?: fixedSource = nil
            }
        }
    }
    /// The address to bind when it does not depend on the client, made once (not a
    /// String and a SocketAddress per connection).
    private(set) var fixedSource: (address: SocketAddress, transparent: Bool)?

    /// `usesrc client|clientip`: each connection binds an address made from the client's.
    var bindsClientAddress: Bool {
        switch source?.transparent {
        case .client?, .clientIP?: return true
        default: return false
        }
    }

    /// What a connection to this server binds first: `clientAddress` serves `usesrc client|clientip`.
    func sourceAddress(client clientAddress: SocketAddress?) -> (address: SocketAddress, transparent: Bool)? {
        if let fixedSource { return fixedSource }
        guard source?.transparent != nil else { return nil }
        return source?.localAddress(client: clientAddress)
    }

    public init(name: String, index: Int, address: SocketAddress, weight: Int,
                isBackup: Bool, maxConnections: Int?, disabled: Bool, id: Int? = nil,
                poolPurgeDelayMs: Int = 5000) {
        self.id = id ?? index + 1
        self.poolPurgeDelayMs = poolPurgeDelayMs
        self.name = name
        self.index = index
        self.currentAddress = ManagedAtomic(ServerAddressBox(address))
        self.initialAddress = address
        self.initialWeight = weight
        self.isBackup = isBackup
        self.maxConnectionsValue = ManagedAtomic(max(0, maxConnections ?? 0))
        self.isUsable = ManagedAtomic(!disabled)
        self.isOnline = ManagedAtomic(!disabled && weight > 0)
        var status = ServerStatus(admin: disabled ? .maintenance : .ready, weight: weight)
        // A server's state starts when it is created (the process start, for proxyd).
        status.lastChange = ProcessClock.milliseconds
        self.status = NIOLockedValueBox(status)
    }

    /// `set server B/S addr`: new connections go to `address` (issue 4).
    public func changeAddress(to address: SocketAddress) {
        currentAddress.store(ServerAddressBox(address), ordering: .releasing)
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

    // Added for the stats page and the runtime API (issue 4), kept by
    // ProxyRuntime.updateServer: when the state last changed (ProcessClock ms), and the
    // time spent DOWN before the current period (ms).
    public var lastChange: Int = 0
    public var downtimeBeforeMs: Int = 0
    /// The weight from the config, for `get weight` (`initial N`) and percentages.
    public var initialWeight: Int = 0
    /// `enable|disable health`: false stops health checks from changing the state.
    public var checksEnabled: Bool = true
    /// Out of service because DNS gives it no address (issue 15: HAProxy's RMAINT,
    /// `MAINT (resolution)`), apart from the operator's maintenance.
    public var resolutionMaintenance: Bool = false
    /// In maintenance because the server it tracks is (`track`, HAProxy's IMAINT: `MAINT
    /// (via B/S)`), apart from the operator's own.
    public var inheritedMaintenance: Bool = false

    public init(admin: Admin, weight: Int) {
        self.admin = admin
        self.weight = weight
        self.initialWeight = weight
    }

    public var isUsable: Bool { admin != .maintenance && !inheritedMaintenance && !resolutionMaintenance && operationalUp }
    /// What a server tracking this one follows: up or down, and in maintenance or not.
    var followed: (up: Bool, maintenance: Bool) { (operationalUp, admin == .maintenance || inheritedMaintenance) }
    /// The weight balancers use: 0 while draining.
    public var effectiveWeight: Int { admin == .drain ? 0 : weight }
}

/// A server address as an atomic reference (issue 4: `set server B/S addr`).
final class ServerAddressBox: AtomicReference, @unchecked Sendable {
    let value: SocketAddress
    init(_ value: SocketAddress) { self.value = value }
}
