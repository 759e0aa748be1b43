#if canImport(Glibc)
import Glibc
#endif

/// `show info`: HAProxy 2.6's process keys, in its order, with proxyd's values.
public enum ShowInfo {
    /// Position, key and `show info typed` tags, as HAProxy 2.6.12 prints them.
    static let fields: [(pos: Int, name: String, tag: String)] = [
        (0, "Name", "POS:str"),
        (1, "Version", "POS:str"),
        (2, "Release_date", "POS:str"),
        (3, "Nbthread", "CGS:u32"),
        (4, "Nbproc", "CGS:u32"),
        (5, "Process_num", "KGP:u32"),
        (6, "Pid", "SGP:u32"),
        (7, "Uptime", "MDP:str"),
        (8, "Uptime_sec", "MDP:u32"),
        (9, "Memmax_MB", "CLP:u32"),
        (10, "PoolAlloc_MB", "MGP:u32"),
        (11, "PoolUsed_MB", "MGP:u32"),
        (12, "PoolFailed", "MCP:u32"),
        (13, "Ulimit-n", "CLP:u32"),
        (14, "Maxsock", "CLP:u32"),
        (15, "Maxconn", "CLP:u32"),
        (16, "Hard_maxconn", "CLP:u32"),
        (17, "CurrConns", "MGP:u32"),
        (18, "CumConns", "MCP:u32"),
        (19, "CumReq", "MCP:u32"),
        (20, "MaxSslConns", "MMP:u32"),
        (21, "CurrSslConns", "MGP:u32"),
        (22, "CumSslConns", "MCP:u32"),
        (23, "Maxpipes", "CLP:u32"),
        (24, "PipesUsed", "MGP:u32"),
        (25, "PipesFree", "MGP:u32"),
        (26, "ConnRate", "MRP:u32"),
        (27, "ConnRateLimit", "CLP:u32"),
        (28, "MaxConnRate", "MMP:u32"),
        (29, "SessRate", "MRP:u32"),
        (30, "SessRateLimit", "CLP:u32"),
        (31, "MaxSessRate", "MRP:u32"),
        (32, "SslRate", "MRP:u32"),
        (33, "SslRateLimit", "CLP:u32"),
        (34, "MaxSslRate", "MMP:u32"),
        (35, "SslFrontendKeyRate", "MGP:u32"),
        (36, "SslFrontendMaxKeyRate", "MMP:u32"),
        (37, "SslFrontendSessionReuse_pct", "MGP:u32"),
        (38, "SslBackendKeyRate", "MRP:u32"),
        (39, "SslBackendMaxKeyRate", "MMP:u32"),
        (40, "SslCacheLookups", "MCP:u32"),
        (41, "SslCacheMisses", "MCP:u32"),
        (42, "CompressBpsIn", "MRP:u32"),
        (43, "CompressBpsOut", "MRP:u32"),
        (44, "CompressBpsRateLim", "CLP:u32"),
        (47, "Tasks", "MGP:u32"),
        (48, "Run_queue", "MGP:u32"),
        (49, "Idle_pct", "MaP:u32"),
        (50, "node", "COS:str"),
        (52, "Stopping", "MGP:u32"),
        (53, "Jobs", "MGP:u32"),
        (54, "Unstoppable Jobs", "MGP:u32"),
        (55, "Listeners", "MGP:u32"),
        (56, "ActivePeers", "MGP:u32"),
        (57, "ConnectedPeers", "MGP:u32"),
        (58, "DroppedLogs", "MGP:u32"),
        (59, "BusyPolling", "MGP:u32"),
        (60, "FailedResolutions", "MGP:u32"),
        (61, "TotalBytesOut", "MGP:u64"),
        (62, "TotalSplicdedBytesOut", "MGP:u64"),
        (63, "BytesOutRate", "MRP:u64"),
        (64, "DebugCommandsIssued", "MGP:u32"),
        (65, "CumRecvLogs", "MCP:u32"),
        (66, "Build info", "POS:str"),
        (67, "Memmax_bytes", "CLP:u32"),
        (68, "PoolAlloc_bytes", "MGP:u64"),
        (69, "PoolUsed_bytes", "MGP:u64"),
        (70, "Start_time_sec", "MDP:u32"),
        (71, "Tainted", "SGP:str"),
    ]

    /// `Release_date` (HAProxy's `YYYY/MM/DD`).
    static let releaseDate = "2026/11/25"

