import NIOConcurrencyHelpers

/// What `show peers` tells of a running `peers` section (Control/ShowPeers.swift). The
/// section keeps it on its event loop and publishes a copy at each event that changes it
/// (a connection tried, made or lost, a heartbeat, a push), so that the runtime API reads
/// it under a lock without waiting for the loop.
struct PeersReport: Sendable {
    struct Table: Sendable {
        /// Our id for the table (1…), its name as it goes on the wire, our last update id.
        var localID: Int
        var name: String
        var update: UInt32
    }

    struct Peer: Sendable {
        var name: String
        var isLocal: Bool
        /// A connection with it exists (established or in its handshake).
        var isActive: Bool
        /// The handshake state HAProxy would show for that connection (its `st0`).
        var sessionState: Int
        var address: String
        var counters: PeerCounters
        /// When the next connection attempt and the next heartbeat are due (process ms).
        var reconnectAt: Int?
        var heartbeatAt: Int?
        /// Per table (our id): the peer's id for it, what it acknowledged, what we pushed,
        /// the last update we received.
        var remoteIDs: [Int: Int] = [:]
        var acknowledged: [Int: UInt32] = [:]
        var pushed: [Int: UInt32] = [:]
        var received: [Int: UInt32] = [:]
        /// Our ids of the table the peer's updates are for now and of the one we last sent.
        var remoteTable: Int?
        var lastLocalTable: Int?
    }

    var name: String
    var startedAt: WallTime
    var disabled: Bool
    var resyncing: Bool
    var taskCalls: Int
    /// In file order.
    var peers: [Peer]
    /// By our id.
    var tables: [Table]
}

/// Per remote peer, as HAProxy counts them (`show peers`'s second line of a peer).
struct PeerCounters: Sendable {
    /// HAProxy's four-letter status of the last exchange: `NONE`, `CONN` (connecting),
    /// `ESTA` (established), `RETR`, `PROT`, `VERS`, `NAME`, `UNKN` (refused hellos).
    var lastStatus = "NONE"
    /// When the last handshake succeeded (process ms).
    var lastHandshake: Int?
    var newConnections = 0
    var protocolErrors = 0
    var collisions = 0
    var sentHeartbeats = 0
    var receivedHeartbeats = 0
    /// Connections dropped for silence.
    var missedHeartbeats = 0

    /// HAProxy's word for a hello's status code.
    static func statusWord(_ code: String) -> String {
        switch code {
        case "200": return "ESTA"
        case "300": return "RETR"
        case "502": return "VERS"
        case "503": return "NAME"
        case "504": return "UNKN"
        default: return "PROT"
        }
    }
}

/// The last published report of one section.
final class PeerStatusBoard: @unchecked Sendable {
    private let lock = NIOLock()
    private var report: PeersReport

    init(_ report: PeersReport) { self.report = report }

    func publish(_ report: PeersReport) { lock.withLock { self.report = report } }
    func read() -> PeersReport { lock.withLock { report } }
}
