/// A frontend's header captures (`capture request|response header NAME len N`), taken
/// from each message's head before its rules run, and how captures are logged.
struct HeaderCaptures {
    struct Header {
        let slot: Int
        let lowerName: [UInt8]
        let length: Int
    }
    let request: [Header]
    let response: [Header]
    /// Each slot's length, for `http-request capture … id N` too.
    let requestLengths: [Int]
    let responseLengths: [Int]
    /// `capture cookie NAME len N`.
    let cookie: (name: [UInt8], length: Int)?

    init(_ declarations: CaptureDeclarations) {
        func headers(_ slots: [CaptureSlot]) -> [Header] {
            slots.enumerated().compactMap { index, slot in
                slot.header.map { Header(slot: index, lowerName: Array($0.lowercased().utf8), length: slot.length) }
            }
        }
        request = headers(declarations.request)
        response = headers(declarations.response)
        requestLengths = declarations.request.map(\.length)
        responseLengths = declarations.response.map(\.length)
        cookie = declarations.cookie.map { (Array($0.name.utf8), $0.length) }
    }

    /// `capture cookie`: the first `name=value` pair whose name starts with the captured
    /// name, from the request's `Cookie` headers (every pair) or the response's
    /// `Set-Cookie` headers (the first pair of each), cut to the length.
    func takeCookie(bytes: UnsafeRawBufferPointer, fields: [HTTPHeaderField], response: Bool) -> [UInt8]? {
        guard let cookie else { return nil }
        var found: [UInt8]?
        let header = Array((response ? "set-cookie" : "cookie").utf8)
        _ = RequestFacts.forEachValue(of: header, in: bytes, headers: fields, split: false) { value in
            let pairs = value.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: true)
            for pair in response ? Array(pairs.prefix(1)) : pairs {
                let trimmed = pair.drop { $0 == 0x20 || $0 == 0x09 }
                if trimmed.starts(with: cookie.name) {
                    found = Array(trimmed.prefix(cookie.length))
                    return true
                }
            }
            return false
        }
        return found
    }

    /// The last occurrence of each captured header, whole and cut to the slot's length,
    /// as HAProxy captures it.
    static func take(_ headers: [Header], bytes: UnsafeRawBufferPointer, fields: [HTTPHeaderField],
                     into slots: inout [[UInt8]?]) {
        for header in headers where slots.indices.contains(header.slot) {
            var last: [UInt8]?
            _ = RequestFacts.forEachValue(of: header.lowerName, in: bytes, headers: fields, split: false) {
                last = Array($0.prefix(header.length))
                return false
            }
            if let last { slots[header.slot] = last }
        }
    }

    /// `%hr`/`%hs` (`{a|b}`) or `%hrl`/`%hsl` (`a b`, `-` for an empty one); nothing when
    /// the frontend declares no capture that way. Bytes a log line cannot hold as they
    /// are become `#XX`, as HAProxy encodes them.
    static func appendLog(_ captures: [[UInt8]?], braces: Bool, to line: inout [UInt8]) {
        guard !captures.isEmpty else { return }
        if braces { line.append(UInt8(ascii: "{")) }
        for (i, capture) in captures.enumerated() {
            if i > 0 { line.append(braces ? UInt8(ascii: "|") : UInt8(ascii: " ")) }
            guard let capture, !capture.isEmpty else {
                if !braces { line.append(UInt8(ascii: "-")) }
                continue
            }
            for byte in capture {
                if byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "#")
                    || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "|") || byte == UInt8(ascii: "}") {
                    line.append(UInt8(ascii: "#"))
                    UpperHex.append(byte, to: &line)
                } else {
                    line.append(byte)
                }
            }
        }
        if braces { line.append(UInt8(ascii: "}")) }
    }
}

/// `http-request|http-response capture EXPR len N|id N`, compiled.
struct CompiledCapture {
    let sample: CompiledSample
    let slot: Int
    let response: Bool

    func run(_ facts: RequestFacts, values: StreamValues?, lengths: HeaderCaptures?) {
        guard let values, let value = sample.evaluate(facts, values: values) else { return }
        let length = (response ? lengths?.responseLengths : lengths?.requestLengths).flatMap {
            $0.indices.contains(slot) ? $0[slot] : nil
        } ?? 0
        let bytes = Array(value.text.prefix(length))
        if response {
            if values.responseCaptures.indices.contains(slot) { values.responseCaptures[slot] = bytes }
        } else if values.requestCaptures.indices.contains(slot) {
            values.requestCaptures[slot] = bytes
        }
    }
}
