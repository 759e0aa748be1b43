import Shared

/// A HAProxy log-format string (header values, redirect locations, `lf-string`):
/// literal text with `%[sample]` expressions and `%xx` log variables.
public struct FormatString: Sendable, Hashable, CustomStringConvertible {
    public enum Part: Sendable, Hashable {
        case literal(String)
        /// `%[expr]`, e.g. `%[src]`, `%[req.hdr(host),lower]`: the expression as written.
        case sample(String)
        /// `%ci`, `%{+Q}r` …: a log variable name with its flags as written.
        case variable(String)
    }
    /// The string as written in the config.
    public var raw: String
    public var parts: [Part]

    public init(raw: String, parts: [Part]) {
        self.raw = raw
        self.parts = parts
    }

    /// A constant string (no `%` expression).
    public static func literal(_ s: String) -> FormatString { FormatString(raw: s, parts: s.isEmpty ? [] : [.literal(s)]) }

    /// True when the string has no expression to evaluate.
    public var isConstant: Bool { parts.allSatisfy { if case .literal = $0 { return true } else { return false } } }

    public var description: String { raw }
}

/// The payload of `http-request return` / `deny` and similar replies.
public struct HTTPReply: Sendable, Equatable {
    public enum Body: Sendable, Equatable {
        /// `default-errorfiles` (what a bare `deny` implies): the proxy's error page for `status`.
        case defaultErrorFile
        /// `errorfile FILE` / `file FILE`: the file's bytes (for `errorfile`, a complete raw
        /// HTTP response; for `file`, the body only).
        case errorFile([UInt8])
        case file([UInt8])
        /// `string TEXT` / `lf-string FMT`.
        case string(String)
        case logFormat(FormatString)
        /// No payload: HAProxy's dummy response, the status line and the `hdr` headers only.
        case none
    }
    /// Status code (deny: 403, return: 200).
    public var status: Int
    public var contentType: String?
    public var body: Body
    /// `hdr NAME FMT` pairs.
    public var headers: [(name: String, value: FormatString)]

