import COpenSSL
import NIOConcurrencyHelpers

/// What both roles set on an SSL_CTX: versions, ciphers, groups, options.
struct TLSCommonSettings {
    var versions: ClosedRange<TLSVersion>
    /// `ciphers` (TLS ≤ 1.2), an OpenSSL cipher string as `ciphers(1)` reads it.
    var ciphers: String?
    /// `ciphersuites` (TLS 1.3).
    var cipherSuites: String?
    /// `curves` / `ecdhe`: groups list.
    var curves: String?
    /// False with `no-tls-tickets`.
    var tickets: Bool = true
    /// `prefer-client-ciphers` turns off the server's preference.
    var preferServerCiphers: Bool = true
}

/// Creates an SSL_CTX with the common settings. Errors name what was refused.
private func makeSSLContext(server: Bool, _ settings: TLSCommonSettings) throws -> OpaquePointer {
    ERR_clear_error()
    guard let ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
        throw TLSConfigurationError("cannot create an SSL context: \(OpenSSL.drainErrors())")
    }
    var options = proxyd_SSL_OP_NO_COMPRESSION() | proxyd_SSL_OP_NO_RENEGOTIATION()
    if server && settings.preferServerCiphers {
        // HAProxy 2.6 sets both: the server's order decides, except that a client listing
        // ChaCha20 first (a phone without AES instructions) gets it.
        options |= proxyd_SSL_OP_CIPHER_SERVER_PREFERENCE() | proxyd_SSL_OP_PRIORITIZE_CHACHA()
    }
    if !settings.tickets { options |= proxyd_SSL_OP_NO_TICKET() }
    _ = proxyd_SSL_CTX_set_options(ctx, options)
    _ = proxyd_SSL_CTX_set_mode(ctx, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
    _ = proxyd_SSL_CTX_set_min_proto_version(ctx, settings.versions.lowerBound.openSSL)
    _ = proxyd_SSL_CTX_set_max_proto_version(ctx, settings.versions.upperBound.openSSL)
    if let ciphers = settings.ciphers, SSL_CTX_set_cipher_list(ctx, ciphers) != 1 {
        ERR_clear_error()
        SSL_CTX_free(ctx)
        throw TLSConfigurationError("unable to set SSL cipher list to '\(ciphers)'")
    }
    if let suites = settings.cipherSuites, SSL_CTX_set_ciphersuites(ctx, suites) != 1 {
        ERR_clear_error()
        SSL_CTX_free(ctx)
        throw TLSConfigurationError("unable to set TLS 1.3 cipher suites to '\(suites)'")
    }
    if let curves = settings.curves, proxyd_SSL_CTX_set1_groups_list(ctx, curves) != 1 {
        ERR_clear_error()
        SSL_CTX_free(ctx)
        throw TLSConfigurationError("unable to set SSL curves list to '\(curves)'")
    }
    return ctx
}

/// The server side of a `bind … ssl`: one SSL_CTX per certificate, the first the default,
/// the others chosen by SNI and, among certificates for the same name, by the key the
/// client can verify (CertificateChoice.swift); a session cache and tickets for resumption.
public final class TLSServerContext: @unchecked Sendable {
    /// The context every connection starts on (the first certificate): its session cache
    /// and ticket keys serve all certificates.
    let defaultContext: OpaquePointer
    /// SNI name (lower case) → the contexts for it in load order, with their key kind;
    /// `*.example.com` kept as `.example.com` in wildcards.
    private var exact: [String: [CertificateCandidate]] = [:]
    private var wildcards: [String: [CertificateCandidate]] = [:]
    /// crt-list `!name` filters: names a certificate's wildcard must not answer.
    private var excluded: [String: [OpaquePointer]] = [:]
    private var contexts: [OpaquePointer] = []
    private let strictSNI: Bool
    /// The ALPN protocols of each context (crt-list lines may have their own).
    private var alpnWires: [OpaquePointer: [UInt8]] = [:]
    /// What a connection must take from a context SNI moves it to, when some crt-list
    /// line has options (nil: every context has the bind's settings).
    private var adoptions: [OpaquePointer: Adoption]?

    /// The per-connection settings OpenSSL does not carry over in SSL_set_SSL_CTX.
    private struct Adoption {
        var ciphers: String?
        var cipherSuites: String?
        var curves: String?
    }
    /// Where connections log (`frontend/bind`).
    let label: String
    /// Start-up warnings (an expired certificate, an ALPN name proxyd cannot speak).
    public private(set) var warnings: [String] = []

