import Shared

/// `cookie`, `force-persist`, `ignore-persist`, `use-server` and the persistence options
/// (`option persist`, `option prefer-last-server`) of a proxy section (issue 15). Their
/// messages are HAProxy 2.6's.
enum PersistenceParser {
    /// Hooked into ProxyParser's table.
    static let keywords: [String: ProxyKeyword] = [
        "cookie": ProxyKeyword(side: .backend, inDefaults: true, handler: cookie),
        "force-persist": ProxyKeyword(side: .backend, inDefaults: false, handler: { s, p, l, ctx in
            persistRule(.force, s, &p, l, ctx)
        }),
        "ignore-persist": ProxyKeyword(side: .backend, inDefaults: false, handler: { s, p, l, ctx in
            persistRule(.ignore, s, &p, l, ctx)
        }),
        "use-server": ProxyKeyword(side: .backend, inDefaults: false, handler: useServer),
        // HAProxy takes it silently in a frontend too (where it does nothing).
        "persist": ProxyKeyword(side: .both, inDefaults: true, handler: persist),
        "dynamic-cookie-key": ProxyKeyword(side: .backend, inDefaults: true, handler: { s, p, l, _ in
            guard l.count > 1, !l[1].isEmpty else {
                s.alert(l, "'dynamic-cookie-key' expects <secret_key> as argument.")
                return
            }
            p.persistence.dynamicCookieKey = l[1]
        }),
    ]

    /// Hooked into OptionParser's table.
    static let options: [String: OptionParser.Entry] = [
        "persist": OptionParser.flag(.backend) { $0.persistence.persistWhileDown = $1 },
        "prefer-last-server": OptionParser.flag(.backend) { $0.persistence.preferLastServer = $1 },
    ]

    static let cookieOptionsMessage = "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options."

    /// `persist rdp-cookie[(NAME)]`, HAProxy 2.6's only persist method; what follows it is
    /// ignored, as HAProxy ignores it.
    static func persist(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let method = l.count > 1 ? l[1] : ""
        guard !method.isEmpty else {
            s.alert(l, "missing persist method.")
            return
        }
        guard method.hasPrefix("rdp-cookie") else {
            s.alert(l, "unknown persist method.")
            return
        }
        let rest = method.dropFirst("rdp-cookie".count)
        guard rest.first == "(" else {
            p.persistence.rdpCookie = "msts"
            return
        }
        guard let close = rest.firstIndex(of: ")"), close > rest.index(after: rest.startIndex) else {
            s.alert(l, "persist rdp-cookie(name)' requires an rdp cookie name.")
            return
        }
        p.persistence.rdpCookie = String(rest[rest.index(after: rest.startIndex)..<close])
    }

