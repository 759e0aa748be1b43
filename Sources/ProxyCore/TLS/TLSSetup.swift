#if canImport(Glibc)
import Glibc
#endif
import Shared

/// Builds the TLS contexts of a configuration at start-up, from the model's settings and
/// the `global` defaults, so that a bad PEM, a key that does not match its certificate or a
/// cipher string OpenSSL refuses stops the start with the file named.
enum TLSSetup {
    /// HAProxy 2.2+ accepts TLS 1.2 and above on binds unless told otherwise.
    static let defaultBindMinimum = TLSVersion.tls12

    /// The context of a `bind … ssl`, nil without `ssl`.
    static func serverContext(for bind: BindSettings, frontend: String, index: Int,
                              global: GlobalSettings) throws -> TLSServerContext? {
        let ssl = bind.ssl
        guard ssl.enabled else { return nil }
        let prefix = "'bind \(bind.written)' in frontend '\(frontend)'"
        do {
            var common = TLSCommonSettings(
                versions: try TLSVersion.range(options: ssl.options, defaultMinimum: defaultBindMinimum),
                ciphers: ssl.ciphers, cipherSuites: ssl.cipherSuites,
                curves: ssl.curves ?? ssl.ecdhe)
            common.tickets = !ssl.options.contains("no-tls-tickets")
            common.preferServerCiphers = !ssl.options.contains("prefer-client-ciphers")
            var certificates: [CertificateEntry] = []
            for path in ssl.certificates {
                certificates += try certificateFiles(path).map { CertificateEntry(path: $0) }
            }
            for list in ssl.certificateLists {
                certificates += try CertificateList.read(list, crtBase: global.crtBase, caBase: global.caBase)
            }
            var warnings: [String] = []
            func withoutH2(_ names: [String]) -> [String] {
                guard names.contains("h2") else { return names }
                warnings.append("\(prefix) : proxyd does not speak HTTP/2 yet: 'h2' is left out of 'alpn'.")
                return names.filter { $0 != "h2" }
            }
            let alpn = withoutH2(ssl.alpn)
            for i in certificates.indices {
                if let names = certificates[i].options.alpn { certificates[i].options.alpn = withoutH2(names) }
                let extra = certificates[i].options.versionOptions
                if !extra.isEmpty {
                    certificates[i].options.versions = try TLSVersion.range(options: ssl.options + extra,
                                                                           defaultMinimum: defaultBindMinimum)
                }
            }
            let settings = TLSServerContext.Settings(
                common: common, certificates: certificates, caFile: ssl.caFile, crlFile: ssl.crlFile,
                verify: ssl.verify ?? "none", alpn: alpn, strictSNI: ssl.strictSNI,
                sessionCacheSize: global.tunables["tune.ssl.cachesize"].flatMap { Int($0) } ?? 20_000,
                sessionIDContext: "proxyd/\(frontend)/\(index)",
                ticketKeys: try ssl.ticketKeysFile.map(ticketKeys) ?? [],
                ephemeralDH: global.sslDefaultDHParam != nil)
            // HAProxy names an unnamed listener by its number in the frontend.
            let label = "\(frontend)/\(bind.name ?? String(index + 1))"
            let context = try TLSServerContext(settings, label: label)
            for warning in warnings + context.warnings.map({ "\(prefix) : \($0)" }) {
                warn(warning, at: bind.location)
            }
            return context
        } catch let error as TLSConfigurationError {
            throw RuntimeBuilder.Failure(location: bind.location, message: "\(prefix) : \(error.message)")
        }
    }

    /// The context of a `server … ssl`, nil without `ssl`.
    static func clientContext(for server: ServerSettings, backend: String,
                              global: GlobalSettings) throws -> TLSClientContext? {
        let ssl = server.ssl
        guard ssl.enabled else { return nil }
        let prefix = "'server \(backend)/\(server.name)'"
        do {
            let defaults = global.sslDefaultServer
            let options = defaults.options + ssl.options
            var common = TLSCommonSettings(
                versions: try TLSVersion.range(options: options, defaultMinimum: .tls12),
                ciphers: ssl.ciphers ?? defaults.ciphers,
                cipherSuites: ssl.cipherSuites ?? defaults.cipherSuites,
                curves: defaults.curves)
            common.tickets = !options.contains("no-tls-tickets")
            let verify = ssl.verify.map { $0 == "required" } ?? global.sslServerVerifyRequired
            let settings = TLSClientContext.Settings(
                common: common, certificate: ssl.certificate, caFile: ssl.caFile, crlFile: ssl.crlFile,
                verify: verify, verifyHost: ssl.verifyHost, serverName: try serverName(ssl.sni),
                alpn: ssl.alpn)
            let context = try TLSClientContext(settings, label: "\(backend)/\(server.name)")
            for warning in context.warnings { warn("\(prefix) : \(warning)", at: server.location) }
            return context
        } catch let error as TLSConfigurationError {
            throw RuntimeBuilder.Failure(location: server.location, message: "\(prefix) : \(error.message)")
        }
    }

    /// `sni EXPR` (ServerNameExpression).
    static func serverName(_ expression: String?) throws -> ServerNameExpression? {
        try expression.map(ServerNameExpression.parse)
    }

