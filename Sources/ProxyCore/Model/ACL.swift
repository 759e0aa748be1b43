import Glibc
import Shared

/// A sample fetch an ACL reads from a request or connection (the engine evaluates it).
public enum SampleFetch: Sendable, Hashable {
    /// `path`: the request path, without the query string.
    case path
    /// `url`: the request target as sent.
    case url
    /// `method`.
    case method
    /// `hdr(NAME[,occ])` / `req.hdr`: values of a request header (all occurrences,
    /// comma-split as HAProxy does; `occurrence` picks one, negative from the end).
    case header(name: String, occurrence: Int?)
    /// `src`: the client's address.
    case source
    /// `dst`: the address the client connected to.
    case destination
    /// `dst_port`: the port the client connected to.
    case destinationPort
    /// `src_port`.
    case sourcePort
    /// `query`: the query string (after `?`).
    case query
    /// `url_param(NAME)` / `urlp(NAME)`.
    case urlParameter(name: String)
    /// `ssl_fc`: the connection came over TLS (boolean).
    case sslFrontend
    /// `ssl_fc_sni` / `req.ssl_sni`.
    case sslSNI
    /// `req.ssl_hello_type` / `req_ssl_hello_type`: the type of the TLS handshake message
    /// the client's first bytes hold (1: a ClientHello), peeked in `mode tcp`.
    case sslHelloType
    /// `always_true` / `always_false`.
    case alwaysTrue
    case alwaysFalse
    /// `req.ver` / `req_ver`: `1.0` or `1.1`.
    case httpVersion
    /// `nbsrv(BACKEND)`: usable servers in a backend.
    case usableServers(backend: String?)
    /// `status`: the response status (http-response rules).
    case status
    /// `res.hdr(NAME)` / `shdr`: response header values.
    case responseHeader(name: String, occurrence: Int?)
    /// `sc_*`, `src_*`, `table_*`: stick table counters (Model/StickTable.swift).
    case stick(StickFetch)
    /// `var(txn.x)`, a fetch with converters, and the other fetches only the sample
    /// evaluator knows (Runtime/SampleEvaluator.swift), issue 15.
    case expression(SampleExpression)
}

/// How an ACL compares a fetched sample with its patterns (`-m` or the fetch's suffix).
public enum MatchMethod: String, Sendable, Hashable {
    /// Exact string equality (`-m str`).
    case string = "str"
    /// Prefix (`_beg`, `-m beg`).
    case beginning = "beg"
    /// Suffix (`_end`, `-m end`).
    case end = "end"
    /// Substring (`_sub`, `-m sub`).
    case substring = "sub"
    /// Regex (`_reg`, `-m reg`).
    case regex = "reg"
    /// A `/`-delimited path component (`_dir`, `-m dir`).
    case directory = "dir"
    /// A `.`-delimited domain component (`_dom`, `-m dom`).
    case domain = "dom"
    /// Length in a range (`_len`, `-m len`).
    case length = "len"
    /// Integer in a range (`-m int`).
    case integer = "int"
    /// IP address in a network (`-m ip`).
    case ip
    /// The sample exists (`-m found`).
    case found
    /// The sample is a non-zero integer / true (`-m bool`).
    case boolean = "bool"
}

/// A regular expression compiled at load (POSIX extended, as HAProxy built without PCRE).
/// The compiled form is shared and immutable; `regexec` is safe from several threads.
public final class CompiledRegex: @unchecked Sendable, Hashable, CustomStringConvertible {
    public let source: String
    public let caseInsensitive: Bool
    private var regex = regex_t()

