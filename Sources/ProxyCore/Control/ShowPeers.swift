#if canImport(Glibc)
import Glibc
#endif

/// `show peers [dict|-] [SECTION]`: HAProxy 2.6's dump of the `peers` sections, line for
/// line in its layout (a section line, then each peer, last declared first, with its
/// status, timers and counters, then each of its shared tables, last declared first), from
/// what the section published (Runtime/Peers/PeerStatus.swift). HAProxy's internal flags,
/// `remote_data` bits and dictionary caches have no counterpart here: they read 0, and
/// `dict` dumps no cache.
enum PeersCommands {
    static func register(_ r: inout CommandRegistry) {
        r.add("show peers", usage: "show peers [dict|-] [section]",
              help: "dump some information about all the peers or this peers section") { args, _, context in
            var words = Array(args.dropFirst(2))
            if words.first == "dict" || words.first == "-" { words.removeFirst() }
            let reports = context.runtime.peerSections.map { $0.statusBoard.read() }
            if let wanted = words.first {
                guard let report = reports.first(where: { $0.name == wanted }) else { return "No such peers\n" }
                return render(report, now: ProcessClock.milliseconds)
            }
            return reports.map { render($0, now: ProcessClock.milliseconds) }.joined()
        }
    }

    static func render(_ report: PeersReport, now: Int) -> String {
        // Stable pseudo-addresses, so that lines can be told apart as HAProxy's pointers are.
        let base = 0x5500_0000_0000 + UInt(truncatingIfNeeded: report.name.hashValue & 0xFF_FFFF) << 8
        func pointer(_ n: UInt) -> String { "0x" + String(base + n, radix: 16) }
        var out = "\(pointer(0)): [\(date(report.startedAt))] id=\(report.name) disabled=\(report.disabled ? 1 : 0)"
            + " flags=0x0 resync_timeout=\(report.resyncing ? "0s" : "<NEVER>") task_calls=\(report.taskCalls)\n"
        for (p, peer) in report.peers.enumerated().reversed() {
            let c = peer.counters
            out += "  \(pointer(UInt(p + 1) << 12)): id=\(peer.name)(\(peer.isLocal ? "local" : "remote"),"
                + "\(peer.isActive ? "active" : "inactive")) addr=\(peer.address) last_status=\(c.lastStatus)"
                + " last_hdshk=\(c.lastHandshake.map { SessionLine.ageText(max(0, now - $0) / 1000) } ?? "<NEVER>")\n"
            out += "        reconnect=\(due(peer.reconnectAt, now)) heartbeat=\(due(peer.heartbeatAt, now)) confirm=0"
                + " tx_hbt=\(c.sentHeartbeats) rx_hbt=\(c.receivedHeartbeats) no_hbt=\(c.missedHeartbeats)"
                + " new_conn=\(c.newConnections) proto_err=\(c.protocolErrors) coll=\(c.collisions)\n"
            out += "        flags=0x0"
            if peer.isActive {
                let state = peer.sessionState == 7 ? "EST" : peer.sessionState == 6 ? "TAR" : "-"
                out += " appctx:\(pointer(UInt(p + 1) << 12 | 0x800)) st0=\(peer.sessionState) st1=0 task_calls=\(report.taskCalls) state=\(state)"
            }
            out += "\n"
            // The tables the peer's updates and ours are about now, as HAProxy names them.
            for (label, id) in [("remote_table", peer.remoteTable), ("last_local_table", peer.lastLocalTable)] {
                guard let id, let table = report.tables.first(where: { $0.localID == id }) else { continue }
                out += "        \(label):\(pointer(UInt(p + 1) << 12 | UInt(id) << 4)) id=\(table.name) local_id=\(id)"
                    + " remote_id=\(peer.remoteIDs[id] ?? 0)\n"
            }
            out += "        shared tables:\n"
            for table in report.tables.reversed() {
                let id = table.localID
                out += "          \(pointer(UInt(p + 1) << 12 | UInt(id) << 4)) local_id=\(id) remote_id=\(peer.remoteIDs[id] ?? 0)"
                    + " flags=0x0 remote_data=0x0\n"
                out += "              last_acked=\(peer.acknowledged[id] ?? 0) last_pushed=\(peer.pushed[id] ?? 0)"
                    + " last_get=\(peer.received[id] ?? 0) teaching_origin=0 update=0\n"
                out += "              table:\(pointer(UInt(id) << 4 | 0x8)) id=\(table.name) update=\(table.update)"
                    + " localupdate=\(table.update) commitupdate=0 refcnt=1\n"
                out += "        Dictionary cache not dumped (use \"show peers dict\")\n"
            }
        }
        return out + "\n"
    }

    /// HAProxy's timer text: the delay until `tick`, `<PAST>` once due, `<NEVER>` unset.
    static func due(_ tick: Int?, _ now: Int) -> String {
        guard let tick else { return "<NEVER>" }
        return tick <= now ? "<PAST>" : SessionLine.ageText((tick - now + 999) / 1000)
    }

    /// `07/Dec/2026:15:10:35`, local time.
    static func date(_ time: WallTime) -> String {
        var t = time_t(time.seconds)
        var parts = tm()
        localtime_r(&t, &parts)
        return "\(ShowInfo.pad2(Int(parts.tm_mday)))/\(WallTime.months[Int(parts.tm_mon)])/\(Int(parts.tm_year) + 1900):"
            + "\(ShowInfo.pad2(Int(parts.tm_hour))):\(ShowInfo.pad2(Int(parts.tm_min))):\(ShowInfo.pad2(Int(parts.tm_sec)))"
    }
}
