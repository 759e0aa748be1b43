import CLinux  // AF_INET6 and friends: a clean build finds them in CLinux's module
import Glibc
import NIOCore

/// `set-dst EXPR` / `set-dst-port EXPR`, compiled (issue 15): the destination the client's
/// connection is taken to have had. Later rules' `dst`/`dst_port`, the log's `%fi`/`%fp`
/// and `%[dst]`, and a server written `0.0.0.0` or with port 0 (HAProxy's "the address the
/// client connected to") read it.
struct CompiledDestinationRewrite {
    let target: DestinationRewrite.Target
    let sample: CompiledSample

    init(_ rewrite: DestinationRewrite) {
        target = rewrite.target
        sample = CompiledSample(rewrite.expression)
    }

    /// As HAProxy casts the sample: an address, an address's text, or an integer (an IPv4
    /// address in host order); a port is the integer's low 16 bits (99999 is 34463). No
    /// sample, or one that does not cast, leaves the destination as it was.
    func apply(_ facts: inout RequestFacts) {
        guard let value = sample.evaluate(facts, values: facts.connection.values) else { return }
        switch target {
        case .port:
            guard let n = value.integer else { return }
            facts.connection.localPort = n & 0xFFFF
        case .address:
            switch value {
            case .address(let bytes):
                facts.connection.localAddress = bytes
            case .integer(let n):
                let host = UInt32(truncatingIfNeeded: n)
                facts.connection.localAddress = [UInt8(host >> 24), UInt8(host >> 16 & 255), UInt8(host >> 8 & 255), UInt8(host & 255)]
            case .string(let bytes):
                let text = String(decoding: bytes, as: UTF8.self).trimmingSpaces
                var v4 = in_addr(), v6 = in6_addr()
                if inet_pton(AF_INET, text, &v4) == 1 {
                    facts.connection.localAddress = withUnsafeBytes(of: v4.s_addr) { Array($0) }
                } else if inet_pton(AF_INET6, text, &v6) == 1 {
                    facts.connection.localAddress = withUnsafeBytes(of: v6) { Array($0) }
                } else {
                    return
                }
            case .boolean:
                return
            }
        }
        facts.connection.destinationChanged = true
    }
}

/// A frontend's `tcp-request connection|session|content set-dst|set-dst-port` rules, run
/// once when the connection starts, phase by phase as HAProxy orders them (connection,
/// then session, then content), on the connection's facts: in `mode http` content rules
/// see no request here (proxyd's content phase for them has no payload to wait for).
struct DestinationRules {
    let rules: [(CompiledDestinationRewrite, CompiledCondition?)]

    init?(_ proxy: ProxySettings, backends: [String: RuntimeBackend], own: RuntimeBackend?) {
        var rules: [(CompiledDestinationRewrite, CompiledCondition?)] = []
        for phase in [TCPRequestRule.Phase.connection, .session, .content] {
            for rule in proxy.tcpRequestRules where rule.phase == phase {
                guard case .setDestination(let rewrite) = rule.action else { continue }
                rules.append((CompiledDestinationRewrite(rewrite),
                              rule.condition.map { CompiledCondition($0, backends: backends, currentBackend: own) }))
            }
        }
        guard !rules.isEmpty else { return nil }
        self.rules = rules
    }

    func apply(_ connection: inout ConnectionFacts) {
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        var facts = RequestFacts(bytes: empty, head: HTTPRequestHead(), headers: [], connection: connection)
        for (rewrite, condition) in rules where condition?.evaluate(facts) ?? true {
            rewrite.apply(&facts)
        }
        connection = facts.connection
    }
}

extension ConnectionFacts {
    /// The destination (after `set-dst`) as a socket address, nil for a Unix socket.
    var destination: SocketAddress? { Self.socketAddress(localAddress, port: localPort) }

    static func socketAddress(_ bytes: [UInt8], port: Int) -> SocketAddress? {
        let networkPort = UInt16(truncatingIfNeeded: port).bigEndian
        switch bytes.count {
        case 4:
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = networkPort
            withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: bytes) }
            return SocketAddress(address, host: "")
        case 16:
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = networkPort
            withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: bytes) }
            return SocketAddress(address, host: "")
        default:
            return nil
        }
    }
}

extension RuntimeServer {
    /// Whether the server's address or port is "the one the client connected to"
    /// (`0.0.0.0`, `::`, port 0 or none): HAProxy's transparent form.
    var followsDestination: Bool {
        let (ip, port) = Self.unspecifiedParts(address)
        return ip || port
    }

    /// Where to connect: the server's address, with its unspecified parts taken from the
    /// client connection's destination (after `set-dst`).
    func connectAddress(destination: SocketAddress?) -> SocketAddress {
        let address = self.address
        let (anyIP, anyPort) = Self.unspecifiedParts(address)
        guard anyIP || anyPort, let destination else { return address }
        let bytes = ConnectionFacts.bytes(of: anyIP ? destination : address)
        let port = (anyPort ? destination.port : address.port) ?? 0
        return ConnectionFacts.socketAddress(bytes, port: port) ?? address
    }

    private static func unspecifiedParts(_ address: SocketAddress) -> (ip: Bool, port: Bool) {
        switch address {
        case .v4(let v4):
            return (v4.address.sin_addr.s_addr == 0, v4.address.sin_port == 0)
        case .v6(let v6):
            let ip = withUnsafeBytes(of: v6.address.sin6_addr) { $0.allSatisfy { $0 == 0 } }
            return (ip, v6.address.sin6_port == 0)
        case .unixDomainSocket:
            return (false, false)
        }
    }
}
