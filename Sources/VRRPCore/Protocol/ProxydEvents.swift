/// What proxyd says on a `subscribe ha hold` connection of its control socket
/// (docs/ha-protocol.md), and what vrrpd concludes from it. Pure: lines in, a view and a
/// verdict out; the socket lives in Linux/ProxydLink.swift.

public enum ProxydEvent: Equatable, Sendable {
    /// `proxyd-ha 1 pid=… netns=… state=serving|stopping grace=…`
    case hello(version: Int, pid: Int32, netns: UInt64?, stopping: Bool, graceMs: Int?)
    /// `frontend NAME up|down`
    case frontend(name: String, up: Bool)
    /// `ready`: the end of the snapshot that follows the greeting.
    case ready
    /// `state stopping grace=…`: a stop began; proxyd serves on until released or its grace ends.
    case stopping(graceMs: Int?)
    /// `state serving` (a stop that was called off).
    case serving
    case released
    case pong
    /// `error: …` (e.g. a level that may not hold the stop).
    case error(String)

    /// One line, without its end of line. nil: not a line proxyd would send.
    public static func parse(_ line: Substring) -> ProxydEvent? {
        var line = line
        if line.last == "\r" { line = line.dropLast() }
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = words.first else { return nil }
        func field(_ name: String) -> Substring? {
            for w in words.dropFirst() where w.hasPrefix(name + "=") { return w.dropFirst(name.count + 1) }
            return nil
        }
        switch first {
        case "proxyd-ha":
            guard words.count >= 2, let version = Int(words[1]), let pid = field("pid").flatMap({ Int32($0) }) else { return nil }
            let state = field("state")
            guard state == nil || state == "serving" || state == "stopping" else { return nil }
            return .hello(version: version, pid: pid, netns: field("netns").flatMap { UInt64($0) },
                          stopping: state == "stopping", graceMs: field("grace").flatMap { Int($0) })
        case "frontend":
            guard words.count == 3, words[2] == "up" || words[2] == "down" else { return nil }
            return .frontend(name: String(words[1]), up: words[2] == "up")
        case "ready": return words.count == 1 ? .ready : nil
        case "state":
            guard words.count >= 2 else { return nil }
            switch words[1] {
            case "stopping": return .stopping(graceMs: field("grace").flatMap { Int($0) })
            case "serving": return .serving
            default: return nil
            }
        case "released": return .released
        case "pong": return .pong
        default:
            if first.hasPrefix("error:") || first == "error" {
                return .error(String(line.drop { $0 != " " }.dropFirst()))
            }
            return nil
        }
    }
}

/// What vrrpd knows of one proxyd from its subscription.
public struct ProxydView: Equatable, Sendable {
    public private(set) var pid: Int32?
    public private(set) var netns: UInt64?
    public private(set) var stopping = false
    public private(set) var graceMs: Int?
    public private(set) var ready = false
    public private(set) var frontends: [String: Bool] = [:]

    public init() {}

    public enum Violation: Error, Equatable, Sendable {
        case notProxyd(String)
        case unsupportedVersion(Int)
        case outOfOrder(String)
    }

    /// Fold one line in. A first line that is not proxyd's greeting means the socket belongs
    /// to something else.
    public mutating func apply(_ line: Substring) throws -> ProxydEvent? {
        guard let event = ProxydEvent.parse(line) else {
            if pid == nil { throw Violation.notProxyd(String(line.prefix(80))) }
            return nil   // a newer proxyd may say more: ignore what we do not know
        }
        if pid == nil {
            // proxyd answers a `hold` it refuses (a socket below level operator) with an
            // error before its greeting: proxyd all the same, only without the hold.
            if case .error = event { return event }
            guard case .hello(let version, let p, let ns, let stop, let grace) = event else {
                throw Violation.notProxyd(String(line.prefix(80)))
            }
            guard version == 1 else { throw Violation.unsupportedVersion(version) }
            pid = p; netns = ns; stopping = stop; graceMs = grace
            return event
        }
        switch event {
        case .hello: throw Violation.outOfOrder("a second greeting")
        case .frontend(let name, let up): frontends[name] = up
        case .ready: ready = true
        case .stopping(let grace):
            stopping = true
            if let g = grace { graceMs = g }
        case .serving: stopping = false
        case .released, .pong, .error: break
        }
        return event
    }

    public enum Verdict: Equatable, Sendable {
        case up
        case down(String)
    }

    /// Whether this proxyd can serve the virtual addresses: it answered, runs in our network
    /// namespace (two load balancers on one host share every socket path), is not stopping,
    /// and every frontend we were told to watch has a usable server behind it.
    public func verdict(frontends wanted: [String], ourNetns: UInt64?) -> Verdict {
        guard let pid, ready else { return .down("no answer yet") }
        if let mine = ourNetns, let theirs = netns, mine != 0, theirs != 0, mine != theirs {
            return .down("proxyd pid \(pid) runs in another network namespace (net:[\(theirs)], ours net:[\(mine)]): it cannot serve this node's addresses")
        }
        if stopping { return .down("proxyd pid \(pid) is stopping") }
        for name in wanted {
            switch frontends[name] {
            case nil: return .down("proxyd pid \(pid) has no frontend '\(name)'")
            case false?: return .down("frontend \(name) of proxyd pid \(pid) has no usable server")
            case true?: continue
            }
        }
        return .up
    }
}
