import Shared

/// The parsing pipeline behind `ConfigurationLoader`: files → lines → sections → model.
struct Loader {
    var options: LoadOptions
    init(options: LoadOptions) { self.options = options }

    static let placeholder = ProxySettings(name: "", location: SourceLocation(file: "", line: 0), capabilities: [])

    /// Section keywords HAProxy 2.6 knows and proxyd parses.
    static let supportedSections: Set<String> = ["global", "defaults", "frontend", "backend", "listen", "userlist",
                                                  "http-errors", "resolvers", "peers"]
    /// Section keywords HAProxy 2.6 knows but proxyd does not support yet.
    static let unsupportedSections: Set<String> = [
        "mailers", "program", "ring", "cache", "log-forward",
        "fcgi-app",
    ]

    /// Every section keyword, for did-you-mean hints (HAProxy proposes them too).
    static let sectionKeywords: [String] = Array(supportedSections) + Array(unsupportedSections)

    /// Expands `-f` arguments: a directory gives its `*.cfg` files in lexical order.
    static func expand(paths: [String]) -> Result<[String], Diagnostic> {
        var files: [String] = []
        for path in paths {
            switch FileSystem.kind(path) {
            case .directory?:
                guard let names = FileSystem.list(path) else {
                    return .failure(.alert("Cannot open configuration file/directory \(path) : \(FileSystem.lastError())"))
                }
                let base = path.hasSuffix("/") ? path : path + "/"
                for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
                where name.hasSuffix(".cfg") && !name.hasPrefix(".") {
                    let full = base + name
                    if FileSystem.kind(full) == .file { files.append(full) }
                }
            case nil:
                return .failure(.alert("Cannot open configuration file/directory \(path) : \(FileSystem.lastError())"))
            default:
                files.append(path)
            }
        }
        return .success(files)
    }

    mutating func run(paths: [String]) -> LoadResult {
        let files: [String]
        switch Loader.expand(paths: paths) {
        case let .failure(d): return LoadResult(configuration: nil, diagnostics: [d], exitCode: 1)
        case let .success(f): files = f
        }
        var sources: [(String, [UInt8])] = []
        for file in files {
            switch FileSystem.read(file) {
            case let .success(bytes): sources.append((file, bytes))
            case let .failure(e):
                return LoadResult(configuration: nil,
                                  diagnostics: [.alert("Could not open configuration file \(file) : \(e.message)")],
                                  exitCode: 1)
            }
        }
        return run(sources: sources)
    }

    mutating func run(sources: [(String, [UInt8])]) -> LoadResult {
        let state = ParserState(options: options)
        for (name, bytes) in sources {
            parseFile(state, name: name, bytes: bytes)
            closeSection(state)
            if state.fileHasErrors {
                state.alertRaw("Error(s) found in configuration file : \(name)", at: nil)
                state.fatal = true
                state.fileHasErrors = false
            }
            if state.abort {
                return LoadResult(configuration: nil, diagnostics: state.diagnostics, exitCode: 1)
            }
        }
        if state.fatal {
            state.diagnostics.append(.alert("Fatal errors found in configuration."))
            return LoadResult(configuration: nil, diagnostics: state.diagnostics, exitCode: 1)
        }
        // Post-parse checks (HAProxy's check_config_validity).
        var validityErrors = Validation.checkValidity(state)
        if !ResolversParser.finish(state) { validityErrors = true }
        if validityErrors {
            state.diagnostics.append(.alert("Fatal errors found in configuration."))
            return LoadResult(configuration: nil, diagnostics: state.diagnostics, exitCode: 1)
        }
        // Server addresses (HAProxy's srv_init_addr).
        if options.resolveServers, !Validation.resolveServers(state) {
            state.diagnostics.append(.alert("Failed to initialize server(s) addr."))
            return LoadResult(configuration: nil, diagnostics: state.diagnostics, exitCode: 1)
        }
        // The command line's debug switches win over the configuration, as HAProxy's do.
        if options.disableSplice { state.global.noSplice = true }
        if options.disableServerVerify { state.global.sslServerVerifyRequired = false }
        var config = ProxyConfiguration(global: state.global, proxies: state.proxies, userlists: state.userlists,
                                        resolvers: state.resolvers)
        config.peers = state.peersSections
        // A stats socket listens too: only a configuration without any listener exits 2.
        // So does the local peer of a `peers` section, as in HAProxy.
        let peersListen = config.peers.contains { $0.hasLocalPeer && !$0.disabled }
        let code: Int32 = config.listeners.isEmpty && config.global.statsSockets.isEmpty && !peersListen ? 2 : 0
        return LoadResult(configuration: config, diagnostics: state.diagnostics, exitCode: code)
    }

