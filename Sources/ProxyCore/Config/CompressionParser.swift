import Shared

/// `compression algo <name>…`, `compression type <mime>…`, `compression offload`, with
/// HAProxy 2.6's messages (its doubled `parsing [file:line]` included).
enum CompressionParser {
    /// Hooked into ProxyParser's table.
    static let keywords: [String: ProxyKeyword] = [
        "compression": ProxyKeyword(side: .both, inDefaults: true, handler: parse),
    ]

    static func parse(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        switch l[1] {
        case "algo":
            guard l.count > 2 else {
                s.alert(l, "parsing [\(l.location)] : 'compression' expects <algorithm>.")
                return
            }
            for name in l.words.dropFirst(2) {
                guard let algorithm = CompressionAlgorithm(rawValue: name) else {
                    s.alert(l, "'compression' : '\(name)' is not a supported algorithm.")
                    return
                }
                p.compression.algorithms.insert(algorithm, at: 0)
            }
        case "type":
            guard l.count > 2 else {
                s.alert(l, "'compression' expects <type>.")
                return
            }
            p.compression.types.insert(contentsOf: l.words.dropFirst(2).reversed(), at: 0)
        case "offload":
            if ctx.isDefaults {
                s.warning(l, "'compression' : 'offload' ignored in 'defaults' section.")
                return
            }
            p.compression.offload = true
        default:
            s.alert(l, "'compression' expects 'algo', 'type' or 'offload'")
        }
    }
}
