import Shared

/// One `peer NAME ADDR:PORT` (or `server NAME [ADDR:PORT]`) of a `peers` section.
public struct PeerDefinition: Sendable, Hashable {
    public var name: String
    /// Where the peer listens; nil for a `server NAME` written without an address
    /// (HAProxy accepts it and never connects to it).
    public var host: String?
    public var port: Int?
    public var location: SourceLocation?

    public init(name: String, host: String?, port: Int?, location: SourceLocation? = nil) {
        self.name = name
        self.host = host
        self.port = port
        self.location = location
    }
}

/// A `peers NAME` section: the processes that replicate the stick tables naming it, one
/// of which is this process (the peer named as the local peer: `-L`, `localpeer`, else
/// the host name).
public struct PeersSection: Sendable, Hashable {
    public var name: String
    public var location: SourceLocation?
    /// Every peer, the local one included, in file order.
    public var peers: [PeerDefinition] = []
    /// The local peer's name as it was when the section was read.
    public var localPeerName: String
    /// The address the local peer listens on: `bind ADDR:PORT`, else the local `peer`
    /// line's address.
    public var bindHost: String?
    public var bindPort: Int?
    /// `disabled`: the section replicates nothing.
    public var disabled = false
    /// `table NAME type … size …`: tables declared in the section, named `SECTION/NAME`.
    public var tables: [StickTableDefinition] = []

    public init(name: String, localPeerName: String, location: SourceLocation? = nil) {
        self.name = name
        self.localPeerName = localPeerName
        self.location = location
    }

    /// The peers this process talks to: every one but the local one that has an address.
    public var remotePeers: [PeerDefinition] {
        peers.filter { $0.name != localPeerName && $0.host != nil && $0.port != nil }
    }

    public var hasLocalPeer: Bool { peers.contains { $0.name == localPeerName } }
}
