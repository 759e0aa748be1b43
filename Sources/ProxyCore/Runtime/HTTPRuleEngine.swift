import NIOCore
import Shared

/// A header value to write: literal bytes and a few samples evaluated per request
/// (`%[src]`, `%[src_port]`, `%[dst]`, `%[dst_port]`, `%[req.hdr(NAME)]`, `%ci`, `%cp`).
struct ValueTemplate {
    enum Part {
        case literal([UInt8])
        case clientAddress
        case clientPort
        case localAddress
        case localPort
        case requestHeader([UInt8])
        /// `%[sc_http_req_rate(0)]` & co (Runtime/StickFetches.swift): empty without a sample.
        case stick(CompiledStickFetch)
        /// Any other expression proxyd evaluates (`%[var(txn.x)]`, converters: Runtime/SampleEvaluator.swift).
        case sample(CompiledSample)
    }
    let parts: [Part]
    /// HAProxy writes a sample's control characters as `%XX` where the text goes into a
    /// message (headers, the request line, replies, redirects: its LOG_OPT_HTTP), not
    /// into a variable (`set-var-fmt` keeps the bytes).
    let escapesControls: Bool

    init(_ format: FormatString, at location: SourceLocation?, escapesControls: Bool = true) throws {
        self.escapesControls = escapesControls
        parts = try format.parts.map { part in
            switch part {
            case .literal(let text): return .literal(Array(text.utf8))
            case .sample(let expression), .variable(let expression):
                switch expression {
                case "src", "ci": return .clientAddress
                case "src_port", "cp": return .clientPort
                case "dst", "fi": return .localAddress
                case "dst_port", "fp": return .localPort
                default:
                    for prefix in ["req.hdr(", "hdr("] where expression.hasPrefix(prefix) && expression.hasSuffix(")") {
                        let name = expression.dropFirst(prefix.count).dropLast()
                        return .requestHeader(Array(name.lowercased().utf8))
                    }
                    if let stick = CompiledStickFetch(expression: expression) { return .stick(stick) }
                    switch SampleExpression.parse(expression) {
                    case .success(let parsed): return .sample(CompiledSample(parsed))
                    case .failure(let failure):
                        throw RuntimeBuilder.Failure(location: location,
                            message: "sample '%[\(expression)]' in a header value is not supported yet (\(failure.message))")
                    }
                }
            }
        }
    }

    func render(_ facts: RequestFacts) -> [UInt8] {
        render(facts, values: facts.connection.values)
    }

    /// Without `facts` (a `global set-var-fmt`), only constants and variables write anything.
    func render(_ facts: RequestFacts?, values: StreamValues?) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            if case .literal(let bytes) = part { out += bytes; continue }
            if case .sample(let sample) = part {
                if let value = sample.evaluate(facts, values: values) { append(value.text, to: &out) }
                continue
            }
            guard let facts else { continue }
            switch part {
            case .literal(let bytes): out += bytes
            case .clientAddress: out += facts.connection.clientAddressText
            case .clientPort: out += Array(String(facts.connection.clientPort).utf8)
            case .localAddress:
                let a = facts.connection.localAddress
                let ip: IPAddress = a.count == 4 ? .v4(a[0], a[1], a[2], a[3]) : .v6(a)
                out += Array(ip.description.utf8)
            case .localPort: out += Array(String(facts.connection.localPort).utf8)
            case .stick(let fetch):
                if let value = fetch.value(facts.connection) { out += Array(String(value).utf8) }
            case .requestHeader(let name):
                _ = RequestFacts.forEachValue(of: name, in: facts.bytes, headers: facts.headers, split: false) {
                    append($0, to: &out)
                    return true
                }
            case .sample: break
            }
        }
        return out
    }

    private func append<Bytes: Sequence>(_ bytes: Bytes, to out: inout [UInt8]) where Bytes.Element == UInt8 {
        if escapesControls { Self.appendEscaped(bytes, to: &out) } else { out += bytes }
    }

    /// A sample's bytes as HAProxy's log-format writes them into a message: a control
    /// character (below 0x20 but the tab, and DEL) becomes `%XX`. So `%[path,url_dec]` of
    /// `/a%0d%0aX: y` cannot end the header it fills and start another (request or
    /// response splitting).
    static func appendEscaped<Bytes: Sequence>(_ bytes: Bytes, to out: inout [UInt8]) where Bytes.Element == UInt8 {
        for byte in bytes {
            if (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                // Per request on the data path: no array made per call or per byte.
                out.append(UInt8(ascii: "%"))
                UpperHex.append(byte, to: &out)
            } else {
                out.append(byte)
            }
        }
    }
}

