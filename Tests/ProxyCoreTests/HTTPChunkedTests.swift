import XCTest
@testable import ProxyCore

final class HTTPChunkedTests: XCTestCase {
    /// Feeds `bytes` split at the given cut points; returns the result of the feed
    /// that completed (with `consumed` converted to an absolute offset) or the error.
    func run(_ bytes: [UInt8], cuts: [Int], framer: inout ChunkedBodyFramer) -> (end: Int?, error: ChunkedBodyError?) {
        var start = 0
        for cut in cuts + [bytes.count] where cut >= start {
            let r = bytes.withUnsafeBytes { framer.feed(UnsafeRawBufferPointer(rebasing: $0[start..<cut])) }
            switch r {
            case .needsMore: break
            case .complete(let c): return (start + c, nil)
            case .error(let e): return (nil, e)
            }
            start = cut
        }
        return (nil, nil)
    }

    let sample = "5\r\nhello\r\n1a;name=value;x\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\nOther: u\r\n\r\n"

    func testWholeAndTrailingBytes() {
        let body = Array(sample.utf8)
        let next = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        var f = ChunkedBodyFramer()
        let r = run(body + next, cuts: [], framer: &f)
        XCTAssertEqual(r.end, body.count)
        XCTAssertNil(r.error)
        XCTAssertEqual(f.dataBytes, 5 + 26)
        XCTAssertTrue(f.isComplete)
    }

    func testSplitAtEveryBoundary() {
        let body = Array(sample.utf8) + Array("NEXT".utf8)
        let expectedEnd = sample.utf8.count
        for cut in 0...body.count {
            var f = ChunkedBodyFramer()
            let r = run(body, cuts: [cut], framer: &f)
            XCTAssertEqual(r.end, expectedEnd, "cut at \(cut)")
        }
        // byte by byte
        var f = ChunkedBodyFramer()
        let r = run(body, cuts: Array(0...body.count), framer: &f)
        XCTAssertEqual(r.end, expectedEnd)
        // every pair of cuts on a smaller body
        let small = Array("3\r\nabc\r\n0\r\n\r\n".utf8)
        for a in 0...small.count {
            for b in a...small.count {
                var g = ChunkedBodyFramer()
                XCTAssertEqual(run(small, cuts: [a, b], framer: &g).end, small.count, "cuts \(a) \(b)")
            }
        }
    }

    func testWhitespaceBeforeExtension() {
        var f = ChunkedBodyFramer()
        let text = "5 ;a=b\r\nhello\r\n0\r\n\r\n"
        XCTAssertEqual(run(Array(text.utf8), cuts: [], framer: &f).end, text.utf8.count)
    }

    func testNoTrailersAndUppercaseHex() {
        var f = ChunkedBodyFramer()
        let text = "A\r\n0123456789\r\n0000\r\n\r\n"
        XCTAssertEqual(run(Array(text.utf8), cuts: [], framer: &f).end, text.utf8.count)
        XCTAssertEqual(f.dataBytes, 10)
        var g = ChunkedBodyFramer()
        let ws = "a \t;ext\r\n0123456789\r\n0 ;x\r\n\r\n"
        XCTAssertEqual(run(Array(ws.utf8), cuts: [], framer: &g).end, ws.utf8.count)
    }

    func testIncompleteNeverCompletes() {
        let body = Array(sample.utf8)
        var f = ChunkedBodyFramer()
        let r = run(Array(body.dropLast()), cuts: [], framer: &f)
        XCTAssertNil(r.end)
        XCTAssertNil(r.error)
        XCTAssertFalse(f.isComplete)
    }

