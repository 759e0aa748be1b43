import Shared

/// `http-check …` and `tcp-check …` rules.
enum CheckParser {
    static func expectation(_ words: [String], http: Bool) -> Result<CheckExpectation, HTTPRuleParser.Failure> {
        var w = words
        var options: [String: String] = [:]
        // Leading options (min-recv, ok-status, error-status, tout-status, on-success, on-error, comment, status-code).
        let optionNames: Set<String> = ["min-recv", "ok-status", "error-status", "tout-status", "on-success",
                                        "on-error", "comment", "status-code"]
        while let first = w.first, optionNames.contains(first) {
            guard w.count >= 2 else { return .failure(.init(message: "'\(first)' expects an argument")) }
            options[first] = w[1]
            w.removeFirst(2)
        }
        var negated = false
        if w.first == "!" { negated = true; w.removeFirst() }
        guard let kind = w.first else {
            return .failure(.init(message: "expects at least a matching pattern as arguments."))
        }
        let kinds: Set<String> = http ? ["status", "rstatus", "string", "rstring", "hdr", "fhdr", "string-lf"]
            : ["string", "rstring", "binary", "rbinary", "string-lf", "binary-lf"]
        guard kinds.contains(kind) else {
            if http {
                return .failure(.init(message: "'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got '\(kind)' as argument.."))
            }
            return .failure(.init(message: "'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf', '[!]rbinary', '[!]binary-lf' or comment but got '\(kind)' as argument.."))
        }
        guard w.count >= 2 else {
            return .failure(.init(message: "'\(kind)' expects a <pattern> as argument."))
        }
        let pattern = w[1]
        if w.count > 2 {
            return .failure(.init(message: "unexpected argument '\(w[2])'"))
        }
        func regex(_ text: String) -> Result<CompiledRegex, HTTPRuleParser.Failure> {
            switch CompiledRegex.compile(text) {
            case let .success(r): return .success(r)
            case let .failure(e): return .failure(.init(message: "regex '\(text)' is invalid (error=\(e.message))."))
            }
        }
        let k: CheckExpectation.Kind
        switch kind {
        case "status" where http:
            var ranges: [ClosedRange<Int>] = []
            for part in pattern.split(separator: ",").map(String.init) {
                let bounds = part.split(separator: "-", maxSplits: 1).map(String.init)
                guard let lo = ConfigUnits.integer(bounds[0]) else {
                    return .failure(.init(message: "invalid status code '\(part)'"))
                }
                let hi = bounds.count > 1 ? ConfigUnits.integer(bounds[1]) : lo
                guard let hi, lo <= hi else { return .failure(.init(message: "invalid status range '\(part)'")) }
                ranges.append(lo...hi)
            }
            k = .status(ranges)
        case "rstatus" where http:
            switch regex(pattern) {
            case let .success(r): k = .statusRegex(r)
            case let .failure(e): return .failure(e)
            }
        case "string":
            k = .string(pattern)
        case "rstring":
            switch regex(pattern) {
            case let .success(r): k = .stringRegex(r)
            case let .failure(e): return .failure(e)
            }
        case "binary" where !http:
            guard let bytes = hex(pattern) else { return .failure(.init(message: "invalid hexadecimal string '\(pattern)'")) }
            k = .binary(bytes)
        case "rbinary" where !http:
            switch regex(pattern) {
            case let .success(r): k = .binaryRegex(r)
            case let .failure(e): return .failure(e)
            }
        default:
            if http {
                return .failure(.init(message: "'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got '\(kind)' as argument.."))
            }
            return .failure(.init(message: "'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf', '[!]rbinary', '[!]binary-lf' or comment but got '\(kind)' as argument.."))
        }
        return .success(CheckExpectation(negated: negated, kind: k, options: options))
    }

