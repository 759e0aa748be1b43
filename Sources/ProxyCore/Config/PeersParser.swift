import Glibc
import Shared

/// The `peers NAME` section (HAProxy 2.6's cfg_parse_peers): `peer`, `bind` + `server`,
/// `disabled`, `enabled` and `table`. Messages are HAProxy's.
enum PeersParser {
    /// The local peer's name: `-L`, else `localpeer` (read before the first `peers`
    /// section), else the host name HAProxy puts in `HAPROXY_LOCALPEER`.
    static func localPeerName(_ s: ParserState) -> String {
        if let name = s.options.localPeerFromCommandLine { return name }
        if let name = s.localPeerKeyword { return name }
        if let name = s.environment["HAPROXY_LOCALPEER"] { return name }
        var host = [CChar](repeating: 0, count: 256)
        return gethostname(&host, host.count - 1) == 0 ? String(cString: host) : "localhost"
    }

    /// `localpeer NAME` in `global`.
    static func parseLocalPeer(_ s: ParserState, _ l: ConfigLine) {
        guard l.count > 1, !l[1].isEmpty else {
            s.alert(l, "'localpeer' expects a name as an argument.")
            return
        }
        if s.options.localPeerFromCommandLine != nil {
            s.warning(l, "'localpeer' ignored since it is already set by using the '-L' command line argument.")
            return
        }
        if !s.peersSections.isEmpty {
            s.warning(l, "'localpeer' ignored since it is used after 'peers' section.")
            return
        }
        s.localPeerKeyword = l[1]
    }

    static func openSection(_ s: ParserState, _ l: ConfigLine) {
        guard l.count > 1, !l[1].isEmpty else {
            s.alert(l, "missing name for peers section.")
            s.abort = true
            return
        }
        if let bad = Loader.validName(l[1]) {
            s.alert(l, "character '\(bad)' is not permitted in 'peers' name '\(l[1])'.")
            s.abort = true
            return
        }
        if let other = s.peersSections.first(where: { $0.name == l[1] }) {
            s.alertRaw("Parsing [\(l.location)]: peers section '\(l[1])' has the same name as another peers section declared at \(other.location.map { "\($0)" } ?? "?").",
                       at: l.location)
            s.section = .unsupported("peers")
            return
        }
        s.peersSections.append(PeersSection(name: l[1], localPeerName: localPeerName(s), location: l.location))
        s.section = .peers(s.peersSections.count - 1)
    }

    static func parseLine(_ s: ParserState, _ index: Int, _ l: ConfigLine) {
        switch l.keyword {
        case "peer", "server":
            parsePeer(s, index, l)
        case "bind":
            guard noMixedForms(s, index, l) else { return }
            guard l.count > 1, !l[1].isEmpty else {
                s.alert(l, "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.")
                return
            }
            guard let (host, port) = address(s, l, l[1], what: "bind") else { return }
            guard l.count == 2 else {
                s.alert(l, "'bind' : bind options (such as '\(l[2])') in a 'peers' section are not supported by proxyd yet.")
                return
            }
            s.peersSections[index].bindHost = host
            s.peersSections[index].bindPort = port
        case "disabled":
            s.peersSections[index].disabled = true
        case "enabled":
            s.peersSections[index].disabled = false
        case "table":
            parseTable(s, index, l)
        case "default-server", "default-bind", "log":
            s.alert(l, "'\(l.keyword)' in a 'peers' section is valid in HAProxy but not supported by proxyd yet.")
        default:
            // `shards` came with HAProxy 2.8: 2.6 does not know it either.
            s.alert(l, "unknown keyword '\(l.keyword)' in 'peers' section")
        }
    }