    /// `certificates`: files, each with its SNI filters (empty = the certificate's own names)
    /// and its crt-list options.
    struct Settings {
        var common: TLSCommonSettings
        var certificates: [CertificateEntry]
        var caFile: String?
        var crlFile: String?
        var verify: String
        var alpn: [String]
        var strictSNI: Bool
        var sessionCacheSize: Int = 20_000
        var sessionIDContext: String
        /// `tls-ticket-keys`: keys decoded from the file (48 or 80 bytes each).
        var ticketKeys: [[UInt8]] = []
        /// `no-ca-names` (crt-list lines only).
        var noCANames = false
        /// `tune.ssl.default-dh-param` is set: DHE suites get built-in parameters. Without
        /// it (and without DH parameters in the PEM file) HAProxy 2.6 offers no DHE at all,
        /// which keeps the "common primes" (LOGJAM) finding away by default.
        var ephemeralDH = false

        /// The settings of one certificate: the bind's, with its crt-list line's options.
        func applying(_ o: CertificateOptions) -> Settings {
            var s = self
            if let v = o.versions { s.common.versions = v }
            if let c = o.ciphers { s.common.ciphers = c }
            if let c = o.cipherSuites { s.common.cipherSuites = c }
            if let c = o.curves { s.common.curves = c }
            if let a = o.alpn { s.alpn = a }
            if let v = o.verify { s.verify = v }
            if let f = o.caFile { s.caFile = f }
            if let f = o.crlFile { s.crlFile = f }
            s.noCANames = o.noCANames
            return s
        }
    }

    init(_ settings: Settings, label: String) throws {
        self.label = label
        self.strictSNI = settings.strictSNI
        guard !settings.certificates.isEmpty else {
            throw TLSConfigurationError("no certificate: 'ssl' needs 'crt' (a PEM file or a directory)")
        }
        var first: OpaquePointer? = nil
        var adoptions: [OpaquePointer: Adoption] = [:]
        for entry in settings.certificates {
            let (path, filters) = (entry.path, entry.filters)
            let certificate = try TLSCertificate(path: path)
            if certificate.isExpired {
                warnings.append("certificate in '\(path)' has expired.")
            }
            let own = settings.applying(entry.options)
            let ctx = try makeSSLContext(server: true, own.common)
            contexts.append(ctx)
            try certificate.install(on: ctx)
            try Self.configure(ctx, own)
            alpnWires[ctx] = try ALPN.wire(own.alpn)
            adoptions[ctx] = Adoption(ciphers: own.common.ciphers, cipherSuites: own.common.cipherSuites,
                                      curves: own.common.curves)
            if first == nil { first = ctx }
            let positive = filters.filter { !$0.hasPrefix("!") }.map { $0.lowercased() }
            let negative = filters.filter { $0.hasPrefix("!") }.map { String($0.dropFirst()).lowercased() }
            for name in negative { excluded[name, default: []].append(ctx) }
            let candidate = CertificateCandidate(context: ctx, kind: CertificateKeyKind(certificate.key))
            for name in (positive.isEmpty ? certificate.names : positive) where !negative.contains(name) {
                if name.hasPrefix("*.") {
                    wildcards[String(name.dropFirst()), default: []].append(candidate)
                } else {
                    exact[name, default: []].append(candidate)
                }
            }
        }
        defaultContext = first!
        if settings.certificates.contains(where: { !$0.options.isEmpty }) { self.adoptions = adoptions }
        let me = Unmanaged.passUnretained(self).toOpaque()
        for ctx in contexts {
            _ = proxyd_SSL_CTX_set_tlsext_servername_callback(ctx, serverNameCallback)
            _ = proxyd_SSL_CTX_set_tlsext_servername_arg(ctx, me)
            if alpnWires[ctx]?.isEmpty == false {
                SSL_CTX_set_alpn_select_cb(ctx, alpnSelectCallback, me)
            }
        }
        // The certificate is chosen in OpenSSL's client-hello callback, which sees the
        // client's signature algorithms and ciphers (the SNI callback comes later, once
        // the version and the cipher are chosen), as HAProxy 2.6 does.
        SSL_CTX_set_client_hello_cb(defaultContext, clientHelloCallback, me)
        if !settings.ticketKeys.isEmpty {
            // HAProxy's rule: every key decrypts, the penultimate one encrypts, so that a
            // new key appended to the file is accepted everywhere before it is used.
            let keys = UnsafeMutablePointer<proxyd_ticket_keys>.allocate(capacity: 1)
            keys.initialize(to: proxyd_ticket_keys())
            ticketKeys = keys
            for (index, key) in settings.ticketKeys.enumerated() {
                guard proxyd_ticket_keys_set(keys, Int32(index), key, Int32(key.count)) == 1 else {
                    throw TLSConfigurationError("'tls-ticket-keys' : key \(index + 1) is not a 48 or 80 byte key like the first one (at most \(PROXYD_MAX_TICKET_KEYS) keys).")
                }
            }
            keys.pointee.encrypt = Int32(max(0, settings.ticketKeys.count - 2))
            for ctx in contexts { _ = proxyd_SSL_CTX_use_ticket_keys(ctx, keys) }
        }
        _ = proxyd_SSL_CTX_set_session_cache_mode(defaultContext, Int(SSL_SESS_CACHE_SERVER))
        _ = proxyd_SSL_CTX_sess_set_cache_size(defaultContext, settings.sessionCacheSize)
    }

