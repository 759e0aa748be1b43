import NIOCore

/// A compiled `log-format` string: literal text, separators (spaces) and HAProxy's `%`
/// variables. Rendering appends bytes to a line; nothing is computed unless logging is on.
public struct LogFormat: Sendable, Equatable {
    public enum Node: Sendable, Equatable {
        case literal([UInt8])
        /// One or more spaces: written once, and not after a variable that wrote nothing
        /// (HAProxy's rule, so that empty captures leave no double space).
        case separator
        case variable(LogVariable, quoted: Bool)
        /// `%[fetch]` or `%[fetch,hex]` for the fetches proxyd knows (`LogFetch`).
        case fetch(LogFetch, hex: Bool, quoted: Bool)
        /// `%[var(txn.x)]` and other expressions that need no message at log time
        /// (Runtime/SampleEvaluator.swift), issue 15.
        case sample(SampleExpression, quoted: Bool)
    }

    public let nodes: [Node]
    public let source: String

    /// HAProxy 2.6's `option tcplog` format.
    public static let tcpLogFormat = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"
    /// HAProxy 2.6's `option httplog` format.
    public static let httpLogFormat = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r"
    /// HAProxy 2.6's `option httpslog` format: httplog's, then the TLS facts of the client
    /// connection (its `default_https_log_format`, word for word).
    public static let httpsLogFormat = httpLogFormat
        + " %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc"
    /// `option httplog clf`.
    public static let httpLogCLFFormat = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl"

    public init(_ source: String) {
        self.source = source
        var nodes: [Node] = []
        var literal: [UInt8] = []
        let bytes = Array(source.utf8)
        var quoteAll = false
        func flush() {
            if !literal.isEmpty { nodes.append(.literal(literal)); literal.removeAll() }
        }
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: " ") {
                flush()
                if nodes.last != .separator { nodes.append(.separator) }
                i += 1
                continue
            }
            guard c == UInt8(ascii: "%"), i + 1 < bytes.count else {
                literal.append(c)
                i += 1
                continue
            }
            i += 1
            if bytes[i] == UInt8(ascii: "%") { literal.append(c); i += 1; continue }
            var quoted = quoteAll
            if bytes[i] == UInt8(ascii: "{") {
                guard let close = bytes[i...].firstIndex(of: UInt8(ascii: "}")) else { literal.append(c); continue }
                let flags = String(decoding: bytes[(i + 1)..<close], as: UTF8.self)
                for flag in flags.split(separator: ",") {
                    if flag == "+Q" { quoted = true } else if flag == "-Q" { quoted = false }
                }
                i = close + 1
            }
            var end = i
            while end < bytes.count, Self.isNameByte(bytes[end]) { end += 1 }
            let name = String(decoding: bytes[i..<end], as: UTF8.self)
            i = end
            if name.isEmpty {
                // `%o` style global flags set without a name are rare.
                if i < bytes.count, bytes[i] == UInt8(ascii: "[") {
                    let close = bytes[i...].firstIndex(of: UInt8(ascii: "]")) ?? bytes.count - 1
                    let expression = String(decoding: bytes[(i + 1)..<close], as: UTF8.self)
                    i = close + 1
                    flush()
                    nodes.append(Self.fetchNode(expression, quoted: quoted))
                }
                continue
            }
            flush()
            if name == "o" { quoteAll = quoted; continue }
            nodes.append(.variable(LogVariable(rawValue: name) ?? .unsupported, quoted: quoted))
        }
        flush()
        self.nodes = nodes
    }

    /// A TLS fetch with no converter or `hex` (`LogFetch`), else an expression a log line
    /// can evaluate (`CompiledSample`); anything else is written as `-`.
    static func fetchNode(_ expression: String, quoted: Bool) -> Node {
        let parts = expression.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
        if let fetch = LogFetch(rawValue: parts[0]), parts.count == 1 || (parts.count == 2 && parts[1] == "hex") {
            return .fetch(fetch, hex: parts.count == 2, quoted: quoted)
        }
        if case .success(let sample) = SampleExpression.parse(expression, forLog: true), sample.isAvailableAtLogTime {
            return .sample(sample, quoted: quoted)
        }
        return .variable(.unsupported, quoted: quoted)
    }

    /// True when a node needs the TLS texts of the connection (`%sslv`, `%[ssl_fc_sni]`…),
    /// so that a session copies them only then.
    public var usesTLSDetails: Bool {
        nodes.contains {
            switch $0 {
            case .fetch: return true
            case .variable(let v, _): return v == .sslv || v == .sslc
            case .sample(let sample, _): return sample.fetch.name == "ssl_fc_sni"
            default: return false
            }
        }
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
    }

    /// True when a variable needs the request line (http).
    public var usesRequest: Bool {
        nodes.contains {
            if case .variable(let v, _) = $0 { return [.r, .HM, .HU, .HP, .HQ, .HV].contains(v) }
            return false
        }
    }

    public static func == (a: LogFormat, b: LogFormat) -> Bool { a.source == b.source }
}

