import Shared

/// One certificate of a `bind … ssl`: its file, the SNI names it answers (empty: its own
/// SAN/CN names) and, from a crt-list line, the options that override the bind's for it.
struct CertificateEntry {
    var path: String
    var filters: [String] = []
    var options = CertificateOptions()
}

/// A crt-list line's `[options]` (HAProxy's "sslbindconf"): what a connection gets when
/// SNI picks this certificate instead of the bind's settings. Nil fields keep the bind's.
struct CertificateOptions: Equatable {
    var alpn: [String]?
    var ciphers: String?
    var cipherSuites: String?
    var curves: String?
    /// `ssl-min-ver` / `ssl-max-ver` as written, appended to the bind's version options…
    var versionOptions: [String] = []
    /// … and the range they leave (set by TLSSetup, which knows the bind's options).
    var versions: ClosedRange<TLSVersion>?
    var verify: String?
    var caFile: String?
    var crlFile: String?
    /// `no-ca-names`: ask for a client certificate without listing the accepted CAs.
    var noCANames = false

    var isEmpty: Bool { self == CertificateOptions() }
}

/// Reads a `crt-list` file: `PATH [[options…]] [[!]SNI filter…]` per line, `#` comments.
enum CertificateList {
    /// HAProxy's sslbindconf keywords proxyd knows, with their argument count.
    private static let keywords: [String: Int] = [
        "alpn": 1, "ciphers": 1, "ciphersuites": 1, "curves": 1, "ecdhe": 1, "ssl-min-ver": 1,
        "ssl-max-ver": 1, "verify": 1, "ca-file": 1, "crl-file": 1, "no-ca-names": 0,
    ]
    /// Valid in HAProxy's crt-list brackets, not in proxyd (no 0-RTT, no NPN).
    private static let unsupported: Set<String> = ["allow-0rtt", "npn", "ca-verify-file"]

    static func read(_ path: String, crtBase: String?, caBase: String?) throws -> [CertificateEntry] {
        guard case let .success(bytes) = FileSystem.read(path) else {
            throw TLSConfigurationError("failed to open crt-list file '\(path)'.")
        }
        var result: [CertificateEntry] = []
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // HAProxy refuses a list whose last line has no newline, as it does a config.
        if let last = lines.last, !last.isEmpty {
            throw TLSConfigurationError("'crt-list' : parsing [\(path):\(lines.count)]: Missing LF on last line, file might have been truncated at position \(last.utf8.count + 1).")
        }
        lines = lines.dropLast()
        for (number, raw) in lines.enumerated() {
            let at = "'crt-list' : parsing [\(path):\(number + 1)]"
            var line = Substring(raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            var options = CertificateOptions()
            // The options are the bracketed part after the file name, words inside.
            if let open = line.firstIndex(of: "[") {
                guard let close = line[open...].firstIndex(of: "]") else {
                    throw TLSConfigurationError("\(at): missing ']' after the ssl options.")
                }
                options = try parseOptions(Self.words(line[line.index(after: open)..<close]), at: at, caBase: caBase)
                line = line[..<open] + " " + line[line.index(after: close)...]
            }
            let words = Self.words(line)
            guard let first = words.first else { continue }
            let file = first.hasPrefix("/") || crtBase == nil ? first : crtBase! + "/" + first
            guard FileSystem.exists(file) || !TLSSetup.bundleFiles(file).isEmpty else {
                throw TLSConfigurationError("\(at): unable to stat SSL certificate from file '\(file)' : No such file or directory.")
            }
            for one in try TLSSetup.certificateFiles(file) {
                result.append(CertificateEntry(path: one, filters: Array(words.dropFirst()), options: options))
            }
        }
        return result
    }

    static func words(_ text: Substring) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
    }

    /// The words between brackets, with HAProxy's messages for what it refuses.
    static func parseOptions(_ words: [String], at: String, caBase: String?) throws -> CertificateOptions {
        var options = CertificateOptions()
        var i = 0
        func file(_ name: String) -> String {
            name.hasPrefix("/") || caBase == nil ? name : caBase! + "/" + name
        }
        while i < words.count {
            let keyword = words[i]
            if unsupported.contains(keyword) {
                throw TLSConfigurationError("\(at): ssl option '\(keyword)' is valid in HAProxy but not supported by proxyd yet.")
            }
            guard let arity = keywords[keyword] else {
                throw TLSConfigurationError("\(at): unknown ssl keyword \(keyword)")
            }
            guard i + arity < words.count else {
                throw TLSConfigurationError("\(at): ssl args out of '[]' for \(keyword)")
            }
            let value = arity == 1 ? words[i + 1] : ""
            switch keyword {
            case "alpn": options.alpn = value.split(separator: ",").map(String.init)
            case "ciphers": options.ciphers = value
            case "ciphersuites": options.cipherSuites = value
            case "curves", "ecdhe": options.curves = value
            case "ssl-min-ver", "ssl-max-ver":
                guard TLSVersion(configName: value) != nil else {
                    throw TLSConfigurationError("'crt-list' : '\(keyword)' : unknown ssl/tls version string '\(value)'")
                }
                options.versionOptions.append("\(keyword) \(value)")
            case "verify":
                guard ["none", "optional", "required"].contains(value) else {
                    throw TLSConfigurationError("'crt-list' : 'verify' : unknown verify method '\(value)', only 'none', 'optional', and 'required' are supported")
                }
                options.verify = value
            case "ca-file":
                guard FileSystem.exists(file(value)) else {
                    throw TLSConfigurationError("'crt-list' : 'ca-file' : unable to load \(value)")
                }
                options.caFile = file(value)
            case "crl-file":
                guard FileSystem.exists(file(value)) else {
                    throw TLSConfigurationError("'crt-list' : 'crl-file' : unable to load \(value)")
                }
                options.crlFile = file(value)
            default: options.noCANames = true
            }
            i += 1 + arity
        }
        return options
    }
}
