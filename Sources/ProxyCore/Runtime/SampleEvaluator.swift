import NIOCore

/// A sample expression compiled for evaluation (`set-var`, `%[...]` in header values and
/// log lines, ACLs with converters): the fetch reads the request (or response, or the
/// stream's variables), then each converter turns the value. No value (a missing header,
/// an unset variable, a failed conversion) is nil, as HAProxy's "no sample".
struct CompiledSample {
    enum Fetch {
        case constant(SampleValue)
        case variable(VariableName, fallback: SampleValue?)
        case clientAddress, localAddress, clientPort, localPort
        case path, url, method, query, version
        /// `pathq`: the target from the path on (no scheme or authority); `url_ip`,
        /// `url_port`: an absolute target's IPv4 address and port (RequestFacts.authority).
        case pathQuery, urlIP, urlPort
        /// `req.hdr(NAME[,OCC])` (comma-split values) or `req.fhdr` (whole lines); the
        /// occurrence counts from 1, negative from the end; default the last.
        case requestHeader(name: [UInt8], occurrence: Int, split: Bool)
        case requestHeaderCount(name: [UInt8])
        case urlParameter(name: [UInt8])
        case responseHeader(name: [UInt8], occurrence: Int, split: Bool)
        case status
        case uniqueID
        case requestCapture(Int)
        case responseCapture(Int)
        /// `req.cook(NAME)`: the value of the first cookie NAME of the request.
        case requestCookie(name: [UInt8])
        /// `base`: the host header's value then the path.
        case base
        case isTLS, serverName
        /// `sc_*`, `src_*`, `table_*` (Runtime/StickFetches.swift).
        case stick(CompiledStickFetch)
        /// `req.rdp_cookie([NAME])`, `req.rdp_cookie_cnt([NAME])`: from the bytes a `mode
        /// tcp` content inspection read (Balancing/RDPCookie.swift).
        case rdpCookie(name: [UInt8]?), rdpCookieCount(name: [UInt8]?)
        /// `fe_name`, `be_name`, `srv_name`, `srv_id`: log lines only (`LogTimeFacts`).
        case frontendName, backendName, chosenServerName, chosenServerID
    }

    enum Operand {
        case constant(Int)
        case variable(VariableName)
    }

    enum Converter {
        case lower, upper, neg, not, bool, even, odd, length, hex
        case arithmetic(ArithmeticOperator, Operand)
        case concat(prefix: [UInt8], variable: VariableName?, suffix: [UInt8])
        /// `field(N,DELIMS[,COUNT])`, `word(N,DELIMS[,COUNT])`: N counts from 1, from the end
        /// when negative; `word` skips empty pieces.
        case field(index: Int, delimiters: [UInt8], count: Int, words: Bool)
        case ltrim([UInt8]), rtrim([UInt8])
        case urlDecode, base64
        case strcmp(VariableName)
        case iif(whenTrue: [UInt8], whenFalse: [UInt8])
    }

    enum ArithmeticOperator { case add, sub, mul, div, mod, and, or, xor }

    let fetch: Fetch
    let converters: [Converter]
    let expression: SampleExpression

