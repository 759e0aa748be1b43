import Glibc
import Shared

/// A variable's scope, as HAProxy names it in `set-var(SCOPE.NAME)` and `var(SCOPE.NAME)`.
/// The scope decides how long a value lives: `proc` the whole process, `sess` the client
/// connection, `txn` one request and its response, `req` the request's processing only
/// (gone by the time the response is processed), `res` the response's processing (still
/// there when the transaction is logged).
public enum VariableScope: String, Sendable, Hashable, CaseIterable {
    case proc, sess, txn, req, res
    /// Health checks' scope: HAProxy accepts it in names; proxyd's checks set nothing.
    case check
}

/// `SCOPE.NAME` of a variable.
public struct VariableName: Sendable, Hashable, CustomStringConvertible {
    public var scope: VariableScope
    public var name: String

    public init(scope: VariableScope, name: String) {
        self.scope = scope
        self.name = name
    }

    /// Parses `txn.foo`; on failure, HAProxy 2.6's message.
    public static func parse(_ text: String) -> Result<VariableName, SampleExpression.Failure> {
        let dot = text.firstIndex(of: ".")
        guard let dot, let scope = VariableScope(rawValue: String(text[..<dot])) else {
            return .failure(.init(message: "invalid variable name '\(text)'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"))
        }
        let name = String(text[text.index(after: dot)...])
        // HAProxy allows letters, digits, '.' and '_' in a name.
        if let bad = name.firstIndex(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_")) }) {
            return .failure(.init(message: "invalid syntax at char '\(name[bad...]))'"))
        }
        guard !name.isEmpty else {
            return .failure(.init(message: "invalid variable name '\(text)'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"))
        }
        return .success(VariableName(scope: scope, name: name))
    }

    public var description: String { "\(scope.rawValue).\(name)" }
}

/// A sample expression as HAProxy writes it: a fetch with its arguments, then converters
/// (`req.hdr(host),lower`, `var(txn.n),add(1)`). Parsed at load; evaluated per request by
/// `CompiledSample` (Runtime/SampleEvaluator.swift).
public struct SampleExpression: Sendable, Hashable, CustomStringConvertible {
    public struct Failure: Error, Sendable, Equatable { public var message: String }

    public struct Call: Sendable, Hashable {
        public var name: String
        public var arguments: [String]
    }

    public var fetch: Call
    public var converters: [Call]
    /// As written.
    public var raw: String

    public var description: String { raw }

    /// The fetches proxyd evaluates in expressions (`set-var`, `%[...]`, ACLs with
    /// converters); others HAProxy knows get "not supported by proxyd yet".
    public static let supportedFetches: Set<String> = [
        "var", "str", "int", "bool", "always_true", "always_false", "ipv4", "ipv6",
        "src", "dst", "src_port", "dst_port", "path", "url", "method", "query", "req.ver",
        "req.hdr", "hdr", "req.fhdr", "req.hdr_cnt", "hdr_cnt", "url_param", "urlp",
        "res.hdr", "shdr", "res.fhdr", "status", "unique-id",
        "capture.req.hdr", "capture.res.hdr", "req.cook", "cook", "base", "ssl_fc", "ssl_fc_sni",
        "req.rdp_cookie", "rdp_cookie", "req.rdp_cookie_cnt", "rdp_cookie_cnt", "url_ip", "url_port", "pathq",
    ]
    /// Fetches about the stream's proxies that only a log line evaluates (`%[be_name]`):
    /// rules and ACLs would need the frontend and backend at hand, which they do not have.
    public static let logOnlyFetches: Set<String> = ["fe_name", "be_name", "srv_name", "srv_id"]
    /// The converters proxyd applies.
    public static let supportedConverters: Set<String> = [
        "lower", "upper", "add", "sub", "mul", "div", "mod", "neg", "not", "bool", "and", "or", "xor",
        "even", "odd", "length", "hex", "concat", "field", "word", "ltrim", "rtrim", "url_dec", "base64",
        "strcmp", "iif",
    ]