/// HAProxy's log-format variables that proxyd knows.
public enum LogVariable: String, Sendable, Equatable {
    case ci, cp, fi, fp, bi, bp, si, sp
    case t, tr, trg, trl, T, Tl, ms
    case ft, f, b, s, H, pid
    case TR, Tw, Tc, Tr, Ta, Tt, Th, Ti, Tq, Td
    case ST, B, U, CC, CS, ts, tsc
    case ac, fc, bc, sc, rc, sq, bq
    case hr, hs, hrl, hsl
    case r, HM, HU, HP, HQ, HV
    case ID, rt, lc
    /// The client connection's TLS version and cipher (`-` on a plain one).
    case sslv, sslc
    case unsupported = "?"

    /// `%hr`, `%hrl`, `%hs`, `%hsl`.
    var isCapture: Bool { self == .hr || self == .hrl || self == .hs || self == .hsl }
}

extension LogFormat {
    /// Every variable name HAProxy 2.6's log-format knows (configuration manual, 8.2.4).
    /// proxyd writes `-` for the few it does not track.
    static let haproxyVariables: Set<String> = [
        "o", "B", "CC", "CS", "H", "HM", "HP", "HQ", "HU", "HV", "ID", "ST", "T", "Ta", "Tc", "Td",
        "Th", "Ti", "Tl", "Tq", "TR", "Tr", "Ts", "Tt", "Tu", "Tw", "U", "ac", "b", "bc", "bi", "bp",
        "bq", "ci", "cp", "f", "fc", "fi", "fp", "ft", "hr", "hrl", "hs", "hsl", "lc", "ms", "pid",
        "r", "rc", "rt", "s", "sc", "si", "sp", "sq", "sslc", "sslv", "t", "tr", "trg", "trl", "ts", "tsc",
    ]

    /// HAProxy's complaint about a log-format string, or nil when it is valid. For the
    /// config parser (`log-format`, `log-format-sd`): HAProxy refuses unknown variables.
    public static func error(in source: String) -> String? {
        problem(in: source)?.message
    }

    /// The complaint and where in the format its `%` is (HAProxy keeps what it parsed
    /// before, which decides one of its warnings: see Validation).
    static func problem(in source: String) -> (message: String, offset: Int)? {
        let bytes = Array(source.utf8)
        var i = 0
        var start = 0
        func failure(_ message: String) -> (message: String, offset: Int) { (message, start) }
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "%"), i + 1 < bytes.count else { i += 1; continue }
            start = i
            i += 1
            if bytes[i] == UInt8(ascii: "%") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "{") {
                guard let close = bytes[i...].firstIndex(of: UInt8(ascii: "}")) else {
                    return failure("failed to parse log-format : missing '}' after flags")
                }
                i = close + 1
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "[") {
                guard let close = bytes[i...].firstIndex(of: UInt8(ascii: "]")) else {
                    return failure("failed to parse log-format : missing ']' after sample fetch")
                }
                let expression = String(decoding: bytes[(i + 1)..<close], as: UTF8.self)
                let rest = String(decoding: bytes[(i + 1)...], as: UTF8.self)
                if let problem = sampleProblem(expression, rest: rest) {
                    return failure("failed to parse log-format : \(problem)")
                }
                i = close + 1
                continue
            }
            var end = i
            while end < bytes.count, isNameByte(bytes[end]) { end += 1 }
            let name = String(decoding: bytes[i..<end], as: UTF8.self)
            if !haproxyVariables.contains(name) {
                return failure("failed to parse log-format : no such format variable '\(name)'. If you wanted to emit the '%' character verbatim, you need to use '%%'.")
            }
            i = end
        }
        return nil
    }

    /// HAProxy's complaint about `%[EXPR]`: an expression it cannot parse, or a fetch that
    /// reads the request or response (gone by log time: HAProxy refuses it at load). `rest`
    /// is the format from the expression on, as HAProxy quotes it. Fetches proxyd does not
    /// evaluate yet pass (they log `-`).
    static func sampleProblem(_ expression: String, rest: String) -> String? {
        // HAProxy's words, except where proxyd only lacks the fetch or converter (logged `-`).
        if case .failure(let failure) = SampleExpression.parse(expression, forLog: true),
           !failure.message.hasSuffix("not supported by proxyd yet"),
           !failure.message.hasSuffix("not supported by proxyd yet in an expression") {
            return "failed to parse sample expression <\(rest)> : \(failure.message)."
        }
        let name = String(expression.prefix { $0 != "(" && $0 != "," }).trimmingSpaces
        guard let usage = HAProxySamples.fetches[name], !usage.contains(.logs) else { return nil }
        var needs: [String] = []
        let raw = HAProxySamples.readsRawBytes(name)
        if !usage.isDisjoint(with: [.frontendTCPContent, .frontendHTTPRequest]) {
            needs.append(raw.request ? "request buffer" : "HTTP request headers")
        }
        if !usage.isDisjoint(with: [.backendTCPResponse, .backendHTTPResponse, .frontendHTTPResponse]) {
            needs.append(raw.response ? "response buffer" : "HTTP response headers")
        }
        guard !needs.isEmpty else { return nil }
        return "sample fetch <\(rest)> may not be reliably used here because it needs '\(needs.joined(separator: ","))' which is not available here."
    }
}
