import COpenSSL

/// A TLS set-up problem found at start-up, worded as HAProxy words it where it has words.
public struct TLSConfigurationError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The few things every OpenSSL call site needs: the error queue as text, versions.
enum OpenSSL {
    /// Empties this thread's error queue into one line (`error:0A00009C:SSL routines::http request`).
    static func drainErrors() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            parts.append(String(cString: buffer))
        }
        return parts.joined(separator: "; ")
    }

    /// The reason of the oldest queued error (`http request`, `wrong version number`), and
    /// empties the queue.
    static func firstReason() -> String? {
        let code = ERR_peek_error()
        defer { ERR_clear_error() }
        guard code != 0, let reason = ERR_reason_error_string(code) else { return nil }
        return String(cString: reason)
    }
}

/// Protocol versions as HAProxy names them in `ssl-min-ver`, `no-tlsv12`, `force-tlsv13`.
enum TLSVersion: Int, Comparable, CaseIterable {
    case sslv3 = 0, tls10, tls11, tls12, tls13

    static func < (a: TLSVersion, b: TLSVersion) -> Bool { a.rawValue < b.rawValue }

    init?(configName: String) {
        switch configName {
        case "SSLv3": self = .sslv3
        case "TLSv1.0": self = .tls10
        case "TLSv1.1": self = .tls11
        case "TLSv1.2": self = .tls12
        case "TLSv1.3": self = .tls13
        default: return nil
        }
    }

    /// The suffix of `no-…` / `force-…` options.
    var optionSuffix: String {
        ["sslv3", "tlsv10", "tlsv11", "tlsv12", "tlsv13"][rawValue]
    }

    var openSSL: Int32 {
        [SSL3_VERSION, TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION][rawValue]
    }

    /// The versions left by a list of options as written (`no-sslv3`, `ssl-min-ver TLSv1.2`,
    /// `force-tlsv12`), HAProxy's way: a range, from which `no-*` options remove versions;
    /// a hole in the middle cannot be expressed and is an error, as in HAProxy.
    static func range(options: [String], defaultMinimum: TLSVersion) throws -> ClosedRange<TLSVersion> {
        var low = defaultMinimum, high = TLSVersion.tls13
        var disabled = Set<TLSVersion>()
        var forced: TLSVersion? = nil
        for option in options {
            let words = option.split(separator: " ").map(String.init)
            switch words[0] {
            case "ssl-min-ver":
                guard words.count == 2, let v = TLSVersion(configName: words[1]) else {
                    throw TLSConfigurationError("'ssl-min-ver' : unknown ssl/tls version string '\(words.dropFirst().joined())'")
                }
                low = v
            case "ssl-max-ver":
                guard words.count == 2, let v = TLSVersion(configName: words[1]) else {
                    throw TLSConfigurationError("'ssl-max-ver' : unknown ssl/tls version string '\(words.dropFirst().joined())'")
                }
                high = v
            default:
                for v in TLSVersion.allCases {
                    if words[0] == "no-" + v.optionSuffix { disabled.insert(v) }
                    if words[0] == "force-" + v.optionSuffix { forced = v }
                }
            }
        }
        if let forced { return forced...forced }
        guard low <= high else {
            throw TLSConfigurationError("'ssl-min-ver' is above 'ssl-max-ver': all SSL/TLS versions are disabled")
        }
        let enabled = TLSVersion.allCases.filter { $0 >= low && $0 <= high && !disabled.contains($0) }
        guard let first = enabled.first, let last = enabled.last else {
            throw TLSConfigurationError("all SSL/TLS versions are disabled")
        }
        if enabled.count != last.rawValue - first.rawValue + 1 {
            throw TLSConfigurationError("the enabled SSL/TLS versions are not contiguous (\(enabled.map { $0.optionSuffix }.joined(separator: ", ")))")
        }
        return first...last
    }
}

/// One certificate with its key and chain, loaded from a PEM file as HAProxy loads it: the
/// certificate first, then its chain, and the private key in the same file or in `FILE.key`.
final class TLSCertificate {
    let path: String
    /// X509*, owned.
    let leaf: OpaquePointer
    /// X509* of the chain, owned.
    let chain: [OpaquePointer]
    /// EVP_PKEY*, owned.
    let key: OpaquePointer
    /// DH parameters found in the file (EVP_PKEY*), owned.
    let dhParameters: OpaquePointer?
    /// DNS names of the subjectAltName, lower-cased; the common name when there is none.
    let names: [String]

