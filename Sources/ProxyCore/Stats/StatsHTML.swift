#if canImport(Glibc)
import Glibc
#endif

/// The HTML statistics report: process information, a legend, then one table per proxy
/// with HAProxy's column groups (queue, session rate, sessions, bytes, denied, errors,
/// warnings, server). Plain HTML and CSS: readable without JavaScript.
enum StatsHTML {
    static func render(_ page: StatsPage, options: Set<String>, isAdmin: Bool, message: String?) -> String {
        let context = page.context
        let settings = page.settings
        let node = settings.showNode.map { $0.isEmpty ? context.nodeName : $0 }
        let upOnly = options.contains("up")
        let base = settings.uri
        var h = """
        <!DOCTYPE html>
        <html><head><title>Statistics Report for proxyd\(node.map { " on " + escape($0) } ?? "")</title>
        <meta charset="utf-8">
        <style>
        body { font-family: arial, helvetica, sans-serif; font-size: 12px; color: black; background: white; }
        th, td { font-size: 10px; border: 1px solid #999; padding: 1px 3px; }
        table.tbl { border-collapse: collapse; margin-bottom: 1em; }
        h1 { font-size: x-large; } h3 { font-size: 16px; color: #b00040; background: #e8e8d0; }
        .titre { background: #20D0D0; font-weight: bold; text-align: center; }
        .pxname { background: #b00040; color: #ffff40; text-align: left; }
        .frontend, .backend { background: #e8e8d0; }
        .active_up { background: #c0ffc0; } .backup_up { background: #b0d0ff; }
        .active_down, .backup_down { background: #ff9090; }
        .active_no_check, .backup_no_check { background: #e0e0e0; }
        .active_draining, .backup_draining { background: #20a0ff; }
        .maintain { background: #c07820; }
        .message { background: #c0ffc0; padding: 4px; }
        td.ac { text-align: left; } td { text-align: right; }
        </style></head>
        <body><h1>proxyd \(settings.hideVersion ? "" : "version " + ProxyCoreVersion.string)</h1>

        """
        h += "<h2>Statistics Report for pid \(getpid())\(node.map { " on " + escape($0) } ?? "")</h2>\n"
        if let description = settings.showDescription {
            let text = description.isEmpty ? context.configuration.global.description ?? "" : description
            h += "<p class=\"desc\">\(escape(text))</p>\n"
        }
        if let message {
            let text: String
            switch message {
            case "DONE": text = "Action processed successfully."
            case "PART": text = "Action partially processed."
            case "NONE": text = "Nothing has changed."
            case "DENY": text = "Action denied."
            default: text = "Action not processed: invalid request."
            }
            h += "<p class=\"message\">[X] \(text)</p>\n"
        }
        h += "<h3>&gt; General process information</h3>\n<p>"
        h += "<b>pid = </b>\(getpid()) (nbthread = \(context.runtime.loopStates.all.count))<br>\n"
        h += "<b>uptime = </b>\(ShowInfo.uptimeText(context.uptimeSeconds))<br>\n"
        h += "<b>maxconn = </b>\(context.runtime.globalGate.limit)<br>\n"
        h += "current conns = \(context.currentConnections)<br>\n</p>\n"
        h += """
        <table class="tbl"><tr>
        <td class="active_up">&nbsp;</td><td>active UP</td><td class="backup_up">&nbsp;</td><td>backup UP</td>
        <td class="active_down">&nbsp;</td><td>active or backup DOWN</td><td class="active_no_check">&nbsp;</td><td>not checked</td>
        <td class="maintain">&nbsp;</td><td>DOWN for maintenance (MAINT)</td><td class="active_draining">&nbsp;</td><td>SOFT STOPPED (DRAIN)</td>
        </tr></table>
        <p><b>Display option:</b>
        <a href="\(base)\(upOnly ? "" : ";up")">\(upOnly ? "Show all servers" : "Hide 'DOWN' servers")</a> |
        <a href="\(base);norefresh">Disable refresh</a> | <a href="\(base)">Refresh now</a> |
        <a href="\(base);csv;norefresh">CSV export</a> | <a href="\(base);json;norefresh">JSON export</a></p>

        """
        for proxy in context.proxies where settings.scopes.isEmpty || settings.scopes.contains(proxy.name) {
            let rows = context.rows(of: proxy, userLevel: true).filter { row in
                guard upOnly, row.kind == .server, case .string(let status) = row["status"] else { return true }
                return status.hasPrefix("UP") || status == "no check" || status == "DRAIN"
            }
            h += table(proxy, rows: rows, admin: isAdmin && proxy.backend != nil && !(proxy.backend!.servers.isEmpty), base: base)
        }
        h += "</body></html>\n"
        return h
    }