/// What an http-request or http-response rule does, compiled.
enum RuleAction {
    /// Remove every header with this (lower-case) name, then add it with the value.
    case setHeader(lowerName: [UInt8], name: [UInt8], value: ValueTemplate)
    case addHeader(name: [UInt8], value: ValueTemplate)
    case deleteHeader(lowerName: [UInt8])
    /// `set-path`, `replace-uri` …, `replace-header`, `replace-value` (Runtime/RequestLineRewrite.swift).
    case editRequestLine(CompiledRequestLineEdit)
    case replaceHeader(CompiledHeaderReplace)
    /// `set-log-level`, `set-src`, and `tarpit`, `reject`, `silent-drop` (Runtime/RuleEffects.swift).
    case logLevel(LogLevelChoice)
    case setSource(CompiledSourceRewrite)
    /// `set-dst`, `set-dst-port` (Runtime/DestinationRewrite.swift).
    case setDestination(CompiledDestinationRewrite)
    case end(RequestEnding)
    /// `set-status CODE [reason TEXT]` (Runtime/RequestLineRewrite.swift).
    case setStatus(Int, reason: String?)
    /// Answer with these bytes and stop (`deny`, `return`); `closes` after the answer.
    case reply(ByteBuffer, closes: Bool)
    /// The same with log-format expressions in the body or headers (Runtime/HTTPReplies.swift).
    case formattedReply(FormattedReply, closes: Bool)
    /// `tarpit` with such a reply.
    case formattedTarpit(FormattedReply, delay: TimeAmount)
    case redirect(RedirectRule)
    /// Stop evaluating rules of this list.
    case allow
    /// `use-service`: a service inside proxyd answers.
    case service(PrometheusService)
    /// `track-scN` and `sc-inc-gpcN(N)` (Runtime/StickTracking.swift).
    case track(CompiledTrack)
    case incrementGPC(counter: Int, gpc: Int)
    case setGPT0(counter: Int, value: Int)
    /// `set-var`, `set-var-fmt`, `unset-var` (Runtime/CompiledAssignment.swift).
    case setVariable(CompiledAssignment)
    /// `capture EXPR len N|id N` (Runtime/Captures.swift).
    case capture(CompiledCapture)
}

extension RuleAction {
    /// `set-header NAME FMT`, `add-header NAME FMT`, `del-header NAME`, from the config.
    static func setHeader(_ name: String, _ value: FormatString, at location: SourceLocation?) throws -> RuleAction {
        .setHeader(lowerName: Array(name.lowercased().utf8), name: Array(name.utf8),
                   value: try ValueTemplate(value, at: location))
    }

    static func addHeader(_ name: String, _ value: FormatString, at location: SourceLocation?) throws -> RuleAction {
        .addHeader(name: Array(name.utf8), value: try ValueTemplate(value, at: location))
    }

    static func deleteHeader(_ name: String) -> RuleAction {
        .deleteHeader(lowerName: Array(name.lowercased().utf8))
    }
}

struct CompiledRule {
    let action: RuleAction
    let condition: CompiledCondition?
}

/// The outcome of running a rule list on a message.
enum RuleOutcome {
    case proceed
    case reply(ByteBuffer, closes: Bool)
    /// `tarpit`, `reject`, `silent-drop` (Runtime/RuleEffects.swift).
    case end(RequestEnding)
}

