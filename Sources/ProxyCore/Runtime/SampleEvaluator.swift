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
    }

    enum Operand {
        case constant(Int)
        case variable(VariableName)
    }

    enum Converter {
        case lower, upper, neg, not, bool, even, odd, length, hex
        case arithmetic(ArithmeticOperator, Operand)
        case concat(prefix: [UInt8], variable: VariableName?, suffix: [UInt8])
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
        case "src": fetch = .clientAddress
        case "dst": fetch = .localAddress
        case "src_port": fetch = .clientPort
        case "dst_port": fetch = .localPort
        case "path": fetch = .path
        case "url": fetch = .url
        case "method": fetch = .method
        case "query": fetch = .query
        case "req.ver": fetch = .version
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
        default: fetch = .constant(.string([]))  // SampleExpression.parse admits no other
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
        guard var value = fetchValue(facts, values: values) else { return nil }
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

    private static func convert(_ value: SampleValue, _ converter: Converter, values: StreamValues?) -> SampleValue? {
        switch converter {
        case .lower: return .string(value.text.map { ($0 &- 0x41) < 26 ? $0 | 0x20 : $0 })
        case .upper: return .string(value.text.map { ($0 &- 0x61) < 26 ? $0 & ~0x20 : $0 })
        case .length: return .integer(value.text.count)
        case .hex:
            let digits = Array("0123456789ABCDEF".utf8)
            var out: [UInt8] = []
            for byte in value.text { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
            return .string(out)
        case .concat(let prefix, let variable, let suffix):
            var out = value.text + prefix
            if let variable, let extra = StreamValues.read(variable, in: values) { out += extra.text }
            return .string(out + suffix)
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
