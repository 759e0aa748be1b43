/// One `<tr>` per stats row (frontend, server, backend) with HAProxy 2.6's 30 cells:
/// queue, session rate, sessions, bytes, denied, errors, warnings, server. Cells that
/// HAProxy explains on hover carry the same tooltips.
enum StatsHTMLRows {
    typealias T = StatsHTMLText

    /// The row's colour class: `frontend`, `backend`, or the server's state, active or backup.
    static func stateClass(_ row: StatRow) -> String {
        switch row.kind {
        case .frontend: return "frontend"
        case .backend: return "backend"
        case .server:
            let prefix = row["bck"] == .number(1) ? "backup" : "active"
            guard case .string(let status) = row["status"] else { return prefix + "_down" }
            if status.hasPrefix("MAINT") { return "maintain" }
            let transitional = status.contains("/")
            if status.hasPrefix("DRAIN") { return prefix + (transitional ? "_going_down" : "_draining") }
            if status.hasPrefix("NOLB") { return prefix + (transitional ? "_going_down" : "_nolb") }
            if status == "no check" { return prefix + "_no_check" }
            if status.hasPrefix("UP") { return prefix + (transitional ? "_going_down" : "_up") }
            return prefix + (transitional ? "_going_up" : "_down")
        }
    }

    /// `serversShown`: with `;up`, how many servers of the proxy the page shows, of all.
    static func line(_ row: StatRow, proxyName: String, admin: Bool, serversShown: (Int, Int)? = nil) -> String {
        var h = "<tr class=\"\(stateClass(row))\">"
        if admin {
            h += row.kind == .server
                ? "<td><input class='\(T.escape(proxyName))-checkbox' type=\"checkbox\" name=\"s\" value=\"\(T.value(row["svname"]))\"></td>"
                : "<td></td>"
        }
        let label: String
        switch row.kind {
        case .frontend: label = "Frontend"
        case .backend: label = "Backend"
        case .server: label = T.value(row["svname"])
        }
        let anchor = T.escape(proxyName) + "/" + label
        h += "<td class=ac><a name=\"\(anchor)\"></a><a class=lfsb href=\"#\(anchor)\">\(label)</a></td>"
        switch row.kind {
        case .frontend: h += frontendCells(row)
        case .server: h += serverCells(row)
        case .backend: h += backendCells(row, serversShown: serversShown)
        }
        return h + "</tr>\n"
    }

    private static func n(_ row: StatRow, _ name: String) -> Int {
        if case .number(let value) = row[name] { return value }
        return 0
    }

    private static func g(_ row: StatRow, _ name: String) -> String { T.grouped(n(row, name)) }

    private static func isHTTP(_ row: StatRow) -> Bool { row["mode"] == .string("http") }

    // MARK: - Frontend

    private static func frontendCells(_ row: StatRow) -> String {
        let http = isHTTP(row)
        var rateTips = [T.Tip(label: "Current connection rate:", value: g(row, "conn_rate") + "/s"),
                        T.Tip(label: "Current session rate:", value: g(row, "rate") + "/s")]
        var maxTips = [T.Tip(label: "Max connection rate:", value: g(row, "conn_rate_max") + "/s"),
                       T.Tip(label: "Max session rate:", value: g(row, "rate_max") + "/s")]
        var totalTips = [T.Tip(label: "Cum. connections:", value: g(row, "conn_tot")),
                         T.Tip(label: "Cum. sessions:", value: g(row, "stot"))]
        if http {
            rateTips.append(T.Tip(label: "Current request rate:", value: g(row, "req_rate") + "/s"))
            maxTips.append(T.Tip(label: "Max request rate:", value: g(row, "req_rate_max") + "/s"))
            totalTips += httpTotals(row, percentages: false, compressed: true)
            totalTips.append(T.Tip(label: "Intercepted requests:", value: g(row, "intercepted")))
            totalTips += cacheAndErrors(row)
        }
        var h = "<td colspan=3></td>"
        h += T.tipCell(g(row, "rate"), rateTips) + T.tipCell(g(row, "rate_max"), maxTips)
        h += "<td>\(T.limit(row["rate_lim"]))</td>"
        h += "<td>\(g(row, "scur"))</td><td>\(g(row, "smax"))</td><td>\(T.limit(row["slim"]))</td>"
        h += T.tipCell(g(row, "stot"), totalTips) + "<td></td><td></td>"
        h += bytesCells(row)
        h += "<td>\(g(row, "dreq"))</td><td>\(g(row, "dresp"))</td>"
        h += "<td>\(g(row, "ereq"))</td><td></td><td></td>"
        h += "<td></td><td></td>"
        h += "<td class=ac>\(T.value(row["status"]))</td><td class=ac colspan=8></td>"
        return h
    }

    // MARK: - Server

