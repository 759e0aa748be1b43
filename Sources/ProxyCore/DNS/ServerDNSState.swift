import NIOConcurrencyHelpers

/// What DNS gave one server (issue 15), for `show servers state`, `show stat` and the
/// resolver itself: the name it follows, the record it holds, and whether it has an
/// address at all (a server waiting for its first answer has none: `-`).
public final class ServerDNSState: @unchecked Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// The host name the server follows (`srv_fqdn`); for SRV rows, the record's target.
        public var fqdn: String?
        /// `_service._proto.name` for servers filled from SRV records (`srvrecord`).
        public var srvRecord: String?
        /// The record held; nil: no address (MAINT (resolution)).
        var target: DNSTarget?
        public var hasAddress: Bool
        /// The port from the config (SRV records bring their own).
        public var configuredPort: Int
        /// `set server … fqdn` or an SRV record named the host (HAProxy's SRV_ADMF_HMAINT bit).
        public var hostnameFromRuntime: Bool = false
        /// Once stopped for want of an address, HAProxy's health counter of an unchecked
        /// server stays 0 (`show servers state`), even after DNS gave it one.
        public var wasStopped: Bool = false
    }

    public let resolvers: String
    /// `init-addr` starts with or holds `last`: a reload gives the server the address the
    /// old process had (Runtime/ServerStateCarry), HAProxy's server-state file in effect.
    public internal(set) var takesLastAddress = false
    private let state: NIOLockedValueBox<Snapshot>

    init(resolvers: String, snapshot: Snapshot) {
        self.resolvers = resolvers
        self.state = NIOLockedValueBox(snapshot)
    }

    public var snapshot: Snapshot { state.withLockedValue { $0 } }

    func update(_ change: (inout Snapshot) -> Void) { state.withLockedValue { change(&$0) } }
}
