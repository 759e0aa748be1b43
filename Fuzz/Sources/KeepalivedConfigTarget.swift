@testable import VRRPCore

/// keepalived's dialect (lexer, blocks, keyword tables, validation) on a configuration
/// text. `include` sees a file system with nothing in it, and no script runs (the parser
/// only records them).
enum KeepalivedConfigTarget {
    struct NoFiles: ConfigFileSource {
        func read(_ path: String) -> String? { nil }
        func glob(_ pattern: String) -> [String] { [] }
    }

    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let (config, diagnostics) = ConfigParser.parse(text: text, file: "keepalived.conf", source: NoFiles())
        for item in diagnostics.items { _ = item.description }
        _ = config.instances.count
    }
}
