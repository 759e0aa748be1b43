import Shared

/// The validated configuration of vrrpd (keepalived's VRRP part).

public struct GlobalDefs: Equatable, Sendable {
    public var routerID: String?
    public var vrrpVersion: Int = 2
    public var mcastGroup4: IPv4Address = .vrrpGroup
    public var garpMasterDelay: Double = 5
    public var garpMasterRepeat: Int = 5
    public var garpMasterRefresh: Double = 0
    public var garpMasterRefreshRepeat: Int = 1
    public var garpLowerPrioRepeat: Int = 0
    public var skipCheckAdvAddr = false
    public var strict = false
    public var scriptUser: String?
    public var scriptGroup: String?
    public var enableScriptSecurity = false
    public var startupDelay: Double = 0
    public var defaultInterface = "eth0"
    public init() {}
}

public struct ScriptConfig: Equatable, Sendable {
    public var name: String
    public var command: String = ""
    public var interval: Double = 1
    /// nil: the interval (a run never outlives the next one).
    public var timeout: Double?
    public var weight: Int = 0
    public var weightReverse = false
    public var rise = 1
    public var fall = 1
    public var user: String?
    public var group: String?
    public var initFail = false
    public var location: SourceLocation?

    public var argv: [String] { ScriptCommand.split(command) }
    public var effectiveTimeout: Double { timeout ?? interval }
}

/// `vrrp_track_proxyd NAME { … }`: a proxyd followed over its control socket (the `subscribe
/// ha` extension of its runtime API, docs/ha-protocol.md) instead of a script forked per probe.
public struct ProxydTrackConfig: Equatable, Sendable {
    public var name: String
    /// proxyd's `stats socket` path.
    public var socket: String = "/run/proxyd/admin.sock"
    /// Frontends that must have a usable server behind them (none: proxyd serving is enough).
    public var frontends: [String] = []
    /// 0: a proxyd that is down puts the instances in FAULT (as keepalived's track_process).
    public var weight: Int = 0
    public var weightReverse = false
    /// Seconds proxyd has to answer (the greeting, each ping) before it counts as hung.
    public var timeout: Double = 2
    /// Seconds between liveness pings on the open connection.
    public var pingInterval: Double = 1
    /// Longest planned handover (seconds): nil takes proxyd's own `grace`.
    public var handover: Double?
    public var location: SourceLocation?

    public init(name: String) { self.name = name }
}

public struct VirtualAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefixLength: Int = 32
    public var broadcast: IPv4Address?
    public var device: String?
    public var scope: String = "global"
    public var label: String?

    public var description: String {
        var s = "\(address)/\(prefixLength)"
        if let b = broadcast { s += " brd \(b)" }
        if let d = device { s += " dev \(d)" }
        s += " scope \(scope)"
        if let l = label { s += " label \(l)" }
        return s
    }
}

public struct TrackRef: Equatable, Sendable {
    public var name: String
    /// nil: the script's own weight (interfaces: 0).
    public var weight: Int?
    public var reverse = false
}

public struct NotifyScript: Equatable, Sendable {
    public var command: String
    public var user: String?
    public var group: String?
    public var argv: [String] { ScriptCommand.split(command) }
}

public struct NotifyScripts: Equatable, Sendable {
    public var master: NotifyScript?
    public var backup: NotifyScript?
    public var fault: NotifyScript?
    public var stop: NotifyScript?
    public var generic: NotifyScript?
    public init() {}
}

public enum InitialState: String, Equatable, Sendable { case master = "MASTER", backup = "BACKUP" }

public struct InstanceConfig: Equatable, Sendable {
    public var name: String
    public var location: SourceLocation?
    public var initialState: InitialState = .backup
    public var interface: String?
    /// Where `interface` was given: `vrrpd -t` names it when the interface does not exist.
    public var interfaceLocation: SourceLocation?
    public var vrid: Int?
    public var priority: Int = 100
    /// Seconds (fractions only for v3).
    public var advertInterval: Double = 1
    public var nopreempt = false
    public var preemptDelay: Double = 0
    public var authPass: String?
    public var unicastSource: IPv4Address?
    public var mcastSource: IPv4Address?
    public var unicastPeers: [IPv4Address] = []
    public var virtualAddresses: [VirtualAddress] = []
    /// The line of each `virtual_ipaddress` entry (kept apart from VirtualAddress, whose
    /// equality is the address's own): `vrrpd -t` names it for a VIP outside its subnet.
    public var virtualAddressLocations: [VirtualAddress: SourceLocation] = [:]
    public var excludedAddresses: [VirtualAddress] = []
    public var trackInterfaces: [TrackRef] = []
    public var trackScripts: [TrackRef] = []
    public var trackProxyd: [TrackRef] = []
    public var notify = NotifyScripts()
    public var garpMasterDelay: Double?
    public var garpMasterRepeat: Int?
    public var garpMasterRefresh: Double?
    public var garpMasterRefreshRepeat: Int?
    public var garpLowerPrioRepeat: Int?
    public var version: Int?
    public var skipCheckAdvAddr: Bool?
    public var dontTrackPrimary = false

    public init(name: String) { self.name = name }

    public func effectiveVersion(_ g: GlobalDefs) -> Int { version ?? g.vrrpVersion }
    /// Advert interval in centiseconds as it goes on the wire.
    public func advertCentiseconds(_ g: GlobalDefs) -> Int {
        let cs = Int((advertInterval * 100).rounded())
        return effectiveVersion(g) == 2 ? max(100, cs / 100 * 100) : min(4095, max(1, cs))
    }
}

public struct SyncGroupConfig: Equatable, Sendable {
    public var name: String
    public var members: [String] = []
    public var notify = NotifyScripts()
    public var location: SourceLocation?
}

public struct VRRPConfig: Equatable, Sendable {
    public var global = GlobalDefs()
    public var scripts: [ScriptConfig] = []
    public var proxydTrackers: [ProxydTrackConfig] = []
    public var instances: [InstanceConfig] = []
    public var syncGroups: [SyncGroupConfig] = []
    public init() {}

    public func script(named n: String) -> ScriptConfig? { scripts.first { $0.name == n } }
    public func proxydTracker(named n: String) -> ProxydTrackConfig? { proxydTrackers.first { $0.name == n } }
}

/// Splits a script string into argv as keepalived does: whitespace separates words,
/// single or double quotes group them.
public enum ScriptCommand {
    public static func split(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var have = false
        var quote: Character? = nil
        for c in s {
            if let q = quote {
                if c == q { quote = nil } else { cur.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c; have = true
            } else if c == " " || c == "\t" {
                if have { out.append(cur); cur = ""; have = false }
            } else {
                cur.append(c); have = true
            }
        }
        if have { out.append(cur) }
        return out
    }
}