    private var ticketKeys: UnsafeMutablePointer<proxyd_ticket_keys>?

    deinit {
        contexts.forEach { SSL_CTX_free($0) }
        ticketKeys?.deallocate()
    }

    private static func configure(_ ctx: OpaquePointer, _ settings: Settings) throws {
        if settings.ephemeralDH { _ = proxyd_SSL_CTX_set_dh_auto(ctx, 1) }
        // Resumption needs a session-id context (always with client certificates).
        let sid = Array(settings.sessionIDContext.utf8.prefix(Int(SSL_MAX_SID_CTX_LENGTH)))
        _ = SSL_CTX_set_session_id_context(ctx, sid, UInt32(sid.count))
        if let ca = settings.caFile {
            guard SSL_CTX_load_verify_locations(ctx, ca, nil) == 1 else {
                ERR_clear_error()
                throw TLSConfigurationError("unable to load CA file '\(ca)'.")
            }
            if !settings.noCANames, let names = SSL_load_client_CA_file(ca) { SSL_CTX_set_client_CA_list(ctx, names) }
            ERR_clear_error()
        }
        if let crl = settings.crlFile {
            guard let store = SSL_CTX_get_cert_store(ctx),
                  X509_STORE_load_file(store, crl) == 1 else {
                ERR_clear_error()
                throw TLSConfigurationError("unable to configure CRL file '\(crl)'.")
            }
            _ = X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        }
        switch settings.verify {
        case "required":
            guard settings.caFile != nil else {
                throw TLSConfigurationError("verify is enabled but no CA file specified.")
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        case "optional":
            guard settings.caFile != nil else {
                throw TLSConfigurationError("verify is enabled but no CA file specified.")
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        default:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
    }

    /// The certificates for an SNI name (exact names first, then wildcards), empty when
    /// none matches.
    fileprivate func candidates(forServerName name: String) -> [CertificateCandidate] {
        let lower = name.lowercased()
        var found = exact[lower] ?? []
        if let dot = lower.firstIndex(of: "."), let wild = wildcards[String(lower[dot...])] {
            let refused = excluded[lower] ?? []
            found += wild.filter { !refused.contains($0.context) }
        }
        return found
    }

    /// Client-hello callback: moves the connection to the certificate its SNI names that
    /// the client can verify (CertificateChoice), and with crt-list options gives it that
    /// context's verification, CA names, versions, ciphers and groups, which
    /// SSL_set_SSL_CTX alone leaves as they were.
    fileprivate func clientHello(_ ssl: OpaquePointer?) -> Int32 {
        guard let ssl else { return SSL_CLIENT_HELLO_SUCCESS }
        var data: UnsafePointer<UInt8>? = nil
        var length = 0
        guard SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &data, &length) == 1,
              let data, let name = Self.hostName(UnsafeBufferPointer(start: data, count: length)) else {
            return SSL_CLIENT_HELLO_SUCCESS
        }
        let found = candidates(forServerName: name)
        guard !found.isEmpty else { return SSL_CLIENT_HELLO_SUCCESS }
        // One certificate for the name (the usual case): no need to read the hello further.
        let ctx = found.count == 1 ? found[0].context : CertificateChoice.choose(among: found, for: ClientAbilities(ssl))
        guard ctx != defaultContext else { return SSL_CLIENT_HELLO_SUCCESS }
        _ = SSL_set_SSL_CTX(ssl, ctx)
        guard let adoption = adoptions?[ctx] else { return SSL_CLIENT_HELLO_SUCCESS }
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), nil)
        SSL_set_client_CA_list(ssl, SSL_CTX_get_client_CA_list(ctx).flatMap { SSL_dup_CA_list($0) })
        proxyd_SSL_adopt_versions(ssl, ctx)
        // Nil: OpenSSL's defaults, which the first context may not have.
        _ = SSL_set_cipher_list(ssl, adoption.ciphers ?? "DEFAULT")
        _ = SSL_set_ciphersuites(ssl, adoption.cipherSuites ?? "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
        if let curves = adoption.curves { _ = proxyd_SSL_set1_groups_list(ssl, curves) }
        ERR_clear_error()
        return SSL_CLIENT_HELLO_SUCCESS
    }

    /// The host name of a server_name extension's body (list length, type 0, length, name).
    static func hostName(_ body: UnsafeBufferPointer<UInt8>) -> String? {
        guard body.count >= 5, body[2] == 0 else { return nil }
        let length = Int(body[3]) << 8 | Int(body[4])
        guard body.count >= 5 + length, length > 0 else { return nil }
        return String(decoding: body[5..<(5 + length)], as: UTF8.self)
    }

    fileprivate func selectALPN(_ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                                _ outLength: UnsafeMutablePointer<UInt8>?,
                                _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32) -> Int32 {
        // The protocols of the context the connection is on now (SNI may have moved it).
        let current = ssl.flatMap { SSL_get_SSL_CTX($0) } ?? defaultContext
        guard let wire = alpnWires[current] ?? alpnWires[defaultContext], !wire.isEmpty else {
            return SSL_TLSEXT_ERR_NOACK
        }
        return wire.withUnsafeBufferPointer { ours -> Int32 in
            var selected: UnsafeMutablePointer<UInt8>? = nil
            var length: UInt8 = 0
            let rc = SSL_select_next_proto(&selected, &length, ours.baseAddress, UInt32(ours.count),
                                           offered, offeredLength)
            guard rc == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_NOACK }
            out?.pointee = UnsafePointer(selected)
            outLength?.pointee = length
            return SSL_TLSEXT_ERR_OK
        }
    }

