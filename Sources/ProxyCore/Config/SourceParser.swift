/// `source` in a backend, a `defaults` section or on a server line
/// (Model/SourceBinding.swift), with HAProxy 2.6's messages.
enum SourceParser {
    struct Failure: Error { var message: String }

    static let keywords: [String: ProxyKeyword] = [
        "source": ProxyKeyword(side: .backend, inDefaults: true, handler: parseProxy),
    ]

    static func parseProxy(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let words = Array(l.words.dropFirst())
        guard let first = words.first, !first.isEmpty else {
            s.alert(l, "'source' expects <addr>[:<port>], and optionally 'usesrc' <addr>, and 'interface' <name>.")
            return
        }
        switch parse(words, portRangeAllowed: false) {
        case .success(let binding): p.source = binding
        case .failure(let failure): s.alert(l, failure.message)
        }
    }

    /// The words after `source`: what a server line calls on its own arguments too.
    static func parse(_ words: [String], portRangeAllowed: Bool) -> Result<SourceBinding, Failure> {
        guard let first = words.first, !first.isEmpty else {
            return .failure(Failure(message: "'source' expects <addr>[:<port>[-<port>]], and optionally 'usesrc' <addr>, and 'interface' <name> as argument."))
        }
        guard let (host, portText) = AddressParser.splitHostPortText(first),
              let address = host.isEmpty || host == "*" ? .v4(0, 0, 0, 0) : AddressParser.numericIP(host) else {
            // HAProxy's address parser ends this one with a newline of its own.
            return .failure(Failure(message: "'source \(first)' : invalid address: '\(first)' in '\(first)'\n"))
        }
        var port = 0
        if let portText {
            if portText.contains("-") {
                // HAProxy spreads connections over a port range on server lines only.
                let message = portRangeAllowed
                    ? "'source' : a port range ('\(portText)') is valid in HAProxy but not supported by proxyd yet."
                    : "'source \(first)' : port range not permitted here in '\(first)'"
                return .failure(Failure(message: message))
            }
            guard let digits = AddressParser.leadingPortDigits(Substring(portText)), let number = Int(digits), number <= 65535 else {
                return .failure(Failure(message: "'source \(first)' : invalid address: '\(first)' in '\(first)'"))
            }
            port = number
        }
        var binding = SourceBinding(address: address, port: port)
        var index = 1
        while index < words.count, !words[index].isEmpty {
            switch words[index] {
            case "usesrc":
                let target = index + 1 < words.count ? words[index + 1] : ""
                switch target {
                case "":
                    return .failure(Failure(message: "'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument."))
                case "client": binding.transparent = .client
                case "clientip": binding.transparent = .clientIP
                default:
                    if target.hasPrefix("hdr_ip(") {
                        return .failure(Failure(message: "'usesrc \(target)' is valid in HAProxy but not supported by proxyd yet."))
                    }
                    guard let (host, portText) = AddressParser.splitHostPortText(target),
                          let ip = AddressParser.numericIP(host) else {
                        return .failure(Failure(message: "'usesrc' : invalid address: '\(target)' in '\(target)'"))
                    }
                    let usePort = portText.flatMap { AddressParser.leadingPortDigits(Substring($0)) }.flatMap { Int($0) } ?? 0
                    binding.transparent = .address(ip, port: usePort)
                }
                index += 2
            case "interface":
                return .failure(Failure(message: "'source … interface' is valid in HAProxy but not supported by proxyd yet."))
            default:
                return .failure(Failure(message: "'source' only supports optional keywords 'interface' and 'usesrc'."))
            }
        }
        return .success(binding)
    }
}