    static func cookie(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard l.count > 1, !l[1].isEmpty else {
            s.alert(l, "'cookie' expects <cookie_name> as argument.")
            return
        }
        var settings = CookieSettings(name: l[1])
        var modeWord: String? = nil
        var i = 2
        func setMode(_ mode: CookieSettings.Mode) -> Bool {
            if modeWord != nil && settings.mode != mode {
                s.alert(l, "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.")
                return false
            }
            modeWord = l[i]
            settings.mode = mode
            return true
        }
        /// The argument after an option such as `domain`, or nil after saying what is missing.
        func argument(_ what: String) -> String? {
            guard i + 1 < l.count, !l[i + 1].isEmpty else {
                s.alertRaw("parsing [\(l.location)]: '\(l[i])' expects \(what) as argument.", at: l.location)
                return nil
            }
            i += 1
            return l[i]
        }
        while i < l.count {
            switch l[i] {
            case "rewrite": guard setMode(.rewrite) else { return }
            case "insert": guard setMode(.insert) else { return }
            case "prefix": guard setMode(.prefix) else { return }
            case "indirect": settings.indirect = true
            case "nocache": settings.noCache = true
            case "postonly": settings.postOnly = true
            case "preserve": settings.preserve = true
            case "httponly": settings.httpOnly = true
            case "secure": settings.secure = true
            case "domain":
                guard let domain = argument("<domain>") else { return }
                settings.domains.append(domain)
            case "attr":
                guard let value = argument("<value>") else { return }
                // Each attribute is written `; VALUE`: a `;` or a control byte would
                // forge others.
                if let bad = value.utf8.first(where: { $0 == UInt8(ascii: ";") || $0 < 0x20 || $0 == 0x7F }) {
                    let hex = String(bad, radix: 16, uppercase: true)
                    s.alertRaw("parsing [\(l.location)]: character '%x\(hex.count < 2 ? "0" + hex : hex)' is not permitted in attribute value.",
                               at: l.location)
                    return
                }
                settings.attributes.append(value)
            case "maxidle", "maxlife":
                let name = l[i]
                guard let text = argument(name == "maxidle" ? "<idletime> in seconds" : "<lifetime> in seconds") else { return }
                // Seconds unless a unit says otherwise.
                let withUnit = text.allSatisfy { $0.isASCII && $0.isNumber } ? text + "s" : text
                switch ConfigUnits.milliseconds(withUnit) {
                case let .success(ms):
                    if name == "maxidle" { settings.maxIdle = ms / 1000 } else { settings.maxLife = ms / 1000 }
                case let .failure(.unexpectedCharacter(c)):
                    s.alertRaw("parsing [\(l.location)]: unexpected character '\(c)' in argument to <\(name)>.", at: l.location)
                    return
                case .failure:
                    s.alertRaw("parsing [\(l.location)]: timer overflow in argument <\(text)> to <\(name)>.", at: l.location)
                    return
                }
            case "dynamic": settings.dynamic = true
            default:
                s.alert(l, cookieOptionsMessage)
                return
            }
            i += 1
        }
        if settings.preserve && settings.mode != .insert && !settings.indirect {
            s.alert(l, "cookie 'preserve' requires at least 'insert' or 'indirect'.")
            return
        }
        p.persistence.cookie = settings
    }

    static func persistRule(_ kind: PersistRule.Kind, _ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine,
                            _ ctx: ProxyParseContext) {
        guard l[1] == "if" || l[1] == "unless" else {
            s.alert(l, "'\(l.keyword)' requires either 'if' or 'unless' followed by a condition.")
            return
        }
        switch ACLParser.parseCondition(s, p, Array(l.words[1...]), l.location, context: .httpRequest) {
        case let .success(condition):
            p.persistence.persistRules.append(PersistRule(kind: kind, condition: condition, location: l.location))
        case let .failure(e):
            s.alert(l, "error detected while parsing a '\(l.keyword)' rule : \(e.message).")
        }
    }

    static func useServer(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        guard l.count > 1, !l[1].isEmpty else {
            s.alert(l, "'use-server' expects a server name.")
            return
        }
        guard l[2] == "if" || l[2] == "unless" else {
            s.alert(l, "'use-server' requires either 'if' or 'unless' followed by a condition.")
            return
        }
        switch ACLParser.parseCondition(s, p, Array(l.words[2...]), l.location, context: .httpRequest) {
        case let .success(condition):
            p.persistence.useServerRules.append(UseServerRule(server: l[1], condition: condition, location: l.location))
        case let .failure(e):
            s.alert(l, "error detected while parsing switching rule : \(e.message).")
        }
    }

    /// After parsing: every `use-server` names a server of its backend. True on error.
    static func checkUseServer(_ s: ParserState, _ p: ProxySettings) -> Bool {
        var errors = false
        for rule in p.persistence.useServerRules where !p.servers.contains(where: { $0.name == rule.server }) {
            let at = rule.location.map { "parsing [\($0)] : " } ?? ""
            s.alertRaw("\(at)proxy '\(p.name)' : unable to find server '\(rule.server)' referenced in a 'use-server' rule.",
                       at: rule.location)
            errors = true
        }
        return errors
    }
}
