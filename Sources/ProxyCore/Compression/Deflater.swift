import CZlib
import NIOCore

/// One response body compressed with the system zlib, as HAProxy 2.6 does it: level 1
/// (`tune.comp.maxlevel`), memLevel 8, a 32 KiB window; `gzip` and `deflate` (zlib
/// format) or `raw-deflate`. Each `compress` ends with a sync flush, so that what the
/// server sent reaches the client without waiting for more; `finish` ends the stream.
final class Deflater {
    /// zlib keeps a pointer back to its z_stream and checks it on each call: the stream
    /// lives at one address of its own (an `&` on a property promises none).
    private let stream: UnsafeMutablePointer<z_stream>
    private var open = false

    init?(_ algorithm: CompressionAlgorithm) {
        let windowBits: Int32
        switch algorithm {
        case .gzip: windowBits = 15 + 16
        case .deflate: windowBits = 15
        case .rawDeflate: windowBits = -15
        case .identity: return nil
        }
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = deflateInit2_(stream, 1, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            return nil
        }
        open = true
    }

    deinit {
        if open { deflateEnd(stream) }
        stream.deallocate()
    }

    /// Compresses `input`; the output (possibly empty) is appended to `output`.
    func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        run(input, flush: Z_SYNC_FLUSH, into: &output)
    }

    /// Ends the stream (trailer included).
    func finish(into output: inout [UInt8]) {
        run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, into: &output)
    }

    private func run(_ input: UnsafeRawBufferPointer, flush: Int32, into output: inout [UInt8]) {
        guard open else { return }
        // zlib takes a mutable pointer but does not write through next_in.
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        var chunk = [UInt8](repeating: 0, count: max(4096, input.count / 2 + 64))
        while true {
            let produced: Int = chunk.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = uInt(out.count)
                _ = deflate(stream, flush)
                return out.count - Int(stream.pointee.avail_out)
            }
            output.append(contentsOf: chunk[0..<produced])
            // Done when zlib left room (all input taken and flushed) or the stream ended.
            if stream.pointee.avail_out != 0 || produced < chunk.count { break }
        }
        stream.pointee.next_in = nil
        if flush == Z_FINISH {
            deflateEnd(stream)
            open = false
        }
    }
}