    // MARK: Lines

    func parseFile(_ state: ParserState, name: String, bytes: [UInt8]) {
        var conditions = ConditionalBlocks()
        var lineNumber = 0
        defer { if !state.abort { conditions.finish(state, lastLine: SourceLocation(file: name, line: lineNumber)) } }
        var start = 0
        let n = bytes.count
        while start < n {
            var end = start
            while end < n && bytes[end] != 0x0A { end += 1 }
            lineNumber += 1
            var slice = bytes[start..<end]
            let location = SourceLocation(file: name, line: lineNumber)
            // HAProxy parses a last line without its newline, then refuses the file (truncated?).
            let missingLF = end == n
            let rawLength = slice.count
            if slice.last == 0x0D { slice = slice.dropLast() }
            start = end + 1
            let text = String(decoding: slice, as: UTF8.self)
            let lexed = ConfigLexer.split(text) { key in
                switch key {
                case ".FILE": return name
                case ".LINE": return String(lineNumber)
                case ".SECTION": return state.sectionName
                default: return state.environment[key]
                }
            }
            switch lexed {
            case let .failure(e):
                state.alertRaw("parsing [\(location)]: \(e.message)", at: location)
            case let .success(words):
                // HAProxy skips a line whose first word is empty (e.g. `"" x` or `"$UNSET" x`).
                if let first = words.first, !first.isEmpty {
                    if first.hasPrefix(".") {
                        conditions.handle(state, ConfigLine(words: words, location: location),
                                          diagnosticMode: options.diagnosticMode)
                    } else if conditions.active {
                        parseLine(state, ConfigLine(words: words, location: location))
                    }
                }
            }
            if state.abort { return }
            if missingLF {
                state.alertRaw("parsing [\(location)]: Missing LF on last line, file might have been truncated at position \(rawLength + 1).",
                               at: location)
            }
        }
    }

    func parseLine(_ state: ParserState, _ line: ConfigLine) {
        let kw = line.keyword
        if Loader.supportedSections.contains(kw) || Loader.unsupportedSections.contains(kw) {
            closeSection(state)
            openSection(state, line)
            return
        }
        switch state.section {
        case .none:
            state.alertRaw("parsing [\(line.location)]: unknown keyword '\(kw)' out of section.", at: line.location)
        case .global:
            GlobalParser.parse(state, line)
        case let .defaults(i):
            // The settings are moved out of the array while a line changes them, so that
            // appending a server does not copy the whole proxy (configs with thousands of
            // servers stay linear).
            var settings = state.defaultsList[i].settings
            state.defaultsList[i].settings = Loader.placeholder
            let ctx = ProxyParseContext(kind: "defaults", isDefaults: true,
                                        isNamedDefaults: state.defaultsList[i].name != nil, index: -1)
            ProxyParser.parse(state, &settings, line, ctx)
            state.defaultsList[i].settings = settings
        case let .proxy(i):
            var settings = state.proxies[i]
            state.proxies[i] = Loader.placeholder
            let ctx = ProxyParseContext(kind: settings.capabilities.sectionName, isDefaults: false,
                                        isNamedDefaults: false, index: i)
            ProxyParser.parse(state, &settings, line, ctx)
            state.proxies[i] = settings
        case let .userlist(i):
            UserlistParser.parse(state, &state.userlists[i], line)
        case let .httpErrors(i):
            ErrorPagesParser.parseSectionLine(state, i, line)
        case let .resolvers(i):
            ResolversParser.parseLine(state, i, line)
        case let .peers(i):
            PeersParser.parseLine(state, i, line)
        case .unsupported:
            break
        case .orphan:
            state.alert(line, "'listen' or 'defaults' expected.")
        }
    }