    fileprivate func serverName(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let ssl else { return SSL_TLSEXT_ERR_NOACK }
        guard let raw = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else {
            if strictSNI {
                alert?.pointee = SSL_AD_UNRECOGNIZED_NAME
                return SSL_TLSEXT_ERR_ALERT_FATAL
            }
            return SSL_TLSEXT_ERR_NOACK
        }
        // The client-hello callback has already moved the connection to its certificate.
        if !candidates(forServerName: String(cString: raw)).isEmpty {
            return SSL_TLSEXT_ERR_OK
        }
        if strictSNI {
            alert?.pointee = SSL_AD_UNRECOGNIZED_NAME
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
        return SSL_TLSEXT_ERR_NOACK
    }
}

private func serverNameCallback(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?,
                                _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let arg else { return SSL_TLSEXT_ERR_NOACK }
    return Unmanaged<TLSServerContext>.fromOpaque(arg).takeUnretainedValue().serverName(ssl, alert)
}

private func alpnSelectCallback(_ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                                _ outLength: UnsafeMutablePointer<UInt8>?, _ offered: UnsafePointer<UInt8>?,
                                _ offeredLength: UInt32, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let arg else { return SSL_TLSEXT_ERR_NOACK }
    return Unmanaged<TLSServerContext>.fromOpaque(arg).takeUnretainedValue()
        .selectALPN(ssl, out, outLength, offered, offeredLength)
}

private func clientHelloCallback(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?,
                                 _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let arg else { return SSL_CLIENT_HELLO_SUCCESS }
    return Unmanaged<TLSServerContext>.fromOpaque(arg).takeUnretainedValue().clientHello(ssl)
}

/// The client side of a `server … ssl`: one SSL_CTX per server line, with the server's
/// client certificate, verification, SNI and ALPN, and the last session kept for reuse
/// (HAProxy's `ssl-reuse`), so that reconnecting to a server is a short handshake.
public final class TLSClientContext: @unchecked Sendable {
    let context: OpaquePointer
    /// `sni …`: a fixed name, or one read from each request (ServerNameExpression).
    let serverNameExpression: ServerNameExpression?
    /// A fixed SNI (`sni str(NAME)`), sent on every connection.
    var serverName: String? { serverNameExpression?.fixedName }
    /// `verify required`, and the name to check when no SNI is sent (`verifyhost`).
    private let verifies: Bool
    private let verifyHost: String?
    /// Where connections log (`backend/server`).
    let label: String
    public private(set) var warnings: [String] = []
    /// The server's last session and the SNI it was made for: offered again only to a
    /// connection announcing the same name (HAProxy's rule too).
    private let lastSession = NIOLockedValueBox<(name: String?, session: OpaquePointer)?>(nil)