    func testMalformed() {
        let cases: [(String, ChunkedBodyError)] = [
            ("g\r\n", .invalidChunkSize),
            ("\r\n", .invalidChunkSize),
            (" 5\r\nhello\r\n", .invalidChunkSize),
            ("-5\r\n", .invalidChunkSize),
            ("0x5\r\n", .invalidChunkSize),
            ("5 5\r\n", .invalidChunkSize),
            ("5\nhello\r\n", .invalidChunkSize),
            // whitespace after the size only before an extension (issue 14: `5 ` was forwarded)
            ("5 \r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
            ("5\t\r\nhello\r\n0\r\n\r\n", .invalidChunkSize),
            ("5\r\r\n", .missingCRLF),
            ("5\r\nhelloX\r\n", .missingCRLF),
            ("5\r\nhello\n0\r\n\r\n", .missingCRLF),
            ("5\r\nhello\rX", .missingCRLF),
            ("5;a\u{0}b\r\n", .invalidChunkExtension),
            ("5;a\nb\r\n", .invalidChunkExtension),
            ("ffffffffffffffff\r\n", .chunkSizeOverflow),
            ("10000000000000000\r\n", .chunkSizeOverflow),
            ("0\r\n\n", .invalidTrailer),
            ("0\r\n X: y\r\n\r\n", .invalidTrailer),
            ("0\r\nX: y\n\r\n", .invalidTrailer),
            ("0\r\nX: y\r\r\n", .invalidTrailer),
            ("0\r\nX: \u{1}\r\n\r\n", .invalidTrailer),
            ("0\r\n\rX", .missingCRLF),
        ]
        for (text, expected) in cases {
            var f = ChunkedBodyFramer()
            XCTAssertEqual(run(Array(text.utf8), cuts: [], framer: &f).error, expected, text.debugDescription)
            // the error sticks
            let again = [UInt8]("0\r\n\r\n".utf8).withUnsafeBytes { f.feed($0) }
            XCTAssertEqual(again, .error(expected))
        }
        // long extensions and long trailers are bounded
        var f = ChunkedBodyFramer(maxLineLength: 64, maxTrailerLength: 64)
        let longExt = "1;" + String(repeating: "x", count: 100) + "\r\n"
        XCTAssertEqual(run(Array(longExt.utf8), cuts: [], framer: &f).error, .invalidChunkExtension)
        var g = ChunkedBodyFramer(maxLineLength: 64, maxTrailerLength: 64)
        let longTrailer = "0\r\nX: " + String(repeating: "y", count: 100) + "\r\n\r\n"
        XCTAssertEqual(run(Array(longTrailer.utf8), cuts: [], framer: &g).error, .invalidTrailer)
    }

    func testHugeChunkSizes() {
        // the largest accepted size: 15 hex digits
        var f = ChunkedBodyFramer()
        let r = Array("fffffffffffffff\r\nab".utf8).withUnsafeBytes { f.feed($0) }
        XCTAssertEqual(r, .needsMore)
        XCTAssertEqual(f.dataBytes, 2)
        // leading zeros do not count towards overflow
        var g = ChunkedBodyFramer()
        let z = String(repeating: "0", count: 40) + "1\r\nx\r\n0\r\n\r\n"
        XCTAssertEqual(run(Array(z.utf8), cuts: [], framer: &g).end, z.utf8.count)
    }

    /// A 1 GiB body (one 1 GiB chunk, then 1 GiB in 64 KiB chunks) passes through a
    /// framer whose memory is constant: the slices reuse one buffer.
    func testOneGiB() {
        let slice = [UInt8](repeating: 0x61, count: 1 << 16)
        var f = ChunkedBodyFramer()
        func feed(_ s: String) -> ChunkedFeedResult { Array(s.utf8).withUnsafeBytes { f.feed($0) } }
        XCTAssertEqual(feed("40000000\r\n"), .needsMore)
        slice.withUnsafeBytes { s in
            for _ in 0..<(1 << 14) { XCTAssertEqual(f.feed(s), .needsMore) }
        }
        XCTAssertEqual(f.dataBytes, 1 << 30)
        XCTAssertEqual(feed("\r\n"), .needsMore)
        // 16384 chunks of 64 KiB, each header fed with its data
        let header = Array("10000\r\n".utf8), crlf = Array("\r\n".utf8)
        for _ in 0..<(1 << 14) {
            XCTAssertEqual(header.withUnsafeBytes { f.feed($0) }, .needsMore)
            XCTAssertEqual(slice.withUnsafeBytes { f.feed($0) }, .needsMore)
            XCTAssertEqual(crlf.withUnsafeBytes { f.feed($0) }, .needsMore)
        }
        XCTAssertEqual(feed("0\r\n\r\nrest"), .complete(consumed: 5))
        XCTAssertEqual(f.dataBytes, 1 << 31)
        f.reset()
        XCTAssertEqual(feed("0\r\n\r\n"), .complete(consumed: 5))
    }

    // MARK: HTTPBodyFramer

    func feed(_ f: inout HTTPBodyFramer, _ s: String) -> ChunkedFeedResult {
        Array(s.utf8).withUnsafeBytes { f.feed($0) }
    }

    func testBodyFramerContentLength() {
        var f = HTTPBodyFramer(framing: .contentLength(10))
        XCTAssertFalse(f.isComplete)
        XCTAssertEqual(feed(&f, "abcd"), .needsMore)
        XCTAssertEqual(feed(&f, "efg"), .needsMore)
        XCTAssertEqual(feed(&f, "hijGET / HTTP/1.1"), .complete(consumed: 3))
        XCTAssertTrue(f.isComplete)
        XCTAssertEqual(feed(&f, "more"), .complete(consumed: 0))
        var exact = HTTPBodyFramer(framing: .contentLength(3))
        XCTAssertEqual(feed(&exact, "abc"), .complete(consumed: 3))
        var zero = HTTPBodyFramer(framing: .contentLength(0))
        XCTAssertTrue(zero.isComplete)
        XCTAssertEqual(feed(&zero, "x"), .complete(consumed: 0))
        var huge = HTTPBodyFramer(framing: .contentLength(1 << 30))
        let slice = [UInt8](repeating: 1, count: 1 << 16)
        slice.withUnsafeBytes { s in
            for _ in 0..<((1 << 14) - 1) { XCTAssertEqual(huge.feed(s), .needsMore) }
            XCTAssertEqual(huge.feed(s), .complete(consumed: 1 << 16))
        }
    }

    func testBodyFramerOtherFramings() {
        var none = HTTPBodyFramer(framing: .none)
        XCTAssertTrue(none.isComplete)
        XCTAssertEqual(feed(&none, "GET"), .complete(consumed: 0))
        var chunked = HTTPBodyFramer(framing: .chunked)
        XCTAssertEqual(feed(&chunked, "3\r\nab"), .needsMore)
        XCTAssertFalse(chunked.isComplete)
        XCTAssertEqual(feed(&chunked, "c\r\n0\r\n\r\nNEXT"), .complete(consumed: 8))
        XCTAssertTrue(chunked.isComplete)
        var bad = HTTPBodyFramer(framing: .chunked)
        XCTAssertEqual(feed(&bad, "zz\r\n"), .error(.invalidChunkSize))
        for framing in [HTTPBodyFraming.untilClose, .tunnel] {
            var f = HTTPBodyFramer(framing: framing)
            XCTAssertEqual(feed(&f, "anything at all\r\n0\r\n\r\n"), .needsMore)
            XCTAssertFalse(f.isComplete)
        }
    }
}
