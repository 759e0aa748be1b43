/// The block under the title: general process information (the figures `show info`
/// gives), the colour legend, and the display options (scope, hide DOWN servers,
/// refresh, exports), laid out in one row as HAProxy 2.6 lays it out.
enum StatsHTMLProcess {
    typealias T = StatsHTMLText

    static func block(_ context: StatsContext, request: StatsRequestOptions, settings: StatsSettings) -> String {
        var h = "<h3>&gt; General process information</h3>\n"
        h += "<table border=0><tr><td align=\"left\" nowrap width=\"1%\">\n"
        h += information(context)
        h += "</td><td align=\"center\" nowrap>\n" + legend
        h += "</td><td align=\"left\" valign=\"top\" nowrap width=\"1%\">" + displayOptions(request, settings: settings)
        h += "</td></tr></table>\n"
        return h
    }

    private static func information(_ context: StatsContext) -> String {
        let info = ShowInfo.values(context)
        func v(_ key: String) -> Int {
            if case .number(let n) = info[key] { return n }
            return 0
        }
        let memmax = v("Memmax_MB") == 0 ? "unlimited" : "\(v("Memmax_MB"))MB"
        var h = "<p><b>pid = </b> \(v("Pid")) (process #1, nbproc = 1, nbthread = \(v("Nbthread")))<br>\n"
        h += "<b>uptime = </b> \(info["Uptime"]?.csv ?? "")<br>\n"
        h += "<b>system limits:</b> memmax = \(memmax); ulimit-n = \(v("Ulimit-n"))<br>\n"
        h += "<b>maxsock = </b> \(v("Maxsock")); <b>maxconn = </b> \(v("Maxconn")); <b>maxpipes = </b> \(v("Maxpipes"))<br>\n"
        h += "current conns = \(v("CurrConns")); current pipes = \(v("PipesUsed"))/\(v("PipesUsed") + v("PipesFree"));"
        h += " conn rate = \(v("ConnRate"))/sec; bit rate = \(bitRate(v("BytesOutRate") * 8))<br>\n"
        h += "Running tasks: \(v("Run_queue"))/\(v("Tasks")); idle = \(v("Idle_pct")) %<br>\n"
        return h
    }

    /// `750 bps`, `32.629 kbps`, `1.200 Mbps`.
    static func bitRate(_ bits: Int) -> String {
        let units: [(Int, String)] = [(1_000_000_000, "Gbps"), (1_000_000, "Mbps"), (1000, "kbps")]
        for (scale, name) in units where bits >= scale {
            let thousandths = bits % scale * 1000 / scale
            let padded = String(repeating: "0", count: 3 - String(thousandths).count) + String(thousandths)
            return "\(bits / scale).\(padded) \(name)"
        }
        return "\(bits) bps"
    }

    /// Every state a server row can be drawn in, with its colour.
    static let legend = """
        <table class="lgd"><tr>
        <td class="active_up">&nbsp;</td><td class="noborder">active UP </td><td class="backup_up">&nbsp;</td><td class="noborder">backup UP </td></tr><tr>
        <td class="active_going_down"></td><td class="noborder">active UP, going down </td><td class="backup_going_down"></td><td class="noborder">backup UP, going down </td></tr><tr>
        <td class="active_going_up"></td><td class="noborder">active DOWN, going up </td><td class="backup_going_up"></td><td class="noborder">backup DOWN, going up </td></tr><tr>
        <td class="active_down"></td><td class="noborder">active or backup DOWN &nbsp;</td><td class="active_no_check"></td><td class="noborder">not checked </td></tr><tr>
        <td class="maintain"></td><td class="noborder" colspan="3">active or backup DOWN for maintenance (MAINT) &nbsp;</td></tr><tr>
        <td class="active_draining"></td><td class="noborder" colspan="3">active or backup SOFT STOPPED for maintenance &nbsp;</td></tr></table>
        Note: "NOLB"/"DRAIN" = UP with load-balancing disabled.
        """

    /// The scope box (a GET form: `?scope=`), then links that keep the current scope,
    /// `;up` and `;norefresh` choices.
    private static func displayOptions(_ request: StatsRequestOptions, settings: StatsSettings) -> String {
        let uri = T.escape(settings.uri)
        let scope = request.scope.map { "?scope=" + T.escape($0) } ?? ""
        let up = request.upOnly ? ";up" : ""
        let norefresh = request.noRefresh ? ";norefresh" : ""
        let exportSuffix = settings.refresh != nil ? ";norefresh" : ""
        var h = "<b>Display option:</b><ul style=\"margin-top: 0.25em;\">"
        h += "<li><form method=\"GET\">Scope : <input value=\"\(T.escape(request.scope ?? ""))\" name=\"scope\" size=\"8\" maxlength=\"20\" tabindex=\"1\"/></form>\n"
        h += request.upOnly
            ? "<li><a href=\"\(uri)\(norefresh)\(scope)\">Show all servers</a><br>\n"
            : "<li><a href=\"\(uri);up\(norefresh)\(scope)\">Hide 'DOWN' servers</a><br>\n"
        if settings.refresh != nil {
            h += request.noRefresh
                ? "<li><a href=\"\(uri)\(up)\(scope)\">Enable refresh</a><br>\n"
                : "<li><a href=\"\(uri)\(up);norefresh\(scope)\">Disable refresh</a><br>\n"
        }
        h += "<li><a href=\"\(uri)\(up)\(norefresh)\(scope)\">Refresh now</a><br>\n"
        h += "<li><a href=\"\(uri);csv\(exportSuffix)\(scope)\">CSV export</a><br>\n"
        h += "<li><a href=\"\(uri);json\(exportSuffix)\(scope)\">JSON export</a><br>\n"
        return h + "</ul>"
    }
}
