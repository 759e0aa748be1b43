import CLinux
import Glibc
import NIOCore
import Shared

/// What `set-log-level` and `set-src`/`set-src-port` rules left for the session, beside
/// the head edits (kept in the HeadRewrite the rules fill).
struct RuleEffects {
    var logLevel: LogLevelChoice? = nil
    /// The connection's facts after `set-src`: the session keeps them for its later requests.
    var connection: ConnectionFacts? = nil
    /// `set-status`: the status the log shows.
    var status: Int? = nil
}

/// How a rule ends a request without a server: HAProxy's `tarpit`, `reject`, `silent-drop`.
enum RequestEnding {
    /// Hold the request for `timeout tarpit` (else `timeout connect`), then answer and close.
    case tarpit(ByteBuffer, delay: TimeAmount)
    /// Close the connection, no answer (`reject`).
    case reject
    /// Close the connection without a FIN or a reset reaching the client (`silent-drop`).
    case silentDrop
}

/// `set-src EXPR` / `set-src-port EXPR`, compiled: the new address or port goes into the
/// connection's facts, which later rules, `use_backend`, balancing and the log read.
struct CompiledSourceRewrite {
    let rewrite: SourceRewrite
    let lowerName: [UInt8]

    init(_ rewrite: SourceRewrite) {
        self.rewrite = rewrite
        if case .header(let name, _) = rewrite.sample { lowerName = Array(name.lowercased().utf8) } else { lowerName = [] }
    }

    func apply(_ facts: inout RequestFacts) {
        guard let text = sample(facts) else { return }
        switch rewrite.target {
        case .port:
            if let port = Int(text.trimmingSpaces), (0...65535).contains(port) { facts.connection.clientPort = port }
        case .address:
            let trimmed = text.trimmingSpaces
            var v4 = in_addr(), v6 = in6_addr()
            if inet_pton(AF_INET, trimmed, &v4) == 1 {
                facts.connection.clientAddress = withUnsafeBytes(of: v4.s_addr) { Array($0) }
            } else if inet_pton(AF_INET6, trimmed, &v6) == 1 {
                facts.connection.clientAddress = withUnsafeBytes(of: v6) { Array($0) }
            } else {
                return  // not an address: the source stays, as in HAProxy
            }
            facts.connection.clientAddressText = Array(trimmed.utf8)
        }
    }

    /// The sample as text: one value of a header (HAProxy's `hdr` in a sample expression:
    /// comma-split, the last unless an occurrence is given), or the constant.
    private func sample(_ facts: RequestFacts) -> String? {
        switch rewrite.sample {
        case .constant(let value):
            return value
        case .header(_, let occurrence):
            var values: [[UInt8]] = []
            _ = RequestFacts.forEachValue(of: lowerName, in: facts.bytes, headers: facts.headers, split: true) {
                values.append(Array($0))
                return false
            }
            let index = occurrence < 0 ? values.count + occurrence : occurrence - 1
            guard values.indices.contains(index) else { return nil }
            return String(decoding: values[index], as: UTF8.self)
        }
    }
}

extension SessionTransport {
    /// Before a `silent-drop` close: proxyd's own sockets and NIO's channels are silenced;
    /// a TLS transport closes as usual.
    func prepareSilentClose() {
        if let native = self as? NativeConnection { native.silenceSocket() }
        if let channel = (self as? ChannelTransport)?.channel { SilentClose.prepare(channel) }
    }
}

extension NativeConnection {
    /// As HAProxy's silent-drop: TCP_REPAIR (needs CAP_NET_ADMIN) makes the close send
    /// nothing; without it, a TTL of 1 keeps the reset from leaving the first router.
    func silenceSocket() {
        let fd = descriptor
        guard fd >= 0 else { return }
        var one: CInt = 1
        let size = socklen_t(MemoryLayout<CInt>.size)
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_QUICKACK, &one, size)
        if setsockopt(fd, CInt(IPPROTO_TCP), TCP_REPAIR, &one, size) == 0 { return }
        var off = linger(l_onoff: 1, l_linger: 0)  // a reset, not a FIN, for what leaves
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, socklen_t(MemoryLayout<linger>.size))
        if remoteAddress.map({ if case .v6 = $0 { return true } else { return false } }) ?? false {
            setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_UNICAST_HOPS, &one, size)
        } else {
            setsockopt(fd, CInt(IPPROTO_IP), IP_TTL, &one, size)
        }
    }
}

/// `silent-drop` on a NIO channel (`tcp-request content` in `mode tcp`): TCP_REPAIR, else
/// a TTL of 1 (NIO's options take integers: no SO_LINGER reset here).
enum SilentClose {
    static func prepare(_ channel: Channel) {
        guard let options = channel.syncOptions else { return }
        func option(_ level: CInt, _ name: CInt) -> ChannelOptions.Types.SocketOption {
            ChannelOptions.Types.SocketOption(level: NIOBSDSocket.OptionLevel(rawValue: level),
                                              name: NIOBSDSocket.Option(rawValue: name))
        }
        _ = try? options.setOption(option(CInt(IPPROTO_TCP), TCP_QUICKACK), value: 1)
        if (try? options.setOption(option(CInt(IPPROTO_TCP), TCP_REPAIR), value: 1)) != nil { return }
        _ = try? options.setOption(option(CInt(IPPROTO_IP), IP_TTL), value: 1)
    }
}