    /// Parses `fetch[(args)][,conv[(args)]]…`; checks the names against HAProxy's and
    /// proxyd's lists. Messages are HAProxy's where it has one.
    /// `forLog`: a `log-format` expression, which may also use `logOnlyFetches`.
    public static func parse(_ text: String, forLog: Bool = false) -> Result<SampleExpression, Failure> {
        let raw = text.trimmingSpaces
        var calls: [Call] = []
        var index = raw.startIndex
        while index < raw.endIndex {
            var name = ""
            while index < raw.endIndex, raw[index] != "(", raw[index] != "," {
                name.append(raw[index]); index = raw.index(after: index)
            }
            name = name.trimmingSpaces
            var arguments: [String] = []
            if index < raw.endIndex, raw[index] == "(" {
                index = raw.index(after: index)
                var depth = 1, current = ""
                while index < raw.endIndex {
                    let c = raw[index]
                    if c == "(" { depth += 1 }
                    if c == ")" { depth -= 1; if depth == 0 { break } }
                    if c == "," && depth == 1 { arguments.append(current); current = "" } else { current.append(c) }
                    index = raw.index(after: index)
                }
                guard index < raw.endIndex else {
                    return .failure(Failure(message: "missing closing ')' after arguments to '\(name)'"))
                }
                arguments.append(current)
                index = raw.index(after: index)
            }
            if name.isEmpty {
                return .failure(Failure(message: calls.isEmpty ? "missing fetch method" : "missing converter name"))
            }
            calls.append(Call(name: name, arguments: arguments))
            guard index < raw.endIndex else { break }
            guard raw[index] == "," else {
                return .failure(Failure(message: "missing comma after '\(name)'"))
            }
            index = raw.index(after: index)
            if index == raw.endIndex { return .failure(Failure(message: "missing converter name")) }
        }
        guard let fetch = calls.first else { return .failure(Failure(message: "missing fetch method")) }
        if forLog, logOnlyFetches.contains(fetch.name) {
            // Known at log time; no table, no arguments to check.
        } else if !supportedFetches.contains(fetch.name),
           let stick = StickTableParser.fetch(fetch.name, fetch.arguments.isEmpty ? nil : fetch.arguments.joined(separator: ","),
                                              proxyName: "") {
            // `sc_http_req_rate(0)` & co (stick tables): a counter's entry or a named table.
            switch stick {
            case let .failure(e): return .failure(Failure(message: e.message))
            case let .success(.stick(f)) where f.subject != .source || f.table != "": break
            default:
                return .failure(Failure(message: "fetch method '\(fetch.name)' without a table name is not supported by proxyd yet in an expression"))
            }
        } else if !supportedFetches.contains(fetch.name) {
            if HAProxySamples.fetches[fetch.name] != nil {
                return .failure(Failure(message: "fetch method '\(fetch.name)' is valid in HAProxy but not supported by proxyd yet"))
            }
            return .failure(Failure(message: "unknown fetch method '\(fetch.name)'"))
        }
        for conv in calls.dropFirst() where !supportedConverters.contains(conv.name) {
            if HAProxySamples.converters.contains(conv.name) {
                return .failure(Failure(message: "converter '\(conv.name)' is valid in HAProxy but not supported by proxyd yet"))
            }
            return .failure(Failure(message: "unknown converter '\(conv.name)'"))
        }
        let expression = SampleExpression(fetch: fetch, converters: Array(calls.dropFirst()), raw: raw)
        if let problem = expression.argumentProblem() { return .failure(Failure(message: problem)) }
        return .success(expression)
    }

