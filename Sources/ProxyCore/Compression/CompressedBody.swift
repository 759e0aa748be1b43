/// A response body on its way to the client compressed: the server's body bytes in (its
/// chunked framing taken off), chunks of compressed bytes out. The server's framing is
/// checked by the session's HTTPBodyFramer on the same bytes; this only takes the data
/// out of it.
final class CompressedBody {
    private let deflater: Deflater?
    private var chunks: ChunkPayloads?
    /// Bytes into and out of the compressor since the last `takeCounts` (statistics).
    private var countIn = 0, countOut = 0

    /// `identity` copies the bytes (HAProxy's algorithm for testing the path).
    init(_ algorithm: CompressionAlgorithm, serverChunked: Bool) {
        deflater = Deflater(algorithm)
        chunks = serverChunked ? ChunkPayloads() : nil
    }

    /// The chunk(s) to send for these body bytes (empty when nothing came out yet).
    func feed(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var data: [UInt8] = []
        if chunks != nil {
            chunks!.take(bytes) { data.append(contentsOf: $0) }
        } else {
            data.append(contentsOf: bytes)
        }
        guard !data.isEmpty else { return [] }
        var out: [UInt8] = []
        if let deflater {
            data.withUnsafeBytes { deflater.compress($0, into: &out) }
        } else {
            out = data
        }
        countIn += data.count
        countOut += out.count
        return Self.chunk(out)
    }

    /// Bytes in and out since the last call.
    func takeCounts() -> (in: Int, out: Int) {
        defer { countIn = 0; countOut = 0 }
        return (countIn, countOut)
    }

    /// The end of the body: what zlib still holds, then the last chunk.
    func finish() -> [UInt8] {
        var out: [UInt8] = []
        deflater?.finish(into: &out)
        countOut += out.count
        return Self.chunk(out) + Array("0\r\n\r\n".utf8)
    }

    static func chunk(_ data: [UInt8]) -> [UInt8] {
        guard !data.isEmpty else { return [] }
        return Array(String(data.count, radix: 16).utf8) + [0x0D, 0x0A] + data + [0x0D, 0x0A]
    }
}

/// The data of a chunked body, without sizes, extensions, line ends or trailers.
struct ChunkPayloads {
    private enum State { case size, extensions, data, dataEnd, trailers, done }
    private var state = State.size
    private var size = 0
    private var remaining = 0
    /// In the trailers: bytes on the current line (an empty line ends the body).
    private var lineLength = 0

    mutating func take(_ bytes: UnsafeRawBufferPointer, _ data: (UnsafeRawBufferPointer) -> Void) {
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            switch state {
            case .size:
                if let digit = Self.hexValue(byte) {
                    size = size &* 16 &+ digit
                } else if byte == 0x0A {
                    endSizeLine()
                } else {
                    state = .extensions
                }
                i += 1
            case .extensions:
                if byte == 0x0A { endSizeLine() }
                i += 1
            case .data:
                let n = min(remaining, bytes.count - i)
                data(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + n)]))
                remaining -= n
                i += n
                if remaining == 0 { state = .dataEnd }
            case .dataEnd:
                if byte == 0x0A { state = .size; size = 0 }
                i += 1
            case .trailers:
                if byte == 0x0A {
                    if lineLength == 0 { state = .done }
                    lineLength = 0
                } else if byte != 0x0D {
                    lineLength += 1
                }
                i += 1
            case .done:
                return
            }
        }
    }

    private mutating func endSizeLine() {
        if size == 0 {
            state = .trailers
            lineLength = 0
        } else {
            remaining = size
            state = .data
        }
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: return Int(byte - 0x30)
        case 0x41...0x46: return Int(byte - 0x41 + 10)
        case 0x61...0x66: return Int(byte - 0x61 + 10)
        default: return nil
        }
    }
}
