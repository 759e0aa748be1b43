/// `source ADDR[:PORT] [usesrc ADDR[:PORT]|client|clientip]` (backend, defaults, server):
/// the address proxyd's connections to a server leave from. With `usesrc`, the socket is
/// transparent (IP_TRANSPARENT) and leaves from an address that is not this host's: the
/// client's (`client` with its port, `clientip` without) or a fixed one; the network must
/// route the server's answers back through this host (TPROXY), as for HAProxy.
public struct SourceBinding: Sendable, Equatable {
    public enum Transparent: Sendable, Equatable {
        case client
        case clientIP
        case address(IPAddress, port: Int)
    }

    /// The local address to bind (port 0: any).
    public var address: IPAddress
    public var port: Int
    public var transparent: Transparent?

    public init(address: IPAddress, port: Int = 0, transparent: Transparent? = nil) {
        self.address = address
        self.port = port
        self.transparent = transparent
    }
}