    init(_ expression: SampleExpression) {
        self.expression = expression
        let args = expression.fetch.arguments
        func headerName() -> [UInt8] { Array((args.first ?? "").lowercased().utf8) }
        func occurrence() -> Int { args.count > 1 ? Int(args[1].trimmingSpaces) ?? -1 : -1 }
        switch expression.fetch.name {
        case "var":
            let name = (try? VariableName.parse(args[0]).get()) ?? VariableName(scope: .txn, name: args[0])
            fetch = .variable(name, fallback: args.count > 1 ? .string(Array(args[1].utf8)) : nil)
        case "str": fetch = .constant(.string(Array((args.first ?? "").utf8)))
        case "int": fetch = .constant(.integer(Int(args.first ?? "") ?? 0))
        case "bool": fetch = .constant(.boolean((Int(args.first ?? "") ?? 0) != 0 || args.first == "true"))
        case "always_true": fetch = .constant(.boolean(true))
        case "always_false": fetch = .constant(.boolean(false))
        case "ipv4", "ipv6":
            fetch = SampleExpression.addressBytes(args.first ?? "", v6: expression.fetch.name == "ipv6")
                .map { .constant(.address($0)) } ?? .constant(.string([]))
        case "src": fetch = .clientAddress
        case "dst": fetch = .localAddress
        case "src_port": fetch = .clientPort
        case "dst_port": fetch = .localPort
        case "path": fetch = .path
        case "url": fetch = .url
        case "method": fetch = .method
        case "query": fetch = .query
        case "req.ver": fetch = .version
        case "pathq": fetch = .pathQuery
        case "url_ip": fetch = .urlIP
        case "url_port": fetch = .urlPort
        case "req.hdr", "hdr": fetch = .requestHeader(name: headerName(), occurrence: occurrence(), split: true)
        case "req.fhdr": fetch = .requestHeader(name: headerName(), occurrence: occurrence(), split: false)
        case "req.hdr_cnt", "hdr_cnt": fetch = .requestHeaderCount(name: headerName())
        case "url_param", "urlp": fetch = .urlParameter(name: Array((args.first ?? "").utf8))
        case "res.hdr", "shdr": fetch = .responseHeader(name: headerName(), occurrence: occurrence(), split: true)
        case "res.fhdr": fetch = .responseHeader(name: headerName(), occurrence: occurrence(), split: false)
        case "status": fetch = .status
        case "unique-id": fetch = .uniqueID
        case "capture.req.hdr": fetch = .requestCapture(Int(args.first ?? "") ?? 0)
        case "capture.res.hdr": fetch = .responseCapture(Int(args.first ?? "") ?? 0)
        case "req.cook", "cook": fetch = .requestCookie(name: Array((args.first ?? "").utf8))
        case "base": fetch = .base
        case "ssl_fc": fetch = .isTLS
        case "ssl_fc_sni": fetch = .serverName
        case "req.rdp_cookie", "rdp_cookie", "req.rdp_cookie_cnt", "rdp_cookie_cnt":
            let name = args.first.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
            fetch = expression.fetch.name.hasSuffix("_cnt") ? .rdpCookieCount(name: name) : .rdpCookie(name: name)
        case "fe_name": fetch = .frontendName
        case "be_name": fetch = .backendName
        case "srv_name": fetch = .chosenServerName
        case "srv_id": fetch = .chosenServerID
        default:
            // Stick table fetches are the only others SampleExpression.parse admits.
            fetch = CompiledStickFetch(expression: expression.fetchText).map { .stick($0) } ?? .constant(.string([]))
        }
        converters = expression.converters.map { call in
            func operand() -> Operand {
                let arg = call.arguments.first ?? "0"
                if let n = Int(arg) { return .constant(n) }
                return (try? VariableName.parse(arg).get()).map { .variable($0) } ?? .constant(0)
            }
            switch call.name {
            case "lower": return .lower
            case "upper": return .upper
            case "neg": return .neg
            case "not": return .not
            case "bool": return .bool
            case "even": return .even
            case "odd": return .odd
            case "length": return .length
            case "hex": return .hex
            case "add": return .arithmetic(.add, operand())
            case "sub": return .arithmetic(.sub, operand())
            case "mul": return .arithmetic(.mul, operand())
            case "div": return .arithmetic(.div, operand())
            case "mod": return .arithmetic(.mod, operand())
            case "and": return .arithmetic(.and, operand())
            case "or": return .arithmetic(.or, operand())
            case "field", "word":
                let a = call.arguments
                return .field(index: Int(a[0]) ?? 1, delimiters: Array(a[1].utf8),
                              count: a.count > 2 ? Int(a[2]) ?? 1 : 1, words: call.name == "word")
            case "ltrim": return .ltrim(Array((call.arguments.first ?? "").utf8))
            case "rtrim": return .rtrim(Array((call.arguments.first ?? "").utf8))
            case "url_dec": return .urlDecode
            case "base64": return .base64
            case "strcmp":
                return .strcmp((try? VariableName.parse(call.arguments[0]).get()) ?? VariableName(scope: .txn, name: ""))
            case "iif":
                return .iif(whenTrue: Array(call.arguments[0].utf8), whenFalse: Array(call.arguments[1].utf8))
            default:
                if call.name == "xor" { return .arithmetic(.xor, operand()) }
                // concat([PREFIX][,VAR][,SUFFIX])
                let a = call.arguments
                let variable = a.count > 1 && !a[1].isEmpty ? try? VariableName.parse(a[1]).get() : nil
                return .concat(prefix: Array((a.first ?? "").utf8), variable: variable,
                               suffix: a.count > 2 ? Array(a[2].utf8) : [])
            }
        }
    }

