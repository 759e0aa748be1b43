import XCTest
@testable import ProxyCore

/// Seeded random inputs: the parsers never crash, their spans stay inside the head,
/// a prefix of a valid head is never an error, and bytes after a head do not change it.
final class HTTPRobustnessTests: XCTestCase {
    let seeds = [
        "GET /a/b?c=d&e=f HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nExpect: 100-continue\r\n\r\nhello",
        "PUT /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "DELETE http://h/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    ]
    let alphabet = Array("GET /HTP1.0\r\n:;, \tabcXYZ-=?&chunkedContent-LengthTransfer-Encoding0123456789\u{0}\u{7f}".utf8) + [0xC3, 0xA9]

    func checkInvariants(_ bytes: [UInt8], _ file: StaticString = #filePath, _ line: UInt = #line) {
        var p = HTTPRequestParser()
        let st = bytes.withUnsafeBytes { p.parse($0) }
        guard st == .complete else { return }
        let head = p.head
        let headers = p.headers
        XCTAssertLessThanOrEqual(head.headLength, bytes.count, file: file, line: line)
        XCTAssertLessThanOrEqual(head.headLength, HTTPRequestParser.defaultMaxHeadLength, file: file, line: line)
        var spans = [head.methodSpan, head.targetSpan, head.versionSpan]
        for h in headers { spans += [h.name, h.value] }
        if let host = head.host { spans.append(host) }
        for s in spans {
            XCTAssertGreaterThanOrEqual(s.start, head.start, file: file, line: line)
            XCTAssertLessThanOrEqual(s.end, head.headersEnd, file: file, line: line)
        }
        for h in headers {
            XCTAssertGreaterThan(h.name.count, 0)
            for k in h.name.start..<h.name.end { XCTAssertTrue(isTokenChar(bytes[k]), file: file, line: line) }
            for k in h.value.start..<h.value.end {
                let c = bytes[k]
                XCTAssertTrue(c >= 0x20 && c != 0x7F || c == 0x09, "value byte \(c)", file: file, line: line)
            }
        }
        // every strict prefix is incomplete, never an error
        for k in 0..<head.headLength {
            var q = HTTPRequestParser()
            let r = bytes.withUnsafeBytes { q.parse(UnsafeRawBufferPointer(rebasing: $0[0..<k])) }
            XCTAssertEqual(r, .incomplete, "prefix \(k) of \(String(decoding: bytes, as: UTF8.self).debugDescription)", file: file, line: line)
            if r != .incomplete { break }
        }
        // trailing garbage changes nothing
        var q = HTTPRequestParser()
        let more = bytes + Array("\u{0}\r\r garbage".utf8)
        XCTAssertEqual(more.withUnsafeBytes { q.parse($0) }, .complete, file: file, line: line)
        XCTAssertEqual(q.head.headLength, head.headLength, file: file, line: line)
        XCTAssertEqual(q.head.framing, head.framing, file: file, line: line)
        XCTAssertEqual(q.headers, headers, file: file, line: line)
    }

    func testMutatedRequests() {
        var rng = SplitMix64(seed: 2026)
        var completes = 0, errors = 0
        for round in 0..<3000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            let edits = 1 + Int(rng.next(below: 3))
            for _ in 0..<edits {
                let pos = Int(rng.next(below: UInt64(bytes.count)))
                let c = alphabet[Int(rng.next(below: UInt64(alphabet.count)))]
                switch rng.next(below: 3) {
                case 0: bytes[pos] = c
                case 1: bytes.insert(c, at: pos)
                default: if bytes.count > 1 { bytes.remove(at: pos) }
                }
            }
            var p = HTTPRequestParser()
            switch bytes.withUnsafeBytes({ p.parse($0) }) {
            case .complete: completes += 1
            case .error: errors += 1
            case .incomplete: break
            }
            checkInvariants(bytes)
        }
        // the mutations exercise both outcomes
        XCTAssertGreaterThan(completes, 300)
        XCTAssertGreaterThan(errors, 300)
    }

    func testRandomBytesNeverCrash() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<3000 {
            let n = Int(rng.next(below: 200))
            let bytes = (0..<n).map { _ in alphabet[Int(rng.next(below: UInt64(alphabet.count)))] }
            checkInvariants(bytes)
            var r = HTTPResponseParser()
            _ = bytes.withUnsafeBytes { r.parse($0, requestMethod: .get) }
            var c = ChunkedBodyFramer()
            _ = bytes.withUnsafeBytes { c.feed($0) }
        }
    }

    func testRandomChunkedBodiesAndSplits() {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<300 {
            var body: [UInt8] = []
            var data = 0
            for _ in 0..<Int(rng.next(below: 5)) {
                let size = Int(rng.next(below: 300)) + 1
                data += size
                body += Array(String(size, radix: 16, uppercase: rng.next(below: 2) == 0).utf8)
                if rng.next(below: 3) == 0 { body += Array(";x=\"y\"".utf8) }
                body += [13, 10] + [UInt8](repeating: 0x41, count: size) + [13, 10]
            }
            body += Array("0\r\n".utf8)
            if rng.next(below: 2) == 0 { body += Array("T: v\r\n".utf8) }
            body += [13, 10]
            let total = body.count
            body += Array("NEXT".utf8)
            var f = ChunkedBodyFramer()
            var start = 0
            var end: Int? = nil
            while start < body.count && end == nil {
                let len = 1 + Int(rng.next(below: 64))
                let stop = min(body.count, start + len)
                switch body.withUnsafeBytes({ f.feed(UnsafeRawBufferPointer(rebasing: $0[start..<stop])) }) {
                case .needsMore: start = stop
                case .complete(let c): end = start + c
                case .error(let e): XCTFail("\(e)"); return
                }
            }
            XCTAssertEqual(end, total)
            XCTAssertEqual(f.dataBytes, UInt64(data))
        }
    }
}