    public init(status: Int, contentType: String? = nil, body: Body = .none,
                headers: [(name: String, value: FormatString)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public static func == (a: HTTPReply, b: HTTPReply) -> Bool {
        a.status == b.status && a.contentType == b.contentType && a.body == b.body
            && a.headers.map { $0.name } == b.headers.map { $0.name }
            && a.headers.map { $0.value } == b.headers.map { $0.value }
    }
}

/// `redirect location|prefix|scheme <to> [code <n>] [option]…` (also `http-request redirect`).
public struct RedirectRule: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable { case location, prefix, scheme }
    public var kind: Kind
    public var target: FormatString
    /// 301, 302 (default), 303, 307 or 308.
    public var code: Int
    public var dropQuery: Bool
    public var appendSlash: Bool
    /// `ignore-empty`: no redirect when the computed location is empty.
    public var ignoreEmpty: Bool = false
    public var setCookie: String?
    public var clearCookie: String?

    public init(kind: Kind, target: FormatString, code: Int = 302, dropQuery: Bool = false,
                appendSlash: Bool = false, setCookie: String? = nil, clearCookie: String? = nil) {
        self.kind = kind
        self.target = target
        self.code = code
        self.dropQuery = dropQuery
        self.appendSlash = appendSlash
        self.setCookie = setCookie
        self.clearCookie = clearCookie
    }
}

/// An `http-request` action.
public enum HTTPRequestAction: Sendable, Equatable {
    /// `set-header NAME FMT`: remove all NAME headers, then add one.
    case setHeader(name: String, value: FormatString)
    /// `add-header NAME FMT`.
    case addHeader(name: String, value: FormatString)
    /// `del-header NAME [-m str|beg|end|sub|reg]` (default exact, case-insensitive name).
    case deleteHeader(name: String, match: MatchMethod)
    /// `replace-header NAME REGEX FMT` / `replace-value`.
    case replaceHeader(name: String, regex: CompiledRegex, replacement: FormatString)
    case replaceValue(name: String, regex: CompiledRegex, replacement: FormatString)
    /// `set-path FMT`, `set-query FMT`, `set-uri FMT`, `set-method FMT`.
    case setPath(FormatString)
    case setQuery(FormatString)
    case setURI(FormatString)
    case setMethod(FormatString)
    /// `replace-path|replace-pathq|replace-uri REGEX FMT`, `set-pathq FMT` (Model/RequestLineEdit.swift).
    case editRequestLine(RequestLineEdit)
    /// `set-log-level`, `silent-drop`, `set-src`, `set-src-port` (Model/LogLevelAndSource.swift).
    case setLogLevel(LogLevelChoice)
    case silentDrop
    case setSource(SourceRewrite)
    /// `set-dst`, `set-dst-port` (Model/LogLevelAndSource.swift).
    case setDestination(DestinationRewrite)
    /// `redirect …`.
    case redirect(RedirectRule)
    /// `deny [deny_status N] …`: an error reply (default 403).
    case deny(HTTPReply)
    /// `tarpit`: hold the request then answer 500 (or the reply).
    case tarpit(HTTPReply)
    /// `return …`: answer directly (default 200).
    case `return`(HTTPReply)
    /// `auth [realm R]`: answer 401 asking for credentials.
    case auth(realm: String?)
    /// `allow`: stop evaluating http-request rules.
    case allow
    /// `reject`: close the connection without a response.
    case reject
    /// `use-service NAME`: a service inside the proxy answers (`prometheus-exporter`).
    case useService(name: String)
    /// `track-sc0|1|2 KEY [table T]` (Model/StickTable.swift).
    case track(TrackAction)
    /// `sc-inc-gpc0(N)` / `sc-inc-gpc1(N)`: counter N's entry's gpc0 or gpc1 plus one.
    case incrementGPC(counter: Int, gpc: Int)
    /// `sc-set-gpt0(N) VALUE`: counter N's entry's gpt0 (an integer value only).
    case setGPT0(counter: Int, value: Int)
    /// `set-var(NAME) EXPR`, `set-var-fmt(NAME) FMT`, `unset-var(NAME)` (Model/SampleExpression.swift).
    case setVariable(VariableAssignment)
    /// `capture EXPR len N|id N` (Model/Captures.swift).
    case capture(CaptureAction)
}

/// An `http-request ACTION … [if|unless COND]` rule.
public struct HTTPRequestRule: Sendable, Equatable {
    public var action: HTTPRequestAction
    public var condition: Condition?
    public var location: SourceLocation?

    public init(action: HTTPRequestAction, condition: Condition? = nil, location: SourceLocation? = nil) {
        self.action = action
        self.condition = condition
        self.location = location
    }
}

/// An `http-response` action.
public enum HTTPResponseAction: Sendable, Equatable {
    case setHeader(name: String, value: FormatString)
    case addHeader(name: String, value: FormatString)
    case deleteHeader(name: String, match: MatchMethod)
    case replaceHeader(name: String, regex: CompiledRegex, replacement: FormatString)
    case replaceValue(name: String, regex: CompiledRegex, replacement: FormatString)
    /// `set-status CODE [reason TEXT]`.
    case setStatus(code: Int, reason: String?)
    /// `set-log-level`, `silent-drop` (Model/LogLevelAndSource.swift).
    case setLogLevel(LogLevelChoice)
    case silentDrop
    case deny(HTTPReply)
    case `return`(HTTPReply)
    case redirect(RedirectRule)
    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`, `sc-set-gpt0(N) VALUE` (Model/StickTable.swift).
    case incrementGPC(counter: Int, gpc: Int)
    case setGPT0(counter: Int, value: Int)
    case allow
    /// `set-var`, `set-var-fmt`, `unset-var` (Model/SampleExpression.swift).
    case setVariable(VariableAssignment)
    /// `capture EXPR id N` (Model/Captures.swift).
    case capture(CaptureAction)
}

public struct HTTPResponseRule: Sendable, Equatable {
    public var action: HTTPResponseAction
    public var condition: Condition?
    public var location: SourceLocation?

    public init(action: HTTPResponseAction, condition: Condition? = nil, location: SourceLocation? = nil) {
        self.action = action
        self.condition = condition
        self.location = location
    }
}
