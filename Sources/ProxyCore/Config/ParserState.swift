import Shared

/// One lexed line.
struct ConfigLine {
    var words: [String]
    var location: SourceLocation

    var keyword: String { words[0] }
    /// Argument `i` (0 is the keyword), "" when absent, as HAProxy's `args[i]`.
    subscript(_ i: Int) -> String { i < words.count ? words[i] : "" }
    var count: Int { words.count }
}

/// The section being parsed.
enum CurrentSection {
    case none
    case global
    /// Index into `defaultsList`.
    case defaults(Int)
    /// Index into `proxies`.
    case proxy(Int)
    case userlist(Int)
    /// Index into `httpErrors`.
    case httpErrors(Int)
    /// Index into `resolvers` (issue 15).
    case resolvers(Int)
    /// Index into `peersSections`.
    case peers(Int)
    /// A recognised but unsupported section: its lines are skipped.
    case unsupported(String)
    /// Lines after a proxy header HAProxy refused (each is reported).
    case orphan

    var isProxy: Bool {
        switch self {
        case .defaults, .proxy: return true
        default: return false
        }
    }
}

/// A `defaults` section as parsed.
struct DefaultsSection {
    var name: String?
    var settings: ProxySettings
}

/// Everything the section parsers share while reading the files.
final class ParserState {
    let options: LoadOptions
    /// The environment for `"${VAR}"`, changed by `setenv` & co as the lines are read.
    var environment: [String: String]
    var diagnostics: [Diagnostic] = []
    /// HAProxy's ERR_ALERT/ERR_FATAL for the current file, and overall.
    var fileHasErrors = false
    var fatal = false
    /// ERR_ABORT: stop after this file.
    var abort = false

    var global = GlobalSettings()
    var defaultsList: [DefaultsSection] = []
    /// The defaults that apply to the next proxy (HAProxy's built-in ones at first).
    var currentDefaults: ProxySettings
    var proxies: [ProxySettings] = []
    /// Indices into `proxies` by name, in file order (a frontend and a backend may share a
    /// name). Lookups by name go through it: scanning `proxies` copies each (large) element,
    /// which made configs with thousands of proxies quadratic.
    var proxyIndicesByName: [String: [Int]] = [:]
    var userlists: [Userlist] = []
    var httpErrors: [HTTPErrorsSection] = []
    var resolvers: [ResolversSettings] = []
    var peersSections: [PeersSection] = []
    /// Which of `peer` and `bind` each peers section used (HAProxy forbids mixing them).
    var peersLineForms: [Int: Set<String>] = [:]
    /// `localpeer NAME` of the global section (the `-L` name wins).
    var localPeerKeyword: String?
    var section: CurrentSection = .none

    /// Which sides (frontend, backend) used each defaults section (by location).
    var defaultsUsers: [SourceLocation: ProxyCapabilities] = [:]

    /// Named defaults sections (by location) used with `from`, and used implicitly.
    var explicitlyUsedDefaults: Set<SourceLocation> = []
    var implicitlyUsedDefaults: Set<SourceLocation> = []

    /// The kind of the section being parsed (`defaults`, `frontend`, …), for messages.
    var currentKind = ""
    /// The name of the proxy being parsed: `src_*` fetches read its stick table by default.
    var currentProxyName = ""

    /// Warnings found while parsing a rule, printed once the rule is done.
    var pendingWarnings: [String] = []

    /// Parse-time facts the model does not keep, by proxy index.
    var sawUseBackend: Set<Int> = []

    init(options: LoadOptions) {
        self.options = options
        environment = options.environment
        currentDefaults = ProxySettings(name: "", location: SourceLocation(file: "", line: 0), capabilities: .listen)
    }

    /// Appends a proxy section and indexes it by name.
    func appendProxy(_ proxy: ProxySettings) {
        proxyIndicesByName[proxy.name, default: []].append(proxies.count)
        proxies.append(proxy)
    }

    /// The index of the first backend (`backend` or `listen`) named `name`.
    func backendIndex(named name: String) -> Int? {
        proxyIndicesByName[name]?.first { proxies[$0].isBackend }
    }

    /// `${.SECTION}`: the current section's name (`global`, `defaults` when unnamed).
    var sectionName: String {
        switch section {
        case .global: return "global"
        case let .defaults(i): return defaultsList[i].name ?? "defaults"
        case let .proxy(i): return proxies[i].name
        case let .userlist(i): return userlists[i].name
        case let .httpErrors(i): return httpErrors[i].name
        case let .resolvers(i): return resolvers[i].name
        case let .peers(i): return peersSections[i].name
        default: return ""
        }
    }

    // MARK: Messages

    func alert(_ line: ConfigLine, _ message: String) {
        diagnostics.append(.parsing(.alert, line.location, message))
        fileHasErrors = true
    }

    /// An alert whose whole text is given (HAProxy's forms vary).
    func alertRaw(_ message: String, at location: SourceLocation?) {
        diagnostics.append(.alert(message, at: location))
        fileHasErrors = true
    }

    /// An alert HAProxy prints without failing the load ("… already specified. Continuing.").
    func alertNonFatal(_ line: ConfigLine, _ message: String) {
        diagnostics.append(.parsing(.alert, line.location, message))
    }

    func alertNonFatalRaw(_ message: String, at location: SourceLocation?) {
        diagnostics.append(.alert(message, at: location))
    }

    func warning(_ line: ConfigLine, _ message: String) {
        diagnostics.append(.parsing(.warning, line.location, message))
    }

    func warningRaw(_ message: String, at location: SourceLocation?) {
        diagnostics.append(.warning(message, at: location))
    }

    /// A time value read as HAProxy 2.6 reads it, with its warning for what follows the
    /// unit (`inter 1s[`). HAProxy prints that warning without the line for most keywords;
    /// ours names the line, as every other message here does.
    func timer(_ line: ConfigLine, _ text: String) -> Result<Int, ConfigUnits.TimeError> {
        let value = ConfigUnits.milliseconds(text)
        if case .success = value, let c = ConfigUnits.trailingAfterUnit(text) {
            warning(line, ConfigUnits.trailingAfterUnitWarning(text, c))
        }
        return value
    }

    // MARK: Paths

    /// `crt`/`ca-file` names: relative ones are taken under crt-base / ca-base.
    func resolve(_ path: String, base: String?) -> String {
        guard let base, !path.hasPrefix("/") else { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }
}

/// A keyword's parser for a proxy-like section (`defaults`, `frontend`, `backend`, `listen`).
struct ProxyKeyword {
    /// Where the keyword makes sense; used for HAProxy's "ignored because … has no
    /// frontend/backend capability" warnings.
    enum Side { case frontend, backend, both }
    var side: Side
    /// Allowed in `defaults` sections.
    var inDefaults: Bool
    /// Message name in "not allowed in 'defaults' section" and capability warnings.
    var handler: (ParserState, inout ProxySettings, ConfigLine, ProxyParseContext) -> Void
}

/// What a proxy keyword parser knows about where it is.
struct ProxyParseContext {
    /// `frontend`, `backend`, `listen` or `defaults`.
    var kind: String
    var isDefaults: Bool
    var isNamedDefaults: Bool
    var index: Int
}

/// A `global` keyword's parser.
typealias GlobalKeyword = (ParserState, ConfigLine) -> Void