    private static func serverCells(_ row: StatRow) -> String {
        var h = "<td>\(g(row, "qcur"))</td><td>\(g(row, "qmax"))</td><td>\(T.limit(row["qlimit"]))</td>"
        h += "<td>\(g(row, "rate"))</td><td>\(g(row, "rate_max"))</td><td></td>"
        let connectionTips = [
            T.Tip(label: "Current active connections:", value: g(row, "scur")),
            T.Tip(label: "Current used connections:", value: g(row, "used_conn_cur")),
            T.Tip(label: "Current idle connections:", value: g(row, "srv_icur")),
            T.Tip(label: "- unsafe:", value: g(row, "idle_conn_cur")),
            T.Tip(label: "- safe:", value: g(row, "safe_conn_cur")),
            T.Tip(label: "Estimated need of connections:", value: g(row, "need_conn_est")),
            T.Tip(label: "Active connections limit:", value: T.limit(row["slim"])),
            T.Tip(label: "Idle connections limit:", value: T.limit(row["src_ilim"])),
        ]
        h += T.tipCell(g(row, "scur"), connectionTips)
        h += "<td>\(g(row, "smax"))</td><td>\(T.limit(row["slim"]))</td>"
        var totalTips = sessionTotals(row)
        if isHTTP(row) { totalTips += httpTotals(row, percentages: true, compressed: false) + rewriteAndError(row) }
        totalTips += times(row)
        h += T.tipCell(g(row, "stot"), totalTips)
        h += "<td>\(g(row, "lbtot"))</td><td>\(T.age(row["lastsess"]))</td>"
        h += "<td>\(g(row, "bin"))</td><td>\(g(row, "bout"))</td>"
        h += "<td></td><td>\(g(row, "dresp"))</td>"
        h += "<td></td><td>\(g(row, "econ"))</td>" + resetsCell(row)
        h += "<td>\(g(row, "wretr"))</td><td>\(g(row, "wredis"))</td>"
        h += "<td class=ac>\(statusText(row))</td>"
        h += lastCheckCell(row)
        h += "<td class=ac>\(g(row, "weight"))/\(g(row, "uweight"))</td>"
        h += "<td class=ac>\(row["act"] == .number(1) ? "Y" : "-")</td><td class=ac>\(row["bck"] == .number(1) ? "Y" : "-")</td>"
        if row["chkfail"] == .empty {
            h += "<td colspan=3></td>"
        } else {
            h += T.tipCell(g(row, "chkfail"), text: "Failed Health Checks")
            h += "<td>\(g(row, "chkdown"))</td><td>\(T.duration(seconds: n(row, "downtime")))</td>"
        }
        h += "<td class=ac>\(row["throttle"] == .empty ? "-" : g(row, "throttle") + " %")</td>"
        return h
    }

    /// `3s UP`, `1m4s DOWN 1/2`, `<i>no check</i>`; an administrative drain gets HAProxy's ↓.
    static func statusText(_ row: StatRow) -> String {
        var status = row["status"].csv
        var suffix = ""
        // An unchecked server has no state changes to date.
        if status == "no check" { return "<i>no check</i>" }
        status = T.escape(status)
        if status.hasPrefix("DRAIN") && !status.contains("/") { suffix = " &darr;" }
        guard case .number(let seconds) = row["lastchg"] else { return status + suffix }
        return T.duration(seconds: seconds) + " " + status + suffix
    }

    /// ` L4OK in 0ms` with the check's description (and what it found) on hover.
    private static func lastCheckCell(_ row: StatRow) -> String {
        guard case .string(let status) = row["check_status"] else { return "<td></td>" }
        var shown = " " + T.escape(status)
        if case .number(let code) = row["check_code"] { shown += "/\(code)" }
        if case .number(let duration) = row["check_duration"] { shown += " in \(duration)ms" }
        var tip = T.escape(row["check_desc"].csv)
        let found = row["last_chk"].csv
        if !found.isEmpty { tip += ": " + T.escape(found) }
        return "<td class=ac><u>\(shown)<div class=tips>\(tip)</div></u></td>"
    }

    // MARK: - Backend

    private static func backendCells(_ row: StatRow, serversShown: (Int, Int)?) -> String {
        var h = "<td>\(g(row, "qcur"))</td><td>\(g(row, "qmax"))</td><td></td>"
        h += "<td>\(g(row, "rate"))</td><td>\(g(row, "rate_max"))</td><td></td>"
        h += "<td>\(g(row, "scur"))</td><td>\(g(row, "smax"))</td><td>\(T.limit(row["slim"]))</td>"
        var totalTips = sessionTotals(row)
        if isHTTP(row) { totalTips += httpTotals(row, percentages: false, compressed: true) + cacheAndErrors(row) }
        totalTips += times(row)
        h += T.tipCell(g(row, "stot"), totalTips)
        h += "<td>\(g(row, "lbtot"))</td><td>\(T.age(row["lastsess"]))</td>"
        h += bytesCells(row)
        h += "<td>\(g(row, "dreq"))</td><td>\(g(row, "dresp"))</td>"
        h += "<td></td><td>\(g(row, "econ"))</td>" + resetsCell(row)
        h += "<td>\(g(row, "wretr"))</td><td>\(g(row, "wredis"))</td>"
        let shown = serversShown.map { " (\($0.0)/\($0.1))" } ?? ""
        h += "<td class=ac>\(statusText(row))\(shown)</td><td class=ac>&nbsp;</td>"
        h += "<td class=ac>\(g(row, "weight"))/\(g(row, "uweight"))</td>"
        h += "<td class=ac>\(g(row, "act"))</td><td class=ac>\(g(row, "bck"))</td>"
        h += "<td class=ac>&nbsp;</td><td>\(g(row, "chkdown"))</td>"
        h += "<td>\(row["downtime"] == .empty ? "&nbsp;" : T.duration(seconds: n(row, "downtime")))</td><td></td>"
        return h
    }