enum RuleEngine {
    /// Applies `rules` in order: header edits accumulate in `rewrite`; a reply stops.
    static func run(_ rules: [CompiledRule], facts: RequestFacts, rewrite: inout HeadRewrite) -> RuleOutcome {
        var facts = facts  // follows a rewritten request line or status, from earlier lists too
        facts.follow(rewrite)
        for rule in rules {
            if let condition = rule.condition, !condition.evaluate(facts) { continue }
            switch rule.action {
            case .setHeader(let lowerName, let name, let value):
                rewrite.dropNames.append(lowerName)
                rewrite.add(name, value.render(facts))
            case .addHeader(let name, let value):
                rewrite.add(name, value.render(facts))
            case .deleteHeader(let lowerName):
                rewrite.dropNames.append(lowerName)
            case .editRequestLine(let edit):
                edit.apply(facts, rewrite: &rewrite)
                facts.follow(rewrite)
            case .replaceHeader(let edit):
                edit.apply(facts, rewrite: &rewrite)
            case .logLevel(let choice):
                rewrite.effects.logLevel = choice
            case .setSource(let edit):
                edit.apply(&facts)
                rewrite.effects.connection = facts.connection
            case .setDestination(let edit):
                edit.apply(&facts)
                rewrite.effects.connection = facts.connection
            case .end(let ending):
                return .end(ending)
            case .setStatus(let code, let reason):
                rewrite.setStatusLine(code, reason: reason, facts: facts)
                facts.follow(rewrite)
            case .reply(let bytes, let closes):
                return .reply(bytes, closes: closes)
            case .formattedReply(let reply, let closes):
                // In a response rule the server's response is gone by then: HAProxy's
                // `%[status]`, `%[res.hdr(…)]` find nothing.
                var answering = facts
                answering.response = nil
                return .reply(reply.bytes(answering), closes: closes)
            case .formattedTarpit(let reply, let delay):
                return .end(.tarpit(reply.bytes(facts), delay: delay))
            case .redirect(let redirect):
                return .reply(redirectResponse(redirect, facts: facts), closes: false)
            case .allow:
                return .proceed
            case .service(let service):
                return .reply(service.response(), closes: false)
            case .track(let track):
                if let trackers = facts.connection.stickTrackers {
                    track.run(trackers, facts: facts, connection: facts.connection, forRequest: true)
                }
            case .incrementGPC(let counter, let gpc):
                facts.connection.stickTrackers?.incrementGPC(counter, gpc: gpc)
            case .setGPT0(let counter, let value):
                facts.connection.stickTrackers?.setGPT0(counter, value)
            case .setVariable(let assignment):
                assignment.run(facts, values: facts.connection.values)
            case .capture(let capture):
                capture.run(facts, values: facts.connection.values, lengths: facts.connection.values?.captureLengths)
            }
        }
        return .proceed
    }

    /// HAProxy 2.6's redirect answer: status line, empty body, `location`.
    static func redirectResponse(_ rule: RedirectRule, facts: RequestFacts) -> ByteBuffer {
        var location: [UInt8] = []
        let target = (try? ValueTemplate(rule.target, at: nil))?.render(facts) ?? Array(rule.target.raw.utf8)
        switch rule.kind {
        case .location:
            location = target
        case .prefix:
            location = target == Array("/".utf8) ? [] : target
            location += facts.path
            if rule.appendSlash, location.last != UInt8(ascii: "/") { location.append(UInt8(ascii: "/")) }
            if !rule.dropQuery, let query = facts.query {
                location.append(UInt8(ascii: "?"))
                location += query
            }
        case .scheme:
            location = target + Array("://".utf8)
            if let host = facts.head.host { location += facts.slice(host) }
            location += facts.slice(facts.head.targetSpan)
        }
        var response = ByteBuffer()
        response.writeString("HTTP/1.1 \(rule.code) \(redirectReason(rule.code))\r\ncontent-length: 0\r\nlocation: ")
        response.writeBytes(location)
        // HAProxy marks temporary redirects (302, 303, 307) as not cacheable.
        response.writeString([302, 303, 307].contains(rule.code) ? "\r\ncache-control: no-cache\r\n\r\n" : "\r\n\r\n")
        return response
    }

    /// The reasons of HAProxy's redirect answers (its own, not `HTTPReasons`: 302 is
    /// "Found" here and "Moved Temporarily" in a `return`).
    static func redirectReason(_ code: Int) -> String {
        switch code {
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        default: return HTTPReasons.haproxy(code)
        }
    }
}
