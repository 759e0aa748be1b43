/// When HAProxy 2.6 compresses, as pure decisions on parsed heads (no buffers kept):
/// the request chooses an algorithm from its `Accept-Encoding`, the response says whether
/// it can be compressed, and the head edits that follow.
enum CompressionPolicy {
    /// The algorithm for a request, or nil. The highest `q` wins (the first of equals);
    /// `*` takes the first of `algorithms`. HTTP/1.0 requests and the old browsers with
    /// broken decompression (`Mozilla/4` that is not MSIE 6 SV1 or later) get none.
    static func choose(_ algorithms: [CompressionAlgorithm], version: HTTPVersion,
                       headers: [HTTPHeaderField], bytes: UnsafeRawBufferPointer) -> CompressionAlgorithm? {
        guard !algorithms.isEmpty, version == .http11 else { return nil }
        if let agent = findHeader(headers, "user-agent", bytes) {
            let ua = Array(UnsafeRawBufferPointer(rebasing: bytes[agent.value.start..<agent.value.end]))
            if isBrokenBrowser(ua) { return nil }
        }
        var best: CompressionAlgorithm?
        var bestQ = 0
        for field in headers where field.name.equalsCaseInsensitive("accept-encoding", in: bytes) {
            let value = Array(UnsafeRawBufferPointer(rebasing: bytes[field.value.start..<field.value.end]))
            for element in value.split(separator: UInt8(ascii: ",")) {
                let parts = element.split(separator: UInt8(ascii: ";"), maxSplits: 1)
                guard let tokenBytes = parts.first.map(trimmed), !tokenBytes.isEmpty else { continue }
                let q = parts.count > 1 ? quality(trimmed(parts[1])) : 1000
                guard q > bestQ else { continue }
                let token = String(decoding: tokenBytes, as: UTF8.self).lowercased()
                if let match = algorithms.first(where: { token == "*" || $0.token == token }) {
                    best = match
                    bestQ = q
                }
            }
        }
        if best == nil, algorithms.contains(.identity) { return .identity }
        return best
    }

    /// `q=0.5` as thousandths; anything unreadable counts as 1.
    static func quality(_ parameter: ArraySlice<UInt8>) -> Int {
        let text = String(decoding: parameter, as: UTF8.self).lowercased()
        guard text.hasPrefix("q=") else { return 1000 }
        guard let value = Double(text.dropFirst(2)) else { return 1000 }
        return Int((min(max(value, 0), 1) * 1000).rounded())
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }

    /// HAProxy's test for browsers known to mishandle compressed answers.
    static func isBrokenBrowser(_ ua: [UInt8]) -> Bool {
        guard ua.count >= 9, Array(ua[0..<9]) == Array("Mozilla/4".utf8) else { return false }
        if ua.count < 31 || Array(ua[25..<30]) != Array("MSIE ".utf8) || ua[30] < UInt8(ascii: "6") { return true }
        if ua[30] == UInt8(ascii: "6") {
            return ua.count < 54 || Array(ua[51..<54]) != Array("SV1".utf8)
        }
        return false
    }

    /// Whether a response to a request that chose an algorithm is compressed: a 200 in
    /// HTTP/1.1 with a body of known length (Content-Length above 0, or chunked), not
    /// already encoded, not `Cache-Control: no-transform`, not multipart, and of one of
    /// `types` when there are some (a response without Content-Type then is not).
    static func compresses(status: Int, version: HTTPVersion, framing: HTTPBodyFraming, types: [String],
                           headers: [HTTPHeaderField], bytes: UnsafeRawBufferPointer) -> Bool {
        guard status == 200, version == .http11 else { return false }
        switch framing {
        case .chunked: break
        case .contentLength(let n) where n > 0: break
        default: return false
        }
        if findHeader(headers, "content-encoding", bytes) != nil { return false }
        for field in headers where field.name.equalsCaseInsensitive("cache-control", in: bytes) {
            let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[field.value.start..<field.value.end]),
                               as: UTF8.self).lowercased()
            if value.split(separator: ",").contains(where: { $0.trimmingSpaces == "no-transform" }) { return false }
        }
        guard let type = findHeader(headers, "content-type", bytes) else { return types.isEmpty }
        let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[type.value.start..<type.value.end]),
                           as: UTF8.self).lowercased()
        if value.hasPrefix("multipart") { return false }
        return types.isEmpty || types.contains { value.hasPrefix($0.lowercased()) }
    }

    /// The response head's edits: no Content-Length, chunked (unless it already is), a
    /// strong ETag made weak, then `Vary: Accept-Encoding` and the Content-Encoding,
    /// appended as HAProxy appends them.
    static func editResponse(_ algorithm: CompressionAlgorithm, framing: HTTPBodyFraming,
                             headers: [HTTPHeaderField], bytes: UnsafeRawBufferPointer, rewrite: inout HeadRewrite) {
        rewrite.dropNames.append(Array("content-length".utf8))
        for field in headers where field.name.equalsCaseInsensitive("etag", in: bytes) {
            let value = Array(UnsafeRawBufferPointer(rebasing: bytes[field.value.start..<field.value.end]))
            guard value.first == UInt8(ascii: "\"") else { continue }
            let name = Array(UnsafeRawBufferPointer(rebasing: bytes[field.name.start..<field.name.end]))
            rewrite.replace(lineAt: field.lineStart, with: name + Array(": W/".utf8) + value + [0x0D, 0x0A])
        }
        if framing != .chunked { rewrite.add("transfer-encoding: chunked") }
        rewrite.add("vary: Accept-Encoding")
        if algorithm != .identity { rewrite.add(Array("content-encoding".utf8), Array(algorithm.token.utf8)) }
    }
}
