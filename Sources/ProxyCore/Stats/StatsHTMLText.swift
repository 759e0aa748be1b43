/// How the HTML stats page writes values, as HAProxy 2.6 writes them: grouped digits,
/// `-` for no limit, short durations, and hover tooltips.
enum StatsHTMLText {
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// `3228` as `<span class="rls">3</span>228`: every group of three digits but the
    /// last sits in a span whose letter spacing separates the thousands, so the number
    /// still copies as plain digits.
    static func grouped(_ value: Int) -> String {
        let digits = Array(String(value.magnitude))
        var out = value < 0 ? "-" : ""
        var start = 0
        var groupLength = digits.count % 3 == 0 ? 3 : digits.count % 3
        while start + groupLength < digits.count {
            out += "<span class=\"rls\">" + String(digits[start..<start + groupLength]) + "</span>"
            start += groupLength
            groupLength = 3
        }
        return out + String(digits[start...])
    }

    /// A cell value: grouped when it is a number, escaped text otherwise, nothing when empty.
    static func value(_ value: StatValue) -> String {
        switch value {
        case .empty: return ""
        case .number(let n): return grouped(n)
        case .string(let s): return escape(s)
        }
    }

    /// A limit: `-` when there is none (empty or 0).
    static func limit(_ value: StatValue) -> String {
        switch value {
        case .number(let n) where n > 0: return grouped(n)
        case .string(let s) where !s.isEmpty: return escape(s)
        default: return "-"
        }
    }

    /// `34s`, `1m4s`, `2h5m`, `3d1h`: the two largest units from the first non-zero one.
    static func duration(seconds: Int) -> String {
        let t = max(0, seconds)
        let parts = [(t / 86400, "d"), (t / 3600 % 24, "h"), (t / 60 % 60, "m"), (t % 60, "s")]
        guard let first = parts.firstIndex(where: { $0.0 > 0 }) else { return "0s" }
        return parts[first...].prefix(2).map { "\($0.0)\($0.1)" }.joined()
    }

    /// `?` for never (a negative age), else the duration.
    static func age(_ value: StatValue) -> String {
        guard case .number(let seconds) = value, seconds >= 0 else { return "?" }
        return duration(seconds: seconds)
    }

    /// `(33%)` of `part` in `whole`, 0 when there is no whole.
    static func percent(_ part: Int, of whole: Int) -> String {
        "(\(whole > 0 ? part * 100 / whole : 0)%)"
    }

    /// A cell whose value shows a tooltip of `label: value` lines on hover. Lines with a
    /// third element add a cell (a unit or a percentage); a `nil` value is a heading.
    struct Tip {
        var label: String
        var value: String?
        var extra: String? = nil
    }

    static func tipTable(_ tips: [Tip]) -> String {
        var out = "<table class=det>"
        for tip in tips {
            guard let value = tip.value else {
                out += "<tr><th colspan=3>\(tip.label)</th></tr>"
                continue
            }
            out += "<tr><th>\(tip.label)</th><td>\(value)</td>"
            if let extra = tip.extra { out += "<td>\(extra)</td>" }
            out += "</tr>"
        }
        return out + "</table>"
    }

    /// `<td><u>VALUE<div class=tips>…</div></u></td>`: the underline marks the hover.
    static func tipCell(_ shown: String, _ tips: [Tip]) -> String {
        "<td><u>\(shown)<div class=tips>\(tipTable(tips))</div></u></td>"
    }

    static func tipCell(_ shown: String, text: String) -> String {
        "<td><u>\(shown)<div class=tips>\(text)</div></u></td>"
    }
}
