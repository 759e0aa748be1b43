import Shared

/// `set-log-level LEVEL|silent` (http-request, http-response): the level of this request's
/// log line, or no line at all.
public enum LogLevelChoice: Sendable, Equatable {
    case level(LogTarget.Level)
    case silent

    /// HAProxy's names: the eight syslog levels and `silent`.
    public init?(name: String) {
        if name == "silent" { self = .silent; return }
        guard let level = LogTarget.Level.allCases.first(where: { $0.name == name }) else { return nil }
        self = .level(level)
    }
}

/// `http-request set-src EXPR` / `set-src-port EXPR`: the client's address or port, for
/// the rest of the connection, from a sample proxyd can read.
public struct SourceRewrite: Sendable, Equatable {
    public enum Target: Sendable, Equatable { case address, port }
    public enum Sample: Sendable, Equatable {
        /// `hdr(NAME[,OCC])`, `req.hdr(NAME[,OCC])`: one value of a request header
        /// (the last one unless OCC says, values split at commas, as a sample fetch reads it).
        case header(name: String, occurrence: Int)
        /// `ipv4(A)`, `ipv6(A)`, `int(N)`, `str(S)`: a constant.
        case constant(String)
    }
    public var target: Target
    public var sample: Sample
    /// The expression as written.
    public var expression: String

    public init(target: Target, sample: Sample, expression: String) {
        self.target = target
        self.sample = sample
        self.expression = expression
    }
}

/// `set-dst EXPR` / `set-dst-port EXPR` (`http-request`, `tcp-request connection|session|
/// content`): the destination the client's connection is taken to have had, which `dst`,
/// `dst_port`, `%fi`/`%fp` read and a server at `0.0.0.0` or port 0 connects to (issue 15).
public struct DestinationRewrite: Sendable, Hashable {
    public enum Target: Sendable, Hashable { case address, port }
    public var target: Target
    public var expression: SampleExpression

    public init(target: Target, expression: SampleExpression) {
        self.target = target
        self.expression = expression
    }
}
