import NIOCore

/// `http-after-response` (Config/AfterResponseParser.swift): rules that run on every
/// response the client gets, the server's (after the `http-response` rules) and proxyd's
/// own (errors, redirects, `deny`, `return`, `tarpit`), the backend's then the frontend's.
extension HTTPSession {
    /// The rule lists of this exchange, in HAProxy's order; a listen section's once.
    var afterResponseRuleLists: [[CompiledRule]] {
        var lists: [[CompiledRule]] = []
        if let backend, !backend.afterResponseRules.isEmpty { lists.append(backend.afterResponseRules) }
        if backend?.name != frontend.name, !frontend.afterResponseRules.isEmpty { lists.append(frontend.afterResponseRules) }
        return lists
    }

    /// On a server's response, into the rewrite the `http-response` rules filled.
    func runAfterResponseRules(_ facts: RequestFacts, rewrite: inout HeadRewrite) {
        for rules in afterResponseRuleLists { _ = RuleEngine.run(rules, facts: facts, rewrite: &rewrite) }
    }

    /// One of proxyd's own answers with the rules applied: its head parsed, edited and
    /// written again, its body kept. The request is not read here (it may be gone, or
    /// unreadable: a 400): request fetches find nothing.
    func applyingAfterResponseRules(to reply: ByteBuffer) -> ByteBuffer {
        let lists = afterResponseRuleLists
        guard !lists.isEmpty, let connection = connectionFacts else { return reply }
        var parser = HTTPResponseParser()
        var rewrite = HeadRewrite()
        let method = stream.requestMethod
        let parsed: Bool = reply.withUnsafeReadableBytes { bytes in
            guard case .complete = parser.parse(bytes, requestMethod: method) else { return false }
            var facts = RequestFacts(bytes: UnsafeRawBufferPointer(start: nil, count: 0), head: HTTPRequestHead(),
                                     headers: [], connection: connection)
            facts.response = (bytes, parser.head, parser.headers)
            for rules in lists { _ = RuleEngine.run(rules, facts: facts, rewrite: &rewrite) }
            return true
        }
        guard parsed else { return reply }
        applyRuleEffects(rewrite.effects)
        var out = ByteBuffer()
        out.reserveCapacity(reply.readableBytes + 128)
        rewrite.emit(from: reply, start: parser.head.start, length: parser.head.headLength,
                     headersEnd: parser.head.headersEnd, headers: parser.headers) { out.writeImmutableBuffer($0) }
        if let body = reply.getSlice(at: reply.readerIndex + parser.head.headLength,
                                     length: reply.readableBytes - parser.head.headLength) {
            out.writeImmutableBuffer(body)
        }
        return out
    }
}
