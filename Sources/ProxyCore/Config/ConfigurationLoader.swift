import Shared

/// Options of a load, from the command line.
public struct LoadOptions: Sendable {
    /// Environment for `"${VAR}"` expansion.
    public var environment: [String: String]
    /// Resolve server host names with `getaddrinfo` (HAProxy always does; tests may not).
    public var resolveServers: Bool
    /// Check mode (`-c`): only affects the messages that mention it.
    public var checkOnly: Bool
    /// `-dr`: a server whose address cannot be resolved starts without one (as with
    /// `init-addr none`) instead of failing the load.
    public var ignoreResolutionFailures: Bool = false
    /// `-dD`: diagnostic mode; `.diag` directives print their message.
    public var diagnosticMode: Bool = false
    /// `-dS`: no kernel splicing, as the `nosplice` global keyword.
    public var disableSplice: Bool = false
    /// `-dV`: servers' certificates are not verified, as `ssl-server-verify none`.
    public var disableServerVerify: Bool = false
    /// `-L NAME`: the local peer's name; it wins over the `localpeer` global keyword.
    public var localPeerFromCommandLine: String? = nil

    public init(environment: [String: String] = [:], resolveServers: Bool = true, checkOnly: Bool = false) {
        self.environment = environment
        self.resolveServers = resolveServers
        self.checkOnly = checkOnly
    }
}

/// What a load produced.
public struct LoadResult: Sendable {
    /// The model, when there was no fatal error.
    public var configuration: ProxyConfiguration?
    /// Every message, in the order HAProxy prints them, final summary lines included
    /// (`Error(s) found in configuration file : f.cfg`, `Fatal errors found in configuration.`).
    public var diagnostics: [Diagnostic]
    /// HAProxy's check-mode exit status: 0 valid, 1 errors, 2 valid but no listener.
    public var exitCode: Int32

    public var hasWarnings: Bool { diagnostics.contains { $0.severity == .warning } }

    public init(configuration: ProxyConfiguration?, diagnostics: [Diagnostic], exitCode: Int32) {
        self.configuration = configuration
        self.diagnostics = diagnostics
        self.exitCode = exitCode
    }
}

/// The one entry point: files → lexer → section parsers → defaults inheritance →
/// validation → model.
public enum ConfigurationLoader {
    /// Loads `paths` (files, or directories whose `*.cfg` files load in lexical order),
    /// as `haproxy -f A -f B` does.
    public static func load(paths: [String], environment: [String: String]) -> LoadResult {
        load(paths: paths, options: LoadOptions(environment: environment))
    }

    /// The files `paths` name, in load order (a directory gives its `*.cfg` files in
    /// lexical order), or HAProxy's alert for a path that cannot be opened.
    public static func configurationFiles(paths: [String]) -> Result<[String], Diagnostic> {
        Loader.expand(paths: paths)
    }

    public static func load(paths: [String], options: LoadOptions) -> LoadResult {
        var loader = Loader(options: options)
        return loader.run(paths: paths)
    }

    /// Parses configuration text (tests): `name` is the file name used in messages.
    public static func load(text: String, name: String, options: LoadOptions = LoadOptions()) -> LoadResult {
        var loader = Loader(options: options)
        return loader.run(sources: [(name, Array(text.utf8))])
    }
}
