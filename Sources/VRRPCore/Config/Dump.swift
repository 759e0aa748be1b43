/// `--dump-conf`: the parsed configuration in keepalived's dump layout (section banners,
/// one indented `Name = value` per line), so the two dumps can be read side by side.
public enum ConfigDump {
    static func n(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }

    public static func render(_ c: VRRPConfig) -> [String] {
        var o: [String] = []
        let g = c.global
        o.append("------< Global definitions >------")
        o.append(" Router ID = \(g.routerID ?? "(none)")")
        o.append(" Default interface = \(g.defaultInterface)")
        o.append(" VRRP IPv4 mcast group = \(g.mcastGroup4)")
        o.append(" Gratuitous ARP delay = \(n(g.garpMasterDelay))")
        o.append(" Gratuitous ARP repeat = \(g.garpMasterRepeat)")
        o.append(" Gratuitous ARP refresh timer = \(n(g.garpMasterRefresh))")
        o.append(" Gratuitous ARP refresh repeat = \(g.garpMasterRefreshRepeat)")
        o.append(" Gratuitous ARP lower priority repeat = \(g.garpLowerPrioRepeat)")
        o.append(" VRRP default protocol version = \(g.vrrpVersion)")
        o.append(" VRRP skip check advert addresses = \(g.skipCheckAdvAddr)")
        o.append(" VRRP strict mode = \(g.strict)")
        o.append(" VRRP startup delay = \(n(g.startupDelay))")
        o.append(" Script security \(g.enableScriptSecurity ? "enabled" : "disabled")")
        o.append(" Default script user = \(g.scriptUser ?? "root")\(g.scriptGroup.map { ":" + $0 } ?? "")")
        o.append("------< VRRP Topology >------")
        for i in c.instances {
            let v = i.effectiveVersion(g)
            o.append(" VRRP Instance = \(i.name)")
            o.append("   VRRP Version = \(v)")
            o.append("   Wantstate = \(i.initialState.rawValue)")
            o.append("   Interface = \(i.interface ?? g.defaultInterface)")
            if let s = i.mcastSource ?? i.unicastSource { o.append("   Using src_ip = \(s)") }
            if i.unicastPeers.isEmpty {
                o.append("   Multicast address \(g.mcastGroup4)")
            } else {
                o.append("   Unicast Peer(\(i.unicastPeers.count)):")
                for p in i.unicastPeers { o.append("     \(p)") }
            }
            o.append("   Gratuitous ARP delay = \(n(i.garpMasterDelay ?? g.garpMasterDelay))")
            o.append("   Gratuitous ARP repeat = \(i.garpMasterRepeat ?? g.garpMasterRepeat)")
            o.append("   Gratuitous ARP refresh = \(n(i.garpMasterRefresh ?? g.garpMasterRefresh))")
            o.append("   Gratuitous ARP refresh repeat = \(i.garpMasterRefreshRepeat ?? g.garpMasterRefreshRepeat)")
            o.append("   Virtual Router ID = \(i.vrid.map(String.init) ?? "(unset)")")
            o.append("   Priority = \(i.priority)")
            let cs = i.advertCentiseconds(g)
            o.append("   Advert interval = \(v == 2 ? "\(cs / 100) sec" : "\(cs * 10) milli-sec")")
            o.append("   Preempt = \(i.nopreempt ? "disabled" : "enabled")")
            if i.preemptDelay > 0 { o.append("   Preempt delay = \(n(i.preemptDelay)) secs") }
            if let p = i.authPass {
                o.append("   Authentication type = SIMPLE_PASSWORD")
                o.append("   Password = \(p)")
            }
            if !i.virtualAddresses.isEmpty {
                o.append("   Virtual IP (\(i.virtualAddresses.count)):")
                for a in i.virtualAddresses { o.append("     \(withDev(a, i, g))") }
            }
            if !i.excludedAddresses.isEmpty {
                o.append("   Virtual IP Excluded (\(i.excludedAddresses.count)):")
                for a in i.excludedAddresses { o.append("     \(withDev(a, i, g))") }
            }
            if !i.trackInterfaces.isEmpty {
                o.append("   Tracked interfaces :")
                for t in i.trackInterfaces { o.append("     \(t.name) weight \(t.weight ?? 0)\(t.reverse ? " reverse" : "")") }
            }
            if !i.trackScripts.isEmpty {
                o.append("   Tracked scripts :")
                for t in i.trackScripts {
                    let w = t.weight ?? c.script(named: t.name)?.weight ?? 0
                    o.append("     \(t.name) weight \(w)\(t.reverse ? " reverse" : "")")
                }
            }
            if !i.trackProxyd.isEmpty {
                o.append("   Tracked proxyd :")
                for t in i.trackProxyd {
                    let w = t.weight ?? c.proxydTracker(named: t.name)?.weight ?? 0
                    o.append("     \(t.name) weight \(w)\(t.reverse ? " reverse" : "")")
                }
            }
            func script(_ label: String, _ s: NotifyScript?) {
                guard let s = s else { return }
                o.append("   \(label) = \(s.argv.map { "'\($0)'" }.joined(separator: " "))\(s.user.map { ", user \($0)" } ?? "")")
            }
            script("Master state transition script", i.notify.master)
            script("Backup state transition script", i.notify.backup)
            script("Fault state transition script", i.notify.fault)
            script("Stop state transition script", i.notify.stop)
            script("Generic state transition script", i.notify.generic)
        }
        if !c.syncGroups.isEmpty {
            o.append("------< VRRP Sync groups >------")
            for s in c.syncGroups {
                o.append(" VRRP Sync Group = \(s.name)")
                o.append("   VRRP member instances (\(s.members.count)) = \(s.members.joined(separator: ", "))")
            }
        }
        o.append("------< VRRP Scripts >------")
        for s in c.scripts {
            o.append(" VRRP Script = \(s.name)")
            o.append("   Command = \(s.argv.map { "'\($0)'" }.joined(separator: " "))")
            o.append("   Interval = \(n(s.interval)) sec")
            o.append("   Timeout = \(n(s.effectiveTimeout)) sec")
            o.append("   Weight = \(s.weight)\(s.weightReverse ? " reverse" : "")")
            o.append("   Rise = \(s.rise)")
            o.append("   Fall = \(s.fall)")
            o.append("   Init state = \(s.initFail ? "INIT_FAILED" : "INIT")")
            if let u = s.user { o.append("   Script user = \(u)\(s.group.map { ":" + $0 } ?? "")") }
            let users = c.instances.filter { $0.trackScripts.contains { $0.name == s.name } }.map(\.name)
            o.append("   Tracking instances = \(users.isEmpty ? "(none)" : users.joined(separator: ", "))")
        }
        if !c.proxydTrackers.isEmpty {
            o.append("------< VRRP proxyd trackers >------")
            for t in c.proxydTrackers {
                o.append(" VRRP proxyd = \(t.name)")
                o.append("   Socket = \(t.socket)")
                o.append("   Frontends = \(t.frontends.isEmpty ? "(any)" : t.frontends.joined(separator: ", "))")
                o.append("   Weight = \(t.weight)\(t.weightReverse ? " reverse" : "")")
                o.append("   Timeout = \(n(t.timeout)) sec")
                o.append("   Ping interval = \(n(t.pingInterval)) sec")
                o.append("   Handover = \(t.handover.map { "\(n($0)) sec" } ?? "proxyd's grace")")
                let users = c.instances.filter { $0.trackProxyd.contains { $0.name == t.name } }.map(\.name)
                o.append("   Tracking instances = \(users.isEmpty ? "(none)" : users.joined(separator: ", "))")
            }
        }
        return o
    }

    static func withDev(_ a: VirtualAddress, _ i: InstanceConfig, _ g: GlobalDefs) -> String {
        var v = a
        if v.device == nil { v.device = i.interface ?? g.defaultInterface }
        return v.description
    }
}
