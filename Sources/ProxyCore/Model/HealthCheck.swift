import Shared

/// What a health check expects (`http-check expect`, `tcp-check expect`).
public struct CheckExpectation: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `status <codes>`: a list of codes or ranges (`200`, `200-399`, `2xx` style
        /// is not HAProxy's: ranges only). Each element inclusive.
        case status([ClosedRange<Int>])
        /// `rstatus <regex>`: the status code (as text) matches.
        case statusRegex(CompiledRegex)
        /// `string <text>`: the body (http) or received data (tcp) contains it.
        case string(String)
        /// `rstring <regex>`.
        case stringRegex(CompiledRegex)
        /// `binary <hex>` (tcp-check): received data contains these bytes.
        case binary([UInt8])
        /// `rbinary <regex>` (tcp-check), applied to the hex form of the data.
        case binaryRegex(CompiledRegex)
        /// `hdr name <n> [value <v>]` (http-check).
        case header(name: String, value: String?)
    }
    /// `!`: the check succeeds when the expectation does NOT match.
    public var negated: Bool
    public var kind: Kind
    /// `min-recv`, `ok-status`, `error-status`, `tout-status`, `on-success`, `on-error`, `comment` as written.
    public var options: [String: String]

    public init(negated: Bool = false, kind: Kind, options: [String: String] = [:]) {
        self.negated = negated
        self.kind = kind
        self.options = options
    }
}

/// One `tcp-check` rule.
public enum TCPCheckRule: Sendable, Equatable {
    /// `connect [port N] [addr A] [ssl] [sni S] [alpn A] [send-proxy] [linger] [comment C]`.
    case connect(port: Int?, address: String?, ssl: Bool, sni: String?, sendProxy: Bool, linger: Bool)
    /// `send <string>` (C escapes such as `\r\n` already decoded by the lexer).
    case send(String)
    /// `send-lf <fmt>`.
    case sendLogFormat(FormatString)
    /// `send-binary <hex>`.
    case sendBinary([UInt8])
    case expect(CheckExpectation)
    /// `comment <text>`.
    case comment(String)
}

/// The request an HTTP check sends (`option httpchk [METH] [URI] [VER]`,
/// `http-check send meth M uri U ver V hdr N V body B`).
public struct HTTPCheckRequest: Sendable, Equatable {
    /// Default `OPTIONS`.
    public var method: String
    /// Default `/`.
    public var uri: String
    /// Default `HTTP/1.0`.
    public var version: String
    public var headers: [(name: String, value: String)]
    public var body: String?

    public init(method: String = "OPTIONS", uri: String = "/", version: String = "HTTP/1.0",
                headers: [(name: String, value: String)] = [], body: String? = nil) {
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers
        self.body = body
    }

    public static func == (a: HTTPCheckRequest, b: HTTPCheckRequest) -> Bool {
        a.method == b.method && a.uri == b.uri && a.version == b.version && a.body == b.body
            && a.headers.map { $0.name } == b.headers.map { $0.name }
            && a.headers.map { $0.value } == b.headers.map { $0.value }
    }
}

/// How servers of a backend are health-checked (when their `check` is on).
public struct HealthCheckSettings: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Default: a TCP connect succeeds (plus TLS handshake with `check-ssl`).
        case tcpConnect
        /// `option tcp-check` with the `tcp-check` rules (none: just connect).
        case tcpCheck(rules: [TCPCheckRule])
        /// `option httpchk`: an HTTP request; success per `expectations` (none: any 2xx/3xx).
        case http(request: HTTPCheckRequest, expectations: [CheckExpectation])
        /// `option mysql-check`, `pgsql-check`, `redis-check`, `smtpchk`, `ldap-check`,
        /// `ssl-hello-chk`: HAProxy's fixed tcp-check sequences for those protocols.
        case protocolCheck(ProtocolCheck)
    }
    public var kind: Kind
    /// `http-check disable-on-404`: a 404 answer puts the server in drain (no new traffic).
    public var disableOn404: Bool
    /// `http-check send-state`: add an `X-Haproxy-Server-State` header to checks.
    public var sendState: Bool

    // What the section said, in any order; `kind` is decided from it after parsing
    // (rules without their `option` are ignored, as in HAProxy).
    enum Option: Equatable, Sendable { case none, httpchk, tcpCheck, protocolCheck(ProtocolCheck) }
    var option: Option = .none
    /// `option httpchk [meth] [uri] [ver]` arguments, then `http-check send` overrides.
    var request = HTTPCheckRequest()
    var httpExpectations: [CheckExpectation] = []
    var sawHTTPCheckRules = false
    var tcpRules: [TCPCheckRule] = []
    var sawTCPCheckRules = false

    public init(kind: Kind = .tcpConnect, disableOn404: Bool = false, sendState: Bool = false) {
        self.kind = kind
        self.disableOn404 = disableOn404
        self.sendState = sendState
    }

    /// `kind` from the option and the rules collected while parsing.
    mutating func resolve() {
        switch option {
        case .none: kind = .tcpConnect
        case .httpchk: kind = .http(request: request, expectations: httpExpectations)
        case .tcpCheck: kind = .tcpCheck(rules: tcpRules)
        case .protocolCheck(let check): kind = .protocolCheck(check)
        }
    }
}

/// A protocol HAProxy checks with a fixed conversation (`option mysql-check` and the like).
public enum ProtocolCheck: Sendable, Equatable {
    /// `option mysql-check [user NAME [post-41|pre-41]]`: without a user, the server's
    /// greeting is enough; with one, a login (4.1 format unless `pre-41`) and a quit.
    case mysql(user: String?, preFourOne: Bool)
    /// `option pgsql-check user NAME`: a startup message; any authentication request passes.
    case pgsql(user: String)
    /// `option redis-check`: `PING`, expecting `+PONG`.
    case redis
    /// `option smtpchk [EHLO|HELO domain]`: banner, the greeting (`HELO localhost` unless
    /// given), then `QUIT`; each answer must be 2xx.
    case smtp(greeting: String)
    /// `option ldap-check`: an anonymous LDAPv3 bind, expecting result code 0.
    case ldap
    /// `option ssl-hello-chk`: an SSLv3 ClientHello, expecting a handshake or alert record.
    case sslHello
}
