import Shared

/// `use_backend <log-format>` (`use_backend %[req.hdr(host),lower,map(/etc/haproxy/hosts.map,www)]`):
/// the backend's name computed per request. proxyd evaluates the fetches and converters
/// such rules use; a name that is empty or names no backend ends the `use_backend` rules
/// (the default backend then takes the request), as in HAProxy.
struct DynamicBackendName {
    enum Fetch {
        /// `req.hdr(NAME[,OCC])`, `hdr(…)`: one comma-split value, the last by default.
        case header(lowerName: [UInt8], occurrence: Int, split: Bool)
        case path, url, query, method, source, destination, serverName, base
        case constant(String)
    }
    enum Converter {
        case lower, upper
        case map(MapFile, MatchMethod, default: String?)
    }
    struct Expression {
        let fetch: Fetch
        let converters: [Converter]
    }
    enum Part {
        case literal(String)
        case sample(Expression)
    }
    let parts: [Part]
    let backends: [String: RuntimeBackend]

    init(_ rule: BackendSwitchingRule, backends: [String: RuntimeBackend]) throws {
        self.backends = backends
        let format: FormatString
        switch HTTPRuleParser.format(rule.backend) {
        case let .success(f): format = f
        case let .failure(e): throw RuntimeBuilder.Failure(location: rule.location, message: e.message)
        }
        parts = try format.parts.map { part in
            switch part {
            case .literal(let text): return .literal(text)
            case .sample(let expression): return .sample(try Self.expression(expression, at: rule.location))
            case .variable(let name):
                throw RuntimeBuilder.Failure(location: rule.location,
                                             message: "use_backend with the log variable '%\(name)' is not supported by proxyd yet")
            }
        }
    }

    /// The backend the request names, or nil (no such backend, no sample).
    func backend(_ facts: RequestFacts) -> RuntimeBackend? {
        var name = ""
        for part in parts {
            switch part {
            case .literal(let text): name += text
            case .sample(let expression): name += Self.evaluate(expression, facts) ?? ""
            }
        }
        return name.isEmpty ? nil : backends[name]
    }

    static func evaluate(_ expression: Expression, _ facts: RequestFacts) -> String? {
        guard var value = fetch(expression.fetch, facts) else { return nil }
        for converter in expression.converters {
            switch converter {
            case .lower: value = value.lowercased()
            case .upper: value = value.uppercased()
            case .map(let file, let method, let fallback):
                guard let found = file.lookup(value, method: method) ?? fallback else { return nil }
                value = found
            }
        }
        return value
    }

    private static func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }

    static func fetch(_ fetch: Fetch, _ facts: RequestFacts) -> String? {
        switch fetch {
        case .constant(let text): return text
        case .path: return text(facts.path)
        case .url: return text(facts.target)
        case .query: return facts.query.map(text)
        case .method: return text(facts.slice(facts.head.methodSpan))
        case .source: return facts.connection.clientAddressText.isEmpty ? nil : String(decoding: facts.connection.clientAddressText, as: UTF8.self)
        case .destination:
            let a = facts.connection.localAddress
            guard a.count == 4 || a.count == 16 else { return nil }
            return (a.count == 4 ? IPAddress.v4(a[0], a[1], a[2], a[3]) : IPAddress.v6(a)).description
        case .serverName: return facts.connection.tlsServerName.map { String(decoding: $0, as: UTF8.self) }
        case .base:
            // HAProxy's `base`: the Host header's value then the path.
            guard let host = header(Array("host".utf8), occurrence: -1, split: false, facts) else { return text(facts.path) }
            return host + text(facts.path)
        case .header(let name, let occurrence, let split):
            return header(name, occurrence: occurrence, split: split, facts)
        }
    }

    private static func header(_ name: [UInt8], occurrence: Int, split: Bool, _ facts: RequestFacts) -> String? {
        var values: [String] = []
        _ = RequestFacts.forEachValue(of: name, in: facts.bytes, headers: facts.headers, split: split) {
            values.append(text($0))
            return false
        }
        let index = occurrence < 0 ? values.count + occurrence : occurrence - 1
        return values.indices.contains(index) ? values[index] : nil
    }

    /// `fetch[(args)][,converter[(args)]]…` with the fetches and converters proxyd evaluates.
    static func expression(_ text: String, at location: SourceLocation?) throws -> Expression {
        var items: [String] = [], item = "", depth = 0
        for ch in text {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 { items.append(item); item = ""; continue }
            item.append(ch)
        }
        items.append(item)
        func split(_ word: String) -> (String, [String]) {
            let (name, arg) = ACLParser.splitFetch(word.trimmingSpaces)
            return (name, arg.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? [])
        }
        func unsupported(_ what: String) -> RuntimeBuilder.Failure {
            RuntimeBuilder.Failure(location: location, message: "use_backend with \(what) in '%[\(text)]' is not supported by proxyd yet")
        }
        let (fetchName, fetchArgs) = split(items[0])
        let fetch: Fetch
        switch fetchName {
        case "req.hdr", "hdr", "req.fhdr":
            guard let name = fetchArgs.first, !name.isEmpty else { throw unsupported("'\(fetchName)' without a header name") }
            let occurrence = fetchArgs.count > 1 ? Int(fetchArgs[1]) ?? -1 : -1
            fetch = .header(lowerName: Array(name.lowercased().utf8), occurrence: occurrence, split: fetchName != "req.fhdr")
        case "path": fetch = .path
        case "url", "req.uri": fetch = .url
        case "query": fetch = .query
        case "method": fetch = .method
        case "src": fetch = .source
        case "dst": fetch = .destination
        case "ssl_fc_sni", "req.ssl_sni", "req_ssl_sni": fetch = .serverName
        case "base": fetch = .base
        case "str": fetch = .constant(fetchArgs.joined(separator: ","))
        default: throw unsupported("the fetch '\(fetchName)'")
        }
        var converters: [Converter] = []
        for conv in items.dropFirst() {
            let (name, args) = split(conv)
            switch name {
            case "lower": converters.append(.lower)
            case "upper": converters.append(.upper)
            default:
                guard let method = MapFiles.converters[name], let file = args.first else { throw unsupported("the converter '\(name)'") }
                converters.append(.map(try MapFiles.load(file, usedAt: location), method, default: args.count > 1 ? args[1] : nil))
            }
        }
        return Expression(fetch: fetch, converters: converters)
    }
}
