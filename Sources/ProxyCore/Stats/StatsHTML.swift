#if canImport(Glibc)
import Glibc
#endif

/// The HTML statistics report as HAProxy 2.6 draws it: title, process block and legend
/// (StatsHTMLProcess), then per proxy a title bar and a table of rows (StatsHTMLRows).
/// Plain HTML and CSS: readable without JavaScript; the product named is proxyd.
enum StatsHTML {
    typealias T = StatsHTMLText

    static func render(_ page: StatsPage, request: StatsRequestOptions, isAdmin: Bool) -> String {
        let context = page.context
        let settings = page.settings
        let node = settings.showNode.map { $0.isEmpty ? context.nodeName : $0 }
        let description = settings.showDescription.map {
            $0.isEmpty ? context.configuration.global.description ?? "" : $0
        }
        let onNode = node.map { " on " + T.escape($0) } ?? ""
        var h = """
            <!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"
            "http://www.w3.org/TR/html4/loose.dtd">
            <html><head><title>Statistics Report for proxyd\(onNode)</title>
            <link rel="icon" href="data:,">
            <meta http-equiv="content-type" content="text/html; charset=utf-8">
            <style type="text/css"><!--
            \(StatsHTMLStyle.css)-->
            </style></head>

            """
        let version = settings.hideVersion ? "" : " version \(ProxyCoreVersion.string), released \(ShowInfo.releaseDate)"
        h += "<body><h1><a href=\"\(T.escape(settings.uri))\" style=\"text-decoration: none;\">proxyd\(version)</a></h1>\n"
        h += "<h2>Statistics Report for pid \(getpid())\(onNode)"
        if let description, !description.isEmpty { h += ": " + T.escape(description) }
        h += "</h2>\n<hr width=\"100%\" class=\"hr\">\n"
        if let message = request.message { h += messageBox(message, request: request, uri: settings.uri) }
        h += StatsHTMLProcess.block(context, request: request, settings: settings)
        for proxy in context.proxies where page.isVisible(proxy.name, request: request) {
            let all = context.rows(of: proxy, userLevel: true)
            let rows = all.filter { request.shows($0) }
            // With `;up`, the backend's status says how many of its servers are shown.
            let shown = request.upOnly
                ? (rows.count { $0.kind == .server }, all.count { $0.kind == .server }) : nil
            h += table(proxy, rows: rows, admin: isAdmin, serversShown: shown)
        }
        return h + "</body></html>\n"
    }

    /// The answer to an admin form, with a link that removes it.
    static func messageBox(_ code: String, request: StatsRequestOptions, uri: String) -> String {
        let (style, text): (String, String)
        switch code {
        case "DONE": (style, text) = ("active_up", "Action processed successfully.")
        case "PART": (style, text) = ("active_going_down", "Action partially processed.")
        case "NONE": (style, text) = ("active_going_down", "Nothing has changed.")
        case "DENY": (style, text) = ("active_down", "Action denied.")
        default: (style, text) = ("active_down", "Action not processed: invalid request.")
        }
        let back = T.escape(uri) + (request.upOnly ? ";up" : "") + (request.noRefresh ? ";norefresh" : "")
        return "<p><div class=\(style)><a class=lfsb href=\"\(back)\" title=\"Remove this message\">[X]</a> <b>\(text)</b></div>\n"
    }

    /// The proxy's title bar, then its table with the two header rows. An admin page has
    /// a first column for the servers' checkboxes; the table of a proxy with servers then
    /// sits in a form that applies the chosen action to the ticked ones.
    static func table(_ proxy: StatsContext.Proxy, rows: [StatRow], admin: Bool,
                      serversShown: (Int, Int)? = nil) -> String {
        let name = T.escape(proxy.name)
        let form = admin && !(proxy.backend?.servers.isEmpty ?? true)
        var h = form ? "<form method=\"post\">" : ""
        h += "<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" width=\"10%\">"
        h += "<a name=\"\(name)\"></a><a class=px href=\"#\(name)\">\(name)</a></th>"
        if let description = proxy.settings.description {
            h += "<th class=\"desc\" width=\"90%\">\(T.escape(description))</th></tr>\n</table>\n"
        } else {
            h += "<th class=\"empty\" width=\"90%\"></th></tr>\n</table>\n"
        }
        h += "<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\">"
        if form {
            // Ticks or unticks every server of this proxy (the page works without it).
            h += "<th rowspan=2 width=1><input type=\"checkbox\" onclick=\"for(c in document.getElementsByClassName('\(name)-checkbox')) "
                + "document.getElementsByClassName('\(name)-checkbox').item(c).checked = this.checked\"></th>"
        } else if admin {
            h += "<th rowspan=2></th>"
        }
        h += "<th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th><th colspan=6>Sessions</th>"
        h += "<th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th><th colspan=2>Warnings</th>"
        h += "<th colspan=9>Server</th></tr>\n<tr class=\"titre\">"
        for title in columnTitles { h += "<th>\(title)</th>" }
        h += "\n</tr>"
        for row in rows {
            h += StatsHTMLRows.line(row, proxyName: proxy.name, admin: admin, serversShown: serversShown)
        }
        h += "</table>"
        if form {
            h += "Choose the action to perform on the checked servers : <select name=action><option value=\"\"></option>"
            for (value, label) in adminActions { h += "<option value=\"\(value)\">\(label)</option>" }
            h += "</select><input type=\"hidden\" name=\"b\" value=\"#\(proxy.id)\">&nbsp;<input type=\"submit\" value=\"Apply\"></form>"
        }
        return h + "<p>\n"
    }

    static let columnTitles = ["Cur", "Max", "Limit", "Cur", "Max", "Limit", "Cur", "Max", "Limit", "Total", "LbTot",
                               "Last", "In", "Out", "Req", "Resp", "Req", "Conn", "Resp", "Retr", "Redis", "Status",
                               "LastChk", "Wght", "Act", "Bck", "Chk", "Dwn", "Dwntme", "Thrtle"]

    /// The actions StatsPage.applyAdminForm carries out, in HAProxy's order and words.
    /// (HAProxy also offers NOLB, agent actions and killing sessions: proxyd has none.)
    static let adminActions = [("ready", "Set state to READY"), ("drain", "Set state to DRAIN"),
                               ("maint", "Set state to MAINT"), ("dhlth", "Health: disable checks"),
                               ("ehlth", "Health: enable checks"), ("hrunn", "Health: force UP"),
                               ("hdown", "Health: force DOWN")]
}