    func closeSection(_ state: ParserState) {
        switch state.section {
        case let .defaults(i):
            state.currentDefaults = state.defaultsList[i].settings
        default:
            break
        }
        state.section = .none
    }

    static func validName(_ name: String) -> Character? {
        for c in name {
            if !(c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == "." || c == ":")) { return c }
        }
        return nil
    }

    func openSection(_ state: ParserState, _ line: ConfigLine) {
        let kw = line.keyword
        let loc = line.location
        if Loader.unsupportedSections.contains(kw) {
            state.alert(line, "'\(kw)' sections are valid in HAProxy but not supported by proxyd yet.")
            state.section = .unsupported(kw)
            return
        }
        switch kw {
        case "global":
            if line.count > 1 {
                state.alert(line, "'global' cannot handle unexpected argument '\(line[1])'.")
            }
            state.section = .global
            if state.global.location == nil { state.global.location = loc }
        case "userlist":
            guard line.count > 1, !line[1].isEmpty else {
                state.alertRaw("parsing [\(line.location)]: 'userlist' expects <name> as arguments.", at: line.location)
                state.section = .unsupported("userlist")
                return
            }
            if let other = state.userlists.first(where: { $0.name == line[1] }) {
                state.warningRaw("parsing [\(line.location)]: ignoring duplicated userlist '\(line[1])'.", at: line.location)
                _ = other
                state.section = .unsupported("userlist")
                return
            }
            state.userlists.append(Userlist(name: line[1], location: loc))
            state.section = .userlist(state.userlists.count - 1)
        case "http-errors":
            ErrorPagesParser.openSection(state, line)
        case "resolvers":
            ResolversParser.openSection(state, line)
        case "peers":
            PeersParser.openSection(state, line)
        default:
            openProxy(state, line)
        }
    }

    func openProxy(_ state: ParserState, _ line: ConfigLine) {
        let kw = line.keyword
        let loc = line.location
        let isDefaults = kw == "defaults"
        var name: String? = nil
        var argIndex = 1
        if line.count > 1 && line[1] != "from" {
            name = line[1]
            argIndex = 2
        }
        if !isDefaults && (name == nil || name!.isEmpty) {
            state.alert(line, "'\(kw)' expects an <id> argument")
            state.abort = true
            return
        }
        if !isDefaults, let name, let bad = Loader.validName(name) {
            state.alert(line, "character '\(bad)' is not permitted in '\(kw)' name '\(name)'.")
            state.section = .unsupported(kw)
            return
        }
        var fromName: String? = nil
        if line.count > argIndex {
            if line[argIndex] == "from" {
                if line.count <= argIndex + 1 || line[argIndex + 1].isEmpty {
                    state.alert(line, "'from' expects a defaults section name.")
                    state.section = .unsupported(kw)
                    return
                }
                fromName = line[argIndex + 1]
                if line.count > argIndex + 2 {
                    state.alert(line, "'\(kw)' cannot handle unexpected argument '\(line[argIndex + 2])'.")
                    state.section = .unsupported(kw)
                    return
                }
            } else if kw == "backend" {
                // HAProxy silently refuses the section: its lines are then out of place.
                state.section = .orphan
                return
            } else if !isDefaults {
                // HAProxy 1.x took addresses here; the section is then not created.
                state.alert(line, "please use the 'bind' keyword for listening addresses.")
                state.section = .orphan
                return
            } else {
                state.alert(line, "'\(kw)' cannot handle unexpected argument '\(line[argIndex])'.")
                state.section = .unsupported(kw)
                return
            }
        }
        var base = state.currentDefaults
        let what = isDefaults ? "defaults '\(name ?? "")'" : "\(kw) '\(name ?? "")'"
        if let fromName {
            let candidates = state.defaultsList.filter { $0.name == fromName }
            if candidates.count > 1 {
                state.alert(line, "ambiguous defaults section name '\(fromName)' referenced by \(what) exists at least at \(candidates[0].settings.location) and \(candidates[1].settings.location).")
            }
            // Mixing explicit (`from`) and implicit use of one named defaults section.
            if !isDefaults, let d = candidates.last, state.implicitlyUsedDefaults.contains(d.settings.location) {
                state.alertNonFatal(line, "defaults section '\(fromName)' (declared at \(d.settings.location)) is explicitly referenced by another proxy and implicitly used here. To avoid any ambiguity don't mix both usage. Add a last defaults section not explicitly used or always use explicit references.")
            }
            if candidates.count == 1 { state.explicitlyUsedDefaults.insert(candidates[0].settings.location) }
            guard let d = candidates.last else {
                state.alert(line, "defaults section '\(fromName)' not found for \(what).")
                state.abort = true
                return
            }
            base = d.settings
        }
        if isDefaults, fromName != nil,
           !base.httpRequestRules.isEmpty || !base.httpResponseRules.isEmpty || !base.tcpRequestRules.isEmpty {
            state.alertRaw("parsing [\(loc)]: a defaults section cannot inherit from a defaults section defining TCP/HTTP rules (defaults section at \(base.location)).", at: loc)
            state.abort = true
            return
        }
        if isDefaults {
            var settings = fromName == nil
                ? ProxySettings(name: name ?? "", location: loc, capabilities: .listen)
                : base
            settings.name = name ?? ""
            settings.location = loc
            state.defaultsList.append(DefaultsSection(name: name, settings: settings))
            state.section = .defaults(state.defaultsList.count - 1)
            return
        }
        if fromName == nil, let current = state.defaultsList.last, current.name != nil {
            if state.explicitlyUsedDefaults.contains(current.settings.location) {
                state.alertNonFatal(line, "defaults section '\(current.name!)' (declared at \(current.settings.location)) is explicitly referenced by another proxy and implicitly used here. To avoid any ambiguity don't mix both usage. Add a last defaults section not explicitly used or always use explicit references.")
            }
            state.implicitlyUsedDefaults.insert(current.settings.location)
        }
        let caps: ProxyCapabilities = kw == "frontend" ? .frontend : kw == "backend" ? .backend : .listen
        if let j = state.proxyIndicesByName[name!]?.first(where: { !state.proxies[$0].capabilities.intersection(caps).isEmpty }) {
            func word(_ c: ProxyCapabilities) -> String { c == .listen ? "proxy" : c.sectionName }
            let other = state.proxies[j]
            state.alertRaw("Parsing [\(loc)]: \(word(caps)) '\(name!)' has the same name as \(word(other.capabilities)) '\(other.name)' declared at \(other.location).",
                           at: loc)
        }
        // A defaults section with TCP/HTTP rules serves either frontends or backends.
        let baseHasRules = !base.httpRequestRules.isEmpty || !base.httpResponseRules.isEmpty || !base.tcpRequestRules.isEmpty
        if baseHasRules {
            if caps == .listen {
                state.alertRaw("parsing [\(loc)]: a listen section cannot inherit from a defaults section defining TCP/HTTP rules.", at: loc)
                state.abort = true
                return
            }
            let users = state.defaultsUsers[base.location, default: []].union(caps)
            if users.contains(.frontend) && users.contains(.backend) {
                state.alertRaw("parsing [\(loc)]: frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules (defaults section at \(base.location)).", at: loc)
                state.abort = true
                return
            }
            state.defaultsUsers[base.location] = users
        }
        var proxy = base
        proxy.name = name!
        proxy.location = loc
        proxy.capabilities = caps
        // Settings that cannot come from a defaults section start empty; the rules of a
        // named defaults section stay, first (HAProxy runs them before the proxy's own),
        // but its ACLs are not visible to the proxy.
        proxy.binds = []
        proxy.servers = []
        proxy.acls = []
        proxy.useBackendRules = []
        proxy.redirectRules = []
        proxy.logOptionHere = nil
        // Only the proxy's own check rules make HAProxy warn about a missing option.
        proxy.healthCheck.sawHTTPCheckRules = false
        proxy.healthCheck.sawTCPCheckRules = false
        proxy.description = nil
        proxy.id = nil
        state.appendProxy(proxy)
        state.section = .proxy(state.proxies.count - 1)
    }
}
