import CZlib
import XCTest
@testable import ProxyCore

/// `compression`: HAProxy 2.6's choices on parsed heads, the zlib streams, and the chunked
/// body's data taken out (no sockets).
final class CompressionTests: XCTestCase {
    /// Parses `text` as a request head and asks which algorithm it gets.
    private func chosen(_ algorithms: [CompressionAlgorithm], _ headerLines: [String],
                        version: String = "HTTP/1.1") -> CompressionAlgorithm? {
        let text = "GET / \(version)\r\nHost: x\r\n" + headerLines.map { $0 + "\r\n" }.joined() + "\r\n"
        var parser = HTTPRequestParser()
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw -> CompressionAlgorithm? in
            guard case .complete = parser.parse(raw) else { XCTFail("head: \(text)"); return nil }
            return CompressionPolicy.choose(algorithms, version: parser.head.version, headers: parser.headers, bytes: raw)
        }
    }

    func testAcceptEncodingChoosesAsHAProxy() {
        // `compression algo gzip deflate` lists deflate first (each name goes to the head).
        let configured: [CompressionAlgorithm] = [.deflate, .gzip]
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: gzip"]), .gzip)
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: deflate, gzip"]), .deflate, "the first of equals")
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: gzip, deflate"]), .gzip)
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: gzip;q=0.5, deflate;q=1"]), .deflate, "the highest q")
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: deflate;q=0, gzip"]), .gzip)
        XCTAssertNil(chosen(configured, ["Accept-Encoding: gzip;q=0"]))
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: *"]), .deflate, "the list's first")
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: GZIP"]), .gzip)
        XCTAssertNil(chosen(configured, ["Accept-Encoding: br"]))
        XCTAssertNil(chosen(configured, ["Accept-Encoding: x-gzip"]))
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: br", "Accept-Encoding: gzip"]), .gzip, "every line")
        XCTAssertNil(chosen(configured, []))
        XCTAssertNil(chosen(configured, ["Accept-Encoding: gzip"], version: "HTTP/1.0"))
        XCTAssertNil(chosen(configured, ["Accept-Encoding: gzip", "User-Agent: Mozilla/4.0 (compatible; MSIE 5.0; Windows)"]))
        XCTAssertEqual(chosen(configured, ["Accept-Encoding: gzip",
                                           "User-Agent: Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"]), .gzip)
        XCTAssertEqual(chosen([.rawDeflate], ["Accept-Encoding: deflate"]), .rawDeflate)
        XCTAssertEqual(chosen([.gzip, .identity], ["Accept-Encoding: br"]), .identity, "identity needs no header")
    }

    private func compresses(_ status: String, _ headerLines: [String], types: [String] = ["text/html"]) -> Bool {
        let text = "HTTP/1.1 \(status)\r\n" + headerLines.map { $0 + "\r\n" }.joined() + "\r\n"
        var parser = HTTPResponseParser()
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw -> Bool in
            guard case .complete = parser.parse(raw, requestMethod: .get) else { XCTFail("head: \(text)"); return false }
            let head = parser.head
            return CompressionPolicy.compresses(status: head.status, version: head.version, framing: head.framing,
                                                types: types, headers: parser.headers, bytes: raw)
        }
    }

    func testWhichResponsesAreCompressed() {
        XCTAssertTrue(compresses("200 OK", ["Content-Type: text/html; charset=utf-8", "Content-Length: 10"]))
        XCTAssertTrue(compresses("200 OK", ["Content-Type: TEXT/HTML", "Transfer-Encoding: chunked"]))
        XCTAssertFalse(compresses("404 Not Found", ["Content-Type: text/html", "Content-Length: 10"]))
        XCTAssertFalse(compresses("200 OK", ["Content-Type: text/html", "Content-Length: 0"]))
        XCTAssertFalse(compresses("200 OK", ["Content-Type: text/html"]), "until close: no known length")
        XCTAssertFalse(compresses("200 OK", ["Content-Type: text/html", "Content-Encoding: br", "Content-Length: 10"]))
        XCTAssertFalse(compresses("200 OK", ["Content-Type: text/html", "Cache-Control: public, no-transform",
                                             "Content-Length: 10"]))
        XCTAssertFalse(compresses("200 OK", ["Content-Type: image/png", "Content-Length: 10"]))
        XCTAssertFalse(compresses("200 OK", ["Content-Length: 10"]), "no type, a type list")
        XCTAssertTrue(compresses("200 OK", ["Content-Length: 10"], types: []), "no type, no list")
        XCTAssertFalse(compresses("200 OK", ["Content-Type: multipart/byteranges", "Content-Length: 10"], types: []))
    }

    private func inflate(_ data: [UInt8], windowBits: Int32) -> [UInt8] {
        var stream = z_stream()
        XCTAssertEqual(inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)), Z_OK)
        defer { inflateEnd(&stream) }
        var input = data
        var out = [UInt8](repeating: 0, count: 1 << 20)
        let produced = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf -> Int in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                XCTAssertEqual(CZlib.inflate(&stream, Z_FINISH), Z_STREAM_END)
                return outBuf.count - Int(stream.avail_out)
            }
        }
        return Array(out[0..<produced])
    }

    func testDeflaterStreamsDecodeToTheInput() throws {
        let text = Array(String(repeating: "a line of text to compress\n", count: 2000).utf8)
        for (algorithm, windowBits) in [(CompressionAlgorithm.gzip, Int32(31)), (.deflate, 15), (.rawDeflate, -15)] {
            let deflater = try XCTUnwrap(Deflater(algorithm))
            var out: [UInt8] = []
            // In pieces, as reads come: each piece is flushed on its own.
            for piece in stride(from: 0, to: text.count, by: 7000) {
                let before = out.count
                text[piece..<min(piece + 7000, text.count)].withUnsafeBytes { deflater.compress($0, into: &out) }
                XCTAssertGreaterThan(out.count, before, "\(algorithm): each piece gives bytes at once")
            }
            deflater.finish(into: &out)
            XCTAssertLessThan(out.count, text.count / 10, "\(algorithm)")
            XCTAssertEqual(inflate(out, windowBits: windowBits), text, "\(algorithm)")
        }
        XCTAssertNil(Deflater(.identity))
    }

    func testChunkedDataIsTakenOutWhateverTheSlices() {
        let body = Array("5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n".utf8)
        for cut in 0...body.count {
            var reader = ChunkPayloads()
            var data: [UInt8] = []
            body[0..<cut].withUnsafeBytes { reader.take($0) { data += $0 } }
            body[cut...].withUnsafeBytes { reader.take($0) { data += $0 } }
            XCTAssertEqual(String(decoding: data, as: UTF8.self), "hello0123456789abcdef", "cut at \(cut)")
        }
        // A compressed body goes out as chunks, and ends with the last chunk.
        let body2 = CompressedBody(.identity, serverChunked: false)
        XCTAssertEqual(String(decoding: "abc".utf8.withContiguousStorageIfAvailable { body2.feed(UnsafeRawBufferPointer($0)) }!,
                              as: UTF8.self), "3\r\nabc\r\n")
        XCTAssertEqual(String(decoding: body2.finish(), as: UTF8.self), "0\r\n\r\n")
    }

    func testCompressionLinesParseAsHAProxy() {
        func load(_ lines: String) -> LoadResult {
            ConfigurationLoader.load(text: """
                defaults
                    mode http
                    timeout connect 1s
                    timeout client 1s
                    timeout server 1s
                frontend f
                    bind 127.0.0.1:1
                \(lines)
                    default_backend b
                backend b
                    server s 127.0.0.1:2

                """, name: "t.cfg", options: LoadOptions(resolveServers: false))
        }
        let r = load("    compression algo gzip deflate\n    compression algo raw-deflate\n    compression type text/html text/plain\n    compression offload")
        let settings = r.configuration?.proxies.first { $0.name == "f" }?.compression
        XCTAssertEqual(settings?.algorithms, [.rawDeflate, .deflate, .gzip], "each name to the head of the list")
        XCTAssertEqual(Set(settings?.types ?? []), ["text/html", "text/plain"])
        XCTAssertEqual(settings?.offload, true)
        for (line, message) in [("compression", "'compression' expects 'algo', 'type' or 'offload'"),
                                ("compression algo", "parsing [t.cfg:8] : 'compression' expects <algorithm>."),
                                ("compression algo br", "'compression' : 'br' is not a supported algorithm."),
                                ("compression type", "'compression' expects <type>.")] {
            let failed = load("    " + line)
            XCTAssertEqual(failed.exitCode, 1, line)
            XCTAssertTrue(failed.diagnostics.contains { $0.message.contains(message) }, "\(line): \(failed.diagnostics.map(\.message))")
        }
    }
}
