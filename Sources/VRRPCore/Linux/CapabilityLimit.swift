#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// What the VRRP child keeps of root's powers once no script of its runs as root: VRRP
/// and ARP need CAP_NET_RAW, addresses CAP_NET_ADMIN; nothing else is effective. Keepalived
/// 2.2 drops nothing (its VRRP process keeps every capability); this is our choice.
///
/// The process keeps uid 0 (its files, pid files and the query socket stay root's) with a
/// bounded set. Starting a script as its user needs CAP_SETUID and CAP_SETGID, and killing
/// it at its timeout CAP_KILL: these three stay permitted but not effective, raised only in
/// the forked child just before it changes user (the change then clears all of them) and
/// around that kill. Everything else leaves the bounding set too, so nothing the process
/// executes as root (a notify script added by a reload) gets it back.
enum CapabilityLimit {
    static let kill = 5, setGID = 6, setUID = 7, netAdmin = 12, netRaw = 13

    static func mask(_ capabilities: [Int]) -> UInt64 {
        capabilities.reduce(0) { $0 | (1 << UInt64($1)) }
    }

    static let effective = mask([netAdmin, netRaw])
    static let permitted = effective | mask([setUID, setGID, kill])

    /// True once `apply` succeeded in this process.
    nonisolated(unsafe) static var applied = false

    /// Limits the calling (only) thread, so the whole single-threaded VRRP child.
    static func apply() throws {
        let result = clinux_caps_limit(effective, permitted)
        guard result == 0 else { throw SystemError("limiting capabilities", -result) }
        applied = true
    }

    /// Runs `body` with CAP_KILL effective (a script running as another user is killed at
    /// its timeout).
    static func withKill(_ body: () -> Void) {
        guard applied else { return body() }
        _ = clinux_caps_raise(mask([kill]), 1)
        body()
        _ = clinux_caps_raise(mask([kill]), 0)
    }
}