    init(path: String) throws {
        self.path = path
        ERR_clear_error()
        guard let bio = BIO_new_file(path, "r") else {
            let reason = OpenSSL.firstReason().map { " (\($0))" } ?? ""
            throw TLSConfigurationError("unable to load SSL certificate from PEM file '\(path)'\(reason).")
        }
        defer { BIO_free(bio) }
        guard let leaf = PEM_read_bio_X509_AUX(bio, nil, nil, nil) else {
            ERR_clear_error()
            throw TLSConfigurationError("unable to load SSL certificate from PEM file '\(path)'.")
        }
        var chain: [OpaquePointer] = []
        while let extra = PEM_read_bio_X509(bio, nil, nil, nil) { chain.append(extra) }
        ERR_clear_error()  // the expected "no start line" at the end of the file

        // The key: anywhere in the file, else in FILE.key.
        var key: OpaquePointer? = nil
        if BIO_ctrl(bio, BIO_CTRL_RESET, 0, nil) >= 0 {
            key = PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        ERR_clear_error()
        var keyPath = path
        if key == nil, let keyBio = BIO_new_file(path + ".key", "r") {
            keyPath = path + ".key"
            key = PEM_read_bio_PrivateKey(keyBio, nil, nil, nil)
            BIO_free(keyBio)
            ERR_clear_error()
        }
        guard let key else {
            X509_free(leaf)
            chain.forEach { X509_free($0) }
            throw TLSConfigurationError("unable to load SSL private key from PEM file '\(keyPath)'.")
        }
        guard X509_check_private_key(leaf, key) == 1 else {
            ERR_clear_error()
            X509_free(leaf)
            chain.forEach { X509_free($0) }
            EVP_PKEY_free(key)
            throw TLSConfigurationError("inconsistencies between private key and certificate loaded from PEM file '\(path)'.")
        }
        _ = BIO_ctrl(bio, BIO_CTRL_RESET, 0, nil)
        dhParameters = PEM_read_bio_Parameters(bio, nil)
        ERR_clear_error()

        self.leaf = leaf
        self.chain = chain
        self.key = key
        names = Self.names(of: leaf)
    }

    deinit {
        X509_free(leaf)
        chain.forEach { X509_free($0) }
        EVP_PKEY_free(key)
        if let dhParameters { EVP_PKEY_free(dhParameters) }
    }

    /// True when the certificate's notAfter is in the past.
    var isExpired: Bool {
        guard let notAfter = X509_get0_notAfter(leaf) else { return false }
        return X509_cmp_current_time(notAfter) < 0
    }

    static func names(of cert: OpaquePointer) -> [String] {
        var buffer = [CChar](repeating: 0, count: 256)
        let count = proxyd_X509_dns_names(cert, -1, &buffer, Int32(buffer.count))
        var names: [String] = []
        for i in 0..<max(0, count) {
            if proxyd_X509_dns_names(cert, i, &buffer, Int32(buffer.count)) > 0 {
                names.append(String(cString: buffer).lowercased())
            }
        }
        if names.isEmpty, proxyd_X509_common_name(cert, &buffer, Int32(buffer.count)) > 0 {
            names.append(String(cString: buffer).lowercased())
        }
        return names
    }

    /// Puts this certificate, its chain and key on a context.
    func install(on ctx: OpaquePointer) throws {
        guard SSL_CTX_use_certificate(ctx, leaf) == 1, SSL_CTX_use_PrivateKey(ctx, key) == 1 else {
            let reason = OpenSSL.drainErrors()
            throw TLSConfigurationError("unable to use the certificate from PEM file '\(path)' (\(reason)).")
        }
        for extra in chain {
            X509_up_ref(extra)
            if proxyd_SSL_CTX_add_extra_chain_cert(ctx, extra) != 1 {
                X509_free(extra)
                let reason = OpenSSL.drainErrors()
                throw TLSConfigurationError("unable to use the chain from PEM file '\(path)' (\(reason)).")
            }
        }
        if let dhParameters {
            EVP_PKEY_up_ref(dhParameters)
            if SSL_CTX_set0_tmp_dh_pkey(ctx, dhParameters) != 1 {
                EVP_PKEY_free(dhParameters)
                ERR_clear_error()
            }
        }
    }
}

/// ALPN protocol names in their wire form (each prefixed by its length).
enum ALPN {
    static func wire(_ names: [String]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for name in names {
            let utf8 = Array(name.utf8)
            guard !utf8.isEmpty, utf8.count < 256 else {
                throw TLSConfigurationError("'alpn' : invalid protocol name '\(name)'")
            }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        return bytes
    }
}