    /// The values, by key; a key without a value is not printed (as HAProxy skips empty ones).
    static func values(_ context: StatsContext) -> [String: StatValue] {
        let uptime = context.uptimeSeconds
        let threads = context.runtime.loopStates.all.count
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let maxconn = context.runtime.globalGate.limit
        var values: [String: StatValue] = [
            "Name": .string("proxyd"),
            "Version": .string(ProxyCoreVersion.string),
            "Release_date": .string(ShowInfo.releaseDate),
            "Nbthread": .number(threads),
            "Nbproc": .number(1),
            "Process_num": .number(1),
            "Pid": .number(Int(getpid())),
            "Uptime": .string(uptimeText(uptime)),
            "Uptime_sec": .number(uptime),
            "Memmax_MB": .number(0),
            "PoolAlloc_MB": .number(0),
            "PoolUsed_MB": .number(0),
            "PoolFailed": .number(0),
            "Ulimit-n": .number(Int(min(limit.rlim_cur, rlim_t(Int32.max)))),
            "Maxsock": .number(Int(min(limit.rlim_cur, rlim_t(Int32.max)))),
            "Maxconn": .number(maxconn),
            "Hard_maxconn": .number(context.globalMaxconn),
            "CurrConns": .number(context.currentConnections),
            "CumConns": .number(context.cumulatedConnections),
            "CumReq": .number(context.cumulatedRequests),
            "node": .string(context.nodeName),
            "Stopping": .number(context.runtime.sessions.stopAnnounced ? 1 : 0),
            "Jobs": .number(context.currentConnections + context.listenerCount + context.controlSessions.current),
            "Unstoppable Jobs": .number(0),
            "Listeners": .number(context.listenerCount),
            "TotalBytesOut": .number(context.totalBytesOut),
            // Log lines lost on every destination (Logging/LogSink).
            "DroppedLogs": .number(context.runtime.logSinks.dropped),
            "BytesOutRate": .number(context.bytesOutRate),
            "Build info": .string(ProxyCoreVersion.string),
            "Start_time_sec": .number(context.startTime),
            "Tainted": .string("0"),
            "Idle_pct": .number(context.idlePercent),
            "ConnRate": .number(context.sessionRate.current),
            "MaxConnRate": .number(context.sessionRate.max),
            "SessRate": .number(context.sessionRate.current),
            "MaxSessRate": .number(context.sessionRate.max),
            // TLS (TLS/TLSStatistics): connections over TLS, both sides, as HAProxy counts.
            "CurrSslConns": .number(TLSStatistics.currentConnections.current),
            "CumSslConns": .number(TLSStatistics.totalConnections.current),
            "SslRate": .number(TLSStatistics.frontendConnectionRate.perSecond),
            "MaxSslRate": .number(TLSStatistics.frontendConnectionRate.maximum.current),
            "SslFrontendKeyRate": .number(TLSStatistics.frontendKeyRate.perSecond),
            "SslFrontendMaxKeyRate": .number(TLSStatistics.frontendKeyRate.maximum.current),
            "SslFrontendSessionReuse_pct": .number(TLSStatistics.frontendReusePercent),
            "SslBackendKeyRate": .number(TLSStatistics.backendKeyRate.perSecond),
            "SslBackendMaxKeyRate": .number(TLSStatistics.backendKeyRate.maximum.current),
            // `SslRateLimit` (maxsslrate), `MaxSslConns` (maxsslconn): not supported, 0 as unset.
        ]
        if let description = context.configuration.global.description {
            values["description"] = .string(description)
        }
        // Everything else HAProxy reports (SSL, pipes, compression, rates, pools) is 0 here.
        for field in fields where values[field.name] == nil {
            values[field.name] = field.tag.hasSuffix("str") ? .empty : .number(0)
        }
        return values
    }

    /// `0d 0h00m21s`, as HAProxy writes uptimes.
    static func uptimeText(_ seconds: Int) -> String {
        let days = seconds / 86400, hours = seconds / 3600 % 24, minutes = seconds / 60 % 60, secs = seconds % 60
        return "\(days)d \(hours)h\(pad2(minutes))m\(pad2(secs))s"
    }

    static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static let allFields: [(pos: Int, name: String, tag: String)] =
        (fields + [(51, "description", "COS:str")]).sorted { $0.pos < $1.pos }

    public static func text(_ context: StatsContext) -> String {
        let values = values(context)
        var out = ""
        for field in allFields {
            guard let value = values[field.name], value != .empty else { continue }
            out += "\(field.name): \(value.csv)\n"
        }
        return out
    }

    public static func typed(_ context: StatsContext) -> String {
        let values = values(context)
        var out = ""
        for field in allFields {
            guard let value = values[field.name], value != .empty else { continue }
            out += "\(field.pos).\(field.name).1:\(field.tag):\(value.csv)\n"
        }
        return out
    }

    public static func json(_ context: StatsContext) -> String {
        let values = values(context)
        var items: [String] = []
        for field in allFields {
            guard let value = values[field.name], value != .empty else { continue }
            items.append("{\"field\":{\"pos\":\(field.pos),\"name\":\(StatsFormat.jsonString(field.name))},\"processNum\":1,"
                + StatsFormat.jsonTags(field.tag) + ",\"value\":" + StatsFormat.jsonValue(value, type: field.tag) + "}")
        }
        return "[" + items.joined(separator: ",") + "]\n"
    }
}
