import COpenSSL
import NIOCore

/// One TLS connection's OpenSSL state, whatever carries its bytes: an `SSL` over a BIO
/// that reads from and writes into ByteBuffers (TLSBufferBIO). Ciphertext from the socket goes in with `feed`; the handshake advances
/// with `handshake()`; plaintext comes out of `decrypt` and goes in with `encrypt`;
/// what OpenSSL has to send waits in the write BIO until `takeOutput`.
///
/// Both data paths drive it: TLSHandler (a NIO pipeline) and TLSTransport (data path v2).
/// It also answers what logs and ACLs ask of the connection (SNI, version, cipher…),
/// which is why sessions see it as their transport's `tls`.
public final class TLSEngine {
    private var ssl: OpaquePointer?
    /// Where ciphertext waits, both ways (the SSL's BIO reads and writes through it).
    private let buffers = TLSBufferBIO()

    /// A new connection on `context` (an SSL_CTX). Nil when OpenSSL cannot allocate one.
    init?(context: OpaquePointer) {
        guard let ssl = SSL_new(context) else {
            ERR_clear_error()
            return nil
        }
        guard let bio = buffers.makeBIO() else {
            SSL_free(ssl)
            ERR_clear_error()
            return nil
        }
        SSL_set_bio(ssl, bio, bio)  // one reference, taken by the SSL for both sides
        self.ssl = ssl
    }

    deinit { free() }

    /// Frees OpenSSL's state (its buffers included) once the connection is over; the
    /// facts read afterwards are nil, except `errorCode`.
    func free() {
        if let ssl { SSL_free(ssl) }
        ssl = nil
    }

    /// OpenSSL has not read a whole ClientHello yet (nothing, or part of one, came).
    var isBeforeHello: Bool {
        guard let ssl else { return true }
        return SSL_get_state(ssl) == TLS_ST_BEFORE
    }

    /// The error for a FIN mid-handshake: HAProxy 2.6 says "Connection closed" only while
    /// OpenSSL is still before the hello; after a whole hello it is an "SSL handshake
    /// failure". (A server's close, in the client role, stays `closed`.)
    func closedMidHandshake(serverRole: Bool) -> TLSHandshakeError {
        guard serverRole, !isBeforeHello else { return .closed }
        return .failure(reason: "connection closed after the hello")
    }

    func startAsServer() {
        if let ssl { SSL_set_accept_state(ssl) }
    }

    /// Client role: SNI, the name to verify and the session to resume (TLSClientContext).
    func startAsClient(_ client: TLSClientContext, serverName: String?) {
        guard let ssl else { return }
        SSL_set_connect_state(ssl)
        client.prepare(ssl, serverName: serverName)
    }

    // MARK: facts

    /// The SNI name the client sent (server role) or we sent (client role).
    public var serverName: String? {
        guard let ssl, let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else { return nil }
        return String(cString: name)
    }

    /// The ALPN protocol agreed on, if any.
    public var negotiatedALPN: String? {
        guard let ssl else { return nil }
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// `TLSv1.3`, … once the handshake is done.
    public var protocolVersion: String? {
        guard let ssl, let v = SSL_get_version(ssl) else { return nil }
        return String(cString: v)
    }

    public var cipherName: String? {
        guard let ssl, let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return nil }
        return String(cString: name)
    }

    /// The handshake reused a session (a resumption).
    public var sessionReused: Bool { ssl.map { SSL_session_reused($0) == 1 } ?? false }

    /// The oldest OpenSSL error this connection met, 0 if none (`ssl_fc_err`): kept from
    /// the error queue before it is emptied, as HAProxy keeps the first error stack's.
    public private(set) var errorCode: UInt = 0

    /// Notes the error queue's oldest error, once per connection.
    func noteError() {
        if errorCode == 0 { errorCode = ERR_peek_error() }
    }

    // MARK: bytes in

    /// Ciphertext from the peer.
    func feed(_ buffer: ByteBuffer) {
        guard ssl != nil else { return }
        buffers.feed(buffer)
    }

    /// Ciphertext fed and not yet decrypted, or plaintext decrypted and not yet read.
    var hasBufferedInput: Bool {
        guard let ssl else { return false }
        return buffers.inputBytes > 0 || SSL_pending(ssl) > 0
    }

    enum HandshakeStep {
        case done
        case wantRead
        case failed(TLSHandshakeError)
    }

    /// Advances the handshake with what was fed; what it has to send is in `takeOutput`.
    func handshake() -> HandshakeStep {
        guard let ssl else { return .failed(.aborted) }
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { return .done }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ { return .wantRead }
        let verify = SSL_get_verify_result(ssl)
        noteError()
        let reason = OpenSSL.firstReason()
        if verify != X509_V_OK, let text = X509_verify_cert_error_string(verify) {
            return .failed(.certificateNotTrusted(reason: String(cString: text)))
        } else if error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN {
            return .failed(.aborted)
        } else {
            return .failed(.failure(reason: reason))
        }
    }

    enum DecryptEnd {
        /// Every complete record is decrypted: more ciphertext is needed.
        case wantMore
        /// The peer sent close_notify: nothing more will come.
        case closeNotify
        /// A bad record or a protocol violation: the connection is over.
        case error(String)
        /// `deliver` asked to stop.
        case stopped
    }

    /// Decrypts every complete record, straight into buffers from `allocator`, handing
    /// each full one (and the last) to `deliver`, which returns false to stop.
    func decrypt(allocator: ByteBufferAllocator, deliver: (ByteBuffer) -> Bool) -> DecryptEnd {
        guard let ssl else { return .stopped }
        let available = buffers.inputBytes + Int(SSL_pending(ssl))
        var out = allocator.buffer(capacity: min(max(available, 1024), 1 << 18))
        var rc: Int32 = 0
        while true {
            if out.writableBytes == 0 {
                guard deliver(out), self.ssl != nil else { return .stopped }
                out = allocator.buffer(capacity: 16_384)
            }
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { space in
                rc = SSL_read(ssl, space.baseAddress, Int32(clamping: space.count))
                return rc > 0 ? Int(rc) : 0
            }
            if rc <= 0 { break }
        }
        if out.readableBytes > 0 {
            guard deliver(out), self.ssl != nil else { return .stopped }
        }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantMore
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        case let error:
            noteError()
            return .error(OpenSSL.firstReason() ?? "error \(error)")
        }
    }

    // MARK: bytes out

    /// Encrypts `buffer` into the write BIO; the reason when OpenSSL refuses.
    func encrypt(_ buffer: ByteBuffer) -> String? {
        guard let ssl else { return "connection closed" }
        guard buffer.readableBytes > 0 else { return nil }
        let rc = buffer.withUnsafeReadableBytes { bytes in
            SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
        }
        if rc > 0 { return nil }
        noteError()
        return OpenSSL.firstReason() ?? "write error"
    }

    /// Bytes OpenSSL wrote (records, handshake messages, alerts) and nobody sent yet.
    var pendingOutput: Int { buffers.outputBytes }

    /// Everything OpenSSL wrote since the last call, in one buffer (the one it wrote
    /// into); nil when there is nothing.
    func takeOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        buffers.takeOutput()
    }

    /// Empties OpenSSL's error queue (of this thread) once a failure is dealt with.
    func clearErrors() {
        ERR_clear_error()
    }

    /// Writes close_notify into the write BIO.
    func shutdown() {
        guard let ssl else { return }
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }
}