    static func hex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            guard let h = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(h)
            i += 2
        }
        return out
    }

    static func parseHTTPCheck(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let sub = l[1]
        var request = p.healthCheck.request
        switch sub {
        case "expect":
            switch expectation(Array(l.words.dropFirst(2)), http: true) {
            case let .success(e):
                p.healthCheck.httpExpectations.append(e)
            case let .failure(e):
                s.alert(l, "'http-check expect' : \(e.message)")
                return
            }
        case "send":
            var i = 2
            while i < l.count {
                let k = l[i]
                guard i + 1 < l.count || k == "hdr" else {
                    s.alert(l, "'http-check send' : '\(k)' expects an argument.")
                    return
                }
                switch k {
                case "meth": request.method = l[i + 1]; i += 2
                case "uri": request.uri = l[i + 1]; i += 2
                case "ver": request.version = l[i + 1]; i += 2
                case "body": request.body = l[i + 1]; i += 2
                case "hdr":
                    guard i + 2 < l.count else {
                        s.alert(l, "'http-check send' : 'hdr' expects <name> and <value> as arguments.")
                        return
                    }
                    request.headers.append((l[i + 1], l[i + 2]))
                    i += 3
                case "uri-lf", "body-lf", "comment":
                    i += 2
                default:
                    s.alert(l, "'http-check send' : expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or 'body-lf' but got '\(k)' as argument.")
                    return
                }
            }
            p.healthCheck.request = request
        case "disable-on-404":
            p.healthCheck.disableOn404 = true
            return
        case "send-state":
            p.healthCheck.sendState = true
            return
        case "connect", "set-var", "unset-var", "comment":
            s.alert(l, "'http-check \(sub)' is valid in HAProxy but not supported by proxyd yet.")
            return
        default:
            s.alert(l, "'http-check' only supports 'disable-on-404', 'send-state', 'comment', 'connect', 'send', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '\(sub)'")
            return
        }
        p.healthCheck.sawHTTPCheckRules = true
    }

    static func parseTCPCheck(_ s: ParserState, _ p: inout ProxySettings, _ l: ConfigLine, _ ctx: ProxyParseContext) {
        let sub = l[1]
        var rules = p.healthCheck.tcpRules
        switch sub {
        case "connect":
            var port: Int? = nil, addr: String? = nil, ssl = false, sni: String? = nil, proxy = false, linger = false
            var i = 2
            while i < l.count {
                switch l[i] {
                case "port":
                    guard let n = ConfigUnits.integer(l[i + 1]), (1...65535).contains(n) else {
                        // HAProxy reads a sample expression there: anything else is an unknown fetch.
                        s.alert(l, "'tcp-check connect' : error detected while parsing port expression : unknown fetch method '\(l[i + 1])'.")
                        return
                    }
                    port = n; i += 2
                case "addr": addr = l[i + 1]; i += 2
                case "sni": sni = l[i + 1]; i += 2
                case "alpn", "proto", "comment": i += 2
                case "ssl": ssl = true; i += 1
                case "send-proxy": proxy = true; i += 1
                case "linger": linger = true; i += 1
                case "default", "via-socks4": i += 1
                default:
                    s.alert(l, "'tcp-check connect' : expects 'comment', 'port', 'addr', 'send-proxy', 'via-socks4', 'ssl', 'sni', 'alpn', 'proto' or 'linger' but got '\(l[i])' as argument.")
                    return
                }
            }
            rules.append(.connect(port: port, address: addr, ssl: ssl, sni: sni, sendProxy: proxy, linger: linger))
        case "send", "send-lf":
            guard l.count >= 3 else {
                s.alert(l, "'tcp-check \(sub)' expects a string as argument.")
                return
            }
            if sub == "send" {
                rules.append(.send(l[2]))
            } else {
                switch HTTPRuleParser.format(l[2]) {
                case let .success(f): rules.append(.sendLogFormat(f))
                case let .failure(e): s.alert(l, "'tcp-check send-lf' : \(e.message)"); return
                }
            }
        case "send-binary":
            guard l.count >= 3 else {
                s.alert(l, "'tcp-check send-binary' expects a binary string as argument.")
                return
            }
            guard let bytes = hex(l[2]) else {
                let why = l[2].utf8.count % 2 == 1 ? "an even number of hex digit is expected"
                    : "an hex digit is expected (found '\(l[2].first { !$0.isHexDigit } ?? "?")')"
                s.alert(l, "'tcp-check send-binary' : '\(l[2])' invalid binary string (\(why)).\n.")
                return
            }
            rules.append(.sendBinary(bytes))
        case "expect":
            switch expectation(Array(l.words.dropFirst(2)), http: false) {
            case let .success(e): rules.append(.expect(e))
            case let .failure(e):
                s.alert(l, "'tcp-check expect' : \(e.message)")
                return
            }
        case "comment":
            rules.append(.comment(l.words.dropFirst(2).joined(separator: " ")))
        case "send-binary-lf", "set-var", "unset-var":
            s.alert(l, "'tcp-check \(sub)' is valid in HAProxy but not supported by proxyd yet.")
            return
        default:
            s.alert(l, "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '\(sub)'")
            return
        }
        p.healthCheck.tcpRules = rules
        p.healthCheck.sawTCPCheckRules = true
    }
}
