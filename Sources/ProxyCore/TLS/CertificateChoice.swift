import COpenSSL

/// Which certificate answers a ClientHello when several carry the name it asks for (an
/// RSA and an ECDSA certificate for one site: two `crt`, a directory, a crt-list, or the
/// `site.pem.rsa` + `site.pem.ecdsa` of a multi-cert bundle). HAProxy 2.6's rule, checked
/// side by side with it (TLSCertificateChoiceTests):
///
/// - ECDSA when the client's signature algorithms list an ECDSA one *and* its cipher list
///   holds a TLS 1.2 ECDSA suite (TLS 1.3 suites do not count: a TLS 1.3-only client is
///   given RSA when it can verify RSA);
/// - else RSA when it lists an RSA signature; else another kind (DSA, EdDSA); else ECDSA,
///   else RSA;
/// - a client without the signature_algorithms extension (TLS ≤ 1.1) counts as RSA;
/// - without SNI, or for a name no certificate carries, the first certificate loaded.
///
/// One difference, on purpose: HAProxy counts only `rsa_pkcs1_*` as RSA (it reads the low
/// byte of each algorithm as TLS 1.2's signature byte), so a client offering only RSA-PSS
/// gets the ECDSA certificate and fails. proxyd counts RSA-PSS as RSA: that client gets
/// the RSA certificate and a handshake.
enum CertificateChoice {
    static func choose(among candidates: [CertificateCandidate], for client: ClientAbilities) -> OpaquePointer {
        func first(_ kind: CertificateKeyKind) -> OpaquePointer? {
            candidates.first { $0.kind == kind }?.context
        }
        if client.verifiesECDSA, let ctx = first(.ecdsa) { return ctx }
        if client.verifiesRSA, let ctx = first(.rsa) { return ctx }
        return first(.other) ?? first(.ecdsa) ?? first(.rsa) ?? candidates[0].context
    }
}

/// The kind of a certificate's key, as the choice sees it.
enum CertificateKeyKind: Equatable {
    case rsa, ecdsa, other

    /// `key`: an EVP_PKEY*.
    init(_ key: OpaquePointer) {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: self = .rsa
        case EVP_PKEY_EC: self = .ecdsa
        default: self = .other
        }
    }
}

/// One certificate (its SSL_CTX) that carries a name.
struct CertificateCandidate {
    let context: OpaquePointer
    let kind: CertificateKeyKind
}

/// What a ClientHello says the client can verify.
struct ClientAbilities: Equatable {
    var verifiesECDSA: Bool
    var verifiesRSA: Bool

    init(verifiesECDSA: Bool, verifiesRSA: Bool) {
        self.verifiesECDSA = verifiesECDSA
        self.verifiesRSA = verifiesRSA
    }

    /// Read in OpenSSL's client-hello callback.
    init(_ ssl: OpaquePointer) {
        var data: UnsafePointer<UInt8>? = nil
        var length = 0
        let algorithms: [UInt16]?
        if SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_signature_algorithms), &data, &length) == 1, let data {
            algorithms = Self.signatureAlgorithms(UnsafeBufferPointer(start: data, count: length)) ?? []
        } else {
            algorithms = nil
        }
        var suites: UnsafePointer<UInt8>? = nil
        let suitesLength = SSL_client_hello_get0_ciphers(ssl, &suites)
        var ecdsaSuite = false
        if let suites, suitesLength % 2 == 0 {
            for offset in stride(from: 0, to: suitesLength, by: 2) {
                if let cipher = SSL_CIPHER_find(ssl, suites + offset),
                   SSL_CIPHER_get_auth_nid(cipher) == NID_auth_ecdsa {
                    ecdsaSuite = true
                    break
                }
            }
        }
        self.init(signatureAlgorithms: algorithms, offersECDSASuite: ecdsaSuite)
    }

    /// `signatureAlgorithms`: the extension's code points, nil without the extension.
    init(signatureAlgorithms: [UInt16]?, offersECDSASuite: Bool) {
        guard let algorithms = signatureAlgorithms else {
            // TLS 1.0/1.1 clients send no signature_algorithms: RSA, as RFC 5246 7.4.1.4.1 says.
            self.init(verifiesECDSA: false, verifiesRSA: true)
            return
        }
        let ecdsa = algorithms.contains { $0 & 0xff == 0x03 }  // ecdsa_* (TLS 1.2 and 1.3 code points)
        let rsa = algorithms.contains { Self.isRSA($0) }
        self.init(verifiesECDSA: ecdsa && offersECDSASuite, verifiesRSA: rsa)
    }

    /// rsa_pkcs1_* (low byte 1), rsa_pss_rsae_* (0x0804–0x0806), rsa_pss_pss_* (0x0809–0x080b).
    static func isRSA(_ algorithm: UInt16) -> Bool {
        algorithm & 0xff == 0x01 || (0x0804...0x0806).contains(algorithm) || (0x0809...0x080b).contains(algorithm)
    }

    /// The code points of a signature_algorithms body (a 2-byte length, then pairs); nil
    /// when malformed.
    static func signatureAlgorithms(_ body: UnsafeBufferPointer<UInt8>) -> [UInt16]? {
        guard body.count >= 2 else { return nil }
        let length = Int(body[0]) << 8 | Int(body[1])
        guard length + 2 == body.count, length % 2 == 0 else { return nil }
        return stride(from: 2, to: body.count, by: 2).map { UInt16(body[$0]) << 8 | UInt16(body[$0 + 1]) }
    }
}
