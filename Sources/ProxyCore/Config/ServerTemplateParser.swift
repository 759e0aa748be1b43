/// `server-template PREFIX COUNT|FIRST-LAST ADDR[:PORT] [options…]`: HAProxy's way to
/// declare a row of servers at once (PREFIX1…PREFIXn, or PREFIXfirst…PREFIXlast), each
/// as `server PREFIXi ADDR options` would. Without `resolvers` every server gets the
/// address as it resolves at start-up, as in HAProxy 2.6; with `resolvers` the row shares
/// the name's records, one per server (DNS/ServerDNSUpdates.swift).
enum ServerTemplateParser {
    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard l.count >= 4, !l[1].isEmpty, !l[2].isEmpty, !l[3].isEmpty else {
            s.alertRaw("[\(l.location)] : 'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.",
                       at: l.location)
            return
        }
        guard let range = numbers(l[2]) else {
            s.alertRaw("[\(l.location)] : Wrong server-template number or range arg '\(l[2])'.", at: l.location)
            return
        }
        let options = Array(l.words.dropFirst(3))
        for i in range {
            let line = ConfigLine(words: ["server", l[1] + String(i)] + options, location: l.location)
            let before = p.servers.count
            ServerParser.parseServer(s, &p, line, ctx)
            if p.servers.count > before { p.servers[p.servers.count - 1].isTemplate = true }
        }
    }

    /// `3` is 1…3, `5-6` is 5…6; read as HAProxy reads them (leading digits: `1-2-3` is 1…2).
    static func numbers(_ text: String) -> ClosedRange<Int>? {
        func leading(_ t: Substring) -> (Int, Substring)? {
            let digits = t.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count < 10, let n = Int(digits) else { return nil }
            return (n, t.dropFirst(digits.count))
        }
        guard let (first, rest) = leading(Substring(text)) else { return nil }
        if rest.first == "-" {
            guard let (last, _) = leading(rest.dropFirst()), last >= first, first >= 0 else { return nil }
            return first...last
        }
        return first >= 1 ? 1...first : nil
    }
}
