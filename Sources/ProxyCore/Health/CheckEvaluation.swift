/// Pure parts of health checks: what to send and how to judge what came back. No sockets.
enum CheckEvaluation {
    // MARK: HTTP checks

    /// The bytes of an HTTP check request, as HAProxy 2.6 writes them: header names in
    /// lower case, `connection: close` for HTTP/1.1, `content-length` with a body.
    static func httpRequest(_ request: HTTPCheckRequest) -> [UInt8] {
        var version = request.version
        var headers = request.headers
        // `option httpchk GET / HTTP/1.1\r\nHost:\ x` (deprecated): headers hidden in the version.
        if version.contains("\r\n") {
            let parts = version.split(separator: "\r\n", omittingEmptySubsequences: true).map(String.init)
            version = parts.first ?? "HTTP/1.0"
            for line in parts.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = String(line[..<colon])
                let value = String(line[line.index(after: colon)...]).drop { $0 == " " }
                headers.append((name, String(value)))
            }
        }
        var text = "\(request.method) \(request.uri) \(version)\r\n"
        for (name, value) in headers { text += "\(name.lowercased()): \(value)\r\n" }
        if version == "HTTP/1.1", !headers.contains(where: { $0.name.lowercased() == "connection" }) {
            text += "connection: close\r\n"
        }
        if let body = request.body {
            text += "content-length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            text += "\r\n"
        }
        return Array(text.utf8)
    }

    /// A response head's status line: code and reason phrase, and where the body starts.
    struct HTTPResponseHead: Equatable {
        var code: Int
        var reason: String
        var bodyStart: Int
        var contentLength: Int?
    }

    enum HeadParse: Equatable {
        case incomplete
        case invalid
        case complete(HTTPResponseHead)
    }

    static func parseHead(_ bytes: [UInt8]) -> HeadParse {
        // Bytes, not a String: a String split into lines and words walked grapheme clusters,
        // most of the user time of an `httpchk` (twice per check: at the read and the verdict).
        let prefix: StaticString = "HTTP/"
        let prefixBytes = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        if !bytes.prefix(prefixBytes.count).elementsEqual(prefixBytes.prefix(bytes.count)) { return .invalid }
        // Find the end of the head.
        var end: Int?
        var i = 0
        while i + 3 < bytes.count {
            if bytes[i] == 13, bytes[i + 1] == 10, bytes[i + 2] == 13, bytes[i + 3] == 10 { end = i + 4; break }
            i += 1
        }
        guard let end else { return bytes.count > 16_384 ? .invalid : .incomplete }
        let headEnd = end - 4
        // Lines end at CR LF (one grapheme in a String, so the same cut as before).
        func lineEnd(from start: Int) -> Int {
            var j = start
            while j + 1 < headEnd, !(bytes[j] == 13 && bytes[j + 1] == 10) { j += 1 }
            return j + 1 < headEnd ? j : headEnd
        }
        // The status line: version, code, reason, split at the first two spaces.
        let statusEnd = lineEnd(from: 0)
        guard let firstSpace = bytes[0..<statusEnd].firstIndex(of: 32) else { return .invalid }
        let secondSpace = bytes[(firstSpace + 1)..<statusEnd].firstIndex(of: 32)
        let codeText = String(decoding: bytes[(firstSpace + 1)..<(secondSpace ?? statusEnd)], as: UTF8.self)
        guard codeText.count == 3, let code = Int(codeText) else { return .invalid }
        let reason = secondSpace.map { String(decoding: bytes[($0 + 1)..<statusEnd], as: UTF8.self) } ?? ""
        var length: Int?
        var lineStart = statusEnd + 2
        while lineStart <= headEnd {
            let stop = lineEnd(from: lineStart)
            // name ":" value, both non-empty (leading colons are skipped, as String.split
            // skipped empty pieces).
            var nameStart = lineStart
            while nameStart < stop, bytes[nameStart] == 58 { nameStart += 1 }
            if let colon = bytes[nameStart..<stop].firstIndex(of: 58), colon > nameStart, colon + 1 < stop,
               asciiLowercaseEquals(bytes[nameStart..<colon], "content-length") {
                var from = colon + 1, to = stop
                while from < to, bytes[from] == 32 || bytes[from] == 9 { from += 1 }
                while to > from, bytes[to - 1] == 32 || bytes[to - 1] == 9 { to -= 1 }
                length = Int(String(decoding: bytes[from..<to], as: UTF8.self))
            }
            lineStart = stop + 2
        }
        return .complete(HTTPResponseHead(code: code, reason: reason, bodyStart: end, contentLength: length))
    }

    /// `name` equals `lowercase` (ASCII, given in lower case) whatever the case of its letters.
    private static func asciiLowercaseEquals(_ name: ArraySlice<UInt8>, _ lowercase: StaticString) -> Bool {
        guard name.count == lowercase.utf8CodeUnitCount else { return false }
        let wanted = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        return zip(name, wanted).allSatisfy { byte, want in
            (byte >= 65 && byte <= 90 ? byte | 0x20 : byte) == want
        }
    }

    /// Whether the expectations need the body (string/rstring): then the check waits for it.
    static func needsBody(_ expectations: [CheckExpectation]) -> Bool {
        expectations.contains {
            switch $0.kind {
            case .string, .stringRegex: return true
            default: return false
            }
        }
    }

    /// Judges an HTTP check response. `bytes`: everything received (head and body so far).
    static func judgeHTTP(_ bytes: [UInt8], expectations: [CheckExpectation]) -> CheckResult {
        guard case .complete(let head) = parseHead(bytes) else {
            return CheckResult(status: .l7response)
        }
        let statusFailure = CheckResult(status: .l7status, code: head.code, info: head.reason)
        let passed = CheckResult(status: .l7ok, code: head.code)
        if expectations.isEmpty {
            return (200...399).contains(head.code) ? passed : statusFailure
        }
        let body = Array(bytes[head.bodyStart...])
        for expectation in expectations {
            var matched: Bool
            var isStatus = true
            switch expectation.kind {
            case .status(let ranges):
                matched = ranges.contains { $0.contains(head.code) }
            case .statusRegex(let regex):
                matched = regex.matches(String(head.code))
            case .string(let text):
                isStatus = false
                matched = contains(body, Array(text.utf8))
            case .stringRegex(let regex):
                isStatus = false
                matched = body.withUnsafeBufferPointer { regex.matches(bytes: $0) }
            case .header(let name, let value):
                isStatus = false
                matched = headerMatches(bytes[0..<head.bodyStart], name: name, value: value)
            case .binary, .binaryRegex:
                matched = false
            }
            if expectation.negated { matched.toggle() }
            if !matched {
                if isStatus { return statusFailure }
                if !expectation.negated, body.isEmpty, case .string = expectation.kind {
                    return CheckResult(status: .l7response, info: "HTTP content check could not find a response body")
                }
                return CheckResult(status: .l7response,
                                   info: expectation.negated ? "HTTP check matched unwanted content"
                                                             : "HTTP content check did not match")
            }
        }
        return passed
    }

    private static func headerMatches(_ head: ArraySlice<UInt8>, name: String, value: String?) -> Bool {
        let text = String(decoding: head, as: UTF8.self).lowercased()
        for line in text.split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count >= 1, parts[0] == name.lowercased() else { continue }
            guard let value else { return true }
            if parts.count == 2, parts[1].trimmingSpaces.contains(value.lowercased()) { return true }
        }
        return false
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0], Array(haystack[i..<i + needle.count]) == needle { return true }
            i += 1
        }
        return false
    }

    // MARK: tcp-check

    /// One step of a tcp-check sequence (the implicit first connect included).
    enum TCPStep {
        case connect(port: Int?)
        case send([UInt8])
        case expect(CheckExpectation)
        /// `option ssl-hello-chk`'s ClientHello: made when sent (it carries the time).
        case sendClientHello
        /// A protocol check's answer (ProtocolChecks.swift), `step` as HAProxy numbers it.
        case judge(ProtocolReply, step: Int)
    }

    /// The steps to run: a connect first unless the rules start with one.
    static func tcpSteps(_ rules: [TCPCheckRule]) -> [TCPStep] {
        var steps: [TCPStep] = []
        for rule in rules {
            switch rule {
            case .connect(let port, _, _, _, _, _): steps.append(.connect(port: port))
            case .send(let text): steps.append(.send(Array(text.utf8)))
            case .sendBinary(let bytes): steps.append(.send(bytes))
            case .sendLogFormat(let format): steps.append(.send(Array(format.description.utf8)))
            case .expect(let e): steps.append(.expect(e))
            case .comment: continue
            }
        }
        if case .connect = steps.first {} else { steps.insert(.connect(port: nil), at: 0) }
        return steps
    }

    enum ExpectOutcome: Equatable {
        case matched
        case needMore
        case failed(String)
    }

    /// Judges received `data` against one expect rule at `step` (1-based).
    /// `final`: the server closed; no more data will come.
    static func judgeTCP(_ data: [UInt8], _ expectation: CheckExpectation, step: Int, final: Bool) -> ExpectOutcome {
        var matched: Bool
        switch expectation.kind {
        case .string(let text): matched = contains(data, Array(text.utf8))
        case .binary(let bytes): matched = contains(data, bytes)
        case .stringRegex(let regex): matched = data.withUnsafeBufferPointer { regex.matches(bytes: $0) }
        case .binaryRegex(let regex): matched = regex.matches(hex(data))
        default: matched = false
        }
        if expectation.negated {
            if matched { return .failed("TCPCHK matched unwanted content \(describe(expectation)) at step \(step)") }
            return final || !data.isEmpty ? .matched : .needMore
        }
        if matched { return .matched }
        if !final { return .needMore }
        if data.isEmpty { return .failed("TCPCHK got an empty response at step \(step)") }
        return .failed("TCPCHK did not match content \(describe(expectation)) at step \(step)")
    }

    /// `'+OK'` or `(regex)` as HAProxy's messages show an expected pattern.
    static func describe(_ e: CheckExpectation) -> String {
        switch e.kind {
        case .string(let t): return "'\(t)'"
        case .binary(let b): return "'\(hex(b))'"
        default: return "(regex)"
        }
    }

    /// ` at step 2 of tcp-check (expect string '+OK')`, for a timeout while expecting.
    static func timeoutInfo(_ e: CheckExpectation, step: Int) -> String {
        let what: String
        switch e.kind {
        case .string(let t): what = "expect string '\(t)'"
        case .stringRegex(let r): what = "expect rstring '\(r.source)'"
        case .binary(let b): what = "expect binary '\(hex(b))'"
        case .binaryRegex(let r): what = "expect rbinary '\(r.source)'"
        default: what = "expect"
        }
        return " at step \(step) of tcp-check (\(what))"
    }

    static func hex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        UpperHex.append(contentsOf: bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: agent

    /// What an agent said (HAProxy's agent words).
    struct AgentReply: Equatable {
        enum Admin: Equatable { case ready, drain, maintenance }
        enum Operational: Equatable { case up, down(word: String, reason: String?) }
        var weightPercent: Int?
        var admin: Admin?
        var operational: Operational?
        var maxconn: Int?

        var isEmpty: Bool { weightPercent == nil && admin == nil && operational == nil && maxconn == nil }
    }

    /// Words separated by spaces, tabs, commas or line ends; a word starting with `#`
    /// begins a description that runs to the end of the line. Unknown words are ignored.
    static func parseAgent(_ text: String) -> AgentReply {
        var reply = AgentReply()
        let line = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map(String.init) ?? ""
        var description: String?
        var words: [String] = []
        var rest = Substring(line)
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "," }
            if rest.first == "#" {
                description = String(rest.dropFirst()).trimmingSpaces
                break
            }
            let word = rest.prefix { $0 != " " && $0 != "\t" && $0 != "," }
            if !word.isEmpty { words.append(String(word)) }
            rest = rest.dropFirst(word.count)
        }
        for word in words {
            let lower = word.lowercased()
            if lower.hasSuffix("%"), let pct = Int(lower.dropLast()), pct >= 0 {
                reply.weightPercent = pct
            } else if lower.hasPrefix("maxconn:"), let n = Int(lower.dropFirst(8)) {
                reply.maxconn = n
            } else {
                switch lower {
                case "ready": reply.admin = .ready
                case "drain": reply.admin = .drain
                case "maint": reply.admin = .maintenance
                case "up": reply.operational = .up
                case "down", "fail", "failed", "stopped": reply.operational = .down(word: lower, reason: nil)
                default: continue
                }
            }
        }
        if case .down(let word, _) = reply.operational, let description {
            reply.operational = .down(word: word, reason: description)
        }
        return reply
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
