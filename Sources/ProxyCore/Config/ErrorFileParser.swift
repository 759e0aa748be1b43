/// Checks an `errorfile` as HAProxy does when it loads one: a complete HTTP/1 response
/// (status line, headers, empty line, a body matching `Content-Length`).
enum ErrorFileParser {
    /// HAProxy's message (after `'FILE': `) when the file is not acceptable, else nil.
    /// An empty file is acceptable (nothing is sent).
    static func problem(_ b: [UInt8]) -> String? {
        if b.isEmpty { return nil }
        func headersError(_ offset: Int) -> String { "unable to parse headers (error offset: \(offset))" }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        func isTokenChar(_ c: UInt8) -> Bool {
            if c >= 0x30 && c <= 0x39 || c >= 0x41 && c <= 0x5A || c >= 0x61 && c <= 0x7A { return true }
            return Array("!#$%&'*+-.^_`|~".utf8).contains(c)
        }
        let n = b.count
        // Status line: VERSION SP+ code [SP reason] (CR)LF, VERSION as [A-Z]+[/digits[.digits]].
        func isUpper(_ c: UInt8) -> Bool { c >= 0x41 && c <= 0x5A }
        var i = 0
        guard isUpper(b[0]) else { return headersError(0) }
        while i < n && isUpper(b[i]) { i += 1 }
        if i < n && b[i] == 0x2F {
            i += 1
            guard i < n else { return headersError(-2) }
            guard isDigit(b[i]) else { return headersError(i) }
            while i < n && isDigit(b[i]) { i += 1 }
            if i < n && b[i] == 0x2E {
                i += 1
                guard i < n else { return headersError(-2) }
                guard isDigit(b[i]) else { return headersError(i) }
                while i < n && isDigit(b[i]) { i += 1 }
            }
        }
        let version = Array(b[0..<i])
        guard i < n else { return headersError(-2) }
        guard b[i] == 0x20 else { return headersError(i) }
        while i < n && b[i] == 0x20 { i += 1 }
        var sawDigit = false
        while i < n && isDigit(b[i]) { sawDigit = true; i += 1 }
        guard i < n else { return headersError(-2) }
        if !sawDigit || !(b[i] == 0x20 || b[i] == 0x0D || b[i] == 0x0A) { return headersError(i) }
        while i < n && b[i] != 0x0A { i += 1 }
        guard i < n else { return headersError(-2) }
        i += 1
        // Headers until an empty line.
        var contentLength: Int? = nil
        var chunked = false
        while true {
            guard i < n else { return headersError(-2) }
            if b[i] == 0x0A { i += 1; break }
            if b[i] == 0x0D {
                guard i + 1 < n else { return headersError(-2) }
                if b[i + 1] == 0x0A { i += 2; break }
                return headersError(i)
            }
            let nameStart = i
            while i < n && isTokenChar(b[i]) { i += 1 }
            guard i < n else { return headersError(-2) }
            if b[i] != 0x3A || i == nameStart { return headersError(i) }
            let name = String(decoding: b[nameStart..<i], as: UTF8.self).lowercased()
            i += 1
            while i < n && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
            let valueStart = i
            while i < n && b[i] != 0x0A { i += 1 }
            guard i < n else { return headersError(-2) }
            var valueEnd = i
            while valueEnd > valueStart && (b[valueEnd - 1] == 0x0D || b[valueEnd - 1] == 0x20 || b[valueEnd - 1] == 0x09) {
                valueEnd -= 1
            }
            let value = Array(b[valueStart..<valueEnd])
            if name == "content-length" {
                guard !value.isEmpty, value.allSatisfy(isDigit), value.count < 18,
                      let v = Int(String(decoding: value, as: UTF8.self)) else { return headersError(valueStart) }
                contentLength = v
            } else if name == "transfer-encoding",
                      String(decoding: value, as: UTF8.self).lowercased().contains("chunked") {
                chunked = true
            }
            i += 1
        }
        // The version must read like HTTP/1.1: four letters, a slash, digit, dot, digit.
        if !(version.count == 8 && version[4] == 0x2F && isDigit(version[5]) && version[6] == 0x2E && isDigit(version[7])) {
            return "invalid http version (\(String(decoding: version, as: UTF8.self)))"
        }
        if chunked { return "chunk-encoded payload not supported" }
        let body = n - i
        if let cl = contentLength, cl != body {
            return "payload size does not match the announced content-length (\(body) != \(cl))"
        }
        return nil
    }
}