    /// The value, or nil when there is none. `facts` is nil where no message is at hand
    /// (a log line, `global set-var`): only constants and variables give a value then.
    func evaluate(_ facts: RequestFacts?, values: StreamValues?) -> SampleValue? {
        fetchValue(facts, values: values).flatMap { converted($0, values: values) }
    }

    /// The value for a log line, from what its record keeps once the message is gone.
    func evaluate(atLog log: LogTimeFacts, values: StreamValues?) -> SampleValue? {
        let value: SampleValue?
        switch fetch {
        case .clientAddress: value = log.client.map { .address(ConnectionFacts.bytes(of: $0)) }
        case .localAddress: value = log.local.map { .address(ConnectionFacts.bytes(of: $0)) }
        case .clientPort: value = log.client?.port.map { .integer($0) }
        case .localPort: value = log.local?.port.map { .integer($0) }
        case .status: value = log.serverStatus.map { .integer($0) }
        case .method: value = log.method.map { .string($0) }
        case .isTLS: value = .boolean(log.isTLS)
        case .serverName: value = log.tlsServerName.map { .string(Array($0.utf8)) }
        case .frontendName: value = .string(Array(log.frontendName.utf8))
        case .backendName: value = log.backendName.map { .string(Array($0.utf8)) }
        case .chosenServerName: value = log.serverName.map { .string(Array($0.utf8)) }
        case .chosenServerID: value = log.serverID.map { .integer($0) }
        case .stick(let stick):
            // A counter the stream does not track gives no sample in a log line (`-`).
            if case .counter(let n) = stick.fetch.subject, stick.fetch.operation != .tracked,
               log.stickTrackers?.tracked(n) == nil {
                value = nil
            } else {
                var connection = ConnectionFacts(remote: log.client, local: log.local, tls: nil)
                connection.stickTrackers = log.stickTrackers
                value = stick.value(connection).map { .integer($0) }
            }
        default: value = fetchValue(nil, values: values)
        }
        return value.flatMap { converted($0, values: values) }
    }

    private func converted(_ fetched: SampleValue, values: StreamValues?) -> SampleValue? {
        var value = fetched
        for converter in converters {
            guard let next = Self.convert(value, converter, values: values) else { return nil }
            value = next
        }
        return value
    }

    private func fetchValue(_ facts: RequestFacts?, values: StreamValues?) -> SampleValue? {
        switch fetch {
        case .constant(let value): return value
        case .variable(let name, let fallback): return StreamValues.read(name, in: values) ?? fallback
        case .uniqueID: return values?.uniqueID.map { .string($0) }
        case .requestCapture(let index):
            guard let captures = values?.requestCaptures, captures.indices.contains(index),
                  let bytes = captures[index] else { return nil }
            return .string(bytes)
        case .responseCapture(let index):
            guard let captures = values?.responseCaptures, captures.indices.contains(index),
                  let bytes = captures[index] else { return nil }
            return .string(bytes)
        default: break
        }
        guard let facts else { return nil }
        switch fetch {
        case .clientAddress:
            return facts.connection.clientAddress.isEmpty ? nil : .address(facts.connection.clientAddress)
        case .localAddress:
            return facts.connection.localAddress.isEmpty ? nil : .address(facts.connection.localAddress)
        case .clientPort: return .integer(facts.connection.clientPort)
        case .localPort: return .integer(facts.connection.localPort)
        case .path: return .string(Array(facts.path))
        case .url: return .string(Array(facts.slice(facts.head.targetSpan)))
        case .method: return .string(Array(facts.slice(facts.head.methodSpan)))
        case .query: return facts.query.map { .string(Array($0)) }
        case .pathQuery:
            let target = facts.target
            return .string(Array(target[RequestFacts.pathStart(in: target)...]))
        case .urlIP: return RequestFacts.absoluteAuthority(facts.target).map { .address($0.address) }
        case .urlPort: return RequestFacts.absoluteAuthority(facts.target).map { .integer($0.port) }
        case .version: return .string(Array((facts.head.version == .http10 ? "1.0" : "1.1").utf8))
        case .requestHeader(let name, let occurrence, let split):
            return Self.header(name, occurrence: occurrence, split: split, bytes: facts.bytes, headers: facts.headers)
        case .requestHeaderCount(let name):
            var count = 0
            _ = RequestFacts.forEachValue(of: name, in: facts.bytes, headers: facts.headers, split: true) { _ in
                count += 1
                return false
            }
            return .integer(count)
        case .urlParameter(let name): return facts.urlParameter(name).map { .string(Array($0)) }
        case .responseHeader(let name, let occurrence, let split):
            guard let response = facts.response else { return nil }
            return Self.header(name, occurrence: occurrence, split: split, bytes: response.bytes, headers: response.headers)
        case .status: return facts.response.map { .integer($0.head.status) }
        case .requestCookie(let name):
            var found: [UInt8]?
            _ = RequestFacts.forEachValue(of: Array("cookie".utf8), in: facts.bytes, headers: facts.headers, split: false) { value in
                let header = Array(value)
                for pair in CookieCodec.pairs(header) where header[pair.name].elementsEqual(name) {
                    found = Array(header[pair.value])
                    return true
                }
                return false
            }
            return found.map { .string($0) }
        case .base:
            guard let host = facts.head.host else { return nil }
            return .string(Array(facts.slice(host)) + Array(facts.path))
        case .isTLS: return .boolean(facts.connection.isTLS)
        case .stick(let stick): return stick.value(facts.connection).map { .integer($0) }
        case .serverName: return facts.connection.tlsServerName.map { .string($0) }
        case .rdpCookie(let name), .rdpCookieCount(let name):
            // No payload, or too little of it yet: no sample (HAProxy's "may change").
            guard let payload = facts.connection.inspectedPayload else { return nil }
            let lookup = RDPCookie.find(in: payload, name: name)
            if case .rdpCookieCount = fetch {
                if lookup == .needMore { return nil }
                if case .value = lookup { return .integer(1) }
                return .integer(0)
            }
            guard case .value(let range) = lookup else { return nil }
            return .string(Array(payload[range]))
        default: return nil
        }
    }

