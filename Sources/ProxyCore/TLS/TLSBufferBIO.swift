import COpenSSL
import NIOCore

/// The BIO under a TLSEngine: instead of OpenSSL's memory BIO (which copies what is fed
/// into its own buffer, and what OpenSSL writes out of it again), OpenSSL reads straight
/// from the ByteBuffer the socket filled and writes straight into the ByteBuffer that
/// goes to the socket: one copy less each way.
///
/// One BIO serves as both the read and the write side of its SSL. Its data pointer is the
/// TLSBufferBIO (unretained: the engine owns both, and frees the SSL, hence the BIO, first).
final class TLSBufferBIO {
    /// Ciphertext received and not yet read by OpenSSL.
    private(set) var input: ByteBuffer?
    /// Ciphertext OpenSSL wrote and nobody took yet.
    private(set) var output: ByteBuffer?
    private static let allocator = ByteBufferAllocator()

    var inputBytes: Int { input?.readableBytes ?? 0 }
    var outputBytes: Int { output?.readableBytes ?? 0 }

    /// A new BIO reading and writing through `self`; owned by whoever takes it (SSL_set_bio).
    func makeBIO() -> OpaquePointer? {
        guard let method = Self.method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    /// Keeps `buffer` for OpenSSL to read: no copy, unless bytes from before are still there.
    func feed(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        if input == nil || input!.readableBytes == 0 {
            input = buffer
        } else {
            var more = buffer
            input!.writeBuffer(&more)
        }
    }

    /// Everything written since the last call, nil when nothing was.
    func takeOutput() -> ByteBuffer? {
        guard let out = output, out.readableBytes > 0 else { return nil }
        output = nil
        return out
    }

    fileprivate func read(into destination: UnsafeMutablePointer<CChar>, count: Int) -> Int {
        guard var buffer = input, buffer.readableBytes > 0 else { return 0 }
        let taken = min(count, buffer.readableBytes)
        buffer.withUnsafeReadableBytes { bytes in
            UnsafeMutableRawPointer(destination).copyMemory(from: bytes.baseAddress!, byteCount: taken)
        }
        buffer.moveReaderIndex(forwardBy: taken)
        // Dropped once read: the socket's buffer goes back as soon as OpenSSL has it all.
        input = buffer.readableBytes > 0 ? buffer : nil
        return taken
    }

    fileprivate func write(_ source: UnsafePointer<CChar>, count: Int) {
        if output == nil { output = Self.allocator.buffer(capacity: max(count, 4096)) }
        output!.writeBytes(UnsafeRawBufferPointer(start: source, count: count))
    }

    // The values of <openssl/bio.h>'s flag macros (function-like ones do not import).
    private static let flagRead: Int32 = 0x01
    private static let flagsRWS: Int32 = 0x01 | 0x02 | 0x04
    private static let flagShouldRetry: Int32 = 0x08

    private static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "proxyd buffer") else { return nil }
        _ = BIO_meth_set_read(method) { bio, destination, count in
            guard let bio, let destination, count > 0, let data = BIO_get_data(bio) else { return 0 }
            BIO_clear_flags(bio, TLSBufferBIO.flagsRWS | TLSBufferBIO.flagShouldRetry)
            let owner = Unmanaged<TLSBufferBIO>.fromOpaque(data).takeUnretainedValue()
            let read = owner.read(into: destination, count: Int(count))
            if read == 0 {
                // Nothing yet: try again later, as an empty memory BIO says.
                BIO_set_flags(bio, TLSBufferBIO.flagRead | TLSBufferBIO.flagShouldRetry)
                return -1
            }
            return Int32(read)
        }
        _ = BIO_meth_set_write(method) { bio, source, count in
            guard let bio, let source, count > 0, let data = BIO_get_data(bio) else { return 0 }
            BIO_clear_flags(bio, TLSBufferBIO.flagsRWS | TLSBufferBIO.flagShouldRetry)
            Unmanaged<TLSBufferBIO>.fromOpaque(data).takeUnretainedValue().write(source, count: Int(count))
            return count
        }
        _ = BIO_meth_set_ctrl(method) { bio, command, _, _ in
            guard let bio, let data = BIO_get_data(bio) else { return 0 }
            let owner = Unmanaged<TLSBufferBIO>.fromOpaque(data).takeUnretainedValue()
            switch command {
            case BIO_CTRL_FLUSH: return 1
            case BIO_CTRL_PENDING: return owner.inputBytes
            case BIO_CTRL_WPENDING: return owner.outputBytes
            default: return 0
            }
        }
        return method
    }()
}
