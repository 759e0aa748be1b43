@testable import ProxyCore

/// HAProxy's line lexer alone: quoting, escapes, `${VAR}` expansion, on one line.
enum HAProxyLexerTarget {
    static let environment = ["HOME": "/root", "PORT": "8080", "EMPTY": "", "LIST": "a b c"]

    static func run(_ input: UnsafeRawBufferPointer) {
        let line = String(decoding: input, as: UTF8.self)
        switch ConfigLexer.split(line, environment: environment) {
        case .success(let words):
            for word in words { _ = word.utf8.count }
        case .failure(let error):
            require(!error.message.isEmpty, "a lexer error without a message")
        }
    }
}

/// The whole HAProxy configuration loader (lexer, section parsers, defaults, validation)
/// on a configuration text, cut off from files and DNS (`LoaderIsolation`).
enum HAProxyConfigTarget {
    static func run(_ input: UnsafeRawBufferPointer) {
        LoaderIsolation.enabled = true
        var options = LoadOptions(environment: HAProxyLexerTarget.environment, resolveServers: false, checkOnly: true)
        options.ignoreResolutionFailures = true
        let result = ConfigurationLoader.load(text: String(decoding: input, as: UTF8.self), name: "fuzz.cfg",
                                              options: options)
        // The exit status agrees with what was found, as `proxyd -c` reports it.
        switch result.exitCode {
        case 0, 2: require(result.configuration != nil, "exit \(result.exitCode) without a configuration")
        case 1: require(result.configuration == nil && !result.diagnostics.isEmpty, "exit 1 with a configuration")
        default: require(false, "exit status \(result.exitCode)")
        }
        for diagnostic in result.diagnostics { _ = diagnostic.description }
    }
}