    static func table(_ proxy: StatsContext.Proxy, rows: [StatRow], admin: Bool, base: String) -> String {
        var h = ""
        if admin { h += "<form method=\"post\" action=\"\(base)\">\n" }
        h += """
        <table class="tbl" id="\(escape(proxy.name))">
        <tr><th class="pxname" colspan="\(admin ? 32 : 31)"><a name="\(escape(proxy.name))"></a>\(escape(proxy.name))</th></tr>
        <tr class="titre">\(admin ? "<th rowspan=2></th>" : "")<th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th>
        <th colspan=6>Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th>
        <th colspan=2>Warnings</th><th colspan=9>Server</th></tr>
        <tr class="titre"><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th>
        <th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th><th>Last</th><th>In</th><th>Out</th>
        <th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th>
        <th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th></tr>

        """
        for row in rows {
            h += line(row, admin: admin)
        }
        h += "</table>\n"
        if admin {
            h += """
            Choose the action to perform on the checked servers : <select name="action">
            <option value="">(none)</option><option value="ready">Set state to READY</option>
            <option value="drain">Set state to DRAIN</option><option value="maint">Set state to MAINT</option>
            <option value="hrunn">Health: force UP</option><option value="hdown">Health: force DOWN</option>
            <option value="dhlth">Disable health checks</option><option value="ehlth">Enable health checks</option>
            </select><input type="hidden" name="b" value="#\(proxy.id)"><input type="submit" value="Apply"></form>

            """
        }
        return h
    }

    static func statusClass(_ row: StatRow) -> String {
        switch row.kind {
        case .frontend: return "frontend"
        case .backend: return "backend"
        case .server:
            let backup = row["bck"] == .number(1)
            let prefix = backup ? "backup" : "active"
            guard case .string(let status) = row["status"] else { return prefix + "_down" }
            if status.hasPrefix("MAINT") { return "maintain" }
            if status == "DRAIN" { return prefix + "_draining" }
            if status == "no check" { return prefix + "_no_check" }
            if status.hasPrefix("UP") { return prefix + "_up" }
            return prefix + "_down"
        }
    }

    static func line(_ row: StatRow, admin: Bool) -> String {
        func v(_ name: String) -> String { escape(row[name].csv) }
        let label: String
        switch row.kind {
        case .frontend: label = "Frontend"
        case .backend: label = "Backend"
        case .server: label = v("svname")
        }
        var h = "<tr class=\"\(statusClass(row))\">"
        if admin {
            h += row.kind == .server ? "<td><input type=\"checkbox\" name=\"s\" value=\"\(v("svname"))\"></td>" : "<td></td>"
        }
        h += "<td class=ac>\(label)</td>"
        let lastSession: String
        if case .number(let seconds) = row["lastsess"], seconds >= 0 {
            lastSession = ShowInfo.uptimeText(seconds)
        } else {
            lastSession = ""
        }
        let lastCheck = [v("check_status"), v("check_code")].filter { !$0.isEmpty }.joined(separator: " ")
            + (row["check_duration"] == .empty ? "" : " in \(v("check_duration"))ms")
        var downtime = ""
        if case .number(let seconds) = row["downtime"] { downtime = ShowInfo.uptimeText(seconds) }
        let cells = [v("qcur"), v("qmax"), v("qlimit"), v("rate"), v("rate_max"), v("rate_lim"),
                     v("scur"), v("smax"), v("slim"), v("stot"), v("lbtot"), lastSession,
                     v("bin"), v("bout"), v("dreq"), v("dresp"), v("ereq"), v("econ"), v("eresp"),
                     v("wretr"), v("wredis"),
                     row.kind == .server ? statusText(row) : v("status"), lastCheck, v("weight"),
                     row.kind == .backend ? v("act") : (row["act"] == .number(1) ? "Y" : "-"),
                     row.kind == .backend ? v("bck") : (row["bck"] == .number(1) ? "Y" : "-"),
                     v("chkfail"), v("chkdown"), downtime, v("throttle")]
        for cell in cells { h += "<td>\(cell)</td>" }
        return h + "</tr>\n"
    }

    /// `UP`, `DOWN`, `MAINT`…, with the time since the last change, as HAProxy shows it.
    static func statusText(_ row: StatRow) -> String {
        var text = escape(row["status"].csv)
        if case .number(let seconds) = row["lastchg"] { text = ShowInfo.uptimeText(seconds) + " " + text }
        return text
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