    /// Compiles `source`; on failure returns the system's error text.
    public static func compile(_ source: String, caseInsensitive: Bool = false) -> Result<CompiledRegex, RegexError> {
        // What glibc would compile exponentially is refused first (Model/RegexGuard.swift).
        if let problem = RegexGuard.problem(source) { return .failure(RegexError(message: problem)) }
        let r = CompiledRegex(source: source, caseInsensitive: caseInsensitive)
        var flags = REG_EXTENDED | REG_NOSUB
        if caseInsensitive { flags |= REG_ICASE }
        let rc = regcomp(&r.regex, source, flags)
        if rc != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            regerror(rc, &r.regex, &buffer, buffer.count)
            r.compiled = false
            return .failure(RegexError(message: String(cString: buffer)))
        }
        r.compiled = true
        return .success(r)
    }

    public struct RegexError: Error, Sendable, Equatable { public var message: String }

    private var compiled = false
    private init(source: String, caseInsensitive: Bool) {
        self.source = source
        self.caseInsensitive = caseInsensitive
    }

    deinit { if compiled { regfree(&regex) } }

    /// True when the regex matches somewhere in `text` (HAProxy's `_reg` semantics:
    /// unanchored unless the pattern anchors itself).
    public func matches(_ text: String) -> Bool {
        regexec(&regex, text, 0, nil, 0) == 0
    }

    /// Same on raw bytes (not necessarily NUL-terminated).
    public func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var copy = [CChar](repeating: 0, count: bytes.count + 1)
        for i in 0..<bytes.count { copy[i] = CChar(bitPattern: bytes[i]) }
        return regexec(&regex, copy, 0, nil, 0) == 0
    }

    public static func == (a: CompiledRegex, b: CompiledRegex) -> Bool {
        a.source == b.source && a.caseInsensitive == b.caseInsensitive
    }
    public func hash(into h: inout Hasher) {
        h.combine(source)
        h.combine(caseInsensitive)
    }
    public var description: String { source }
}

/// One pattern of an ACL.
public enum ACLPattern: Sendable, Hashable {
    case string(String)
    case regex(CompiledRegex)
    /// An inclusive integer range (`80`, `1024:65535`, `:1023`, `gt 5` etc. normalised).
    case integerRange(lower: Int?, upper: Int?)
    case network(IPNetwork)
}

/// A criterion: one `acl` line's fetch, match method, flags and patterns
/// (also the body of an anonymous ACL `{ ... }`). True when any pattern matches.
public struct ACLCriterion: Sendable, Hashable {
    public var fetch: SampleFetch
    public var match: MatchMethod
    /// `-i`: case-insensitive string matching.
    public var ignoreCase: Bool
    public var patterns: [ACLPattern]
    /// `-f FILE` pattern files (their lines are not in `patterns`: the runtime API edits
    /// them while proxyd runs; Runtime/ACLFiles.swift), and whether `-M` read them as maps.
    public var patternFiles: [String] = []
    public var patternFilesAreMaps = false
    /// The text as written, for messages.
    public var text: String

    public init(fetch: SampleFetch, match: MatchMethod, ignoreCase: Bool = false,
                patterns: [ACLPattern], text: String = "") {
        self.fetch = fetch
        self.match = match
        self.ignoreCase = ignoreCase
        self.patterns = patterns
        self.text = text
    }
}

/// `acl NAME FETCH [flags] [patterns…]`.
public struct ACLDefinition: Sendable, Hashable {
    public var name: String
    public var criterion: ACLCriterion
    public var location: SourceLocation?

    public init(name: String, criterion: ACLCriterion, location: SourceLocation? = nil) {
        self.name = name
        self.criterion = criterion
        self.location = location
    }
}

/// A condition `if|unless COND`: a disjunction (`||`) of conjunctions (implied AND)
/// of possibly negated (`!`) ACL references.
public struct Condition: Sendable, Hashable {
    public enum Polarity: String, Sendable, Hashable { case `if`, unless }

    /// One ACL reference in a condition.
    public struct Term: Sendable, Hashable {
        public var negated: Bool
        /// The ACL's name, or nil for an anonymous ACL `{ … }`.
        public var name: String?
        /// The criteria of that ACL at the point of use (named ACLs may have several
        /// lines, OR'ed; predefined ACLs such as `TRUE`, `METH_GET`, `LOCALHOST` are
        /// expanded here too). The term is true when any criterion matches.
        public var criteria: [ACLCriterion]

        public init(negated: Bool, name: String?, criteria: [ACLCriterion]) {
            self.negated = negated
            self.name = name
            self.criteria = criteria
        }
    }

    public var polarity: Polarity
    /// OR of ANDs: `a b || !c` is `[[a, b], [!c]]`. As in HAProxy, an empty list (a bare
    /// `if`) never matches, and an empty inner list (`a ||`) always matches.
    public var alternatives: [[Term]]
    public var location: SourceLocation?

    public init(polarity: Polarity, alternatives: [[Term]], location: SourceLocation? = nil) {
        self.polarity = polarity
        self.alternatives = alternatives
        self.location = location
    }
}
