import NIOCore

/// What a log line may tell of the client connection's TLS (`option httpslog`, `%sslv`,
/// `%sslc`, `%[ssl_fc_*]`). Taken from the TLSEngine when the session starts, that is
/// once the handshake is done; the engine frees OpenSSL's state when the connection
/// closes, often before the line is written, so the texts are copied then.
struct TLSLogFacts {
    /// The engine, for what may change after the start (`ssl_fc_err`).
    let engine: TLSEngine
    var serverName: String?
    var version: String?
    var cipher: String?
    var alpn: String?
    var resumed = false

    /// `details` false: only that the connection is TLS (`%ft`'s `~`), no texts copied.
    init(engine: TLSEngine, details: Bool) {
        self.engine = engine
        guard details else { return }
        serverName = engine.serverName
        version = engine.protocolVersion
        cipher = engine.cipherName
        alpn = engine.negotiatedALPN
        resumed = engine.sessionReused
    }
}

/// The sample fetches a log-format may name in `%[…]` that proxyd renders: those about
/// the client connection's TLS, as `option httpslog` uses them. Others write `-`.
public enum LogFetch: String, Sendable, Equatable {
    case ssl_fc, ssl_fc_has_sni, ssl_fc_sni, ssl_fc_protocol, ssl_fc_cipher, ssl_fc_alpn
    case ssl_fc_is_resumed, fc_err, ssl_fc_err, ssl_c_err, ssl_c_ca_err

    /// A fetch's value, typed as HAProxy types it: the type decides how `hex` converts it.
    enum Value {
        case missing
        case boolean(Bool)
        case integer(Int64)
        case text(String)

        var isMissing: Bool { if case .missing = self { return true } else { return false } }
    }

    /// The value for a connection (`tls` nil: a plain connection), as HAProxy 2.6 gives it:
    /// booleans and `fc_err` exist on plain connections (false, 0); the others are missing.
    func value(_ tls: TLSLogFacts?) -> Value {
        switch self {
        case .ssl_fc: return .boolean(tls != nil)
        case .ssl_fc_has_sni: return .boolean(tls?.serverName != nil)
        case .ssl_fc_is_resumed: return .boolean(tls?.resumed ?? false)
        // A connection that failed never reaches a session: its error is in the
        // connection-error line (TLSLog), not here.
        case .fc_err: return .integer(0)
        default: break
        }
        guard let tls else { return .missing }
        switch self {
        case .ssl_fc_sni: return tls.serverName.map(Value.text) ?? .missing
        case .ssl_fc_protocol: return tls.version.map(Value.text) ?? .missing
        case .ssl_fc_cipher: return tls.cipher.map(Value.text) ?? .missing
        case .ssl_fc_alpn: return tls.alpn.map(Value.text) ?? .missing
        case .ssl_fc_err: return .integer(Int64(truncatingIfNeeded: tls.engine.errorCode))
        // A client certificate that did not verify fails the handshake (proxyd has no
        // `crt-ignore-err`/`ca-ignore-err`), so an established session has no error.
        case .ssl_c_err, .ssl_c_ca_err: return .integer(0)
        default: return .missing
        }
    }

    /// Appends the value; `hex` as HAProxy's converter: a string's bytes, an integer's or
    /// a boolean's 8 bytes big-endian, in upper-case hex. A missing value is `-` (`""`
    /// when quoted), as HAProxy writes it.
    static func append(_ value: Value, hex: Bool, quoted: Bool, to line: inout [UInt8]) {
        let bytes: [UInt8]
        switch value {
        case .missing:
            line.append(contentsOf: quoted ? Array("\"\"".utf8) : [UInt8(ascii: "-")])
            return
        case .boolean(let b):
            bytes = hex ? bigEndian(b ? 1 : 0) : [b ? UInt8(ascii: "1") : UInt8(ascii: "0")]
        case .integer(let n):
            bytes = hex ? bigEndian(n) : Array(String(n).utf8)
        case .text(let s):
            bytes = Array(s.utf8)
        }
        if quoted { line.append(UInt8(ascii: "\"")) }
        if hex { UpperHex.append(contentsOf: bytes, to: &line) } else { line.append(contentsOf: bytes) }
        if quoted { line.append(UInt8(ascii: "\"")) }
    }

    private static func bigEndian(_ n: Int64) -> [UInt8] {
        withUnsafeBytes(of: n.bigEndian) { Array($0) }
    }
}
