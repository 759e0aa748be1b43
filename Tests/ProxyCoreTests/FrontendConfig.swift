@testable import ProxyCore

/// A small valid configuration around the lines under test: `body` goes into frontend `fe`
/// (whose backend `be` has one server); `global`, when given, opens the file with a
/// global section (two lines earlier for everything after it).
enum FrontendConfig {
    static func load(_ body: String, global: String? = nil) -> LoadResult {
        let text = (global.map { "global\n\($0)\n" } ?? "") + """
        defaults
        \tmode http
        \ttimeout client 1s
        \ttimeout server 1s
        \ttimeout connect 1s
        frontend fe
        \tbind 127.0.0.1:8080
        \(body)
        \tdefault_backend be
        backend be
        \tserver s1 127.0.0.1:8081

        """
        return ConfigurationLoader.load(text: text, name: "t.cfg", options: LoadOptions(resolveServers: false))
    }

    /// Every diagnostic of a load, one per line.
    static func messages(_ r: LoadResult) -> String { r.diagnostics.map(\.description).joined(separator: "\n") }
}
