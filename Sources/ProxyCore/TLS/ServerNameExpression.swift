/// `server … sni EXPR`: the name a TLS connection to the server announces. HAProxy takes
/// any sample expression; proxyd knows the ones operators write: a fixed name, a request
/// header (`req.hdr(host)`, to pass the client's host on) and the client's own SNI
/// (`ssl_fc_sni`, when TLS is terminated and re-encrypted).
enum ServerNameExpression: Equatable, Sendable {
    /// `str(NAME)`.
    case fixed(String)
    /// `req.hdr(NAME)` / `hdr(NAME)`: the header's last value, as a sample expression
    /// (not an ACL) reads it. `name` is lower case.
    case requestHeader(String)
    /// `ssl_fc_sni`: the SNI of the client's TLS connection.
    case frontendServerName

    static func parse(_ text: String) throws -> ServerNameExpression {
        func argument(_ prefix: String) -> String? {
            guard text.hasPrefix(prefix + "("), text.hasSuffix(")") else { return nil }
            return String(text.dropFirst(prefix.count + 1).dropLast())
        }
        if let name = argument("str") { return .fixed(name) }
        if text == "ssl_fc_sni" { return .frontendServerName }
        for fetch in ["req.hdr", "hdr"] {
            if let name = argument(fetch), !name.isEmpty, !name.contains(",") {
                return .requestHeader(name.lowercased())
            }
        }
        throw TLSConfigurationError("'sni \(text)' : proxyd supports 'str(NAME)', 'req.hdr(NAME)' and 'ssl_fc_sni' (without converters) yet.")
    }

    /// The fixed name, nil when the name depends on the request.
    var fixedName: String? {
        if case .fixed(let name) = self { return name }
        return nil
    }

    /// The header this expression reads, if any.
    var header: String? {
        if case .requestHeader(let name) = self { return name }
        return nil
    }
}

/// What a dynamic `sni` may read, taken from the request before it leaves for the server.
struct ServerNameInputs: Sendable {
    /// Last value of each header some server's `sni` names (lower-case names).
    var headers: [String: String] = [:]
    /// The client's SNI (`ssl_fc_sni`), nil when plain or without SNI.
    var frontendServerName: String?

    /// The name for a connection; nil sends none (HAProxy sends no SNI when the sample
    /// is missing or empty).
    func evaluate(_ expression: ServerNameExpression?) -> String? {
        let value: String?
        switch expression {
        case .none: return nil
        case .fixed(let name): value = name
        case .requestHeader(let name): value = headers[name]
        case .frontendServerName: value = frontendServerName
        }
        return value?.isEmpty == false ? value : nil
    }
}