    // MARK: - Shared cells and tooltips

    /// In, and Out with the compression figures on hover (proxyd compresses nothing: 0).
    private static func bytesCells(_ row: StatRow) -> String {
        let tips = T.tipTable([
            T.Tip(label: "Response bytes in:", value: g(row, "bout")),
            T.Tip(label: "Compression in:", value: g(row, "comp_in")),
            T.Tip(label: "Compression out:", value: g(row, "comp_out"),
                  extra: T.percent(n(row, "comp_out"), of: n(row, "comp_in"))),
            T.Tip(label: "Compression bypass:", value: g(row, "comp_byp")),
            T.Tip(label: "Total bytes saved:", value: T.grouped(n(row, "comp_in") - n(row, "comp_out")),
                  extra: T.percent(n(row, "comp_in") - n(row, "comp_out"), of: n(row, "bout"))),
        ])
        return "<td>\(g(row, "bin"))</td><td>\(g(row, "bout"))<div class=tips>\(tips)</div></td>"
    }

    private static func resetsCell(_ row: StatRow) -> String {
        T.tipCell(g(row, "eresp"),
                  text: "Connection resets during transfers: \(g(row, "cli_abrt")) client, \(g(row, "srv_abrt")) server")
    }

    private static func sessionTotals(_ row: StatRow) -> [T.Tip] {
        guard isHTTP(row) else { return [T.Tip(label: "Cum. sessions:", value: g(row, "stot"))] }
        return [T.Tip(label: "Cum. sessions:", value: g(row, "stot")),
                T.Tip(label: "New connections:", value: g(row, "connect")),
                T.Tip(label: "Reused connections:", value: g(row, "reuse"),
                      extra: T.percent(n(row, "reuse"), of: n(row, "connect") + n(row, "reuse")))]
    }

    /// Requests and responses by class; servers show each class's share, proxies the
    /// compressed 2xx line.
    private static func httpTotals(_ row: StatRow, percentages: Bool, compressed: Bool) -> [T.Tip] {
        let classes = [("1xx", "hrsp_1xx"), ("2xx", "hrsp_2xx"), ("3xx", "hrsp_3xx"), ("4xx", "hrsp_4xx"),
                       ("5xx", "hrsp_5xx")]
        let answered = classes.reduce(n(row, "hrsp_other")) { $0 + n(row, $1.1) }
        var tips = [T.Tip(label: "Cum. HTTP requests:", value: g(row, "req_tot"))]
        for (name, field) in classes {
            tips.append(T.Tip(label: "- HTTP \(name) responses:", value: g(row, field),
                              extra: percentages ? T.percent(n(row, field), of: answered) : nil))
            if compressed && name == "2xx" {
                tips.append(T.Tip(label: "&nbsp;&nbsp;Compressed 2xx:", value: g(row, "comp_rsp"),
                                  extra: T.percent(n(row, "comp_rsp"), of: n(row, "hrsp_2xx"))))
            }
        }
        tips.append(T.Tip(label: "- other responses:", value: g(row, "hrsp_other"),
                          extra: percentages ? T.percent(n(row, "hrsp_other"), of: answered) : nil))
        return tips
    }

    private static func cacheAndErrors(_ row: StatRow) -> [T.Tip] {
        [T.Tip(label: "Cache lookups:", value: g(row, "cache_lookups")),
         T.Tip(label: "Cache hits:", value: g(row, "cache_hits"),
               extra: T.percent(n(row, "cache_hits"), of: n(row, "cache_lookups"))),
         T.Tip(label: "Failed hdr rewrites:", value: g(row, "wrew")),
         T.Tip(label: "Internal errors:", value: g(row, "eint"))]
    }

    private static func rewriteAndError(_ row: StatRow) -> [T.Tip] {
        [T.Tip(label: "Failed hdr rewrites:", value: g(row, "wrew")),
         T.Tip(label: "Internal error:", value: g(row, "eint"))]
    }

    /// Max / average queue, connect, response (http) and total times, in ms.
    private static func times(_ row: StatRow) -> [T.Tip] {
        var tips = [T.Tip(label: "Max / Avg over last 1024 success. conn.", value: nil)]
        var kinds = [("Queue", "qtime"), ("Connect", "ctime")]
        if isHTTP(row) { kinds.append(("Responses", "rtime")) }
        kinds.append(("Total", "ttime"))
        for (label, field) in kinds {
            tips.append(T.Tip(label: "- \(label) time:", value: "\(g(row, field + "_max")) / \(g(row, field))", extra: "ms"))
        }
        return tips
    }
}