    /// A `crt` path: a file, or every certificate file of a directory in name order
    /// (skipping HAProxy's side files `.key`, `.ocsp`, `.issuer`, `.sctl`), or, when no
    /// file has that name, a multi-cert bundle: `PATH.ecdsa`, `PATH.rsa`, `PATH.dsa`,
    /// those that exist, the ECDSA one first as HAProxy 2.6 loads them (it is the
    /// certificate a client without SNI gets).
    static func certificateFiles(_ path: String) throws -> [String] {
        if FileSystem.kind(path) == nil {
            let bundle = bundleFiles(path)
            if !bundle.isEmpty { return bundle }
        }
        guard FileSystem.kind(path) == .directory else { return [path] }
        guard let names = FileSystem.list(path) else {
            throw TLSConfigurationError("unable to scan directory '\(path)' : \(FileSystem.lastError())")
        }
        let skipped = [".key", ".ocsp", ".issuer", ".sctl", ".dh"]
        let files = names.sorted()
            .filter { name in !name.hasPrefix(".") && !skipped.contains { name.hasSuffix($0) } }
            .map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
            .filter { FileSystem.kind($0) == .file }
        guard !files.isEmpty else {
            throw TLSConfigurationError("no certificate found in directory '\(path)'.")
        }
        return files
    }

    /// The files of a multi-cert bundle `PATH` (`PATH.ecdsa`, `PATH.rsa`, `PATH.dsa`), in
    /// HAProxy's load order; empty when there are none.
    static func bundleFiles(_ path: String) -> [String] {
        ["ecdsa", "rsa", "dsa"].map { "\(path).\($0)" }.filter { FileSystem.kind($0) == .file }
    }

    /// A `tls-ticket-keys` file: one base64 key per line, `#` comments.
    static func ticketKeys(_ path: String) throws -> [[UInt8]] {
        guard case let .success(bytes) = FileSystem.read(path) else {
            throw TLSConfigurationError("'tls-ticket-keys' : failed to open file '\(path)'.")
        }
        var keys: [[UInt8]] = []
        for (number, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n").enumerated() {
            let text = line.trimmingSpaces
            if text.isEmpty || text.hasPrefix("#") { continue }
            guard let key = TLSBase64.decode(text), key.count == 48 || key.count == 80 else {
                throw TLSConfigurationError("'tls-ticket-keys' : '\(path)' line \(number + 1): not a base64 key of 48 or 80 bytes.")
            }
            keys.append(key)
        }
        guard !keys.isEmpty else {
            throw TLSConfigurationError("'tls-ticket-keys' : no key in '\(path)'.")
        }
        return keys
    }

    static func warn(_ message: String, at location: SourceLocation) {
        let d = Diagnostic.parsing(.warning, location, message)
        fputs(DiagnosticRenderer.render(d, pid: getpid()) + "\n", stderr)
    }
}

extension TLSSetup {
    /// Builds the contexts of a frontend's `bind … ssl` lines.
    static func attach(to frontend: RuntimeFrontend, from proxy: ProxySettings, global: GlobalSettings,
                       backends: [String: RuntimeBackend], own: RuntimeBackend?) throws {
        frontend.tlsContexts = try frontend.binds.enumerated().map { index, bind in
            try serverContext(for: bind, frontend: frontend.name, index: index, global: global)
        }
        frontend.tcpInspection = TCPInspection(proxy, backends: backends, own: own)
    }

    /// Builds the contexts of a backend's `server … ssl` lines.
    static func attach(to backend: RuntimeBackend, from proxy: ProxySettings, global: GlobalSettings) throws {
        for (server, settings) in zip(backend.servers, proxy.servers) {
            try attach(to: server, settings, backend: backend.name, global: global)
            if let expression = server.tls?.serverNameExpression, expression.fixedName == nil {
                backend.dynamicServerName = true
                if let header = expression.header, !backend.serverNameHeaders.contains(header) {
                    backend.serverNameHeaders.append(header)
                }
            }
        }
    }

    /// One server's contexts (also `add server`'s, before the server is published).
    static func attach(to server: RuntimeServer, _ settings: ServerSettings, backend: String,
                       global: GlobalSettings) throws {
        server.tls = try clientContext(for: settings, backend: backend, global: global)
        // Checks over TLS: `check-ssl` even on a plain server (same TLS settings),
        // the server's own TLS unless `no-check-ssl`.
        if settings.check.ssl ?? settings.ssl.enabled {
            var forced = settings
            forced.ssl.enabled = true
            server.checkTLS = try server.tls ?? clientContext(for: forced, backend: backend, global: global)
        }
    }
}

extension RuntimeFrontend {
    /// The TLS context of one of this frontend's binds (nil without `ssl`).
    func tlsContext(for bind: BindSettings) -> TLSServerContext? {
        guard let index = binds.firstIndex(of: bind), index < tlsContexts.count else { return nil }
        return tlsContexts[index]
    }
}

private extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed()
            .drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed())
    }
}

/// Standard base64 (RFC 4648, with padding), as `openssl base64` writes it.
enum TLSBase64 {
    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var accumulator = 0, bits = 0, padding = 0
        for c in text.utf8 {
            let value: Int
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = Int(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = Int(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): padding += 1; continue
            default: return nil
            }
            if padding > 0 { return nil }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> bits) & 0xff))
            }
        }
        guard padding <= 2, (text.utf8.count % 4) == 0 else { return nil }
        return out
    }
}
