/// One name being resolved for one or more servers (servers that follow the same name
/// the same way share it, as HAProxy's resolutions are shared): what was asked, what the
/// answers gave and when, and who is waiting. Confined to its section's event loop.
final class DNSResolution {
    enum Kind: Equatable {
        /// A/AAAA, the preferred family asked first.
        case address(prefer: ResolveFamily)
        /// SRV (`_service._proto.name`), addresses from the answer's additional records.
        case service(prefer: ResolveFamily)
    }

    /// A server following this name: the row it belongs to is its backend.
    struct Binding {
        let backend: RuntimeBackend
        let server: RuntimeServer
        let state: ServerDNSState
        let resolution: ServerResolution
    }

    /// The outcome of one query round.
    enum Outcome {
        case valid([DNSTarget])
        case nx, refused, timeout, other
    }

    let hostname: String
    let kind: Kind
    var bindings: [Binding] = []
    /// The type asked in this round (an address resolution falls back to the other
    /// family when the preferred one has no record).
    var queryType: DNSRecordType
    var queryID: UInt16?
    /// Nameservers asked in this try that have not answered, and the first error among
    /// those that did (the round fails only when all fail).
    var answersAwaited = 0
    var firstFailure: Outcome?
    /// When the last round started (nil: never asked) and whether it ended valid: the next
    /// round comes `hold valid` or `timeout resolve` after it.
    var lastRound: Int?
    var lastWasValid = false
    var triesLeft = 0
    /// When the last valid answer came (ProcessClock ms): failures are ignored until
    /// their `hold` has passed since then.
    var lastValid: Int
    /// Targets of the answers, each with when it was last in one (`hold obsolete`).
    var items: [(target: DNSTarget, lastSeen: Int)] = []

    init(hostname: String, kind: Kind, now: Int) {
        self.hostname = hostname
        self.kind = kind
        self.lastValid = now
        self.queryType = Self.firstType(kind)
    }

    /// Up to 100 ms, and never half a round (`hold valid`) or more.
    static func timerSlack(_ hold: ResolversSettings.HoldTimes) -> Int { min(100, hold.valid / 2) }

    static func firstType(_ kind: Kind) -> DNSRecordType {
        switch kind {
        case .address(.ipv6): return .aaaa
        case .address(.ipv4): return .a
        case .service: return .srv
        }
    }

    /// The key resolutions are shared by.
    static func key(_ hostname: String, _ kind: Kind) -> String {
        switch kind {
        case let .address(prefer): return "\(prefer.rawValue) \(hostname)"
        case let .service(prefer): return "srv-\(prefer.rawValue) \(hostname)"
        }
    }

    /// After an answer: the targets it gave are fresh, those it no longer gives stay for
    /// `hold obsolete`; after a failure, everything stays for that failure's `hold`
    /// (counted from the last valid answer), then goes.
    func absorb(_ outcome: Outcome, hold: ResolversSettings.HoldTimes, now: Int) {
        switch outcome {
        case let .valid(targets):
            lastValid = now
            for target in targets {
                if let i = items.firstIndex(where: { $0.target.key == target.key }) {
                    items[i] = (target, now)
                } else {
                    items.append((target, now))
                }
            }
            // HAProxy's test: gone once `last seen + hold obsolete` is in the past, with
            // some slack for the jitter between two rounds (a busy machine starts a round a
            // few ms late): `hold obsolete` equal to the pace keeps a record one round, as
            // HAProxy does, instead of flipping a coin.
            let slack = Self.timerSlack(hold)
            items.removeAll { $0.lastSeen + hold.obsolete + slack < now }
        case .nx, .refused, .timeout, .other:
            let limit: Int
            switch outcome {
            case .nx: limit = hold.nx
            case .refused: limit = hold.refused
            case .timeout: limit = hold.timeout
            default: limit = hold.other
            }
            if now - lastValid >= limit { items.removeAll() }
        }
    }

    /// The targets in an answer to this resolution's question, following CNAMEs.
    /// nil: no record of the type asked (HAProxy's `any_err`).
    func targets(in message: DNSMessage, sawCNAME: inout Bool, known: [String: IPAddress] = [:]) -> [DNSTarget]? {
        missingHosts = []
        var names: Set<String> = [hostname]
        for record in message.answers {
            if case let .cname(target) = record.data, names.contains(Self.normalised(record.name)) {
                names.insert(Self.normalised(target))
                sawCNAME = true
            }
        }
        var found: [DNSTarget] = []
        for record in message.answers where record.type == queryType.rawValue && names.contains(Self.normalised(record.name)) {
            switch (kind, record.data) {
            case let (.address, .address(ip)):
                if !found.contains(where: { $0.address == ip }) { found.append(DNSTarget(key: ip.description, address: ip)) }
            case let (.service(prefer), .srv(_, weight, port, target)):
                let host = Self.normalised(target)
                guard let ip = Self.additionalAddress(for: target, in: message, prefer: prefer)
                    ?? known[Self.key(host, .address(prefer: prefer))] else {
                    missingHosts.append(host)
                    continue
                }
                found.append(DNSTarget(key: "\(host):\(port)", address: ip, port: Int(port), weight: Int(weight),
                                       hostname: host))
            default:
                continue
            }
        }
        return found.isEmpty && missingHosts.isEmpty ? nil : found
    }

    /// SRV targets the last answer named without an address in its additional section:
    /// their own A/AAAA resolutions give them one (as HAProxy resolves them), and the answer
    /// (`lastServiceAnswer`) is read again then.
    var missingHosts: [String] = []
    var lastServiceAnswer: DNSMessage?
    /// Addresses this resolution finds are wanted by SRV resolutions.
    var feedsServices = false

    /// The address an SRV answer gives for `target` in its additional section.
    static func additionalAddress(for target: String, in message: DNSMessage, prefer: ResolveFamily) -> IPAddress? {
        let name = normalised(target)
        var v4: IPAddress?, v6: IPAddress?
        for record in message.additionals where normalised(record.name) == name {
            if case let .address(ip) = record.data {
                if ip.isIPv6 { v6 = v6 ?? ip } else { v4 = v4 ?? ip }
            }
        }
        return prefer == .ipv6 ? (v6 ?? v4) : (v4 ?? v6)
    }

    /// Names compare without case and without the root's dot.
    static func normalised(_ name: String) -> String {
        var n = name.lowercased()
        if n.hasSuffix(".") { n.removeLast() }
        return n
    }
}