    /// `peer NAME ADDR:PORT` or `server NAME [ADDR:PORT]`.
    static func parsePeer(_ s: ParserState, _ index: Int, _ l: ConfigLine) {
        let kw = l.keyword
        if kw == "peer" { guard noMixedForms(s, index, l) else { return } }
        guard l.count > 1, !l[1].isEmpty else {
            s.alert(l, "'\(kw)' expects <name> and <addr>[:<port>] as arguments.")
            return
        }
        let name = l[1]
        if let bad = Loader.validName(name) {
            s.alert(l, "character '\(bad)' is not permitted in server name '\(name)'.")
            return
        }
        var section = s.peersSections[index]
        var peer = PeerDefinition(name: name, host: nil, port: nil, location: l.location)
        if kw == "server", name == section.localPeerName, l.count > 2, !l[2].isEmpty {
            // In the 2.x form the local peer's address is the `bind` line's.
            s.alertRaw("[\(l.location)] : 'server \(section.localPeerName)/\(name)' : unknown keyword '\(l[2])'. Hint: no address was expected for this server.",
                       at: l.location)
            return
        }
        if l.count > 2, !l[2].isEmpty {
            // HAProxy names the peers' servers after the local peer.
            guard let (host, port) = address(s, l, l[2], what: "server \(section.localPeerName)/\(name)") else { return }
            peer.host = host
            peer.port = port
        }
        if l.count > 3 {
            s.alert(l, "'\(kw) \(name)' : server options (such as '\(l[3])') in a 'peers' section are not supported by proxyd yet.")
            return
        }
        if name == section.localPeerName {
            if let other = section.peers.first(where: { $0.name == name }) {
                s.alert(l, "'\(kw) \(name)' : local peer name already referenced at \(other.location.map { "\($0)" } ?? "?").")
                return
            }
            // A `peer` line for the local peer is also where it listens (2.x's `bind` wins).
            if kw == "peer", section.bindHost == nil {
                section.bindHost = peer.host
                section.bindPort = peer.port
            }
        }
        section.peers.append(peer)
        s.peersSections[index] = section
    }

    /// `peer` lines and `bind` lines cannot meet in one section (HAProxy's words).
    private static func noMixedForms(_ s: ParserState, _ index: Int, _ l: ConfigLine) -> Bool {
        let other = l.keyword == "peer" ? "bind" : "peer"
        if s.peersLineForms[index, default: []].contains(other) {
            s.alert(l, "mixing \"peer\" and \"bind\" line is forbidden")
            return false
        }
        s.peersLineForms[index, default: []].insert(l.keyword)
        return true
    }

    /// `table NAME type … size … [expire …] [nopurge] [store …]`, named `SECTION/NAME`.
    static func parseTable(_ s: ParserState, _ index: Int, _ l: ConfigLine) {
        guard l.count > 1, !l[1].isEmpty else {
            s.alert(l, "table: missing size.")
            return
        }
        let name = s.peersSections[index].name + "/" + l[1]
        guard var table = StickTableParser.parseDefinition(s, l, from: 2, name: name, prefix: "table") else { return }
        if table.peers != nil {
            // The section is the table's peers already: HAProxy does not know the word here.
            s.alert(l, "table: unknown argument 'peers'.")
            return
        }
        if s.peersSections[index].tables.contains(where: { $0.name == name }) {
            // HAProxy accepts it and uses the first.
            s.warning(l, "table: table '\(l[1])' is already declared in this 'peers' section; this one is ignored.")
            return
        }
        table.peers = s.peersSections[index].name
        s.peersSections[index].tables.append(table)
    }

    private static func address(_ s: ParserState, _ l: ConfigLine, _ text: String, what: String) -> (String, Int)? {
        guard let (host, portText) = AddressParser.splitHostPortText(text) else {
            s.alertRaw("[\(l.location)] : '\(what)' : invalid address: '\(text)'", at: l.location)
            return nil
        }
        guard let portText else { return (host, 0) }
        guard let port = ConfigUnits.integer(portText), (0...65535).contains(port) else {
            let bad = portText.first { !$0.isNumber } ?? portText.first ?? " "
            s.alertRaw("[\(l.location)] : '\(what)' : invalid character '\(bad)' in port number '\(portText)' in '\(text)'",
                       at: l.location)
            return nil
        }
        return (host, port)
    }

    /// After all sections are read (HAProxy's check of the peers sections): a section
    /// without the local peer is removed with a warning; a table's `peers NAME` names a
    /// section. Returns true when a fatal error was found.
    static func checkSections(_ s: ParserState) -> Bool {
        // The section stays in the model (its tables work locally, as in HAProxy);
        // the runtime replicates only sections that have their local peer.
        for section in s.peersSections where !section.hasLocalPeer {
            s.warningRaw("Removing incomplete section 'peers \(section.name)' (no peer named '\(section.localPeerName)').",
                         at: section.location)
        }
        var errors = false
        let known = Set(s.peersSections.map(\.name))
        for p in s.proxies where !p.disabled {
            if let name = p.stickTable?.peers, !known.contains(name) {
                s.alertRaw("Proxy '\(p.name)': unable to find sync peers '\(name)'.", at: p.stickTable?.location)
                errors = true
            }
        }
        return errors
    }
}