    /// Occurrence `n` of a header's values (1 the first, -1 the last).
    private static func header(_ name: [UInt8], occurrence: Int, split: Bool, bytes: UnsafeRawBufferPointer,
                               headers: [HTTPHeaderField]) -> SampleValue? {
        var found: [[UInt8]] = []
        _ = RequestFacts.forEachValue(of: name, in: bytes, headers: headers, split: split) { value in
            found.append(Array(value))
            return occurrence > 0 && found.count == occurrence
        }
        let index = occurrence > 0 ? occurrence - 1 : found.count + occurrence
        guard occurrence != 0, found.indices.contains(index) else { return nil }
        return .string(found[index])
    }

    /// HAProxy's `field`/`word`: the pieces between delimiter bytes (`word` skips empty
    /// ones), the `index`-th (1 the first, -1 the last) and `count` of them as written in
    /// the text, going right from a positive index and left from a negative one (0: to
    /// that end of the text); empty past the last.
    private static func field(_ text: [UInt8], index: Int, delimiters: [UInt8], count: Int, words: Bool) -> SampleValue? {
        var spans: [Range<Int>] = []
        var start = 0
        for i in 0...text.count where i == text.count || delimiters.contains(text[i]) {
            if !words || i > start { spans.append(start..<i) }
            start = i + 1
        }
        guard index != 0 else { return nil }
        let first = index > 0 ? index - 1 : spans.count + index
        guard first >= 0, first < spans.count else { return .string([]) }
        if index < 0 {
            let begin = count == 0 ? 0 : spans[max(0, first - count + 1)].lowerBound
            return .string(Array(text[begin..<spans[first].upperBound]))
        }
        let end = count == 0 ? text.count : spans[min(spans.count, first + count) - 1].upperBound
        return .string(Array(text[spans[first].lowerBound..<end]))
    }