    /// Checks the arguments proxyd needs to evaluate the expression.
    func argumentProblem() -> String? {
        switch fetch.name {
        case "var":
            guard let first = fetch.arguments.first else { return "fetch method 'var' : missing arg 1" }
            if case let .failure(e) = VariableName.parse(first) { return "fetch method 'var' : \(e.message)" }
        case "int":
            guard let first = fetch.arguments.first, Int(first) != nil else {
                return "fetch method 'int' : failed to parse '\(fetch.arguments.first ?? "")' as type 'integer' at position 1"
            }
        case "capture.req.hdr", "capture.res.hdr":
            guard let first = fetch.arguments.first, Int(first) != nil else {
                return "fetch method '\(fetch.name)' : missing arg 1"
            }
        case "ipv4", "ipv6":
            let type = fetch.name == "ipv4" ? "IPv4 address" : "IPv6 address"
            guard let first = fetch.arguments.first, !first.isEmpty else {
                return "fetch method '\(fetch.name)' : expected type '\(type)' at position 1, but got nothing"
            }
            if SampleExpression.addressBytes(first, v6: fetch.name == "ipv6") == nil {
                return "fetch method '\(fetch.name)' : failed to parse '\(first)' as type '\(type)' at position 1"
            }
        case "url_param", "urlp", "str", "req.cook", "cook":
            if fetch.arguments.isEmpty { return "fetch method '\(fetch.name)' : missing arg 1" }
        default: break
        }
        for conv in converters {
            switch conv.name {
            case "add", "sub", "mul", "div", "mod", "and", "or", "xor":
                guard let arg = conv.arguments.first, !arg.isEmpty else {
                    return "converter '\(conv.name)' : missing arg 1"
                }
                if Int(arg) == nil, case .failure = VariableName.parse(arg) {
                    return "invalid args in converter '\(conv.name)' : expects an integer or a variable name"
                }
            case "field", "word":
                guard conv.arguments.count >= 2, Int(conv.arguments[0]) != nil, !conv.arguments[1].isEmpty else {
                    return "converter '\(conv.name)' : expects <index>,<delimiters>[,<count>]"
                }
            case "strcmp":
                guard let arg = conv.arguments.first, case .success = VariableName.parse(arg) else {
                    return "invalid args in converter 'strcmp' : failed to register variable name '\(conv.arguments.first ?? "")'"
                }
            case "iif":
                guard conv.arguments.count == 2 else { return "converter 'iif' : expects <true>,<false>" }
            case "concat":
                if conv.arguments.count > 1, !conv.arguments[1].isEmpty,
                   case .failure = VariableName.parse(conv.arguments[1]) {
                    return "invalid args in converter 'concat' : failed to register variable name '\(conv.arguments[1])'"
                }
            default: break
            }
        }
        return nil
    }

    /// The bytes of an `ipv4(A)`/`ipv6(A)` constant, nil when it is no such address.
    static func addressBytes(_ text: String, v6: Bool) -> [UInt8]? {
        if v6 {
            var address = in6_addr()
            guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
            return withUnsafeBytes(of: address) { Array($0) }
        }
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address.s_addr) { Array($0) }
    }

    /// The fetch as written, without converters (`sc_http_req_rate(0)`).
    var fetchText: String {
        fetch.arguments.isEmpty ? fetch.name : "\(fetch.name)(\(fetch.arguments.joined(separator: ",")))"
    }

    /// True when the fetch needs no message: what a log line can still evaluate once the
    /// request's bytes are gone (the connection's addresses, the status and method HAProxy
    /// keeps with the transaction, the proxies' names).
    public var isAvailableAtLogTime: Bool {
        // A fetch `parse` took that is none of its lists is a stick table one (`sc_*`…).
        Self.logTimeFetches.contains(fetch.name)
            || !(Self.supportedFetches.contains(fetch.name) || Self.logOnlyFetches.contains(fetch.name))
    }

    static let logTimeFetches = Set<String>([
        "var", "str", "int", "bool", "always_true", "always_false", "ipv4", "ipv6", "unique-id", "capture.req.hdr",
        "capture.res.hdr", "src", "dst", "src_port", "dst_port", "status", "method", "ssl_fc", "ssl_fc_sni",
    ]).union(logOnlyFetches)

    /// The variables the expression reads.
    public var variablesRead: [VariableName] {
        var names: [VariableName] = []
        if fetch.name == "var", let first = fetch.arguments.first, case let .success(n) = VariableName.parse(first) {
            names.append(n)
        }
        return names
    }
}

/// `set-var(NAME) EXPR`, `set-var-fmt(NAME) FMT` or `unset-var(NAME)`, in any rule set
/// (`http-request`, `http-response`, `tcp-request content|session`, `global`).
public struct VariableAssignment: Sendable, Hashable {
    public enum Value: Sendable, Hashable {
        case expression(SampleExpression)
        case format(FormatString)
        case unset
    }
    /// `set-var(NAME,COND…)`'s conditions (HAProxy 2.6): when the variable is set at all.
    public enum Condition: String, Sendable, Hashable {
        case ifexists, ifnotexists, ifempty, ifnotempty, ifset, ifnotset, ifgt, iflt
    }
    public var variable: VariableName
    public var value: Value
    public var conditions: [Condition]

    public init(variable: VariableName, value: Value, conditions: [Condition] = []) {
        self.variable = variable
        self.value = value
        self.conditions = conditions
    }
}