    struct Settings {
        var common: TLSCommonSettings
        var certificate: String?
        var caFile: String?
        var crlFile: String?
        var verify: Bool
        var verifyHost: String?
        var serverName: ServerNameExpression?
        var alpn: [String]
    }

    init(_ settings: Settings, label: String) throws {
        self.label = label
        self.serverNameExpression = settings.serverName
        self.verifies = settings.verify
        self.verifyHost = settings.verifyHost
        let ctx = try makeSSLContext(server: false, settings.common)
        context = ctx
        if let path = settings.certificate {
            let certificate = try TLSCertificate(path: path)
            if certificate.isExpired { warnings.append("certificate in '\(path)' has expired.") }
            try certificate.install(on: ctx)
        }
        if let ca = settings.caFile {
            guard SSL_CTX_load_verify_locations(ctx, ca, nil) == 1 else {
                ERR_clear_error()
                throw TLSConfigurationError("unable to load CA file '\(ca)'.")
            }
        }
        if let crl = settings.crlFile {
            guard let store = SSL_CTX_get_cert_store(ctx), X509_STORE_load_file(store, crl) == 1 else {
                ERR_clear_error()
                throw TLSConfigurationError("unable to configure CRL file '\(crl)'.")
            }
            _ = X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        }
        if settings.verify {
            guard settings.caFile != nil else {
                throw TLSConfigurationError("verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.")
            }
            // The name checked is set per connection (`prepare`): it may be the request's.
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
        // New sessions (TLS 1.3 tickets arrive after the handshake) come to `remember`.
        _ = proxyd_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE))
        SSL_CTX_sess_set_new_cb(ctx, clientNewSessionCallback)
        if !settings.alpn.isEmpty {
            let wire = try ALPN.wire(settings.alpn)
            guard SSL_CTX_set_alpn_protos(ctx, wire, UInt32(wire.count)) == 0 else {
                throw TLSConfigurationError("unable to set ALPN to '\(settings.alpn.joined(separator: ","))'")
            }
        }
        attach()
    }

    deinit {
        SSL_CTX_free(context)
        lastSession.withLockedValue { if let s = $0 { SSL_SESSION_free(s.session) } }
    }

    /// Starts a connection: its SNI, the name its certificate must carry (HAProxy checks
    /// the SNI sent, else `verifyhost`, else no name), and the last session to this
    /// server if it was made for the same SNI.
    func prepare(_ ssl: OpaquePointer, serverName: String?) {
        if let name = serverName { _ = proxyd_SSL_set_tlsext_host_name(ssl, name) }
        if verifies, let host = serverName ?? verifyHost { _ = SSL_set1_host(ssl, host) }
        lastSession.withLockedValue { last in
            if let last, last.name == serverName { _ = SSL_set_session(ssl, last.session) }
        }
    }

    /// Registers this object as the owner of its SSL_CTX (for the session callback). The
    /// context lives as long as the process's runtime.
    private func attach() {
        _ = proxyd_SSL_CTX_set_app_data(context, Unmanaged.passUnretained(self).toOpaque())
    }

    /// A new session from the server: keep it (we own the reference) for the next connection.
    fileprivate func remember(_ session: OpaquePointer, name: String?) {
        let old = lastSession.withLockedValue { value -> OpaquePointer? in
            let old = value?.session
            value = (name, session)
            return old
        }
        if let old { SSL_SESSION_free(old) }
    }
}

private func clientNewSessionCallback(_ ssl: OpaquePointer?, _ session: OpaquePointer?) -> Int32 {
    guard let ssl, let session, let ctx = SSL_get_SSL_CTX(ssl),
          let owner = proxyd_SSL_CTX_get_app_data(ctx) else { return 0 }
    let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    Unmanaged<TLSClientContext>.fromOpaque(owner).takeUnretainedValue().remember(session, name: name)
    return 1
}