    /// `%XX` decoded (`+` stays, as HAProxy's `url_dec` without `in_form`); nil for a
    /// malformed escape, which gives no sample.
    private static func urlDecoded(_ bytes: [UInt8]) -> [UInt8]? {
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x37
            case 0x61...0x66: return c - 0x57
            default: return nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    private static func base64(_ bytes: [UInt8]) -> [UInt8] {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = UInt32(bytes[i]), b1 = n > 1 ? UInt32(bytes[i + 1]) : 0, b2 = n > 2 ? UInt32(bytes[i + 2]) : 0
            let word = b0 << 16 | b1 << 8 | b2
            out.append(table[Int(word >> 18 & 63)])
            out.append(table[Int(word >> 12 & 63)])
            out.append(n > 1 ? table[Int(word >> 6 & 63)] : UInt8(ascii: "="))
            out.append(n > 2 ? table[Int(word & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return out
    }

    private static func convert(_ value: SampleValue, _ converter: Converter, values: StreamValues?) -> SampleValue? {
        switch converter {
        case .lower: return .string(value.text.map { ($0 &- 0x41) < 26 ? $0 | 0x20 : $0 })
        case .upper: return .string(value.text.map { ($0 &- 0x61) < 26 ? $0 & ~0x20 : $0 })
        case .length: return .integer(value.text.count)
        case .hex:
            // As HAProxy casts to binary first: an address is its bytes, an integer its 8
            // bytes in network order.
            let bytes: [UInt8]
            switch value {
            case .address(let raw): bytes = raw
            case .integer, .boolean:
                let n = UInt64(bitPattern: Int64(value.integer ?? 0))
                bytes = (0..<8).map { UInt8(truncatingIfNeeded: n >> (56 - 8 * $0)) }
            case .string(let raw): bytes = raw
            }
            var out: [UInt8] = []
            UpperHex.append(contentsOf: bytes, to: &out)
            return .string(out)
        case .concat(let prefix, let variable, let suffix):
            var out = value.text + prefix
            if let variable, let extra = StreamValues.read(variable, in: values) { out += extra.text }
            return .string(out + suffix)
        case .field(let index, let delimiters, let count, let words):
            return field(value.text, index: index, delimiters: delimiters, count: count, words: words)
        case .ltrim(let set): return .string(Array(value.text.drop { set.contains($0) }))
        case .rtrim(let set):
            var bytes = value.text
            while let last = bytes.last, set.contains(last) { bytes.removeLast() }
            return .string(bytes)
        case .urlDecode: return urlDecoded(value.text).map { .string($0) }
        case .base64: return .string(base64(value.text))
        case .strcmp(let variable):
            guard let other = StreamValues.read(variable, in: values)?.text else { return nil }
            let a = value.text
            return .integer(a == other ? 0 : a.lexicographicallyPrecedes(other) ? -1 : 1)
        case .iif(let whenTrue, let whenFalse):
            guard let n = value.integer else { return nil }
            return .string(n != 0 ? whenTrue : whenFalse)
        default: break
        }
        guard let n = value.integer else { return nil }
        switch converter {
        case .neg: return .integer(0 &- n)
        case .not: return .boolean(n == 0)
        case .bool: return .boolean(n != 0)
        case .even: return .boolean(n & 1 == 0)
        case .odd: return .boolean(n & 1 == 1)
        case .arithmetic(let op, let operand):
            let m: Int
            switch operand {
            case .constant(let c): m = c
            case .variable(let name):
                // An unset variable counts as 0, as in HAProxy.
                m = StreamValues.read(name, in: values)?.integer ?? 0
            }
            switch op {
            case .add: return .integer(n &+ m)
            case .sub: return .integer(n &- m)
            case .mul: return .integer(n &* m)
            // HAProxy divides by zero into the largest integer rather than failing.
            // (Int.min / -1 overflows: it wraps, as the other operators do.)
            case .div: return .integer(m == 0 ? Int(Int64.max) : n.dividedReportingOverflow(by: m).partialValue)
            case .mod: return .integer(m == 0 ? 0 : n.remainderReportingOverflow(dividingBy: m).partialValue)
            case .and: return .integer(n & m)
            case .or: return .integer(n | m)
            case .xor: return .integer(n ^ m)
            }
        default: return nil
        }
    }
}

/// What a log line still knows of its stream for `%[...]` (issue 15), as HAProxy 2.6 keeps
/// it after the request and response have gone: the connection's addresses, the method
/// when it is one of HTTP's own, the status a server answered (not one proxyd made), the
/// proxies and server. A request that never parsed has no stream in HAProxy: only the
/// connection's facts and the frontend are left then.
struct LogTimeFacts {
    var client: SocketAddress?
    var local: SocketAddress?
    var serverStatus: Int?
    var method: [UInt8]?
    var frontendName: String
    var backendName: String?
    var serverName: String?
    var serverID: Int?
    var isTLS: Bool
    var tlsServerName: String?
    var stickTrackers: StickTrackers?

    /// The methods HAProxy knows by number (its `HTTP_METH_*`); another one's text is gone
    /// by log time, so `%[method]` logs `-` for it.
    static let knownMethods: [[UInt8]] = ["OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT"]
        .map { Array($0.utf8) }
}
