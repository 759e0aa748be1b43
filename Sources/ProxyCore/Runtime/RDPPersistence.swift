import Atomics
import NIOCore

/// `persist rdp-cookie[(NAME)]` (issue 15): a `mode tcp` connection whose first packet
/// carries `Cookie: msts=ADDRESS.PORT.…` goes to the server at that IPv4 address and port,
/// while it is usable (or always, with `option persist`), before `stick` rules and
/// balancing, as HAProxy's persistence analyser runs before them.
struct RDPPersistence {
    let name: [UInt8]
    let whileDown: Bool

    init(name: String, whileDown: Bool) {
        self.name = Array(name.utf8)
        self.whileDown = whileDown
    }

    /// The server the payload's cookie names, if any.
    func server(for payload: [UInt8], in servers: [RuntimeServer]) -> RuntimeServer? {
        guard case .value(let range) = RDPCookie.find(in: payload, name: name), !range.isEmpty,
              let target = RDPCookie.serverAddress(payload[range]) else { return nil }
        return servers.first { server in
            guard case .v4(let v4) = server.address else { return false }
            let address = withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) }
            return address == target.address && Int(UInt16(bigEndian: v4.address.sin_port)) == target.port
                && (whileDown || server.isUsable.load(ordering: .relaxed))
        }
    }
}
